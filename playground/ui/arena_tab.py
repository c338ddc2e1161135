"""The Arena tab: two to four columns, each a configuration (model, prompt version, streaming on
or off, temperature, max tokens); one message goes to all of them at once and each streams into
its own pane with its own Stop, on one clock, with a shared chart and table (``arena_view``).
Each column keeps its own conversation. The runs are ``turn.arena``'s."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import gradio as gr
from gradio.blocks import Block

from playground.errors import ConfigError
from playground.notebook.access import Notebooks
from playground.notebook.building import cell_from_run
from playground.turn.arena import MAX_COLUMNS, ArenaRun, ArenaSession, run_arena
from playground.turn.events import TurnFailed
from playground.turn.gate import TurnGate, TurnRefused
from playground.turn.request import TurnRequest
from playground.turn.runner import TurnRunner
from playground.turn.state import TurnState
from playground.ui.composer import Composer
from playground.ui.notebook_tab import NotebookSession, NotebookTab
from playground.ui.render import arena_view, notebook_view
from playground.ui.session import request_error_code
from playground.ui.settings_panel import SettingsPanel

__all__ = ["ArenaTab", "ColumnConfig"]

log = logging.getLogger(__name__)

_PRIVATE: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
# Panes go out at most this often while text streams (the first text of a column at once).
_FRAME_S: Final = 0.05
_RESULTS_S: Final = 0.25
_FIELDS: Final = 6  # model, prompt ref, streaming, temperature, max tokens, seed
# The prompt choice that runs the Edit prompt tab's text (its draft, else the version it shows).
DRAFT: Final = "draft"


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

    @property
    def label(self) -> str:
        prompt = "the Edit prompt draft" if self.prompt == DRAFT else self.prompt
        return f"{self.model} · {prompt} · {'streamed' if self.streaming else 'complete'}"

    def values(self) -> list[Any]:
        return [
            self.model,
            self.prompt,
            self.streaming,
            self.temperature,
            self.max_tokens,
            self.seed,
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
        ]


class ArenaTab:
    """Render inside a ``gr.Tab``; ``wire`` once the settings panel exists."""

    def __init__(
        self,
        runner: TurnRunner,
        settings: SettingsPanel,
        gate: TurnGate,
        notebooks: Notebooks | None = None,
    ) -> None:
        self.runner, self.settings, self.gate = runner, settings, gate
        self.notebooks = notebooks  # each column's run becomes a cell there (None: not kept)

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
        self.add.click(self.on_add, configs, layout, **_PRIVATE)
        for index, column in enumerate(self.columns):
            column.duplicate.click(self._duplicate(index), configs, layout, **_PRIVATE)
            column.remove.click(self._remove(index), configs, layout, **_PRIVATE)
            column.stop.click(self._stop(index), [self.session], None, queue=False, **_PRIVATE)
        chosen = [s.model, s.prompt_id, s.version, s.streaming]
        self.from_settings.click(self.on_from_settings, [*chosen, *configs], layout, **_PRIVATE)
        self.preset.click(self.on_preset, [*chosen, *configs], layout, **_PRIVATE)
        self.clear.click(self.on_clear, [self.session, *configs], layout, **_PRIVATE)
        self.stop_all.click(self.on_stop_all, [self.session], None, queue=False, **_PRIVATE)
        panes = [c.pane for c in self.columns]
        for trigger in (self.send.click, self.message.submit):
            sent = trigger(
                self.on_send,
                [self.message, self.session, *configs, draft, draft_base, *s.keys],
                [*panes, self.results],
                # As ``/turn``: inputs taken as sent, HTML outputs sent as they are, with no
                # worker-thread hop per input and output on every frame.
                preprocess=False,
                postprocess=False,
                concurrency_limit=concurrency,
                concurrency_id="arena",
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
        """Streaming vs complete: the settings' configuration twice, streaming on and off."""
        base = self._from_settings(model, prompt_id, version)
        return self.layout(
            [
                ColumnConfig(base.model, base.prompt, True),
                ColumnConfig(base.model, base.prompt, False),
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
    ) -> list[TurnRequest]:
        """Each column's request; a column set to the editor's draft runs it over the version
        it was opened from (``draft``: the editor's text and that ``id@version``)."""
        requests = []
        for index, config in enumerate(configs):
            ref = str(draft[1] or "") if config.prompt == DRAFT else str(config.prompt or "")
            try:
                requests.append(self._compose(message, session, index, config, ref, draft))
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
    ) -> TurnRequest:
        uses_draft = config.prompt == DRAFT
        prompt_id, _, version = ref.partition("@")
        return Composer.compose(
            self.settings.prompts,
            message,
            model=config.model,
            prompt=prompt_id,
            version=version,
            node=None,
            streaming=bool(config.streaming),
            voice=None,
            history=session.histories[index],
            parameters=(config.temperature, None, config.max_tokens, config.seed, "", ""),
            draft_text=draft[0] if uses_draft else None,
            draft_base=draft[1] if uses_draft else None,
        )

    @staticmethod
    def frame(run: ArenaRun, shown: list[Any], *, results: bool) -> list[Any]:
        """The panes and, when ``results``, the chart and table; what did not change is sent
        as it was last time (``shown``), which the page leaves alone — a skip would make
        Gradio rebuild the component."""
        states = run.states
        for i in range(MAX_COLUMNS):
            if i < len(states):
                shown[i] = arena_view.pane_html(i, run.labels[i], states[i])
        if results:
            shown[MAX_COLUMNS] = arena_view.results_html(run.labels, states)
        return list(shown)

    async def on_send(
        self,
        message: str,
        session: ArenaSession,
        count: int,
        request: gr.Request,  # Gradio fills it in here; the inputs go on after it
        *rest: Any,
    ) -> AsyncIterator[list[Any]]:
        if not isinstance(message, str) or not message.strip():
            return
        values, rest = rest[: MAX_COLUMNS * _FIELDS], rest[MAX_COLUMNS * _FIELDS :]
        draft, keys = (rest[0], rest[1]), rest[2:]
        configs = configs_of(count if isinstance(count, int) else 2, values)
        run = session.begin(message, [c.label for c in configs])
        # Columns beyond this run are hidden: an empty pane there is never seen (adding a
        # column draws its pane afresh).
        shown: list[Any] = [""] * (MAX_COLUMNS + 1)
        try:
            run.requests = self.requests(message, session, configs, draft)
            events = run_arena(
                self.runner,
                run.columns,
                run.requests,
                self.settings.credentials(*keys),
                gate=self.gate,
                client=self.settings.client_of(request),
            )
            last = last_results = 0.0
            firsts: set[int] = set()
            done = 0
            async for column in events:
                first = bool(column.state.chunks) and id(column) not in firsts
                if first:
                    firsts.add(id(column))
                finished = sum(c.state.completed is not None for c in run.columns)
                now = time.monotonic()
                if first or finished != done or now - last >= _FRAME_S:
                    # The chart and table are heavier than the text: redrawn when a column
                    # starts or ends, and a few times a second between.
                    results = first or finished != done or now - last_results >= _RESULTS_S
                    last, done = now, finished
                    if results:
                        last_results = now
                    yield self.frame(run, shown, results=results)
        except (ConfigError, TurnRefused) as exc:
            self._refuse(run, exc)
            yield self.frame(run, shown, results=True)
            return
        session.commit(run)
        yield self.frame(run, shown, results=True)

    async def after_run(self, session: ArenaSession, nbs: NotebookSession) -> Any:
        """The run's columns recorded in the notebook, and the notebook shown with them."""
        run, notebooks = session.run, self.notebooks
        owner = nbs.owner if isinstance(nbs, NotebookSession) else None
        if run is None or run.recorded or notebooks is None or not owner:
            return gr.skip()
        run.recorded = True
        await self.record(run, owner)
        return notebook_view.notebook_html(await notebooks.load(owner), pending_pin=nbs.pending_pin)

    async def record(self, run: ArenaRun, owner: str) -> None:
        """Each column's run as a cell of the browser's notebook, the cells of one arena run
        sharing its id (so it can be exported, reopened and rerun column by column)."""
        if self.notebooks is None:
            return
        arena_id = f"arena_{uuid.uuid4().hex[:12]}"
        pairs = zip(run.columns, run.requests, strict=False)
        for number, (column, request) in enumerate(pairs, 1):
            if not column.events:
                continue
            try:
                cell = cell_from_run(request, column.events, prompts=self.settings.prompts)
                config = cell.config.model_copy(
                    update={"arena": f"{arena_id}/{number}/{len(run.columns)}"}
                )
                await self.notebooks.append(owner, cell.model_copy(update={"config": config}))
            except ConfigError as exc:
                log.warning("an arena column could not be added to its notebook: %s", exc.message)
            except OSError as exc:  # the notebook file: full disk, read-only folder
                log.warning("an arena column could not be saved to its notebook: %s", exc)

    @staticmethod
    def _refuse(run: ArenaRun, exc: ConfigError | TurnRefused) -> None:
        """A request that cannot start is shown in every pane, as the chat shows it."""
        code = request_error_code(exc) if isinstance(exc, ConfigError) else exc.category.value
        failure = TurnFailed(
            code=code, message=exc.message, retryable=isinstance(exc, TurnRefused), stage="request"
        )
        for column in run.columns:
            column.state = TurnState(errors=[failure])
