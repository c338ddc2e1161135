"""Talking to the real page: Chromium's fake microphone plays WAV files spoken by the project's
own Piper voice, the offline Whisper hears them through ``/v1/voice``, and the fake OpenAI server
answers the turns the page sends.

Each test launches Chromium with its own "microphone" (a WAV played once, then silence), so what
is said and when is fixed by the file; every wait is on a condition. The app, the fake model and
the speech engines are shared by the module.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, Request, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from playground.turn.events import TimingSummary, TurnCompleted, TurnStarted
from playground.turn.waterfall import STAGES as WATERFALL_STAGES
from playground.ui.render.chat_view import INTERRUPTED_NOTE, STOPPED_NOTE
from playground.ui.session import SessionState
from playground.ui.turn_outputs import chat_value
from playground.ui.voice_panel import running_mark
from tests import speech_support
from tests.fakes.deepgram_server import FakeDeepgram
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.page_support import PAGE_LOAD_MS, HeldJoins, chromium_args, fn_index, serve_page
from tests.speech_support import digital_silence, silence, tone, write_wav
from tests.support import wait_until

pytestmark = [
    pytest.mark.browser,
    # Gradio 6.31's queue computes its analytics with a pandas option that pandas 3 deprecates.
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
]

WEATHER = "Please check the weather in Paris, France."
TOKYO = "What time is it in Tokyo right now?"
# Long enough to still be speaking when the second utterance starts, however fast the voice.
LONG_ANSWER = [
    "The weather in Paris is mild today, with a light breeze coming from the west. ",
    "In the afternoon the clouds will clear and the sun should come out for a while. ",
    "Tomorrow morning will be cooler, so a light jacket is a good idea for a walk. ",
    "The rest of the week looks dry and pleasant, which is perfect for the parks. ",
    "This part ",
    "never arrives.",
]
STAGES = [name for name, _ in WATERFALL_STAGES]


# -- the microphone's recordings --------------------------------------------------------------


@pytest.fixture(scope="module")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What the fake microphone hears: one sentence; two sentences far enough apart for the
    first one's answer to be playing when the second starts; nothing at all."""
    speech = speech_support.spoken((WEATHER, TOKYO))
    folder = tmp_path_factory.mktemp("mic")

    def wav(name: str, pcm: bytes) -> str:
        return str(write_wav(folder / f"{name}.wav", pcm))

    return {
        "one": wav("one", silence(500) + speech[WEATHER] + silence(6000)),
        "two": wav(
            # The gap holds the first transcript, the first sentence's synthesis and the start
            # of its playback, with room for a loaded 2-core machine (the whole suite running
            # beside a CPU burner took up to ~8 s for them; 8.5 s was once not enough).
            "two",
            silence(500) + speech[WEATHER] + silence(12500) + speech[TOKYO] + silence(6000),
        ),
        "silent": wav("silent", silence(2000)),
    }


# -- the app and the page ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def base_url(fake: FakeOpenAI) -> Iterator[str]:
    with serve_page(fake, listen=True) as url:
        yield url


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # One for the module: each test launches its own Chromium (its own microphone) from it.
    with sync_playwright() as p:
        yield p


@contextmanager
def chromium(p: Playwright, mic_wav: str) -> Iterator[Browser]:
    """Debian's Chromium whose microphone hears ``mic_wav`` once, then silence."""
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=chromium_args(mic_wav))
    try:
        yield browser
    finally:
        browser.close()


