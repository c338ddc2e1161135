"""The Arena tab: two to four columns, each a configuration (model, prompt version, streaming on
or off, temperature, max tokens, seed); one message goes to all of them at once and each streams
into its own pane with its own Stop, on one clock, with a shared chart and table
(``arena_view``). One voice may speak one chosen column; the message may be repeated N times for
the spread of every measure. Each column keeps its own conversation. The runs are
``turn.arena``'s; "streaming vs complete" is one of its presets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import gradio as gr
from gradio.blocks import Block

from playground.errors import ConfigError
from playground.notebook.access import Notebooks
from playground.notebook.building import cell_from_run
from playground.notebook.model import RunCell
from playground.turn.arena import MAX_COLUMNS, MAX_REPEAT, ArenaRun, ArenaSession, run_arena
from playground.turn.events import TurnFailed
from playground.turn.gate import TurnGate, TurnRefused
from playground.turn.request import TurnRequest
from playground.turn.runner import TurnRunner
from playground.turn.state import TurnState
from playground.ui.arena_frames import ArenaFrames
from playground.ui.composer import Composer
from playground.ui.live_feed import LiveFeeds
from playground.ui.notebook_tab import NotebookSession, NotebookTab
from playground.ui.parameters_panel import effort_choice
from playground.ui.render import arena_view, notebook_view
from playground.ui.session import request_error_code
from playground.ui.settings_panel import SettingsPanel, choices_keeping

__all__ = ["ArenaTab", "ColumnConfig"]

log = logging.getLogger(__name__)

_PRIVATE: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
# New text goes to the run's socket at most this often (once per display frame), the first
# text of a column and a column's end at once; what a quiet stream held back goes this long
# after it. Gradio is sent a frame only when what it shows changed (``arena_frames``).
_FRAME_S: Final = 1 / 60
# The chart and tables at most once a second while text streams (and when a column ends):
# measured in the page (benchmarks/arena_page), each redraw of them holds every pane back.
_RESULTS_S: Final = 1.0
_FIELDS: Final = 7  # model, prompt ref, streaming, temperature, max tokens, seed, effort
# The prompt choice that runs the Edit prompt tab's text (its draft, else the version it shows).
DRAFT: Final = "draft"
# The preset's pair runs at temperature 0 with a fixed seed, so that what differs between the
# streamed and the complete answer is the streaming (where the provider honours both).
PRESET_TEMPERATURE: Final = "0"
PRESET_SEED: Final = "7"
_FEED_JS: Final = "(v) => { window.spAudio && window.spAudio.feed(v); }"
_TEXT_FEED_JS: Final = "(v) => { window.spArena && window.spArena.listen(v); }"
# Send makes the run's feed key and opens its socket at once, so the socket is open by the time
# the first pieces come: the key is the input before the session's {keys} key boxes (``wire``).
# The second press of a double click goes with an empty message, which ``on_send`` ignores.
_SEND_JS: Final = (
    "(...args) => {{ const arena = window.spArena, at = args.length - {keys} - 1;"
    " if (arena && !arena.sendable(args[0])) {{ args[0] = ''; return args; }}"
    " args[at] = arena ? arena.prepare(args[0]) : ''; return args; }}"
)
_STOP_AUDIO_JS: Final = "() => { window.spAudio && window.spAudio.stop(); }"


def read_repeat(value: object) -> int:
    """The Repeat control's value: a whole number of rounds, 1 to ``MAX_REPEAT``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"repeat: a number from 1 to {MAX_REPEAT}", field="repeat")
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number.is_integer() or not 1 <= number <= MAX_REPEAT:
        raise ConfigError(
            f"repeat: a whole number from 1 to {MAX_REPEAT}, got {str(value)[:20]!r}",
            field="repeat",
        )
    return int(number)


