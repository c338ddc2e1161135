"""The playground page: Gradio components wired to the turn runner. Wiring only — rendering is
in ``view``, per-session state and throttling in ``session``, decisions in the core modules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gradio as gr

from playground.catalog import Credentials
from playground.checks.guardrails import LIMITS
from playground.errors import ConfigError
from playground.notebook.model import Notebook
from playground.notebook.store import new_owner_id
from playground.prompts.library import PromptFile
from playground.services import Services
from playground.turn.capabilities import OPTIONS, Conditions, disabled_features
from playground.turn.request import Features, HistoryMessage, TurnRequest
from playground.turn.runner import TurnRunner
from playground.ui.live_turns import LiveTurns
from playground.ui.notebook_tab import (
    Composer,
    NotebookSession,
    NotebookTab,
    build_notebook_tab,
    owner_of,
)
from playground.ui.render import compare_view, notebook_view, panel_view, prompt_view, timing_view
from playground.ui.session import (
    CompareFrame,
    CompareSession,
    SessionState,
    drive_compare,
    drive_turn,
    resume_turn,
)
from playground.ui.turn_outputs import TurnOutputs, chat_value
from playground.ui.wire import wire_value

__all__ = ["PAGE_CSS", "PAGE_HEAD", "build_ui"]

_STATIC = Path(__file__).parent / "static"
PAGE_CSS = (_STATIC / "style.css").read_text(encoding="utf-8")
PAGE_HEAD = "".join(
    f"<script>{(_STATIC / name).read_text(encoding='utf-8')}</script>"
    for name in ("player.js", "timing.js")
)
UI_CONCURRENCY = 64
FEATURES = ("guardrails", "interception", "post_processing", "streaming_guardrail")
# The streaming guardrail's toggle, when it is available, points at its limits just below it.
GUARDRAIL_INFO = "Weaker than the full guardrail: see what it cannot do, just below."
MAX_REPEAT = 10
LOADING_NOTE = "Loading the offline model (first run only, about a second)…"
# Runs in the page as Send dispatches the turn, after its inputs were read: empties the message
# box at once. (An output of the turn itself would cost Gradio a component rebuild per frame.)
CLEAR_BOX = """(...inputs) => {
  const box = document.querySelector('#sp-message textarea');
  if (box) { box.value = ''; box.dispatchEvent(new Event('input', { bubbles: true })); }
  return inputs;
}"""
NOTEBOOK_OFF = (
    "The notebook is off on this server: `PLAYGROUND_NOTEBOOK_DB` is blank or its folder is not "
    "writable. Runs still stream; they are just not kept."
)

HEADER = """<div class='sp-header'><h1>Streaming Playground</h1>
<p>Pick a model, a prompt version and a node type; watch the answer stream in chunk by chunk,
hear it spoken while it is written, and see when every chunk arrived.
With no keys it runs on a tiny offline model and a local voice.</p></div>"""
SPEAKER_ICON = (
    "<svg width='16' height='16' viewBox='0 0 24 24' aria-hidden='true'><path fill='currentColor' "
    "d='M3 10v4h4l5 5V5L7 10H3zm13.5 2A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4z'/></svg>"
)
AUDIO_BAR = f"""<div id='sp-audio-bar'>{SPEAKER_ICON}<span id='sp-audio-status'>
Voice output plays here as sentences complete.</span>
<button type='button' id='sp-mute'
 onclick='this.textContent = window.spAudio.toggleMute() ? "Unmute" : "Mute"'>Mute</button>
