"""A notebook whose stored audio cannot be decoded still loads: imports leave such audio out
(keeping the run), and a cell stored with it renders "audio unreadable" and can be deleted."""

from __future__ import annotations

import base64
import json

import pytest

from playground.notebook.audio_check import drop_unreadable_audio
from playground.notebook.model import Notebook, notebook_from_json, notebook_to_json
from playground.ui.render.notebook_view import notebook_html
from tests.test_notebook import make_notebook


def wav_bytes(*, rate: int, bits: int, data: bytes) -> bytes:
    """A mono PCM WAV with the header fields a bad file gets wrong."""
    block = bits // 8
    fmt = (
        (1).to_bytes(2, "little")  # PCM
        + (1).to_bytes(2, "little")  # mono
        + rate.to_bytes(4, "little")
        + (rate * block).to_bytes(4, "little")
        + block.to_bytes(2, "little")
        + bits.to_bytes(2, "little")
    )
    body = b"WAVEfmt " + (16).to_bytes(4, "little") + fmt + b"data"
    body += len(data).to_bytes(4, "little") + data
    return b"RIFF" + len(body).to_bytes(4, "little") + body


# Not base64; base64 of no WAV; a WAV header cut short; an 8-bit WAV; a WAV at rate 0.
BAD_AUDIO = [
    "%%% not base64 %%%",
    base64.b64encode(b"just some bytes").decode(),
    base64.b64encode(b"RIFF\x24\x00\x00\x00WAVEfmt ").decode(),
    base64.b64encode(wav_bytes(rate=8000, bits=8, data=b"\x80\x80")).decode(),
    base64.b64encode(wav_bytes(rate=0, bits=16, data=b"\x00\x00")).decode(),
]


def with_bad_audio(nb: Notebook, index: int, data: str) -> str:
    """``nb``'s JSON export with cell ``index``'s audio replaced by ``data``."""
    raw = json.loads(notebook_to_json(nb, include_audio=True))
    for event in raw["cells"][index]["events"]:
        if event["event"] == "audio":
            event["data"]["data"] = data
    return json.dumps(raw)


@pytest.mark.parametrize("bad", BAD_AUDIO)
def test_a_stored_cell_with_unreadable_audio_renders_and_can_be_deleted(bad: str) -> None:
    good = make_notebook(3)
    nb = notebook_from_json(with_bad_audio(good, 1, bad))  # as a store would load it
    page = notebook_html(nb)
    assert page.count("The audio of this run is unreadable.") == 1
    assert page.count("<audio class='sp-nb-audio'") == 2  # the other runs still play
    assert "Answer 1 is here." in page
    left = nb.without(nb.cells[1].id)
    assert "unreadable" not in notebook_html(left) and len(left.cells) == 2


@pytest.mark.parametrize("bad", BAD_AUDIO)
def test_an_import_leaves_unreadable_audio_out_and_keeps_the_run(bad: str) -> None:
    good = make_notebook(2)
    imported = notebook_from_json(with_bad_audio(good, 0, bad))
    cleaned, dropped = drop_unreadable_audio(imported)
    assert dropped == 1
    assert [c.text for c in cleaned.cells] == [c.text for c in good.cells]
    assert not cleaned.cells[0].has_audio_data and cleaned.cells[0].audio  # the piece's timing
    assert cleaned.cells[1] == good.cells[1]
    assert "unreadable" not in notebook_html(cleaned)


def test_a_readable_notebook_is_imported_unchanged() -> None:
    nb = make_notebook(2)
    assert drop_unreadable_audio(nb) == (nb, 0)
