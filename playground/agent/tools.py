"""Built-in tools an Agent Node may call, each with its OpenAI function schema.

Tools are plain functions from a JSON object to a string. They run off the event loop and never
raise into the turn: a failure becomes an error string returned to the model and shown.

The shop tools (``order_status``, ``kb_search``) read a fictional shop's data from ``assets/``:
``orders.json`` and the help articles in ``kb/*.md``.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field
from rank_bm25 import BM25Okapi  # type: ignore[import-untyped]

from playground.settings import ASSETS_DIR

__all__ = [
    "ASSETS_DIR",
    "TOOLS",
    "KbHit",
    "KbSection",
    "KnowledgeBase",
    "Order",
    "OrderBook",
    "OrderItem",
    "ShopAssets",
    "Tool",
    "ToolError",
    "calculate",
    "tool_schemas",
]

# Relative to the project, not the working directory, so `python app.py` works from anywhere.


class ToolError(Exception):
    """Raised by a tool for bad input; the message goes back to the model."""


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    run: Callable[[dict[str, Any]], str]

    def schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., float]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
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
_CONSTANTS = {"pi": math.pi, "e": math.e}


def calculate(expression: str) -> float:
    """Evaluate arithmetic by walking the parsed syntax tree — never ``eval``."""
    if len(expression) > 200:
        raise ToolError("expression too long (200 characters at most)")
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"not an arithmetic expression: {expression!r}") from exc

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.Name) and node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 100:
                raise ToolError("exponent too large")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and not node.keywords
        ):
            return _FUNCTIONS[node.func.id](*(walk(arg) for arg in node.args))
        raise ToolError(f"unsupported element in expression: {ast.dump(node)[:40]}")

    try:
        return walk(tree)
    except (ZeroDivisionError, OverflowError, ValueError, TypeError) as exc:
        raise ToolError(f"cannot compute {expression!r}: {exc}") from exc


def _calculator(arguments: dict[str, Any]) -> str:
    expression = arguments.get("expression")
    if not isinstance(expression, str):
        raise ToolError("'expression' (a string) is required")
    value = calculate(expression)
    return str(int(value)) if float(value).is_integer() else f"{value:.10g}"


def _current_time(arguments: dict[str, Any]) -> str:
    zone_name = arguments.get("timezone") or "UTC"
    try:
        zone = ZoneInfo(str(zone_name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolError(
            f"unknown time zone {zone_name!r} (use an IANA name such as Europe/Paris)"
        ) from exc
    now = datetime.now(zone)
    return f"{now:%A %d %B %Y, %H:%M} ({zone_name}, UTC{now:%z})"


# --- order_status -------------------------------------------------------------------------------

OrderStatus = Literal[
    "processing", "shipped", "out_for_delivery", "delayed", "delivered", "cancelled", "returned"
]
_ORDER_NUMBER = re.compile(r"^[A-Z]\d{4}$")


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    quantity: int = Field(gt=0)


class Order(BaseModel):
    """One order as stored in ``assets/orders.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: str = Field(pattern=_ORDER_NUMBER.pattern)
    email: str
    placed: date
    status: OrderStatus
    items: tuple[OrderItem, ...] = Field(min_length=1)
    carrier: str | None = None
    tracking: str | None = None
    eta: date | None = None
    note: str = ""

    def describe(self) -> str:
        """Compact facts for the model; the email is left out so it is never read back."""
        lines = [
            f"Order {self.number} (placed {self.placed:%d %b %Y}): {self.status.replace('_', ' ')}",
            "Items: " + "; ".join(f"{item.quantity} × {item.name}" for item in self.items),
        ]
        if self.carrier:
            tracking = f", tracking {self.tracking}" if self.tracking else ""
            lines.append(f"Carrier: {self.carrier}{tracking}")
        if self.eta:
            done = self.status in ("delivered", "returned")
            lines.append(f"{'Delivered' if done else 'Estimated delivery'}: {self.eta:%a %d %b %Y}")
        if self.note:
            lines.append(f"Note: {self.note}")
        return "\n".join(lines)


class _OrderFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    orders: tuple[Order, ...]


