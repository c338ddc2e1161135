"""BM25 search over the shop's help articles (``assets/kb/*.md``) for ``kb_search``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rank_bm25 import BM25Okapi  # type: ignore[import-untyped]

from playground.agent.tool_types import ToolError

__all__ = ["KbHit", "KbSection", "KnowledgeBase"]

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
