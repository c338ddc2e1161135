"""Whether a cell's stored audio can be played: each piece must be base64 of a 16-bit PCM WAV.

An imported notebook is someone else's file. Audio that cannot be decoded is left out on import
(the run keeps its text and timing), and a cell stored before that check renders as "audio
unreadable" rather than failing the whole notebook.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Iterable
from typing import Any

from playground.notebook.book import Notebook
from playground.notebook.cells import RunCell
from playground.notebook.wire_log import WireEvent
from playground.speech.wav import pcm_to_wav, wav_to_pcm

__all__ = ["UnreadableAudio", "drop_unreadable_audio", "joined_wav", "piece_pcm"]


class UnreadableAudio(ValueError):
    """A stored audio piece is not base64 of a 16-bit PCM WAV."""


def piece_pcm(encoded: str) -> tuple[bytes, int]:
    """``(pcm, sample_rate)`` of one stored piece (its ``data``), or ``UnreadableAudio``."""
    try:
        pcm, rate = wav_to_pcm(base64.b64decode(encoded, validate=True))
    except (ValueError, binascii.Error, struct.error, EOFError, OverflowError) as exc:
        raise UnreadableAudio(str(exc) or "unreadable") from None
    if rate <= 0 or len(pcm) % 2:
        raise UnreadableAudio("not whole 16-bit samples at a positive rate")
    return pcm, rate


def joined_wav(pieces: Iterable[dict[str, Any]]) -> bytes | None:
    """The pieces that carry ``data`` joined into one WAV (pieces at another rate than the
    first are skipped); None when there is none. ``UnreadableAudio`` if one cannot be read."""
    pcm = bytearray()
    rate: int | None = None
    for piece in pieces:
        data = piece.get("data")
        if not data:
            continue
        chunk, piece_rate = piece_pcm(str(data))
        if rate is None:
            rate = piece_rate
        if piece_rate == rate:  # every piece of one voice has one rate; skip anything else
            pcm += chunk
    if rate is None or not pcm:
        return None
    return pcm_to_wav(bytes(pcm), rate)


def _readable(data: dict[str, Any]) -> bool:
    if "data" not in data or data["data"] is None:
        return True
    try:
        piece_pcm(str(data["data"]))
    except UnreadableAudio:
        return False
    return True


def _cell_without_unreadable(cell: RunCell) -> tuple[RunCell, int]:
    dropped = 0
    events: list[WireEvent] = []
    for event in cell.events:
        if event.event == "audio" and not _readable(event.data):
            dropped += 1
            data = {k: v for k, v in event.data.items() if k != "data"}
            event = WireEvent(event="audio", data=data)
        events.append(event)
    if not dropped:
        return cell, 0
    # Built anew, not model_copy'd, which would carry the cell's cached fold along.
    kept = RunCell(
        id=cell.id,
        created_at=cell.created_at,
        config=cell.config,
        message=cell.message,
        history=cell.history,
        events=tuple(events),
    )
    return kept, dropped


def drop_unreadable_audio(nb: Notebook) -> tuple[Notebook, int]:
    """``nb`` with the ``data`` of every unreadable audio piece removed, and how many were."""
    cells: list[RunCell] = []
    total = 0
    for cell in nb.cells:
        kept, dropped = _cell_without_unreadable(cell)
        cells.append(kept)
        total += dropped
    if not total:
        return nb, 0
    return Notebook(cells=tuple(cells), pinned=nb.pinned), total