def read_audible(value: object, count: int) -> int:
    """The spoken column's index (0-based) from the control's "1".."4"."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not text.isdigit() or not 1 <= int(text) <= count:
        raise ConfigError(f"spoken column: a column from 1 to {count}", field="audible")
    return int(text) - 1


def _number_box(label: str, elem_id: str) -> gr.Textbox:
    # A text box, as in the parameters panel: a number box shows 0 for "not set".
    return gr.Textbox(
        "", label=label, placeholder="default", max_lines=1, min_width=80, elem_id=elem_id
    )


@dataclass(frozen=True, slots=True)
class ColumnConfig:
    model: str
    prompt: str  # id@version
    streaming: bool = True
    temperature: str = ""  # as typed; blank: the prompt's default, then the model's
    max_tokens: str = ""
    seed: str = ""
    reasoning_effort: str = ""  # blank: the model's own

    @property
    def label(self) -> str:
        prompt = "the Edit prompt draft" if self.prompt == DRAFT else self.prompt
        effort = f" · {self.reasoning_effort} effort" if self.reasoning_effort else ""
        return f"{self.model} · {prompt} · {'streamed' if self.streaming else 'complete'}{effort}"

    def values(self) -> list[Any]:
        return [
            self.model,
            self.prompt,
            self.streaming,
            self.temperature,
            self.max_tokens,
            self.seed,
            self.reasoning_effort,
        ]


def configs_of(count: int, values: Sequence[Any]) -> list[ColumnConfig]:
    """The first ``count`` columns' configurations from the controls' flat values."""
    return [
        ColumnConfig(*values[i * _FIELDS : (i + 1) * _FIELDS])
        for i in range(max(1, min(count, MAX_COLUMNS)))
    ]


@dataclass
class _ColumnControls:
    box: gr.Column
    model: gr.Dropdown
    prompt: gr.Dropdown
    streaming: gr.Checkbox
    temperature: gr.Textbox
    max_tokens: gr.Textbox
    seed: gr.Textbox
    reasoning_effort: gr.Dropdown
    pane: gr.HTML
    stop: gr.Button
    duplicate: gr.Button
    remove: gr.Button

    @property
    def config(self) -> list[Block]:
        return [
            self.model,
            self.prompt,
            self.streaming,
            self.temperature,
            self.max_tokens,
            self.seed,
            self.reasoning_effort,
        ]


class ArenaTab:
    """Render inside a ``gr.Tab``; ``wire`` once the settings panel exists."""

    def __init__(
        self,
        runner: TurnRunner,
        settings: SettingsPanel,
        gate: TurnGate,
        notebooks: Notebooks | None = None,
        live_feeds: LiveFeeds | None = None,
    ) -> None:
        self.runner, self.settings, self.gate = runner, settings, gate
        self.notebooks = notebooks  # each column's run becomes a cell there (None: not kept)
        # Where the answers go as they grow (None: in Gradio's frames, each pane whole).
        self.live_feeds = live_feeds
        self.takes_owner = False  # ``on_send`` is given the notebook's session (``wire``)
        # Recordings of runs whose page closed mid-run: held until done, so none is collected.
        self._recording: set[asyncio.Task[None]] = set()

    def prompt_choices(self) -> list[tuple[str, str]]:
        library = self.settings.prompts
        return [("The draft in Edit prompt", DRAFT)] + [(p.ref, p.ref) for p in library.all()]

    def default_config(self) -> ColumnConfig:
        catalog, creds = self.settings.catalog, self.settings.anonymous_creds
        return ColumnConfig(catalog.default_model(creds).id, self.settings.default_prompt.ref)

    def render(self) -> None:
        self.session = gr.State(ArenaSession())
        self.count = gr.State(2)
        gr.Markdown(arena_view.INTRO, elem_classes="sp-arena-intro")
        with gr.Row(elem_id="sp-arena-input"):
            self.message = gr.Textbox(
                placeholder="One message to every column",
                show_label=False,
                scale=5,
                min_width=220,
                max_lines=6,
                elem_id="sp-arena-message",
            )
            self.send = gr.Button("Send", variant="primary", min_width=80, elem_id="sp-arena-send")
            self.stop_all = gr.Button(
                "Stop all", variant="stop", min_width=80, elem_id="sp-arena-stop-all"
            )
        with gr.Row(elem_id="sp-arena-run-options"):
            self.repeat = gr.Slider(
                1,
                MAX_REPEAT,
                value=1,
                step=1,
                label="Repeat (rounds of the same message)",
                min_width=200,
                elem_id="sp-arena-repeat",
            )
            self.voice = gr.Dropdown(
                self.settings.voice_choices(self.settings.anonymous_creds),
                value="none",
                label="Voice (one, for the whole arena)",
                min_width=180,
                elem_id="sp-arena-voice",
            )
            self.audible = gr.Radio(
                [str(n) for n in range(1, MAX_COLUMNS + 1)],
                value="1",
                label="Spoken column",
                min_width=180,
                elem_id="sp-arena-audible",
            )
        self.audio_status = gr.HTML(
            "<div id='sp-arena-audio-status' class='sp-caption'></div>", padding=False
        )
        self.audio_feed = gr.Textbox(visible="hidden", elem_id="sp-arena-audio-feed")
        self.text_feed = gr.Textbox(visible="hidden", elem_id="sp-arena-text-feed")
        with gr.Row(elem_id="sp-arena-actions"):
            self.add = gr.Button("Add a column", size="sm", elem_id="sp-arena-add")
            self.from_settings = gr.Button(
                "Column 1 from the settings", size="sm", elem_id="sp-arena-from-settings"
            )
            self.preset = gr.Button(
                "Preset: streaming vs complete", size="sm", elem_id="sp-arena-preset-streaming"
            )
            self.clear = gr.Button("New conversation", size="sm", elem_id="sp-arena-clear")
        with gr.Row(equal_height=False, elem_id="sp-arena-columns"):
            self.columns = [self._render_column(i) for i in range(MAX_COLUMNS)]
        self.results = gr.HTML(arena_view.results_html([], []), elem_id="sp-arena-results")

    def _render_column(self, index: int) -> _ColumnControls:
        n = index + 1
        first = self.default_config()
        with gr.Column(visible=index < 2, min_width=240, elem_id=f"sp-arena-col-{n}") as box:
            model = gr.Dropdown(
                self.settings.model_choices(self.settings.anonymous_creds),
                value=first.model,
                label=f"Column {n}: model",
                # "From the settings" may bring a model typed there, which no list names.
                allow_custom_value=True,
                elem_id=f"sp-arena-model-{n}",
            )
            prompt = gr.Dropdown(
                self.prompt_choices(),
                value=first.prompt,
                label="Prompt version",
                elem_id=f"sp-arena-prompt-{n}",
            )
            streaming = gr.Checkbox(
                True,
                label="Stream the answer (off: it arrives whole)",
                elem_id=f"sp-arena-streaming-{n}",
            )
            with gr.Row():
                # Text boxes, as in the parameters panel: a number box shows 0 for "not set".
                temperature = _number_box("Temperature", f"sp-arena-temperature-{n}")
                max_tokens = _number_box("Max tokens", f"sp-arena-max-tokens-{n}")
                seed = _number_box("Seed", f"sp-arena-seed-{n}")
            offered = effort_choice(first.model)
            reasoning_effort = gr.Dropdown(
                offered["choices"],
                value="",
                label="Reasoning effort",
                info=offered["info"],
                interactive=offered["interactive"],
                # A column set from a notebook run may name its effort before its model's
                # choices catch up; the runner checks the value against the model anyway.
                allow_custom_value=True,
                elem_id=f"sp-arena-effort-{n}",
            )
            pane = gr.HTML(
                arena_view.pane_html(index, first.label, None), elem_id=f"sp-arena-pane-{n}"
            )
            with gr.Row():
                stop = gr.Button(
                    "Stop", size="sm", variant="stop", min_width=60, elem_id=f"sp-arena-stop-{n}"
                )
                duplicate = gr.Button(
                    "Duplicate", size="sm", min_width=60, elem_id=f"sp-arena-dup-{n}"
                )
                remove = gr.Button(
                    "Remove", size="sm", min_width=60, elem_id=f"sp-arena-remove-{n}"
                )
        return _ColumnControls(
            box,
            model,
            prompt,
            streaming,
            temperature,
            max_tokens,
            seed,
            reasoning_effort,
            pane,
            stop,
            duplicate,
            remove,
        )

    # -- wiring ------------------------------------------------------------------------------

    @property
    def config_inputs(self) -> list[Block]:
        return [block for column in self.columns for block in column.config]

    @property
    def layout_outputs(self) -> list[Block]:
        """What a change of columns sets: the count, each column's box and configuration."""
        outputs: list[Block] = [self.count]
        for column in self.columns:
            outputs += [column.box, *column.config, column.pane]
        return outputs

    def wire(
        self,
        concurrency: int,
        draft: gr.Code,
        draft_base: gr.Textbox,
        notebook: NotebookTab | None = None,
    ) -> None:
        """``draft`` and ``draft_base``: the editor's text and the version it was opened from,
        for columns that run the draft; ``notebook``: where the runs are kept."""
        s = self.settings
        layout = self.layout_outputs
        configs = [self.count, *self.config_inputs]
        # ``show_progress_on`` the trigger: Gradio's page keeps a loading status for every
        # component an event has targeted and refreshes them all on each status message, so
        # the 37 layout outputs would add to the page's work on every frame of every run.
        self.add.click(self.on_add, configs, layout, show_progress_on=self.add, **_PRIVATE)
        for index, column in enumerate(self.columns):
            column.duplicate.click(
                self._duplicate(index),
                configs,
                layout,
                show_progress_on=column.duplicate,
                **_PRIVATE,
            )
            column.remove.click(
                self._remove(index), configs, layout, show_progress_on=column.remove, **_PRIVATE
            )
            column.model.change(
                effort_choice,
                [column.model, column.reasoning_effort],
                [column.reasoning_effort],
                queue=False,
                **_PRIVATE,
            )
            column.stop.click(self._stop(index), [self.session], None, queue=False, **_PRIVATE)
            # The voice stops with the column it speaks (the player is in the page).
            column.stop.click(
                None,
                [self.audible],
                None,
                js=(
                    f"(a) => {{ if (String(a) === '{index + 1}') "
                    "window.spAudio && window.spAudio.stop(); }"
                ),
            )
        chosen = [s.model, s.prompt_id, s.version, s.streaming]
        self.from_settings.click(
            self.on_from_settings,
            [*chosen, *configs],
            layout,
            show_progress_on=self.from_settings,
            **_PRIVATE,
        )
        self.preset.click(
            self.on_preset, [*chosen, *configs], layout, show_progress_on=self.preset, **_PRIVATE
        )
        self.clear.click(
            self.on_clear, [self.session, *configs], layout, show_progress_on=self.clear, **_PRIVATE
        )
        self.stop_all.click(self.on_stop_all, [self.session], None, queue=False, **_PRIVATE)
        self.stop_all.click(None, None, None, js=_STOP_AUDIO_JS)
        self.audio_feed.change(fn=None, inputs=[self.audio_feed], js=_FEED_JS)
        self.text_feed.change(fn=None, inputs=[self.text_feed], js=_TEXT_FEED_JS)
        # Session keys bring their models and voices to the arena's pickers too.
        pickers = [self.voice, *(c.model for c in self.columns)]
        for key_box in s.keys:
            for trigger in (key_box.blur, key_box.submit):
                trigger(self.on_keys, [self.voice, *s.keys], pickers, **_PRIVATE)
        # What the compatible server lists after the settings' ↻ reaches the columns too.
        s.follow_models_refresh(self.on_keys, [self.voice, *s.keys], pickers)
        self._wire_send(concurrency, [*configs, draft, draft_base], notebook)

    def _wire_send(
        self, concurrency: int, configs: list[Block], notebook: NotebookTab | None
    ) -> None:
        """Send and Enter; ``configs``: the columns' controls, then the editor's draft and the
        version it was opened from."""
        s = self.settings
        panes = [c.pane for c in self.columns]
        options = [self.repeat, self.voice, self.audible]
        # Whose notebook keeps the run: known when it starts, so a page closed mid-run loses
        # nothing (``on_send`` records it then).
        owner = [notebook.state] if notebook is not None and self.notebooks is not None else []
        self.takes_owner = bool(owner)
        # One event for both, so a run started with Enter is pending for Send too.
        sent = gr.on(
            [self.send.click, self.message.submit],
            self.on_send,
            [
                self.message,
                self.session,
                *options,
                *configs,
                *owner,
                self.text_feed,  # the key the page made for the run's feed (_SEND_JS)
                *s.keys,
            ],
            [*panes, self.results, self.audio_feed, self.text_feed],
            js=_SEND_JS.format(keys=len(s.keys)),
            # As ``/turn``: inputs taken as sent, HTML outputs sent as they are, with no
            # worker-thread hop per input and output on every frame.
            preprocess=False,
            postprocess=False,
            concurrency_limit=concurrency,
            concurrency_id="arena",
            show_progress_on=self.send,
            # The panes say "done" through the run's socket a moment before Gradio's event
            # ends (the run is recorded, its last frame sent): a Send pressed then runs
            # when it ends. Gradio's default ("once") dropped it without a word.
            trigger_mode="always_last",
            **_PRIVATE,
        )
        if notebook is not None:
            cells = [notebook.cells]
            sent.then(self.after_run, [self.session, notebook.state], cells, **_PRIVATE)

    def layout(self, configs: Sequence[ColumnConfig]) -> list[Any]:
        """The values of ``layout_outputs`` for ``configs`` (the columns beyond are hidden)."""
        values: list[Any] = [len(configs)]
        for index in range(MAX_COLUMNS):
            if index < len(configs):
                config = configs[index]
                values += [
                    gr.update(visible=True),
                    *config.values(),
                    arena_view.pane_html(index, config.label, None),
                ]
            else:
                values += [gr.update(visible=False), *([gr.skip()] * _FIELDS), gr.skip()]
        return values

    @property
    def open_outputs(self) -> list[Block]:
        """What opening an arena run from the notebook sets: the columns and the message."""
        return [*self.layout_outputs, self.message]

    def open_cells(self, cells: Sequence[RunCell]) -> tuple[dict[Block, Any], str]:
        """An arena run's cells (from the notebook) back as columns, in their order, with
        their message in the box; and what was done, for the notebook's status line."""
        ordered = sorted(cells, key=lambda c: int((c.config.arena or "x/1").split("/")[1]))
        configs, drafts = [], []
        for number, cell in enumerate(ordered[:MAX_COLUMNS], 1):
            c = cell.config
            ran_draft = c.prompt_draft is not None
            if ran_draft:
                drafts.append(str(number))

            def text(value: object) -> str:
                return "" if value is None else str(value)

            configs.append(
                ColumnConfig(
                    c.model,
                    DRAFT if ran_draft else c.prompt,
                    c.streaming,
                    text(c.temperature),
                    text(c.max_tokens),
                    text(c.seed),
                    text(c.reasoning_effort),
                )
            )
        shown = dict(
            zip(self.open_outputs, [*self.layout(configs), ordered[0].message], strict=True)
        )
        note = f"Opened in the arena: {len(configs)} columns and their message. Press Send."
        if drafts:
            note += (
                f" Column {', '.join(drafts)} ran an unsaved draft: it runs the Edit prompt "
                "tab's text now (the cell's Edit puts that draft back in the editor)."
            )
        return shown, note

    def on_add(self, count: int, *values: Any) -> list[Any]:
        configs = configs_of(count, values)
        if len(configs) < MAX_COLUMNS:
            configs.append(configs[-1])  # "same as the last one, but…"
        return self.layout(configs)

    def _duplicate(self, index: int) -> Callable[..., list[Any]]:
        def duplicate(count: int, *values: Any) -> list[Any]:
            configs = configs_of(count, values)
            if len(configs) < MAX_COLUMNS and index < len(configs):
                configs.insert(index + 1, configs[index])
            return self.layout(configs)

        return duplicate

    def _remove(self, index: int) -> Callable[..., list[Any]]:
        def remove(count: int, *values: Any) -> list[Any]:
            configs = configs_of(count, values)
            if len(configs) > 1 and index < len(configs):
                del configs[index]
            return self.layout(configs)

        return remove

    def _stop(self, index: int) -> Callable[[ArenaSession], None]:
        def stop(session: ArenaSession) -> None:
            session.stop(index)

        return stop

    def on_keys(self, voice: str, *keys: str) -> list[Any]:
        """The voice and every column's model picker, for the session keys ``keys``."""
        creds = self.settings.credentials(*keys)
        model_choices = self.settings.model_choices(creds)
        # A column's model is left as it is, even when unlisted: it may be one typed in the
        # settings (the pickers take custom values), and the server resolves it at Send.
        return [
            choices_keeping(self.settings.voice_choices(creds), voice, "none"),
            *(gr.update(choices=model_choices) for _ in range(MAX_COLUMNS)),
        ]

    def on_stop_all(self, session: ArenaSession) -> None:
        session.stop()

    def _from_settings(self, model: str, prompt_id: str, version: str) -> ColumnConfig:
        return ColumnConfig(model, f"{prompt_id}@{version}")

    def on_from_settings(
        self, model: str, prompt_id: str, version: str, streaming: bool, count: int, *values: Any
    ) -> list[Any]:
        configs = configs_of(count, values)
        seeded = self._from_settings(model, prompt_id, version)
        configs[0] = ColumnConfig(seeded.model, seeded.prompt, bool(streaming))
        return self.layout(configs)

    def on_preset(
        self, model: str, prompt_id: str, version: str, streaming: bool, count: int, *values: Any
    ) -> list[Any]:
        """Streaming vs complete: the settings' configuration twice, streaming on and off, at
        temperature 0 with one seed (set Repeat for the spread of the difference)."""
        base = self._from_settings(model, prompt_id, version)
        fixed = {"temperature": PRESET_TEMPERATURE, "seed": PRESET_SEED}
        return self.layout(
            [
                ColumnConfig(base.model, base.prompt, True, **fixed),
                ColumnConfig(base.model, base.prompt, False, **fixed),
            ]
        )

    def on_clear(self, session: ArenaSession, count: int, *values: Any) -> list[Any]:
        session.stop()
        session.histories = [[] for _ in range(MAX_COLUMNS)]
        session.run = None
        return self.layout(configs_of(count, values))

    # -- a run -------------------------------------------------------------------------------

    def requests(
        self,
        message: str,
        session: ArenaSession,
        configs: Sequence[ColumnConfig],
        draft: tuple[object, object] = (None, None),
        voice: tuple[str | None, int] = (None, 0),
        *,
        require_variables: bool = True,
    ) -> list[TurnRequest]:
        """Each column's request; a column set to the editor's draft runs it over the version
        it was opened from (``draft``: the editor's text and that ``id@version``); ``voice``:
        the arena's voice and the index of the column it speaks; ``require_variables``: as
        ``Composer.compose`` takes it."""
        requests = []
        for index, config in enumerate(configs):
            ref = str(draft[1] or "") if config.prompt == DRAFT else str(config.prompt or "")
            spoken = voice[0] if index == voice[1] else None
            try:
                requests.append(
                    self._compose(
                        message, session, index, config, ref, draft, spoken, require_variables
                    )
                )
            except ConfigError as exc:
                raise ConfigError(f"column {index + 1}: {exc.message}", field=exc.field) from exc
        return requests

    def _compose(
        self,
        message: str,
        session: ArenaSession,
        index: int,
        config: ColumnConfig,
        ref: str,
        draft: tuple[object, object],
        voice: str | None,
        require_variables: bool,
    ) -> TurnRequest:
        uses_draft = config.prompt == DRAFT
        prompt_id, _, version = ref.partition("@")
        return Composer.compose(
            self.settings.prompts,
            message,
            # A name typed into the column's picker is the compatible server's, as in the chat.
            model=self.settings.catalog.typed_model(config.model),
            prompt=prompt_id,
            version=version,
            node=None,
            streaming=bool(config.streaming),
            voice=voice,
            history=session.histories[index],
            parameters=(
                config.temperature,
                None,
                config.max_tokens,
                config.seed,
                "",
                "",
                config.reasoning_effort,
            ),
            draft_text=draft[0] if uses_draft else None,
            draft_base=draft[1] if uses_draft else None,
            require_variables=require_variables,
        )

    async def on_send(
        self,
        message: object,
        session: ArenaSession,
        repeat: object,
        voice: object,
        audible: object,
        count: int,
        request: gr.Request,  # Gradio fills it in here; the inputs go on after it
        *rest: Any,
    ) -> AsyncIterator[list[Any]]:
        if isinstance(message, str) and not message.strip():
            return
        values, rest = rest[: MAX_COLUMNS * _FIELDS], rest[MAX_COLUMNS * _FIELDS :]
        draft, rest = (rest[0], rest[1]), rest[2:]
        nbs, rest = (rest[0], rest[1:]) if self.takes_owner else (None, rest)
        feed_key, keys = rest[0], rest[1:]
        owner = nbs.owner if isinstance(nbs, NotebookSession) else None
        configs = configs_of(count if isinstance(count, int) else 2, values)
        text = message if isinstance(message, str) else ""
        run = session.begin(text, [c.label for c in configs])
        spoken = 0
        try:
            if not isinstance(message, str):
                raise ConfigError("message: expected text", field="message")
            run.repeat = read_repeat(repeat)
            spoken = read_audible(audible, len(configs))
            chosen_voice = voice if isinstance(voice, str) and voice != "none" else None
            run.requests = self.requests(text, session, configs, draft, (chosen_voice, spoken))
            creds = self.settings.credentials(*keys)
            client = self.settings.client_of(request)
        except ConfigError as exc:
            self._refuse(run, exc)
            yield ArenaFrames().frame(run, session, results=True, audible=spoken)
            return
        feed = self.live_feeds.open(feed_key) if self.live_feeds is not None else None
        frames = ArenaFrames(feed)
        try:
            if feed is not None and feed.key != feed_key:
                # Not the key the page made (a caller other than the page, or one in use): it
                # goes out before the turns start, so a socket can open while they do.
                first = frames.frame(run, session, results=False, audible=spoken)
                frames.changed(first)
                yield first
            while active := run.next_round():
                try:
                    # Closed with this handler (Gradio closes it when the page has gone): the
                    # round's columns then end as a Stop ends them, before the finally below.
                    async with contextlib.aclosing(
                        self._round(run, session, frames, active, creds, client, spoken)
                    ) as shown:
                        async for frame in shown:
                            yield frame
                except (ConfigError, TurnRefused) as exc:
                    if not self._refuse_round(run, exc):
                        yield frames.frame(run, session, results=True, audible=spoken, final=True)
                        return
                    break
            session.commit(run)
            if owner:
                await self.record(run, owner)
            yield frames.frame(run, session, results=True, audible=spoken, final=True)
        finally:
            if feed is not None:
                feed.end()
            if owner and not run.recorded and run.rounds:
                # The page closed mid-run (or the event was cancelled): each column ended as
                # its Stop ends it (``run_arena``); what ran is kept, on a task of its own.
                task = asyncio.get_running_loop().create_task(self.record(run, owner))
                self._recording.add(task)
                task.add_done_callback(self._recording.discard)

    async def _round(
        self,
        run: ArenaRun,
        session: ArenaSession,
        frames: ArenaFrames,
        active: list[int],
        creds: Any,
        client: str,
        spoken: int,
    ) -> AsyncGenerator[list[Any], None]:
        """One round: the active columns at once; a frame when a column starts or ends, and
        at most every ``_FRAME_S`` between (the chart and tables every ``_RESULTS_S``)."""
        columns = [run.columns[i] for i in active]
        async with contextlib.aclosing(
            run_arena(
                self.runner,
                columns,
                [run.requests[i] for i in active],
                creds,
                gate=self.gate,
                client=client,
                quiet_s=_FRAME_S,
            )
        ) as events:
            async for frame in self._frames(run, session, frames, columns, events, spoken):
                yield frame

    async def _frames(
        self,
        run: ArenaRun,
        session: ArenaSession,
        frames: ArenaFrames,
        columns: Sequence[Any],
        events: AsyncIterator[Any],
        spoken: int,
    ) -> AsyncIterator[list[Any]]:
        # The chart and tables are first drawn a ``_RESULTS_S`` in (they start empty): at the
        # start, the page has the most to do.
        last, last_results = 0.0, time.monotonic()
        started: set[int] = set()
        done = 0
        held = False  # an event came that no frame has shown yet
        async for column in events:
            # None: the stream went quiet (``quiet_s``), so what was held back goes now.
            first = column is not None and bool(column.state.chunks) and id(column) not in started
            if first:
                started.add(id(column))
            finished = sum(c.state.completed is not None for c in columns)
            now = time.monotonic()
            held = held or column is not None
            due = now - last >= _FRAME_S or column is None or bool(column.state.audio)
            if held and (first or finished != done or due):
                # The chart and tables are heavier than the text: redrawn when a column ends,
                # and once a ``_RESULTS_S`` between.
                results = finished != done or now - last_results >= _RESULTS_S
                last, done, held = now, finished, False
                if results:
                    last_results = now
                frame = frames.frame(run, session, results=results, audible=spoken)
                if frames.changed(frame):
                    yield frame

    async def after_run(self, session: ArenaSession, nbs: NotebookSession) -> Any:
        """The notebook shown with the run's columns, which ``on_send`` recorded."""
        run, notebooks = session.run, self.notebooks
        owner = nbs.owner if isinstance(nbs, NotebookSession) else None
        if run is None or not run.recorded or notebooks is None or not owner:
            return gr.skip()
        return notebook_view.notebook_html(await notebooks.load(owner), pending_pin=nbs.pending_pin)

    async def record(self, run: ArenaRun, owner: str) -> None:
        """Each column's run as a cell of the browser's notebook, the cells of one arena run
        sharing its id (so it can be exported, reopened and rerun column by column); once."""
        if self.notebooks is None or run.recorded:
            return
        run.recorded = True
        for round_ in run.rounds or [list(run.columns)]:
            await self._record_round(round_, run.requests, owner)

    async def _record_round(
        self, columns: Sequence[Any], requests: Sequence[TurnRequest], owner: str
    ) -> None:
        """One round's columns as cells sharing one arena id."""
        if self.notebooks is None:
            return
        arena_id = f"arena_{uuid.uuid4().hex[:12]}"
        for number, (column, request) in enumerate(zip(columns, requests, strict=False), 1):
            if column is None or not column.events:
                continue
            try:
                cell = cell_from_run(request, column.events, prompts=self.settings.prompts)
                config = cell.config.model_copy(
                    update={"arena": f"{arena_id}/{number}/{len(columns)}"}
                )
                await self.notebooks.append(owner, cell.model_copy(update={"config": config}))
            except ConfigError as exc:
                log.warning("an arena column could not be added to its notebook: %s", exc.message)
            except OSError as exc:  # the notebook file: full disk, read-only folder
                log.warning("an arena column could not be saved to its notebook: %s", exc)

    @classmethod
    def _refuse_round(cls, run: ArenaRun, exc: ConfigError | TurnRefused) -> bool:
        """A round that could not start: the first is shown refused in every pane (False:
        nothing ran); a later one ends the run with the rounds already run kept on screen
        and the reason beside them (True)."""
        unstarted = run.rounds.pop()
        if not run.rounds:
            cls._refuse(run, exc)
            return False
        for i, column in enumerate(run.rounds[-1]):
            if column is not None and unstarted[i] is not None:
                run.columns[i] = column
        run.notice = f"Round {len(run.rounds) + 1} of {run.repeat} did not start: {exc.message}"
        return True

    @staticmethod
    def _refuse(run: ArenaRun, exc: ConfigError | TurnRefused) -> None:
        """A request that cannot start is shown in every pane, as the chat shows it."""
        code = request_error_code(exc) if isinstance(exc, ConfigError) else exc.category.value
        failure = TurnFailed(
            code=code, message=exc.message, retryable=isinstance(exc, TurnRefused), stage="request"
        )
        for column in run.columns:
            column.state = TurnState(errors=[failure])
