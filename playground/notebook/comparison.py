"""Two runs side by side: the same metrics for both, configuration differences, and how alike
the answers are."""

from __future__ import annotations

from typing import Any, Final

from playground.notebook.cells import RunCell
from playground.turn.similarity import similarity, word_diff

__all__ = ["compare_cells"]

_METRICS: Final = (
    ("ttft_ms", "time to first token (ms)"),
    ("ttfat_ms", "time to first answer token (ms)"),
    ("reasoning_ms", "thinking (ms)"),
    ("ttfa_ms", "time to first audio (ms)"),
    ("total_ms", "total (ms)"),
    ("chunks", "chunks"),
    ("characters", "characters"),
    ("chars_per_s", "characters / s"),
    ("tokens_per_s", "tokens / s"),
    ("audio_pieces", "audio pieces"),
    ("audio_ms", "audio length (ms)"),
)
_CONFIG_FIELDS: Final = (
    "model",
    "prompt",
    "node",
    "streaming",
    "voice",
    "temperature",
    "seed",
    "max_tokens",
    "top_p",
    "stop",
    "reasoning_effort",
)


def _metrics(cell: RunCell) -> dict[str, Any]:
    timing = cell.timing or {}
    usage = cell.usage or {}
    values: dict[str, Any] = {name: timing.get(name) for name, _ in _METRICS}
    values["completion_tokens"] = usage.get("completion_tokens")
    values["tool_calls"] = len(cell.tool_calls)
    values["words"] = len(cell.text.split())
    return values


def _delta(a: Any, b: Any) -> float | None:
    numbers = (int, float)
    if (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return float(b) - float(a)
    return None


def compare_cells(a: RunCell, b: RunCell) -> dict[str, Any]:
    """Two runs side by side: the same metrics for both, configuration differences, and how
    alike the answers are (word similarity in [0, 1] and a word diff from ``a`` to ``b``).

    Returns JSON-ready data::

        {"a": {"id", "config", "text", "finish_reason", "stopped", "failed"}, "b": {...},
         "metrics": [{"name", "label", "a", "b", "delta"}, ...],   # delta = b - a, or None
         "config": [{"field", "a", "b", "same"}, ...],
         "similarity": 0.83, "diff": [{"op": "equal"|"insert"|"delete", "text"}, ...]}
    """
    ma, mb = _metrics(a), _metrics(b)
    labels = dict(_METRICS) | {
        "completion_tokens": "completion tokens",
        "tool_calls": "tool calls",
        "words": "words",
    }
    metrics = [
        {
            "name": name,
            "label": label,
            "a": ma[name],
            "b": mb[name],
            "delta": _delta(ma[name], mb[name]),
        }
        for name, label in labels.items()
    ]
    ca, cb = a.config.model_dump(mode="json"), b.config.model_dump(mode="json")
    config = [
        {"field": name, "a": ca[name], "b": cb[name], "same": ca[name] == cb[name]}
        for name in (*_CONFIG_FIELDS, "features")
    ]

    def side(cell: RunCell) -> dict[str, Any]:
        return {
            "id": cell.id,
            "config": cell.config.model_dump(mode="json", exclude={"system"}),
            "text": cell.text,
            "finish_reason": cell.finish_reason,
            "stopped": cell.stopped,
            "failed": cell.failed,
        }

    return {
        "a": side(a),
        "b": side(b),
        "metrics": metrics,
        "config": config,
        "similarity": similarity(a.text, b.text),
        "diff": [{"op": op, "text": text} for op, text in word_diff(a.text, b.text)],
    }
