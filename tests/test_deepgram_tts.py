"""The Deepgram Aura provider, driven through the real ``deepgram-sdk`` against a loopback fake."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from deepgram.core.api_error import ApiError
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.frames import Close
from websockets.http11 import Response

from playground.errors import ConfigError, ErrorCategory, MissingKeyError, ProviderError
from playground.providers.deepgram_tts import (
    AUTH_MESSAGE,
    DEEPGRAM_VOICES,
    DeepgramSession,
    DeepgramTTS,
    FlushBudget,
)
from tests.fakes.deepgram_server import FakeDeepgram

VOICE = "aura-2-thalia-en"
HELLO = "Hello from the fake server."
SECOND = "And a second sentence."


class FakeClock:
    """A clock whose ``sleep`` advances time instantly and remembers each pause."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> Iterator[FakeDeepgram]:
    with FakeDeepgram() as server:
        yield server


@pytest.fixture
async def tts(fake: FakeDeepgram) -> AsyncIterator[DeepgramTTS]:
    provider = DeepgramTTS(api_key="test-key", base_url=fake.base_url, timeout=5.0)
    yield provider
    await provider.aclose()


@pytest.fixture
async def session(tts: DeepgramTTS) -> AsyncIterator[DeepgramSession]:
    speech = tts.open_session(VOICE)
    yield speech
    await speech.aclose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_for_flush(fake: FakeDeepgram, count: int = 1) -> None:
    await fake.wait_for(
        lambda: bool(fake.messages) and fake.message_types().count("Flush") >= count
    )


# --------------------------------------------------------------------------- happy path


async def test_a_sentence_comes_back_as_pcm_of_the_expected_length(
    fake: FakeDeepgram, session: DeepgramSession
) -> None:
    before = asyncio.get_running_loop().time()
    audio = await session.synthesize(HELLO)

    assert len(audio.pcm) == FakeDeepgram.expected_pcm_len(HELLO, 24000)
    assert audio.sample_rate == 24000
    assert audio.text == HELLO
    assert audio.first_byte_at >= before
    handshake = fake.last_handshake
    assert handshake.headers["authorization"] == "Token test-key"
    assert handshake.path == "/v1/speak"
    assert handshake.query == {"model": VOICE, "encoding": "linear16", "sample_rate": "24000"}
    assert session.request_id is not None  # taken from the Metadata message


async def test_the_requested_sample_rate_is_sent_as_an_integer(fake: FakeDeepgram) -> None:
    provider = DeepgramTTS(api_key="test-key", base_url=fake.base_url, sample_rate=16000)
    try:
        speech = provider.open_session(VOICE)
        audio = await speech.synthesize(HELLO)
        await speech.aclose()
    finally:
        await provider.aclose()
    assert fake.last_handshake.query["sample_rate"] == "16000"
    assert audio.sample_rate == 16000
    assert len(audio.pcm) == FakeDeepgram.expected_pcm_len(HELLO, 16000)


async def test_several_sentences_share_one_connection_and_close_after_the_last_flushed(
    fake: FakeDeepgram, tts: DeepgramTTS
) -> None:
    speech = tts.open_session(VOICE)
    first = await speech.synthesize(HELLO)
    second = await speech.synthesize(SECOND)
    await speech.aclose()
    await fake.wait_for(lambda: fake.closed_connections == 1)

    assert len(first.pcm) == FakeDeepgram.expected_pcm_len(HELLO)
    assert len(second.pcm) == FakeDeepgram.expected_pcm_len(SECOND)
    assert fake.connections == 1
    assert fake.messages == [
        [
            {"type": "Speak", "text": HELLO},
            {"type": "Flush"},
            {"type": "Speak", "text": SECOND},
            {"type": "Flush"},
            {"type": "Close"},
        ]
    ]
    assert fake.close_codes == [1000]


async def test_no_connection_is_opened_before_the_first_synthesize(
    fake: FakeDeepgram, tts: DeepgramTTS
) -> None:
    speech = tts.open_session(VOICE)
    await speech.aclose()
    assert fake.handshakes == []
    assert fake.connections == 0


async def test_aclose_is_idempotent_and_a_closed_session_refuses_work(
    fake: FakeDeepgram, session: DeepgramSession
) -> None:
    await session.synthesize(HELLO)
    await session.aclose()
    await session.aclose()
    await fake.wait_for(lambda: fake.closed_connections == 1)
    assert fake.message_types().count("Close") == 1
    assert session.closed
    with pytest.raises(ProviderError, match="closed"):
        await session.synthesize(SECOND)