</div>"""


def build_ui(services: Services, runner: TurnRunner) -> gr.Blocks:
    catalog, prompts = services.catalog, services.prompts
    server_creds = services.server_credentials
    notebooks = services.notebooks
    live_turns = LiveTurns(
        runner,
        notebooks=notebooks,
        prompts=prompts,
        grace_s=services.settings.playground_page_resume_grace_s,
    )
    services.on_close(live_turns.aclose)

    def creds_for(openai_key: str, azure_key: str, deepgram_key: str) -> Credentials:
        return server_creds.overridden_by(
            openai_api_key=openai_key, azure_openai_api_key=azure_key, deepgram_api_key=deepgram_key
        )

    def model_choices(creds: Credentials) -> list[tuple[str, str]]:
        return [(panel_view.choice_label(e), e.id) for e in catalog.models(creds)]

    def voice_choices(creds: Credentials) -> list[tuple[str, str]]:
        return [("Off", "none")] + [
            (panel_view.choice_label(e), e.id) for e in catalog.voices(creds)
        ]

    default_prompt = prompts.default_for("prompt")
    prompt_ids = sorted(prompts.prompts)
    default_voice = next(
        (e.id for e in catalog.voices(server_creds) if e.engine == "local" and e.available), "none"
    )

    def versions_of(prompt_id: str) -> list[str]:
        return [str(v) for v in sorted(prompts.prompts.get(prompt_id, {}))]

    def shown_prompt(pid: str, ver: str) -> PromptFile:
        # While the prompt changes, the version box can briefly hold the old prompt's version:
        # show that prompt's latest rather than fail the event. (Send still validates strictly.)
        try:
            return prompts.resolve(f"{pid}@{ver}", None)
        except ConfigError:
            return prompts.latest(pid) if pid in prompts.prompts else default_prompt

    def diff_pair(prompt: PromptFile) -> tuple[str, str]:
        """The versions the diff starts with: the one before the selected one (or after it, for
        the first) against the selected one."""
        versions = sorted(prompts.prompts.get(prompt.id, {prompt.version: prompt}))
        older = [v for v in versions if v < prompt.version]
        newer = [v for v in versions if v > prompt.version]
        if older:
            return str(older[-1]), str(prompt.version)
        return str(prompt.version), str(newer[0] if newer else prompt.version)

    def version_diff(pid: str, old: str, new: str) -> str:
        return prompt_view.prompt_diff(shown_prompt(pid, old), shown_prompt(pid, new))

    first_pair = diff_pair(default_prompt)

    demo: gr.Blocks
    # Gradio keeps a copy of every export and upload in its cache: clear out hour-old copies
    # hourly, so a long-running Space does not fill its disk.
    with gr.Blocks(title="Streaming Playground", delete_cache=(3600, 3600)) as demo:
        session = gr.State(SessionState())
        # Only the notebook's random id and which run the chat continues: never keys.
        browser = gr.BrowserState(None, storage_key="streaming-playground")
        gr.HTML(HEADER)
        with gr.Row(equal_height=False, elem_id="sp-main"):
            with gr.Column(scale=1, min_width=300, elem_id="sp-settings"):
                model = gr.Dropdown(
                    model_choices(server_creds),
                    value=catalog.default_model(server_creds).id,
                    label="Model",
                    info="Unavailable models say what they need.",
                    elem_id="sp-model",
                )
                with gr.Row():
                    prompt_id = gr.Dropdown(
                        prompt_ids,
                        value=default_prompt.id,
                        label="Prompt",
                        scale=3,
                        elem_id="sp-prompt",
                    )
                    version = gr.Dropdown(
                        versions_of(default_prompt.id),
                        value=str(default_prompt.version),
                        label="Version",
                        scale=1,
                        min_width=90,
                        elem_id="sp-version",
                    )
                node = gr.Radio(
                    [("Prompt Node", "prompt"), ("Agent Node", "agent")],
                    value=default_prompt.node,
                    label="Node type",
                    elem_id="sp-node",
                )
                streaming = gr.Checkbox(
                    True,
                    label="Stream the answer",
                    info="Off: the whole answer arrives as one chunk.",
                    elem_id="sp-streaming",
                )
                voice = gr.Dropdown(
                    voice_choices(server_creds),
                    value=default_voice,
                    label="Voice",
                    info="Spoken sentence by sentence as text streams.",
                    elem_id="sp-voice",
                )
                with gr.Accordion(
                    "Options that need the complete response", open=True, elem_id="sp-options"
                ):
                    toggles = {
                        name: gr.Checkbox(
                            False,
                            label=OPTIONS[name],
                            info=GUARDRAIL_INFO if name == "streaming_guardrail" else None,
                            elem_id=f"sp-opt-{name}",
                        )
                        for name in FEATURES
                    }
                    # Right under the streaming guardrail's toggle (the last one).
                    gr.HTML(panel_view.limits_html(LIMITS), elem_id="sp-guardrail-limits")
                    capability_md = gr.Markdown(elem_id="sp-capabilities")
                with gr.Accordion("Prompt text", open=False, elem_id="sp-prompt-text"):
                    prompt_md = gr.Markdown(prompt_view.prompt_card(default_prompt))
                    if prompts.problems:
                        gr.Markdown(
                            "\n".join(
                                f"- skipped `{p.path}`: {p.message}" for p in prompts.problems
                            ),
                            elem_classes="sp-problems",
                        )
                with gr.Accordion("Compare prompt versions", open=False, elem_id="sp-versions"):
                    with gr.Row():
                        diff_old = gr.Dropdown(
                            versions_of(default_prompt.id),
                            value=first_pair[0],
                            label="From version",
                            min_width=100,
                            elem_id="sp-diff-old",
                        )
                        diff_new = gr.Dropdown(
                            versions_of(default_prompt.id),
                            value=first_pair[1],
                            label="To version",
                            min_width=100,
                            elem_id="sp-diff-new",
                        )
                    diff_html = gr.HTML(
                        version_diff(default_prompt.id, *first_pair), elem_id="sp-prompt-diff"
                    )
                with gr.Accordion("Session keys", open=False, elem_id="sp-keys"):
                    gr.Markdown(
                        "Used for this browser session only: never stored, logged or "
                        "shown to anyone else. Blank uses the server's keys."
                    )
                    openai_key = gr.Textbox(
                        type="password", label="OpenAI API key", elem_id="sp-openai-key"
                    )
                    azure_key = gr.Textbox(
                        type="password", label="Azure OpenAI API key", elem_id="sp-azure-key"
                    )
                    deepgram_key = gr.Textbox(
                        type="password", label="Deepgram API key", elem_id="sp-deepgram-key"
                    )
            with (
                gr.Column(scale=2, min_width=320, elem_id="sp-work"),
                gr.Tabs(elem_id="sp-tabs") as tabs,
            ):
                with gr.Tab("Chat", id="chat", elem_id="sp-tab-chat"):
                    chatbot = gr.Chatbot(
                        label="Conversation",
                        height=440,
                        elem_id="sp-chat",
                        placeholder="**Ask anything.** The answer streams in here, chunk by chunk.",
                        buttons=["copy", "copy_all"],
                        feedback_options=None,
                    )
                    with gr.Row(elem_id="sp-input-row"):
                        message = gr.Textbox(
                            placeholder="Type a message and press Enter",
                            show_label=False,
                            scale=6,
                            autofocus=True,
                            elem_id="sp-message",
                            max_lines=6,
                        )
                        send = gr.Button(
                            "Send", variant="primary", scale=1, min_width=80, elem_id="sp-send"
                        )
                        stop = gr.Button(
                            "Stop", variant="stop", scale=1, min_width=80, elem_id="sp-stop"
                        )
                        clear = gr.Button("Clear", scale=1, min_width=80, elem_id="sp-clear")
                    gr.HTML(AUDIO_BAR)
                    audio_feed = gr.Textbox(visible="hidden", elem_id="sp-audio-feed")
                    with gr.Column(
                        visible=default_prompt.output_schema is not None, elem_id="sp-structured"
                    ) as structured_box:
                        structured_json = gr.JSON(
                            None,
                            label="Structured output",
                            open=True,
                            max_height=320,
                            elem_id="sp-structured-json",
                        )
                        structured_status = gr.HTML(
                            panel_view.structured_status(None, None), elem_id="sp-structured-status"
                        )
                    summary = gr.HTML(panel_view.timing_summary(None), elem_id="sp-summary")
                    # Drawn as HTML, not with Gradio's plot and table components: see
                    # ``timing_view`` (they held the chat's text back while they re-rendered).
                    plot = gr.HTML(timing_view.arrival_html(None), elem_id="sp-plot")
                    gaps = gr.HTML(timing_view.gap_html(None), elem_id="sp-gaps")
                    table = gr.HTML(timing_view.table_html(None), elem_id="sp-table")
                with gr.Tab("Streaming vs complete", id="compare", elem_id="sp-tab-compare"):
                    compare_state = gr.State(CompareSession())
                    gr.Markdown(compare_view.INTRO, elem_classes="sp-compare-intro")
                    with gr.Row(elem_id="sp-compare-input"):
                        compare_message = gr.Textbox(
                            placeholder="A message to send both ways",
                            show_label=False,
                            scale=5,
                            min_width=220,
                            max_lines=6,
                            elem_id="sp-compare-message",
                        )
                        repeat = gr.Slider(
                            1,
                            MAX_REPEAT,
                            value=1,
                            step=1,
                            label="Repeat",
                            scale=2,
                            min_width=150,
                            elem_id="sp-compare-repeat",
                        )
                    with gr.Row(elem_id="sp-compare-buttons"):
                        compare_run = gr.Button(
                            "Run", variant="primary", min_width=80, elem_id="sp-compare-run"
                        )
                        compare_stop = gr.Button(
                            "Stop", variant="stop", min_width=80, elem_id="sp-compare-stop"
                        )
                    with gr.Row(equal_height=True, elem_id="sp-panes"):
                        pane_streamed = gr.HTML(
                            compare_view.pane_html(compare_view.STREAMED, None),
                            min_width=260,
                            elem_id="sp-pane-streamed",
                        )
                        pane_complete = gr.HTML(
                            compare_view.pane_html(compare_view.COMPLETE, None),
                            min_width=260,
                            elem_id="sp-pane-complete",
                        )
                    compare_results = gr.HTML(
                        compare_view.results_html(None), elem_id="sp-compare-results"
                    )
                    compare_diff = gr.HTML(compare_view.diff_html(None), elem_id="sp-compare-diff")
                with gr.Tab("Notebook", id="notebook", elem_id="sp-tab-notebook"):
                    notebook: NotebookTab | None = None
                    if notebooks is not None:
                        notebook = build_notebook_tab(
                            notebooks=notebooks,
                            export_dir=services.export_dir,
                            live_turns=live_turns,
                            prompts=prompts,
                            chat_session=session,
                            composer=Composer(
                                model, prompt_id, version, node, streaming, voice, toggles, message
                            ),
                            tabs=tabs,
                            keys=[openai_key, azure_key, deepgram_key],
                            creds_for=creds_for,
                            versions_of=versions_of,
                            concurrency=UI_CONCURRENCY,
                        )
                    else:
                        gr.Markdown(NOTEBOOK_OFF, elem_id="sp-nb-off")

        controls = [model, prompt_id, version, node, streaming, voice, *toggles.values()]
        keys = [openai_key, azure_key, deepgram_key]

        def capabilities(
            model_id: str,
            pid: str,
            ver: str,
            node_type: str,
            stream_on: bool,
            voice_id: str,
            *flags: bool,
        ) -> list[Any]:
            prompt = shown_prompt(pid, ver)
            disabled = disabled_features(
                Conditions(
                    streaming=stream_on,
                    prompt_format=prompt.format,
                    node=node_type,
                    has_tools=bool(prompt.tools),
                    engine=model_id.partition(":")[0],
                    voice_engine=None if voice_id == "none" else voice_id.partition(":")[0],
                )
            )
            off = {d.name: d for d in disabled}
            updates = [
                gr.update(
                    interactive=name not in off,
                    value=flag and name not in off,
                    info=panel_view.disabled_info(off[name])
                    if name in off
                    else (GUARDRAIL_INFO if name == "streaming_guardrail" else None),
                )
                for name, flag in zip(FEATURES, flags, strict=True)
            ]
            return [*updates, panel_view.capability_notes(disabled, has_tools=bool(prompt.tools))]

        def on_prompt(pid: str) -> tuple[Any, ...]:
            latest = prompts.latest(pid)
            old, new = diff_pair(latest)
            return (
                gr.update(choices=versions_of(pid), value=str(latest.version)),
                gr.update(value=latest.node),
                prompt_view.prompt_card(latest),
                gr.update(visible=latest.output_schema is not None),
                gr.update(choices=versions_of(pid), value=old),
                gr.update(choices=versions_of(pid), value=new),
                version_diff(pid, old, new),
            )

        def on_version(pid: str, ver: str) -> tuple[Any, ...]:
            prompt = shown_prompt(pid, ver)
            old, new = diff_pair(prompt)
            return (
                prompt_view.prompt_card(prompt),
                gr.update(visible=prompt.output_schema is not None),
                gr.update(value=old),
                gr.update(value=new),
                version_diff(pid, old, new),
            )

        def on_keys(current_model: str, current_voice: str, *key_values: str) -> tuple[Any, Any]:
            creds = creds_for(*key_values)
            return (
                gr.update(choices=model_choices(creds), value=current_model),
                gr.update(choices=voice_choices(creds), value=current_voice),
            )

        # Not the message box: a skipped output costs Gradio a component rebuild on every
        # frame, so the page clears the box itself (``CLEAR_BOX``).
        outputs = TurnOutputs(
            chatbot,
            summary,
            plot,
            gaps,
            table,
            audio_feed,
            structured_json,
            structured_status,
        )
        turn_outputs = outputs.components()

        # One parameter per input: they are the named arguments of the public "/turn" endpoint.
        async def on_send(
            message: str,
            state: SessionState,
            model: str,
            prompt: str,
            version: str,
            node: str,
            streaming: bool,
            voice: str,
            guardrails: bool,
            interception: bool,
            post_processing: bool,
            streaming_guardrail: bool,
            openai_api_key: str | None = None,
            azure_openai_api_key: str | None = None,
            deepgram_api_key: str | None = None,
        ) -> AsyncIterator[tuple[Any, ...]]:
            if not (message or "").strip():
                return
            request = TurnRequest(
                message=message,
                model=model,
                prompt=f"{prompt}@{version}",
                node=node,
                streaming=streaming,
                voice=voice,
                history=tuple(state.history),
                features=Features(
                    guardrails=guardrails,
                    interception=interception,
                    post_processing=post_processing,
                    streaming_guardrail=streaming_guardrail,
                ),
            )
            creds = creds_for(
                openai_api_key or "", azure_openai_api_key or "", deepgram_api_key or ""
            )
            loading = model.startswith("local:") and not services.local_model.loaded
            # No frame before the turn has started: the upstream request goes out first.
            async for frame in drive_turn(live_turns, state, request, creds):
                values = outputs.render(state, frame)
                if loading and not (state.current and state.current.chunks):
                    loading_note = wire_value(summary, panel_view.loading_summary(LOADING_NOTE))
                    values = (values[0], loading_note, *values[2:])
                yield values

        # Stop and Clear are cooperative (see ``session``): they tell the running turn's driver,
        # which closes the run and sends the last frame; the Gradio event is not cancelled.
        async def on_stop(state: SessionState) -> list[dict[str, Any]]:
            state.stop()
            return chat_value(state)

        async def on_clear(state: SessionState) -> tuple[Any, ...]:
            state.clear()
            live_turns.forget_chat(state.owner)
            state.structured_shown = None
            return tuple(outputs.initial(state))

        async def after_turn(
            state: SessionState, nbs: NotebookSession, stored: Any
        ) -> tuple[Any, Any]:
            """Show the finished run's cell and remember it as where the chat continues."""
            live = state.last_run
            if live is None or notebooks is None or nbs.owner is None:
                return gr.skip(), gr.skip()
            cell = await live.recorded()
            nb = live.notebook or await notebooks.load(nbs.owner)
            chat = cell.id if cell is not None else _chat_cell(stored)
            return (
                {"owner": nbs.owner, "chat": chat},
                notebook_view.notebook_html(nb, pending_pin=nbs.pending_pin),
            )

        def forget_chat(stored: Any) -> Any:
            owner = owner_of(stored)
            return {"owner": owner, "chat": None} if owner else gr.skip()

        def restore_chat(state: SessionState, nb: Notebook, cell_id: str | None) -> None:
            cell = next((c for c in nb.cells if c.id == cell_id), None)
            if cell is None or cell.failed:
                return
            state.restore(
                [
                    *cell.history,
                    HistoryMessage(role="user", content=cell.message),
                    *([HistoryMessage(role="assistant", content=cell.text)] if cell.text else []),
                ]
            )

        async def on_load(
            stored: Any, state: SessionState, nbs: NotebookSession
        ) -> AsyncIterator[tuple[Any, ...]]:
            """Who this browser is; its notebook; the conversation it was in; and any run a
            previous page left streaming, followed from its first event."""
            owner = owner_of(stored) or new_owner_id()
            state.owner = nbs.owner = nbs.rerun.owner = owner
            chat_cell = live_turns.chat_cell(owner) or _chat_cell(stored)
            nb = await notebooks.load(owner) if notebooks is not None else Notebook()
            orphans = live_turns.orphaned(owner)
            chat_run = next((t for t in reversed(orphans) if t.kind == "chat"), None)
            rerun = next((t for t in reversed(orphans) if t.kind == "rerun"), None)
            if chat_run is None:
                restore_chat(state, nb, chat_cell)
            # Every output is sent in every frame, unchanged ones as they were: a ``gr.skip()``
            # costs Gradio a component rebuild per frame (see ``SessionState.frame_values``).
            shown: list[Any] = [{"owner": owner, "chat": chat_cell}, *outputs.initial(state)]
            if notebooks is not None:
                shown += [notebook_view.notebook_html(nb, pending_pin=nbs.pending_pin), ""]
            yield tuple(shown)
            if chat_run is not None:
                async for frame in resume_turn(live_turns, state, chat_run):
                    shown[1:9] = outputs.render(state, frame)
                    yield tuple(shown)
            if rerun is not None and notebooks is not None:
                async for _frame in resume_turn(live_turns, nbs.rerun, rerun):
                    turn = nbs.rerun.current
                    shown[-1] = notebook_view.live_cell_html(rerun.request.message, turn)
                    yield tuple(shown)
            if chat_run is None and rerun is None:
                return
            chat_done = await chat_run.recorded() if chat_run is not None else None
            if rerun is not None:
                await rerun.recorded()
            shown[0] = {
                "owner": owner,
                "chat": chat_done.id if chat_done is not None else chat_cell,
            }
            if notebooks is not None:
                nb = await notebooks.load(owner)  # with both runs in it, whichever came last
                shown[-2:] = [notebook_view.notebook_html(nb, pending_pin=nbs.pending_pin), ""]
            yield tuple(shown)

        def render_compare(state: CompareSession, frame: CompareFrame) -> tuple[str, ...]:
            """The comparison's panes, results and diff; unchanged ones are sent again as they
            were (HTML is its own wire value, see ``wire``)."""
            run, shown = state.run, state.shown
            if shown is None or frame.panes or frame.final:
                panes = [
                    compare_view.pane_html(compare_view.STREAMED, run),
                    compare_view.pane_html(compare_view.COMPLETE, run),
                ]
            else:
                panes = shown[:2]
            if shown is None or frame.results or frame.final:
                results = [compare_view.results_html(run), compare_view.diff_html(run)]
            else:
                results = shown[2:]
            state.shown = [*panes, *results]
            return tuple(state.shown)

        async def on_compare(
            message: str,
            state: CompareSession,
            model: str,
            prompt: str,
            version: str,
            node: str,
            repeat: float,
            openai_api_key: str,
            azure_openai_api_key: str,
            deepgram_api_key: str,
        ) -> AsyncIterator[tuple[Any, ...]]:
            if not (message or "").strip():
                return
            request = TurnRequest(
                message=message, model=model, prompt=f"{prompt}@{version}", node=node, voice="none"
            )
            creds = creds_for(
                openai_api_key or "", azure_openai_api_key or "", deepgram_api_key or ""
            )
            rounds = max(1, min(MAX_REPEAT, int(repeat or 1)))
            async for frame in drive_compare(runner, state, request, creds, repeat=rounds):
                yield render_compare(state, frame)

        async def on_compare_stop(state: CompareSession) -> None:
            state.stop()

        turn_inputs = [message, session, *controls, *keys]
        unlock_audio = "() => { window.spAudio && window.spAudio.unlock(); }"
        # Send is the page's one public endpoint ("/turn", for gradio_client); Enter runs the same
        # function privately. Stop, Clear and the capability events stay private.
        for trigger, api in ((send.click, "turn"), (message.submit, None)):
            trigger(fn=None, js=unlock_audio)
            sent = trigger(
                on_send,
                turn_inputs,
                turn_outputs,
                js=CLEAR_BOX,
                # The inputs are plain strings and booleans, checked again by ``TurnRequest``
                # and the runner; Gradio's per-input preprocessing (a worker-thread round trip
                # each, fifteen of them) delayed every turn's start. Its postprocessing did the
                # same to every frame: ``render`` sends the outputs already postprocessed.
                preprocess=False,
                postprocess=False,
                concurrency_limit=UI_CONCURRENCY,
                concurrency_id="turn",
                show_progress="hidden",
                api_name=api,
                api_visibility="public" if api else "private",
            )
            if notebook is not None:
                sent.then(
                    after_turn,
                    [session, notebook.state, browser],
                    [browser, notebook.cells],
                    api_visibility="private",
                )
        stop.click(fn=None, js="() => { window.spAudio && window.spAudio.stop(); }")
        stop.click(on_stop, [session], [chatbot], queue=False, api_visibility="private")
        clear.click(fn=None, js="() => { window.spAudio && window.spAudio.stop(); }")
        clear.click(
            on_clear,
            [session],
            turn_outputs,
            postprocess=False,  # ``TurnOutputs`` values are already postprocessed
            queue=False,
            api_visibility="private",
        )
        clear.click(forget_chat, [browser], [browser], queue=False, api_visibility="private")
        compare_inputs = [compare_message, compare_state, model, prompt_id, version, node, repeat]
        compare_outputs = [pane_streamed, pane_complete, compare_results, compare_diff]
        for compare_trigger in (compare_run.click, compare_message.submit):
            compare_trigger(
                on_compare,
                [*compare_inputs, *keys],
                compare_outputs,
                # As ``/turn`` (see there): no per-input and per-output worker-thread hops.
                preprocess=False,
                postprocess=False,
                concurrency_limit=UI_CONCURRENCY,
                concurrency_id="compare",
                show_progress="hidden",
                api_visibility="private",
            )
        compare_stop.click(
            on_compare_stop, [compare_state], None, queue=False, api_visibility="private"
        )
        audio_feed.change(
            fn=None, inputs=[audio_feed], js="(v) => { window.spAudio && window.spAudio.feed(v); }"
        )

        cap_inputs = [model, prompt_id, version, node, streaming, voice, *toggles.values()]
        cap_outputs = [*toggles.values(), capability_md]
        for component in (model, version, node, streaming, voice):
            component.change(
                capabilities, cap_inputs, cap_outputs, queue=False, api_visibility="private"
            )
        # .input, not .change: an Edit from the notebook sets the prompt and its version together
        # and must not have the version reset to the prompt's latest.
        prompt_id.input(
            on_prompt,
            [prompt_id],
            [version, node, prompt_md, structured_box, diff_old, diff_new, diff_html],
            queue=False,
            api_visibility="private",
        ).then(capabilities, cap_inputs, cap_outputs, queue=False, api_visibility="private")
        version.change(
            on_version,
            [prompt_id, version],
            [prompt_md, structured_box, diff_old, diff_new, diff_html],
            queue=False,
            api_visibility="private",
        )
        # .input, not .change: only a person picking a version redraws the diff here; when the
        # prompt or version changes, those handlers set both pickers and the diff together.
        for picker in (diff_old, diff_new):
            picker.input(
                version_diff,
                [prompt_id, diff_old, diff_new],
                [diff_html],
                queue=False,
                api_visibility="private",
            )
        for key_box in keys:
            key_box.blur(
                on_keys,
                [model, voice, *keys],
                [model, voice],
                queue=False,
                api_visibility="private",
            )
            key_box.submit(
                on_keys,
                [model, voice, *keys],
                [model, voice],
                queue=False,
                api_visibility="private",
            )
        demo.load(capabilities, cap_inputs, cap_outputs, queue=False, api_visibility="private")
        nb_state = notebook.state if notebook is not None else gr.State(NotebookSession())
        demo.load(
            on_load,
            [browser, session, nb_state],
            [
                browser,
                *turn_outputs,
                *((notebook.cells, notebook.live) if notebook is not None else ()),
            ],
            postprocess=False,  # ``render``'s frames are already postprocessed
            concurrency_limit=UI_CONCURRENCY,
            concurrency_id="turn",
            show_progress="hidden",
            api_visibility="private",
        )
        if notebook is not None:
            for action in notebook.actions:
                action.then(
                    on_version,
                    [prompt_id, version],
                    [prompt_md, structured_box, diff_old, diff_new, diff_html],
                    queue=False,
                    api_visibility="private",
                ).then(capabilities, cap_inputs, cap_outputs, queue=False, api_visibility="private")
    demo.queue(default_concurrency_limit=UI_CONCURRENCY)
    return demo


def _chat_cell(stored: Any) -> str | None:
    chat = stored.get("chat") if isinstance(stored, dict) else None
    return chat if isinstance(chat, str) else None
