"""Drop fenced code blocks from streamed text: nothing inside a code fence is spoken."""

from __future__ import annotations

__all__ = ["FenceFilter"]


class FenceFilter:
    """Removes fenced code: everything from a run of 3+ backticks to a run at least as long.

    A fence may start anywhere (models sometimes glue it to the end of a sentence). The opening
    fence becomes a paragraph break ``"\\n\\n"`` so the sentence before it is confirmed at once
    rather than after the whole block has streamed; the block itself produces nothing. A run of
    one or two backticks (inline code) passes through. A backtick run at the end of a chunk is
    held until the next character shows how long it is.
    """

    __slots__ = ("_fence", "_ticks")

    def __init__(self) -> None:
        self._fence = 0  # length of the open fence's backtick run; 0 = not in a code block
        self._ticks = 0  # length of the backtick run being read (held, not yet emitted)

    def feed(self, text: str) -> str:
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            if not self._ticks:
                j = text.find("`", i)
                if j < 0:
                    if not self._fence:
                        out.append(text[i:])
                    break
                if not self._fence:
                    out.append(text[i:j])
                i = j
            j = i
            while j < n and text[j] == "`":
                j += 1
            self._ticks += j - i
            i = j
            if i < n:
                self._end_run(out)
        return "".join(out)

    def flush(self) -> str:
        out: list[str] = []
        if self._ticks:
            self._end_run(out)
        self._fence = 0
        return "".join(out)

    def _end_run(self, out: list[str]) -> None:
        ticks, self._ticks = self._ticks, 0
        if self._fence:
            if ticks >= self._fence:
                self._fence = 0
        elif ticks >= 3:
            self._fence = ticks
            out.append("\n\n")
        else:
            out.append("`" * ticks)