async def test_aclose_waits_for_audio_that_is_still_being_awaited(
    fake: FakeDeepgram, session: DeepgramSession
) -> None:
    fake.synthesis_delay = 0.3
    pending = asyncio.create_task(session.synthesize(HELLO))
    await _wait_for_flush(fake)
    await session.aclose()

    audio = await pending
    assert len(audio.pcm) == FakeDeepgram.expected_pcm_len(HELLO)
    await fake.wait_for(lambda: fake.closed_connections == 1)
    assert fake.message_types() == ["Speak", "Flush", "Close"]


async def test_empty_text_needs_no_round_trip(fake: FakeDeepgram, session: DeepgramSession) -> None:
    audio = await session.synthesize("   ")
    assert audio.pcm == b""
    assert fake.handshakes == []


async def test_text_longer_than_one_speak_message_is_sent_in_pieces(
    fake: FakeDeepgram, session: DeepgramSession
) -> None:
    text = "word " * 500  # 2,500 characters: above Deepgram's 2,000 per Speak
    audio = await session.synthesize(text)
    speaks = [m for m in fake.messages[0] if m["type"] == "Speak"]
    assert len(speaks) == 2
    assert all(len(m["text"]) <= 2000 for m in speaks)
    assert "".join(m["text"] for m in speaks) == text
    assert fake.message_types().count("Flush") == 1
    assert len(audio.pcm) == FakeDeepgram.expected_pcm_len(text)


# --------------------------------------------------------------------------- barge-in


async def test_interrupt_sends_clear_and_a_pending_synthesize_stops(
    fake: FakeDeepgram, session: DeepgramSession
) -> None:
    fake.synthesis_delay = 2.0
    pending = asyncio.create_task(session.synthesize(HELLO))
    await _wait_for_flush(fake)

    await session.interrupt()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(pending, timeout=1.0)
    await fake.wait_for(lambda: "Clear" in fake.message_types())

    # The session stays usable, and nothing of the cleared sentence leaks into the next one.
    fake.synthesis_delay = 0.0
    audio = await session.synthesize(SECOND)
    assert len(audio.pcm) == FakeDeepgram.expected_pcm_len(SECOND)
    assert fake.connections == 1
    assert fake.message_types() == ["Speak", "Flush", "Clear", "Speak", "Flush"]


async def test_interrupt_before_anything_was_said_is_harmless(
    fake: FakeDeepgram, session: DeepgramSession
) -> None:
    await session.interrupt()
    assert fake.handshakes == []
    audio = await session.synthesize(HELLO)
    assert len(audio.pcm) == FakeDeepgram.expected_pcm_len(HELLO)


async def test_a_cancelled_synthesize_does_not_leak_audio_into_the_next_one(
    fake: FakeDeepgram, session: DeepgramSession
) -> None:
    fake.synthesis_delay = 0.3
    pending = asyncio.create_task(session.synthesize(HELLO))
    await _wait_for_flush(fake)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending

    fake.synthesis_delay = 0.0
    audio = await session.synthesize(SECOND)
    assert len(audio.pcm) == FakeDeepgram.expected_pcm_len(SECOND)


# --------------------------------------------------------------------------- failures


async def test_a_rejected_key_raises_an_auth_error_and_check_key_says_why(
    fake: FakeDeepgram, tts: DeepgramTTS
) -> None:
    fake.reject_key = True
    speech = tts.open_session(VOICE)
    with pytest.raises(ProviderError) as caught:
        await speech.synthesize(HELLO)
    await speech.aclose()

    error = caught.value
    assert error.category is ErrorCategory.AUTH
    assert error.status_code == 401
    assert error.provider == "deepgram"
    assert AUTH_MESSAGE in error.message
    assert "test-key" not in error.message
    assert not error.retryable
    assert not speech.used_rest  # auth failures never fall back to REST

    reason = await tts.check_key()
    assert reason is not None
    assert "DEEPGRAM_API_KEY" in reason
    assert "\n" not in reason
    assert fake.rest_requests[-1].path == "/v1/projects"
    assert fake.rest_requests[-1].headers["authorization"] == "Token test-key"