class OrderBook:
    """Orders by number; read-only once built."""

    def __init__(self, orders: Iterable[Order]) -> None:
        self._by_number = MappingProxyType({order.number: order for order in orders})

    @classmethod
    def from_file(cls, path: Path) -> OrderBook:
        return cls(_OrderFile.model_validate_json(path.read_bytes()).orders)

    def lookup(self, order_number: str, email: str | None = None) -> Order:
        """The order, if the number exists and ``email`` (when given) is the one it was placed with.

        Messages are written for the model: they say what to ask the customer next.
        """
        # Customers type "#a1001" or "A-1001"; all mean A1001.
        number = re.sub(r"[\s#-]", "", order_number).upper()
        if not _ORDER_NUMBER.match(number):
            raise ToolError(
                f"{order_number!r} is not an order number: they are a letter and four digits, "
                "like A1001, and appear in the order confirmation email"
            )
        order = self._by_number.get(number)
        if order is None:
            raise ToolError(
                f"there is no order {number}; ask the customer to check the number in their "
                "order confirmation email"
            )
        if email is not None and email.strip().lower() != order.email.lower():
            raise ToolError(
                f"that email address does not match order {number}; ask the customer for the "
                "address they ordered with (do not reveal it)"
            )
        return order


# --- kb_search -----------------------------------------------------------------------------------

# Words that carry no topic; dropping them keeps a question like "how do I ..." from matching
# every article a little.
_STOPWORDS = frozenset(
    (  # noqa: SIM905 - a word list reads better as one string than as 38 quoted lines
        "a an and are as at be by can do does for from how i if in is it my of on or our the to "
        "was we what when where which who why will with you your"
    ).split()
)
_WORD = re.compile(r"[a-z0-9]+")
_SNIPPET_CHARS = 400


def _tokens(text: str) -> list[str]:
    # A crude plural strip ("refunds" -> "refund") matters more than anything fancier on a
    # corpus this small, where an exact-form miss loses the only matching section.
    words = (w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS)
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words]


