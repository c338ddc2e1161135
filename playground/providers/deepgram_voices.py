"""What Deepgram's ``/v1/speak`` accepts: the Aura-2 voices, linear16 sample rates and the
longest text one message may carry (and how to cut longer text)."""

from __future__ import annotations

from typing import Final

__all__ = ["DEEPGRAM_VOICES", "MAX_TEXT_CHARS", "SAMPLE_RATES", "split_text"]

#: The Aura-2 English voices (the ``aura-2-*-en`` names of ``deepgram-sdk``'s ``SpeakV1Model``).
DEEPGRAM_VOICES: Final[tuple[str, ...]] = (
    "aura-2-thalia-en",
    "aura-2-amalthea-en",
    "aura-2-andromeda-en",
    "aura-2-apollo-en",
    "aura-2-arcas-en",
    "aura-2-aries-en",
    "aura-2-asteria-en",
    "aura-2-athena-en",
    "aura-2-atlas-en",
    "aura-2-aurora-en",
    "aura-2-callista-en",
    "aura-2-cora-en",
    "aura-2-cordelia-en",
    "aura-2-delia-en",
    "aura-2-draco-en",
    "aura-2-electra-en",
    "aura-2-harmonia-en",
    "aura-2-helena-en",
    "aura-2-hera-en",
    "aura-2-hermes-en",
    "aura-2-hyperion-en",
    "aura-2-iris-en",
    "aura-2-janus-en",
    "aura-2-juno-en",
    "aura-2-jupiter-en",
    "aura-2-luna-en",
    "aura-2-mars-en",
    "aura-2-minerva-en",
    "aura-2-neptune-en",
    "aura-2-odysseus-en",
    "aura-2-ophelia-en",
    "aura-2-orion-en",
    "aura-2-orpheus-en",
    "aura-2-pandora-en",
    "aura-2-phoebe-en",
    "aura-2-pluto-en",
    "aura-2-saturn-en",
    "aura-2-selene-en",
    "aura-2-theia-en",
    "aura-2-vesta-en",
    "aura-2-zeus-en",
)

SAMPLE_RATES: Final = (8000, 16000, 24000, 32000, 48000)  # what linear16 allows on /v1/speak
MAX_TEXT_CHARS: Final = 2000  # Deepgram's limit for one Speak message / one REST request


def split_text(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters, at whitespace when possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind(" ", 0, limit)
        cut = limit if cut <= 0 else cut + 1
        pieces.append(text[:cut])
        text = text[cut:]
    if text:
        pieces.append(text)
    return pieces