async def test_check_key_returns_none_for_a_good_key(tts: DeepgramTTS) -> None:
    assert await tts.check_key() is None


async def test_check_key_returns_none_when_deepgram_cannot_be_reached() -> None:
    provider = DeepgramTTS(api_key="test-key", base_url=f"http://127.0.0.1:{_free_port()}")
    try:
        assert await provider.check_key() is None
    finally:
        await provider.aclose()


async def test_a_handshake_500_falls_back_to_rest(fake: FakeDeepgram, tts: DeepgramTTS) -> None:
    fake.ws_status = 500
    speech = tts.open_session(VOICE)
    assert speech.flush_available()
    first = await speech.synthesize(HELLO)
    second = await speech.synthesize(SECOND)
    await speech.aclose()

    assert speech.used_rest
    assert len(first.pcm) == FakeDeepgram.expected_pcm_len(HELLO)
    assert len(second.pcm) == FakeDeepgram.expected_pcm_len(SECOND)
    assert len(fake.handshakes) == 1  # the WebSocket is not retried within the session
    assert fake.connections == 0
    posts = [r for r in fake.rest_requests if r.method == "POST"]
    assert [r.json() for r in posts] == [{"text": HELLO}, {"text": SECOND}]
    assert posts[0].path == "/v1/speak"
    assert posts[0].query == {
        "model": VOICE,
        "encoding": "linear16",
        "sample_rate": "24000",
        "container": "none",
    }
    assert posts[0].headers["authorization"] == "Token test-key"


async def test_a_handshake_404_falls_back_to_rest(fake: FakeDeepgram, tts: DeepgramTTS) -> None:
    fake.ws_status = 404
    speech = tts.open_session(VOICE)
    audio = await speech.synthesize(HELLO)
    await speech.aclose()
    assert speech.used_rest
    assert len(audio.pcm) == FakeDeepgram.expected_pcm_len(HELLO)


async def test_interrupt_also_stops_a_rest_synthesize(fake: FakeDeepgram, tts: DeepgramTTS) -> None:
    fake.ws_status = 500
    fake.synthesis_delay = 2.0
    speech = tts.open_session(VOICE)
    pending = asyncio.create_task(speech.synthesize(HELLO))
    await fake.wait_for(lambda: any(r.method == "POST" for r in fake.rest_requests))
    await speech.interrupt()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(pending, timeout=1.0)
    await speech.aclose()
    assert speech.used_rest


async def test_a_slow_rest_answer_times_out(fake: FakeDeepgram) -> None:
    fake.ws_status = 500
    fake.synthesis_delay = 2.0
    provider = DeepgramTTS(api_key="test-key", base_url=fake.base_url, timeout=0.3)
    speech = provider.open_session(VOICE)
    try:
        with pytest.raises(ProviderError) as caught:
            await speech.synthesize(HELLO)
    finally:
        await speech.aclose()
        await provider.aclose()
    assert speech.used_rest
    assert caught.value.category is ErrorCategory.TIMEOUT


async def test_a_rest_429_after_fallback_is_a_rate_limit_error(
    fake: FakeDeepgram, tts: DeepgramTTS
) -> None:
    fake.ws_status = 503
    fake.rest_status = 429
    speech = tts.open_session(VOICE)
    with pytest.raises(ProviderError) as caught:
        await speech.synthesize(HELLO)
    await speech.aclose()
    assert caught.value.category is ErrorCategory.RATE_LIMIT
    assert caught.value.status_code == 429
    assert caught.value.retryable


async def test_a_handshake_400_is_a_bad_request_naming_the_voice(
    fake: FakeDeepgram, tts: DeepgramTTS
) -> None:
    fake.ws_status = 400
    speech = tts.open_session("aura-2-nobody-en")
    with pytest.raises(ProviderError) as caught:
        await speech.synthesize(HELLO)
    await speech.aclose()
    assert caught.value.category is ErrorCategory.BAD_REQUEST
    assert "aura-2-nobody-en" in caught.value.message
    assert not speech.used_rest


async def test_a_refused_connection_falls_back_to_rest_then_reports_connectivity() -> None:
    provider = DeepgramTTS(api_key="test-key", base_url=f"http://127.0.0.1:{_free_port()}")
    speech = provider.open_session(VOICE)
    try:
        with pytest.raises(ProviderError) as caught:
            await speech.synthesize(HELLO)
    finally:
        await speech.aclose()
        await provider.aclose()
    assert speech.used_rest
    assert caught.value.category is ErrorCategory.CONNECTIVITY
    assert caught.value.retryable