@dataclass(frozen=True, slots=True)
class KbSection:
    """One ``## `` section of a help article: the unit that is ranked and returned."""

    source: str  # file name, e.g. "shipping.md"
    title: str  # the article's "# " heading
    heading: str  # the section's "## " heading ("" for text before the first one)
    text: str  # the section body, whitespace collapsed

    def snippet(self) -> str:
        if len(self.text) <= _SNIPPET_CHARS:
            return self.text
        return self.text[:_SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"


@dataclass(frozen=True, slots=True)
class KbHit:
    section: KbSection
    score: float


def _sections(source: str, markdown: str) -> list[KbSection]:
    title, heading = Path(source).stem, ""
    body: list[str] = []
    found: list[KbSection] = []

    def close() -> None:
        text = " ".join(" ".join(body).split())
        if text:
            found.append(KbSection(source, title, heading, text))
        body.clear()

    for line in markdown.splitlines():
        if line.startswith("## "):
            close()
            heading = line[3:].strip()
        elif line.startswith("# "):
            close()
            title = line[2:].strip()
        else:
            body.append(line)
    close()
    return found


class KnowledgeBase:
    """BM25 over help-article sections; the index is built once, in the constructor."""

    def __init__(self, sections: Sequence[KbSection]) -> None:
        if not sections:
            raise ToolError("the help articles are missing, so there is nothing to search")
        self._sections = tuple(sections)
        # The heading counts twice: it names the topic, the body may only mention it in passing.
        corpus = [_tokens(f"{s.title} {s.heading} {s.heading} {s.text}") for s in self._sections]
        self._vocabulary = tuple(frozenset(tokens) for tokens in corpus)
        self._index = BM25Okapi(corpus)

    @classmethod
    def from_directory(cls, directory: Path) -> KnowledgeBase:
        return cls(
            [
                section
                for path in sorted(directory.glob("*.md"))
                for section in _sections(path.name, path.read_text(encoding="utf-8"))
            ]
        )

    @property
    def sections(self) -> tuple[KbSection, ...]:
        return self._sections

    def search(self, query: str, top_k: int = 3) -> list[KbHit]:
        """Best sections first; only sections sharing a word with the query count as hits.

        Overlap, not a positive score, decides a hit: Okapi's idf is floored at a small epsilon
        for words in most sections and can be zero or negative on tiny corpora.
        """
        terms = _tokens(query)
        scores = [float(score) for score in self._index.get_scores(terms)]
        wanted = set(terms)
        hits = [
            KbHit(section, score)
            for section, words, score in zip(self._sections, self._vocabulary, scores, strict=True)
            if wanted & words
        ]
        hits.sort(key=lambda hit: hit.score, reverse=True)
        return hits[:top_k]


# --- wiring --------------------------------------------------------------------------------------


class ShopAssets:
    """The shop's orders and help articles, read on the first call that needs them.

    Reading lazily keeps importing this module (and starting the app) cheap; the built objects
    are kept on this instance for the life of the process. Two threads racing on the first call
    would both build the same read-only object, which is harmless.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    @cached_property
    def orders(self) -> OrderBook:
        return OrderBook.from_file(self._directory / "orders.json")

    @cached_property
    def knowledge_base(self) -> KnowledgeBase:
        return KnowledgeBase.from_directory(self._directory / "kb")

    def order_status(self, arguments: dict[str, Any]) -> str:
        number = arguments.get("order_number")
        if not isinstance(number, str) or not number.strip():
            raise ToolError("'order_number' (a string such as 'A1001') is required")
        email = arguments.get("email")
        if email is not None and not isinstance(email, str):
            raise ToolError("'email' must be a string")
        return self.orders.lookup(number, email or None).describe()

    def kb_search(self, arguments: dict[str, Any]) -> str:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolError("'query' (a few words about the customer's question) is required")
        if len(query) > 500:
            raise ToolError("query too long (500 characters at most)")
        top_k = arguments.get("top_k", 3)
        # bool is an int subclass; `true` is not a count.
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 10:
            raise ToolError("'top_k' must be a whole number from 1 to 10")
        hits = self.knowledge_base.search(query, top_k)
        if not hits:
            return f"No help articles match {query!r}. Try other words."
        return "\n\n".join(
            f"[{rank}] {hit.section.title} › {hit.section.heading} ({hit.section.source})\n"
            f"{hit.section.snippet()}"
            for rank, hit in enumerate(hits, start=1)
        )


def _builtin_tools(shop: ShopAssets) -> dict[str, Tool]:
    tools = (
        Tool(
            "calculator",
            "Evaluate an arithmetic expression exactly, e.g. '(12.5 * 4) / 3' or 'sqrt(2)'.",
            {
                "type": "object",
                "properties": {"expression": {"type": "string"}},
                "required": ["expression"],
                "additionalProperties": False,
            },
            _calculator,
        ),
        Tool(
            "current_time",
            "The current date and time in an IANA time zone such as 'Europe/Paris'.",
            {
                "type": "object",
                "properties": {"timezone": {"type": "string"}},
                "additionalProperties": False,
            },
            _current_time,
        ),
        Tool(
            "order_status",
            "Look up an order: status, items, carrier, tracking number and delivery date. "
            "Pass the customer's email too, to check that the order is theirs.",
            {
                "type": "object",
                "properties": {
                    "order_number": {
                        "type": "string",
                        "description": "The order number, a letter and four digits, e.g. A1001.",
                    },
                    "email": {
                        "type": "string",
                        "description": "The customer's email address, checked against the order.",
                    },
                },
                "required": ["order_number"],
                "additionalProperties": False,
            },
            shop.order_status,
        ),
        Tool(
            "kb_search",
            "Search the shop's help articles (returns, shipping, warranty, account, payments) "
            "and return the best-matching sections.",
            {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "A few keywords or a question."},
                    "top_k": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 10,
                        "default": 3,
                        "description": "How many sections to return.",
                    },
                },
                "required": ["query"],
                "additionalProperties": False,
            },
            shop.kb_search,
        ),
    )
    return {tool.name: tool for tool in tools}


TOOLS: dict[str, Tool] = _builtin_tools(ShopAssets(ASSETS_DIR))


def tool_schemas(names: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    return tuple(TOOLS[name].schema() for name in names if name in TOOLS)