@dataclass
class VoicePage:
    page: Page
    errors: list[str] = field(default_factory=list)

    def events(self, name: str) -> list[dict[str, Any]]:
        """The voice socket's events of one kind, as the page received them."""
        found = self.page.evaluate(
            "(n) => window.spVoice.events().filter((e) => e.event === n).map((e) => e.data)", name
        )
        return list(found)

    def chat_text(self) -> str:
        return str(self.page.inner_text("#sp-chat"))

    def wait_for(self, condition: str, timeout: float, what: str) -> None:
        """Wait for a JS condition; on timeout say what the page had heard and shown."""
        try:
            self.page.wait_for_function(condition, timeout=timeout)
        except PlaywrightTimeout:
            heard = self.page.evaluate(
                "() => window.spVoice.events().map((e) => e.event + ' ' + JSON.stringify(e.data))"
            )
            status = self.page.inner_text("#sp-voice-status")
            cells = self.page.evaluate(
                "() => [...document.querySelectorAll('#sp-nb-cells article')].map((a) =>"
                " a.dataset.cell + ': ' + [...a.querySelectorAll('.sp-nb-wf [data-stage]')]"
                ".map((e) => e.dataset.stage).join())"
            )
            raise AssertionError(
                f"{what}: not within {timeout} ms; voice status {status!r}; socket events "
                f"{heard!r}; notebook cells (cell: waterfall) {cells!r}; "
                f"chat {self.chat_text()[-500:]!r}"
            ) from None