async def test_a_1011_close_mid_turn_is_a_connectivity_error(
    fake: FakeDeepgram, session: DeepgramSession
) -> None:
    fake.close_1011_after_flushes = 1
    first = await session.synthesize(HELLO)
    assert len(first.pcm) == FakeDeepgram.expected_pcm_len(HELLO)

    with pytest.raises(ProviderError) as caught:
        await session.synthesize(SECOND)
    assert caught.value.category is ErrorCategory.CONNECTIVITY
    assert "1011" in caught.value.message
    assert caught.value.retryable

    # A later sentence opens a fresh connection.
    fake.close_1011_after_flushes = None
    again = await session.synthesize(SECOND)
    assert len(again.pcm) == FakeDeepgram.expected_pcm_len(SECOND)
    assert fake.connections == 2


async def test_slow_synthesis_times_out(fake: FakeDeepgram) -> None:
    fake.synthesis_delay = 2.0
    provider = DeepgramTTS(api_key="test-key", base_url=fake.base_url, timeout=0.3)
    speech = provider.open_session(VOICE)
    try:
        with pytest.raises(ProviderError) as caught:
            await speech.synthesize(HELLO)
    finally:
        await speech.aclose()
        await provider.aclose()
    assert caught.value.category is ErrorCategory.TIMEOUT
    assert caught.value.retryable


async def test_a_warning_is_logged_and_not_fatal(
    fake: FakeDeepgram, session: DeepgramSession, caplog: pytest.LogCaptureFixture
) -> None:
    fake.warning_on_connect = True
    with caplog.at_level(logging.WARNING, logger="playground.providers.deepgram_tts"):
        audio = await session.synthesize(HELLO)
    assert len(audio.pcm) == FakeDeepgram.expected_pcm_len(HELLO)
    assert session.warnings == ["FAKE_WARNING: This is a warning from the fake server."]
    assert "FAKE_WARNING" in caplog.text


