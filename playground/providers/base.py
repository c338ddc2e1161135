"""The small Protocols every provider implements, and the values that cross them.

An LLM provider turns a list of chat messages into an async stream of ``ModelDelta``s; a TTS
provider opens one ``SpeechSession`` per turn and turns sentences into 16-bit mono PCM; an STT
provider opens one ``TranscriptionSession`` per conversation and turns PCM into ``Transcript``s.
Provider modules are the only place a vendor SDK is imported; they raise ``errors.ProviderError``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from playground.errors import BusyError

__all__ = [
    "ChatMessage",
    "ContentDelta",
    "ModerationProvider",
    "ModerationResult",
    "GenerationOptions",
    "LLMProvider",
    "ModelDelta",
    "QueuedProvider",
    "ReasoningDelta",
    "SpeechAudio",
    "SpeechSession",
    "StreamEnd",
    "STTProvider",
    "TTSProvider",
    "ToolCallFragment",
    "Transcript",
    "TranscriptionSession",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message in OpenAI chat format (``tool_calls``/``tool_call_id`` for the agent loop)."""

    role: Role
    content: str | None = None
    tool_calls: tuple[dict[str, Any], ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    def to_openai(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = list(self.tool_calls)
        if self.tool_call_id is not None:
            message["tool_call_id"] = self.tool_call_id
        if self.name is not None and self.role == "tool":
            message["name"] = self.name
        return message


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """Per-call knobs; ``stream=False`` asks the upstream for one complete answer.

    ``client`` says who asks (the API's client id, the page's session): a shared in-process
    model serves callers round-robin by it ("" is one anonymous caller). ``turn_id`` names the
    call's turn so its place in that model's queue can be watched. Remote providers ignore both.
    """

    stream: bool = True
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    tools: tuple[dict[str, Any], ...] = ()
    client: str = ""
    turn_id: str = ""
    # How hard a reasoning model thinks ("low", "medium", ...); None leaves the model's default.
    # Only set for models that accept it (playground.reasoning checks the value first).
    reasoning_effort: str | None = None
    # Reasoning models reject ``max_tokens`` and take ``max_completion_tokens`` instead.
    token_limit_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    # Prompt tokens the provider served from its prompt cache (billed at a lower rate).
    cached_tokens: int = 0
    # Completion tokens spent thinking (``completion_tokens_details.reasoning_tokens``), when the
    # provider reports them; they are part of ``completion_tokens``.
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ContentDelta:
    """A piece of answer text. ``at`` is ``time.monotonic()`` when it left the provider."""

    text: str
    at: float


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's thinking (``reasoning_content``/``reasoning`` deltas, a reasoning
    summary, or text between ``<think>`` tags): shown apart, never spoken, never in the answer."""

    text: str
    at: float


@dataclass(frozen=True, slots=True)
class ToolCallFragment:
    """A piece of a streamed tool call; fragments are joined by ``index``."""

    index: int
    at: float
    call_id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The upstream finished. Providers raise ``TruncatedStreamError`` instead of sending this
    without a finish reason."""

    finish_reason: str
    at: float
    usage: Usage | None = None


ModelDelta = ContentDelta | ReasoningDelta | ToolCallFragment | StreamEnd


class LLMProvider(Protocol):
    """A chat model. Cancelling the consuming task must close the upstream connection."""

    def stream(
        self, model: str, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[ModelDelta]: ...


@runtime_checkable
class QueuedProvider(Protocol):
    """A chat model that serves one turn at a time from a bounded queue (the in-process model).
    Callers can ask before starting whether a turn would get a place, and follow its position."""

    def refusal(self, client: str) -> BusyError | None:
        """The error a turn from ``client`` would get if it asked now, else None."""
        ...

    def queue_positions(self, turn_id: str) -> AsyncGenerator[int, None]:
        """The turn's place in line now and at every change: 1, 2, ... while it waits, else 0."""
        ...


@dataclass(frozen=True, slots=True)
class SpeechAudio:
    """Synthesised speech for one piece of text: raw 16-bit little-endian mono PCM."""

    pcm: bytes
    sample_rate: int
    text: str
    first_byte_at: float = field(default=0.0)  # time.monotonic() of the first audio byte


class SpeechSession(Protocol):
    """One turn's connection to a voice. ``synthesize`` calls are made one at a time, in order."""

    async def connect(self) -> None:
        """Open the upstream connection now, while the model is still thinking, so its handshake
        is not added to the time to first audio. A no-op for voices without one (local)."""

    def flush_available(self) -> bool:
        """Whether a ``synthesize`` would run now; False for a rate-limited voice, whose
        caller then speaks everything queued in one request."""
        ...

    async def synthesize(self, text: str) -> SpeechAudio: ...

    async def interrupt(self) -> None:
        """Drop anything queued upstream (Deepgram ``Clear``); the session stays usable."""

    async def aclose(self) -> None:
        """Close the upstream connection. Safe to call twice and after a failure."""


class TTSProvider(Protocol):
    def open_session(self, voice: str) -> SpeechSession:
        """Return a session for ``voice`` (the part after ``deepgram:`` / ``local:``).

        Opening may be lazy: connection errors may surface on the first ``synthesize``.
        """
        ...


@dataclass(frozen=True, slots=True)
class Transcript:
    """What a speech-to-text engine heard so far in the current utterance.

    ``final`` marks text that will not change (Deepgram ``is_final``; the local engine's decode of
    a whole utterance); interim transcripts of the same utterance replace each other.
    ``utterance_end`` marks the last transcript of an utterance (the speaker stopped: Deepgram's
    endpointing / ``UtteranceEnd``, the local engine's end-of-utterance silence); its ``text`` is
    the whole utterance. Times are on the audio's clock: ``t_ms`` is how much audio (ms since
    the session opened) the transcript covers; the caller maps audio time to wall time.
    """

    text: str
    final: bool
    utterance_end: bool
    t_ms: float
    # On an ``utterance_end`` transcript: where in the audio the speech itself ended, before the
    # silence that ended the utterance; None when the engine cannot say.
    speech_end_ms: float | None = None


class TranscriptionSession(Protocol):
    """One conversation's connection to a speech-to-text engine.

    Audio is 16-bit little-endian mono PCM at 16 kHz, sent in chunks of any size. Transcripts are
    read from ``transcripts()`` while audio is being sent; the iterator ends after ``aclose`` or
    when the upstream closes. Failures surface as ``errors.ProviderError`` from ``connect``,
    ``send_audio`` or the iterator.
    """

    async def connect(self) -> None:
        """Open the upstream connection (a no-op for the local engine)."""

    async def send_audio(self, pcm: bytes) -> None: ...

    async def end_of_audio(self) -> None:
        """The speaker is done (push-to-talk released): finish the current utterance now, so its
        ``utterance_end`` transcript follows without waiting for silence."""

    def transcripts(self) -> AsyncIterator[Transcript]: ...

    def speech_started(self) -> AsyncIterator[float]:
        """Where in the audio speech began, once per utterance, yielded as soon as there has been
        enough speech that a cough does not count: what barge-in listens to."""
        ...

    async def aclose(self) -> None:
        """Close the upstream connection. Safe to call twice and after a failure."""


class STTProvider(Protocol):
    def open_session(self, *, end_of_utterance_ms: int) -> TranscriptionSession:
        """Return a session that ends an utterance after ``end_of_utterance_ms`` of silence."""
        ...


@dataclass(frozen=True, slots=True)
class ModerationResult:
    """A moderation service's answer: flagged or not, and the highest-scoring flagged category."""

    flagged: bool
    category: str | None = None


class ModerationProvider(Protocol):
    """A moderation service (OpenAI's moderation endpoint). Raises ``errors.ProviderError``."""

    async def moderate(self, text: str) -> ModerationResult: ...