def open_page(browser: Browser, base_url: str, init_script: str = "") -> VoicePage:
    """The page, loaded; ``init_script`` runs before the page's own scripts."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(10_000)
    opened = VoicePage(page)
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: opened.errors.append(str(error)))
    # Every state the live transcript shows, with whether it was shown as interim.
    page.add_init_script(
        """window.__transcripts = [];
        new MutationObserver(() => {
          const span = document.querySelector('#sp-transcript span');
          if (span) window.__transcripts.push([span.className, span.textContent]);
        }).observe(document, { childList: true, subtree: true, characterData: true });
        window.__spoken = [];
        window.addEventListener('sp-audio-started', () => requestAnimationFrame(() =>
          requestAnimationFrame(() => {
            const h = CSS.highlights.get('sp-speaking');
            window.__spoken.push(h ? [...h].map((r) => r.toString()).join(' ') : '');
          })));"""
    )
    if init_script:
        page.add_init_script(init_script)
    page.goto(base_url)
    page.wait_for_selector("#sp-mic", timeout=PAGE_LOAD_MS)
    page.wait_for_function(
        "() => (document.querySelector('#sp-capabilities')?.innerText ?? '')"
        ".includes('Tool calling')",
        timeout=PAGE_LOAD_MS,
    )
    return opened


def asked(fake: FakeOpenAI, *words: str) -> bool:
    """The fake model has been sent a user message with all of ``words``."""
    for request in fake.chat_requests:
        content = str(request.body["messages"][-1]["content"]).lower()
        if all(word in content for word in words):
            return True
    return False


# -- hands-free: one sentence, one turn ---------------------------------------------------------


@pytest.fixture(scope="module")
def spoken(
    playwright: Playwright, base_url: str, wavs: dict[str, str], fake: FakeOpenAI
) -> Iterator[VoicePage]:
    """A page whose microphone was turned on and heard one sentence, answered and spoken."""
    fake.enqueue(Reply(chunks=["It is sunny ", "in Paris today. ", "Take ", "sunglasses."]))
    with chromium(playwright, wavs["one"]) as browser:
        voice = open_page(browser, base_url)
        voice.page.click("#sp-mic")
        voice.wait_for(
            "() => window.spVoice.waterfalls().some((w) =>"
            " w.stages.some((s) => s.stage === 'playback'))",
            45_000,
            "the spoken turn's answer playing",
        )
        yield voice


def test_speaking_sends_the_transcript_as_the_next_turn(
    spoken: VoicePage, fake: FakeOpenAI
) -> None:
    page = spoken.page
    assert page.get_attribute("#sp-mic", "aria-pressed") == "true"
    # The live transcript: interim text greyed while speaking, then the final text.
    shown = page.evaluate("window.__transcripts")
    finals = [text for kind, text in shown if kind == "sp-tr-final"]
    assert finals and "weather" in finals[-1].lower() and "paris" in finals[-1].lower()
    interims = [e["text"].strip() for e in spoken.events("transcript") if not e["final"]]
    assert all(["sp-tr-interim", text] in shown for text in interims if text), (interims, shown)
    # The turn ran like a typed one: the model got the words, the chat shows the answer.
    assert wait_until(lambda: asked(fake, "weather", "paris"), 5)
    page.wait_for_function(
        "() => (document.querySelector('#sp-chat')?.innerText ?? '').includes('Take sunglasses.')"
    )
    assert "weather in Paris" in spoken.chat_text()
    assert page.input_value("#sp-message textarea") == ""
    # Hands-free keeps listening for the next utterance.
    assert page.evaluate("window.spVoice.state()")["listening"] is True
    assert spoken.errors == []


def test_the_sentence_being_spoken_is_highlighted(spoken: VoicePage) -> None:
    spoken.wait_for("() => window.__spoken.length > 0", 10_000, "a piece starting to play")
    assert spoken.page.evaluate("window.__spoken[0]") == "It is sunny in Paris today."


def test_the_waterfall_shows_every_stage_and_the_voice_to_voice_time(spoken: VoicePage) -> None:
    page = spoken.page
    (waterfall,) = page.evaluate("window.spVoice.waterfalls()")
    assert [s["stage"] for s in waterfall["stages"]] == STAGES
    ends = [s["end_ms"] for s in waterfall["stages"]]
    assert ends == sorted(ends) and ends[0] > 0  # each stage from where the previous ended
    assert waterfall["voice_to_voice_ms"] == round(ends[-1])
    # Drawn: a bar per stage, the slowest marked, the voice-to-voice number in bold.
    rows = page.locator("#sp-waterfall .sp-wf-row[data-stage]")
    assert rows.count() == len(STAGES)
    slowest = max(waterfall["stages"], key=lambda s: s["ms"])
    assert (
        page.locator("#sp-waterfall .sp-wf-slowest").get_attribute("data-stage")
        == (slowest["stage"])
    )
    shown = page.inner_text("#sp-waterfall .sp-wf-v2v b").replace(",", "")
    assert shown == f"{waterfall['voice_to_voice_ms']} ms"
    page.locator("#sp-voice-bar").screenshot(path="/tmp/voice_bar.png")
    page.locator("#sp-waterfall").screenshot(path="/tmp/voice_waterfall.png")


def test_the_spoken_turns_waterfall_is_kept_in_its_notebook_cell(spoken: VoicePage) -> None:
    page = spoken.page
    # The page reports what only it measured (playback started); the turn's cell keeps it.
    page.get_by_role("tab", name="Notebook").click()
    spoken.wait_for(
        "() => document.querySelectorAll('#sp-nb-cells .sp-nb-wf [data-stage]').length === "
        f"{len(STAGES)}",
        15_000,
        "the waterfall in the notebook cell",
    )
    (waterfall,) = page.evaluate("window.spVoice.waterfalls()")
    kept = page.inner_text("#sp-nb-cells .sp-nb-wf .sp-wf-v2v b").replace(",", "")
    assert kept == f"{waterfall['voice_to_voice_ms']} ms"
    stages = page.eval_on_selector_all(
        "#sp-nb-cells .sp-nb-wf [data-stage]", "(rows) => rows.map((r) => r.dataset.stage)"
    )
    assert stages == STAGES
    page.locator("#sp-nb-cells .sp-nb-cell").first.screenshot(path="/tmp/voice_nb_cell.png")
    page.get_by_role("tab", name="Chat").click()


# The page's player holds every audio feed until the turn's text has ended (as a loaded machine
# can deliver them): a spoken turn whose voice comes after its text.
_AUDIO_AFTER_TEXT = """
const hold = setInterval(() => {
  if (!window.spAudio) return;
  clearInterval(hold);
  const feed = window.spAudio.feed;
  window.spAudio.feed = (value) => {
    const later = () => document.querySelector('#sp-summary .sp-stats[data-ended]')
      ? feed(value) : setTimeout(later, 20);
    setTimeout(later, 300);
  };
}, 5);
"""


def test_a_turn_whose_voice_comes_after_its_text_gets_its_whole_waterfall(
    playwright: Playwright, base_url: str, wavs: dict[str, str], fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=["It is sunny ", "in Paris today. ", "Take ", "sunglasses."]))
    with chromium(playwright, wavs["one"]) as browser:
        voice = open_page(browser, base_url)
        page = voice.page
        page.evaluate(_AUDIO_AFTER_TEXT)
        page.click("#sp-mic")
        voice.wait_for(
            "() => window.spVoice.waterfalls().some((w) =>"
            " w.stages.some((s) => s.stage === 'playback'))",
            45_000,
            "the spoken turn's answer playing",
        )
        (waterfall,) = page.evaluate("window.spVoice.waterfalls()")
        assert [s["stage"] for s in waterfall["stages"]] == STAGES
        # Its cell first got the waterfall to the first token (the turn had ended without
        # audio), then the whole one at playback.
        page.get_by_role("tab", name="Notebook").click()
        voice.wait_for(
            "() => document.querySelectorAll('#sp-nb-cells .sp-nb-wf [data-stage]').length === "
            f"{len(STAGES)}",
            15_000,
            "the whole waterfall in the notebook cell",
        )


def test_the_microphone_cancels_echo_and_offers_only_usable_engines(spoken: VoicePage) -> None:
    page = spoken.page
    settings = page.evaluate("window.spVoice.track().getSettings()")
    assert settings["echoCancellation"] is True
    # No Deepgram key on this server: offered, disabled, saying why, like the other pickers.
    deepgram = page.locator("#sp-stt option[value=deepgram]")
    assert deepgram.is_disabled()
    assert "unavailable: set DEEPGRAM_API_KEY" in deepgram.inner_text()
    assert page.input_value("#sp-stt") == "local"


# -- barge-in -----------------------------------------------------------------------------------


def test_speaking_over_the_answer_interrupts_it(
    playwright: Playwright, base_url: str, wavs: dict[str, str], fake: FakeOpenAI
) -> None:
    # The first answer speaks four long sentences, then its stream holds until the gate opens:
    # when the second utterance starts, the answer is both playing and still running.
    gate = threading.Event()
    fake.enqueue(
        Reply(chunks=LONG_ANSWER, delay=0.02, gate=gate, gate_after=4),
        Reply(chunks=["It is evening ", "in Tokyo."]),
    )
    try:
        with chromium(playwright, wavs["two"]) as browser:
            voice = open_page(browser, base_url)
            page = voice.page
            before = fake.disconnects
            page.click("#sp-mic")
            voice.wait_for("() => window.spVoice.bargeIns().length > 0", 45_000, "a barge-in")
            barge = page.evaluate("window.spVoice.bargeIns()[0]")
            assert page.evaluate("window.spAudio.playing()") == 0  # silent at once
            assert barge["playing"] and barge["running"], barge
            # Speech onset to silence: the speech detector's minimum speech, one hop, a stop.
            assert 0 <= barge["latency_ms"] < 1500, barge
            # The turn was stopped upstream and says it was interrupted, keeping its text.
            assert wait_until(lambda: fake.disconnects > before, 10), "upstream still open"
            page.wait_for_function(
                "() => (document.querySelector('#sp-chat')?.innerText ?? '')"
                ".includes('Interrupted \u2014')"
            )
            assert "Stopped \u2014" not in voice.chat_text()

            assert "The weather in Paris is mild today" in voice.chat_text()
            # What was not yet spoken is dimmed; what was heard is not.
            dimmed = page.evaluate(
                "() => [...CSS.highlights.get('sp-unspoken')].map((r) => r.toString()).join('')"
            )
            assert "the parks" in dimmed and "The weather in Paris" not in dimmed
            # The utterance that interrupted is the next turn.
            assert wait_until(lambda: asked(fake, "tokyo"), 30), "the second utterance not sent"
            page.wait_for_function(
                "() => (document.querySelector('#sp-chat')?.innerText ?? '')"
                ".includes('evening in Tokyo')",
                timeout=15_000,
            )
            history = fake.chat_requests[-1].body["messages"]
            assert any("mild today" in str(m["content"]) for m in history[:-1])
            first, second = page.evaluate("window.spVoice.waterfalls()")
            assert first["interrupted"]["latency_ms"] == barge["latency_ms"]
            assert second["barged_in"]["latency_ms"] == barge["latency_ms"]
            page.screenshot(path="/tmp/voice_barge_in.png")
            # The notebook keeps it so: the run's cell says it was spoken over.
            page.get_by_role("tab", name="Notebook").click()
            voice.wait_for(
                "() => [...document.querySelectorAll('#sp-nb-cells .sp-nb-badge')]"
                ".some((b) => b.textContent.startsWith('interrupted'))",
                15_000,
                "the interrupted run's notebook cell",
            )
            # ... and so does the chat of the same browser opened again (a second tab: this
            # one stays, so none of its requests is cut off), rebuilt from those cells.
            again = page.context.new_page()
            again.goto(base_url)
            again.wait_for_function(
                "() => { const chat = document.querySelector('#sp-chat')?.innerText ?? '';"
                " return chat.includes('evening in Tokyo')"
                " && chat.includes('Interrupted \\u2014'); }",
                timeout=30_000,
            )
            again.close()
            assert voice.errors == []
    finally:
        gate.set()


def test_the_pages_own_voice_does_not_interrupt_it(
    playwright: Playwright, base_url: str, wavs: dict[str, str], fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=["The first sentence is here. ", "A second one follows it."]))
    with chromium(playwright, wavs["silent"]) as browser:
        voice = open_page(browser, base_url)
        page = voice.page
        page.click("#sp-mic")
        voice.wait_for("() => window.spVoice.state().listening", 20_000, "listening")
        page.fill("#sp-message textarea", "Say two things")
        page.click("#sp-send")
        # Both sentences played to their end while the microphone listened.
        voice.wait_for(
            "() => window.spAudio.stats().length >= 2 && window.spAudio.playing() === 0"
            " && (document.querySelector('#sp-audio-status')?.innerText ?? '')"
            ".includes('Finished')",
            30_000,
            "the answer spoken to its end",
        )
        assert voice.events("speech-started") == []
        assert page.evaluate("window.spVoice.bargeIns()") == []
        assert "Interrupted" not in voice.chat_text()
        assert page.evaluate("window.spVoice.state()")["listening"] is True


# -- push to talk ------------------------------------------------------------------------------


def test_push_to_talk_sends_what_was_said_while_held(
    playwright: Playwright, base_url: str, wavs: dict[str, str], fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=["Held ", "and heard."]))
    with chromium(playwright, wavs["one"]) as browser:
        voice = open_page(browser, base_url)
        page = voice.page
        # Spoken to, answered in text only: no voice speaks the answer.
        sent = say_while_holding_the_button(voice)
        assert wait_until(lambda: asked(fake, "weather", "paris"), 20), "nothing was sent"
        page.wait_for_function(
            "() => (document.querySelector('#sp-chat')?.innerText ?? '')"
            ".includes('Held and heard.')"
        )
        # Released: nothing more was sent, and the button, not a silence, ended the utterance.
        state = page.evaluate("window.spVoice.state()")
        assert state["handsFree"] is False and state["holding"] is False
        assert state["sentMs"] == sent
        assert len([e for e in voice.events("transcript") if e.get("utterance_end")]) == 1
        # With no voice, the turn's waterfall ends at its first token, and its cell keeps that.
        page.get_by_role("tab", name="Notebook").click()
        voice.wait_for(
            "() => [...document.querySelectorAll('#sp-nb-cells .sp-nb-wf [data-stage]')]"
            ".map((e) => e.dataset.stage).join() === 'transcript,request,first_token'",
            15_000,
            "the unspoken turn's waterfall in its notebook cell",
        )


def say_while_holding_the_button(voice: VoicePage) -> int:
    """Push to talk, with no voice answering: held until the whole sentence of the "one"
    recording (it ends 2.9 s in) has been sent; how many ms of audio were sent."""
    page = voice.page
    page.click("#sp-voice input")
    page.locator("ul[role=listbox] li", has_text="Off").first.click()
    box = page.locator("#sp-ptt").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    voice.wait_for("() => window.spVoice.state().sentMs >= 3200", 20_000, "3.2 s sent")
    page.mouse.up()
    return int(page.evaluate("window.spVoice.state().sentMs"))


def chat_event_ids(page: Page) -> tuple[set[int], set[int]]:
    """Gradio's ids of the chat's after-turn steps (they show the turn's notebook cell) and of
    the voice input's waterfall report."""
    found = page.evaluate(
        """() => {
          const config = window.gradio_config;
          const id = (elem) => config.components.find((c) => c.props?.elem_id === elem).id;
          const recorded = id("sp-turn-recorded");
          const send = id("sp-voice-report-send");
          const deps = config.dependencies;
          return [
            deps.filter((d) => d.outputs.includes(recorded)).map((d) => d.id),
            deps.filter((d) => d.targets.some((t) => t[0] === send)).map((d) => d.id),
          ];
        }"""
    )
    after_turn, report = found
    assert after_turn and report, f"the chat's after-turn steps {after_turn}, report {report}"
    return set(after_turn), set(report)


def test_a_waterfall_is_reported_once_its_turns_cell_is_shown(
    playwright: Playwright, base_url: str, wavs: dict[str, str], fake: FakeOpenAI
) -> None:
    """The chat's after-turn step shows the turn's cell. A report sent before that could be
    answered first and then overwritten by the step's copy of the notebook, read before the
    report was in it: the waterfall gone from the cell (it happened under load). The step's
    answer is held here, so the page has not shown the cell however fast the server was."""
    fake.enqueue(Reply(chunks=["Shown ", "then reported."]))
    with chromium(playwright, wavs["one"]) as browser:
        voice = open_page(browser, base_url)
        page = voice.page
        after_turn, report = chat_event_ids(page)
        reports: list[int] = []

        def on_request(request: Request) -> None:
            if "/queue/join" in request.url and fn_index(request) in report:
                reports.append(len(reports))

        page.on("request", on_request)
        held = HeldJoins(page, fns=after_turn)
        say_while_holding_the_button(voice)
        held.wait()
        # The turn has ended in the page: where the waterfall used to be reported at once.
        page.wait_for_selector("#sp-summary .sp-stats[data-ended]", state="attached")
        page.wait_for_timeout(1_500)
        assert not reports, "the waterfall was reported before its turn's cell was shown"
        held.release()
        page.get_by_role("tab", name="Notebook").click()
        voice.wait_for(
            "() => [...document.querySelectorAll('#sp-nb-cells .sp-nb-wf [data-stage]')]"
            ".map((e) => e.dataset.stage).join() === 'transcript,request,first_token'",
            15_000,
            "the waterfall in its notebook cell",
        )
        assert reports, "the waterfall was never reported"


# -- the chat's "interrupted" note (no browser needed) -----------------------------------------


def _timing() -> TimingSummary:
    return TimingSummary(120.0, None, 1, 150.0, 30, 10.0, 5.0)


def _answer(session: SessionState) -> list[str]:
    return [str(m["content"][0]["text"]) for m in chat_value(session) if m["role"] == "assistant"]


def test_a_turn_spoken_over_says_interrupted_and_the_stop_button_s_says_stopped() -> None:
    session = SessionState()
    first = session.begin("first")
    first.handle(TurnStarted("t1", "local:x", "p@1", "prompt", True, None))
    first.text = "Partial"
    session.interrupt()  # still running: stopped, and why
    assert first.stopped and first.interrupted
    second = session.begin("second")
    second.handle(TurnStarted("t2", "local:x", "p@1", "prompt", True, None))
    second.text = "All of it, still being spoken."
    second.handle(TurnCompleted(second.text, "stop", None, _timing()))
    session.commit()
    session.interrupt()  # finished, still being spoken: the chat's copy says so too
    third = session.begin("third")
    third.handle(TurnStarted("t3", "local:x", "p@1", "prompt", True, None))
    session.stop()
    answers = _answer(session)
    assert INTERRUPTED_NOTE in answers[0] and STOPPED_NOTE not in answers[0]
    assert INTERRUPTED_NOTE in answers[1]
    assert answers[1].index(INTERRUPTED_NOTE) < answers[1].index("<sub>")  # before the meta line
    assert STOPPED_NOTE in answers[2] and INTERRUPTED_NOTE not in answers[2]


def test_the_running_mark_is_hidden_and_names_the_turn() -> None:
    marked = running_mark("<div class='sp-stats'></div>", "turn_1", running=True)
    assert marked.startswith(
        "<span hidden class='sp-turn-mark' data-sp-turn='running' data-sp-turn-id='turn_1'>"
    )
    assert "data-sp-turn='idle'" in running_mark("", None, running=False)


# -- Deepgram from the page ---------------------------------------------------------------------


@contextmanager
def listening_through_deepgram(
    playwright: Playwright, fake: FakeOpenAI, wav: str, init_script: str = ""
) -> Iterator[tuple[VoicePage, FakeDeepgram]]:
    """The page on an app with Deepgram (the fake, which hears "what is on the menu"), its
    microphone hearing ``wav``, Deepgram picked and the microphone on."""
    with (
        FakeDeepgram() as deepgram,
        serve_page(
            fake, deepgram_api_key=deepgram.api_key, deepgram_base_url=deepgram.base_url
        ) as url,
        chromium(playwright, wav) as browser,
    ):
        deepgram.listen_script = ("what is on the menu",)
        voice = open_page(browser, url, init_script)
        voice.page.select_option("#sp-stt", "deepgram")
        voice.page.click("#sp-mic")
        yield voice, deepgram


def test_the_page_listens_through_deepgram_when_picked(
    playwright: Playwright, fake: FakeOpenAI, tmp_path: Path
) -> None:
    # The fake Deepgram hears a scripted word per 100 ms of sound and ends the utterance after
    # the endpointing silence; Chromium's microphone plays the tone once, then silence. The
    # tone is twice what the script needs: a loaded machine may lose a little of it.
    wav = str(
        write_wav(tmp_path / "tone.wav", digital_silence(500) + tone(1000) + digital_silence(2000))
    )
    fake.enqueue(Reply(chunks=["Soup ", "of the day."]))
    with listening_through_deepgram(playwright, fake, wav) as (voice, deepgram):
        assert final_transcript(voice) == "what is on the menu"
        assert wait_until(lambda: asked(fake, "what is on the menu"), 20), "sent as the turn"
        voice.wait_for(
            "() => (document.querySelector('#sp-chat')?.innerText ?? '')"
            ".includes('Soup of the day.')",
            20_000,
            "the answer",
        )
        listened = deepgram.listens[-1]
        assert listened.query["model"] == "nova-3" and listened.query["sample_rate"] == "16000"
        assert not voice.errors


# The page's audio set-up made slow: its worklet module takes 1.5 s to load.
SLOW_AUDIO_SET_UP = """
const addModule = AudioWorklet.prototype.addModule;
AudioWorklet.prototype.addModule = function (...args) {
  return new Promise((done) => setTimeout(done, 1500)).then(() => addModule.apply(this, args));
};"""


def test_speech_at_the_click_is_heard_however_slow_the_audio_set_up(
    playwright: Playwright, fake: FakeOpenAI, tmp_path: Path
) -> None:
    # The user speaks as they click. The capture graph is ready before the microphone opens, so
    # a slow set-up costs none of the speech (built after it, the second of speech was lost:
    # at most a few words were heard, or none).
    wav = str(
        write_wav(tmp_path / "tone.wav", digital_silence(200) + tone(1000) + digital_silence(2000))
    )
    fake.enqueue(Reply(chunks=["Soup."]))
    with listening_through_deepgram(playwright, fake, wav, SLOW_AUDIO_SET_UP) as (voice, _):
        assert final_transcript(voice) == "what is on the menu"
        assert not voice.errors


def final_transcript(voice: VoicePage) -> str:
    """The text of the first utterance's final transcript, once the page has it."""
    voice.wait_for(
        "() => window.spVoice.events().some((e) =>"
        " e.event === 'transcript' && e.data.utterance_end)",
        30_000,
        "Deepgram's final transcript",
    )
    ends = [e for e in voice.events("transcript") if e.get("utterance_end")]
    return str(ends[0]["text"])
