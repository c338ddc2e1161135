"""The ``calculator`` tool: arithmetic evaluated by walking the parsed syntax tree, never ``eval``.

Every intermediate result is bounded *before* it is computed: a big-integer power, product or
sum is estimated from its operands' sizes and refused when it would exceed ``MAX_RESULT_BITS``.
A single bigint operation holds the GIL for as long as it runs, so a 25-character expression such
as ``(((9**99)**99)**99)**12`` would otherwise freeze the whole server; a timeout cannot help,
because the thread cannot be interrupted mid-operation.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from playground.agent.tool_types import Tool, ToolError

__all__ = ["CALCULATOR", "MAX_RESULT_BITS", "calculate"]

MAX_RESULT_BITS = 10_000  # about 3,000 decimal digits: far beyond any real question, still instant
_MAX_ROUND_DIGITS = 400  # round(x, -n) computes 10**n internally

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


def _round(value: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return round(value)
    if not isinstance(ndigits, int) or abs(ndigits) > _MAX_ROUND_DIGITS:
        raise ToolError(
            f"round's digits must be a whole number from -{_MAX_ROUND_DIGITS} to "
            f"{_MAX_ROUND_DIGITS}"
        )
    return round(value, ndigits)


_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": _round,
    "floor": math.floor,
    "ceil": math.ceil,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "min": min,
    "max": max,
}
_CONSTANTS: dict[str, Number] = {"pi": math.pi, "e": math.e}


def _bits(value: Number) -> float:
    """log2 of the magnitude, for integers (floats are bounded by their type)."""
    return math.log2(abs(value)) if isinstance(value, int) and value not in (0, 1, -1) else 0.0


def _estimated_bits(op: ast.operator, left: Number, right: Number) -> float:
    """An upper bound on the size in bits of ``left op right`` when both are integers; 0 when
    the result cannot grow beyond its operands (division, modulo) or is a float."""
    if not (isinstance(left, int) and isinstance(right, int)):
        return 0.0
    if isinstance(op, ast.Pow):
        if right <= 0 or left in (0, 1, -1):
            return 0.0  # a float, or 0/1/-1 again
        # Any other base gains at least one bit per unit of exponent; checking the exponent first
        # keeps a huge one from overflowing the float estimate.
        return math.inf if right > MAX_RESULT_BITS else _bits(left) * right
    if isinstance(op, ast.Mult):
        return _bits(left) + _bits(right) + 1
    if isinstance(op, ast.Add | ast.Sub):
        return max(_bits(left), _bits(right)) + 1
    return 0.0


def _checked(value: Number) -> Number:
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError("the result is too large (not a finite number)")
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_BITS:
        raise ToolError(f"a number in the expression is larger than {MAX_RESULT_BITS} bits")
    if not isinstance(value, int | float):
        raise ToolError("the result is not a real number")
    return value


def _walk(node: ast.AST) -> Number:
    if isinstance(node, ast.Expression):
        return _walk(node.body)
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return _checked(node.value)
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _walk(node.left), _walk(node.right)
        if _estimated_bits(node.op, left, right) > MAX_RESULT_BITS:
            raise ToolError(
                f"the result would be larger than {MAX_RESULT_BITS} bits "
                f"(about {int(MAX_RESULT_BITS * math.log10(2))} digits); refusing to compute it"
            )
        return _checked(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_walk(node.operand)))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        return _checked(_FUNCTIONS[node.func.id](*(_walk(arg) for arg in node.args)))
    raise ToolError(f"unsupported element in expression: {ast.dump(node)[:40]}")


def calculate(expression: str) -> Number:
    """Evaluate arithmetic by walking the parsed syntax tree — never ``eval``."""
    if len(expression) > 200:
        raise ToolError("expression too long (200 characters at most)")
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
    except (SyntaxError, ValueError) as exc:  # ValueError: a NUL byte or an over-long literal
        raise ToolError(f"not an arithmetic expression: {expression!r}") from exc
    try:
        return _walk(tree)
    except OverflowError as exc:  # a float operation beyond 1.8e308
        raise ToolError(f"cannot compute {expression!r}: the result is too large") from exc
    except (ZeroDivisionError, ValueError, TypeError, RecursionError) as exc:
        raise ToolError(f"cannot compute {expression!r}: {exc}") from exc


def _calculator(arguments: dict[str, Any]) -> str:
    expression = arguments.get("expression")
    if not isinstance(expression, str):
        raise ToolError("'expression' (a string) is required")
    value = calculate(expression)
    if isinstance(value, int):
        return str(value)
    return str(int(value)) if value.is_integer() else f"{value:.10g}"


CALCULATOR = Tool(
    "calculator",
    "Evaluate an arithmetic expression exactly, e.g. '(12.5 * 4) / 3' or 'sqrt(2)'.",
    {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
        "additionalProperties": False,
    },
    _calculator,
    cpu_bound=True,
)