async def test_the_key_never_reaches_the_logs(
    fake: FakeDeepgram, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sekrit-0123456789"
    fake.api_key = secret
    provider = DeepgramTTS(api_key=secret, base_url=fake.base_url)
    with caplog.at_level(logging.DEBUG):
        speech = provider.open_session(VOICE)
        await speech.synthesize(HELLO)
        await speech.aclose()
        fake.reject_key = True
        rejected = provider.open_session(VOICE)
        with pytest.raises(ProviderError):
            await rejected.synthesize(HELLO)
        await rejected.aclose()
        await provider.check_key()
        await provider.aclose()
    assert fake.handshakes[0].headers["authorization"] == f"Token {secret}"
    assert secret not in caplog.text
    assert secret not in repr(provider)


@pytest.mark.parametrize(
    ("exc", "category", "status"),
    [
        (
            ApiError(status_code=401, body="Websocket initialized with invalid credentials."),
            ErrorCategory.AUTH,
            401,
        ),
        (ApiError(status_code=403, body={"err_msg": "Forbidden"}), ErrorCategory.AUTH, 403),
        (
            ApiError(status_code=429, body={"err_msg": "Too many requests"}),
            ErrorCategory.RATE_LIMIT,
            429,
        ),
        (ApiError(status_code=400, body={"err_msg": "Bad model"}), ErrorCategory.BAD_REQUEST, 400),
        (ApiError(status_code=503, body="Unavailable"), ErrorCategory.SERVER, 503),
        (InvalidStatus(Response(403, "Forbidden", Headers())), ErrorCategory.AUTH, 403),
        (InvalidStatus(Response(502, "Bad Gateway", Headers())), ErrorCategory.SERVER, 502),
        (ConnectionClosedError(Close(1011, "internal"), None), ErrorCategory.CONNECTIVITY, None),
        (ConnectionClosedError(None, None), ErrorCategory.CONNECTIVITY, None),
        (httpx.ConnectError("refused"), ErrorCategory.CONNECTIVITY, None),
        (httpx.RemoteProtocolError("cut"), ErrorCategory.CONNECTIVITY, None),
        (httpx.ReadTimeout("slow"), ErrorCategory.TIMEOUT, None),
        (TimeoutError(), ErrorCategory.TIMEOUT, None),
        (ConnectionRefusedError(111, "refused"), ErrorCategory.CONNECTIVITY, None),
    ],
)
def test_sdk_and_transport_exceptions_become_provider_errors(
    exc: BaseException, category: ErrorCategory, status: int | None
) -> None:
    provider = DeepgramTTS(api_key="test-key")
    error = provider.translate(exc)
    assert error.category is category
    assert error.status_code == status
    assert error.provider == "deepgram"
    assert "test-key" not in error.message


# --------------------------------------------------------------------------- flush budget


async def test_the_21st_flush_in_a_minute_waits_for_the_oldest_to_expire() -> None:
    clock = FakeClock()
    budget = FlushBudget(clock=clock, sleep=clock.sleep)
    for _ in range(20):
        assert await budget.acquire() == 0.0
        clock.now += 1.0
    assert budget.available() == 0
    assert budget.delay() == pytest.approx(40.0)

    waited = await budget.acquire()
    assert waited == pytest.approx(40.0)
    assert clock.sleeps == [pytest.approx(40.0)]
    assert budget.available() == 0  # 20 flushes again in the last 60 s


async def test_the_flush_budget_frees_slots_as_the_window_slides() -> None:
    clock = FakeClock()
    budget = FlushBudget(limit=3, window=10.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await budget.acquire()
    assert budget.available() == 0
    clock.now += 10.0
    assert budget.available() == 3
    assert budget.delay() == 0.0


async def test_a_session_waits_for_the_flush_budget_and_says_when_it_is_low(
    fake: FakeDeepgram,
) -> None:
    clock = FakeClock()
    budget = FlushBudget(limit=2, clock=clock, sleep=clock.sleep)
    provider = DeepgramTTS(api_key="test-key", base_url=fake.base_url, flush_budget=budget)
    first = provider.open_session(VOICE)
    second = provider.open_session(VOICE)
    try:
        await first.synthesize(HELLO)
        assert first.flush_available()
        await second.synthesize(SECOND)  # the budget is shared by the provider's sessions
        assert not first.flush_available()
        assert not second.flush_available()
        assert clock.sleeps == []

        audio = await first.synthesize(HELLO)
        assert clock.sleeps == [pytest.approx(60.0)]
        assert len(audio.pcm) == FakeDeepgram.expected_pcm_len(HELLO)
    finally:
        await first.aclose()
        await second.aclose()
        await provider.aclose()


def test_a_flush_budget_needs_a_positive_limit_and_window() -> None:
    with pytest.raises(ValueError, match="limit"):
        FlushBudget(limit=0)
    with pytest.raises(ValueError, match="window"):
        FlushBudget(window=0)


# --------------------------------------------------------------------------- configuration


async def test_the_websocket_base_is_derived_from_the_http_base() -> None:
    secure = DeepgramTTS(api_key="k", base_url="https://dg.example.test/prefix/")
    plain = DeepgramTTS(api_key="k", base_url="http://127.0.0.1:9999")
    production = DeepgramTTS(api_key="k")
    try:
        assert secure.environment.base == "https://dg.example.test/prefix"
        assert secure.environment.production == "wss://dg.example.test/prefix"
        assert secure.environment.agent == "wss://dg.example.test/prefix"
        assert secure.environment.agent_rest == "https://dg.example.test/prefix"
        assert plain.environment.production == "ws://127.0.0.1:9999"
        assert production.environment.base == "https://api.deepgram.com"
        assert production.environment.production == "wss://api.deepgram.com"
    finally:
        for provider in (secure, plain, production):
            await provider.aclose()


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(MissingKeyError):
        DeepgramTTS(api_key="")
    with pytest.raises(ConfigError, match="sample rate"):
        DeepgramTTS(api_key="k", sample_rate=22050)
    with pytest.raises(ConfigError, match="http"):
        DeepgramTTS(api_key="k", base_url="ftp://example.test")


def test_the_voice_list_holds_only_aura_2_english_names() -> None:
    assert DEEPGRAM_VOICES[0] == "aura-2-thalia-en"
    assert len(set(DEEPGRAM_VOICES)) == len(DEEPGRAM_VOICES)
    assert all(v.startswith("aura-2-") and v.endswith("-en") for v in DEEPGRAM_VOICES)
    assert {"aura-2-andromeda-en", "aura-2-helena-en", "aura-2-zeus-en"} <= set(DEEPGRAM_VOICES)
