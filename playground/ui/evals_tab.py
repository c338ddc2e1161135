"""The Evals tab: a test set edited as a table (or imported from a promptfoo, CSV or JSONL file),
run against the arena's columns or the left-hand settings, with a progress bar, Stop, the grid of
cases × configurations (pass, fail or error, in colour and in words), each configuration's pass
rate and latency percentiles, and exports (CSV, JSON). The runs are ``evals.run``'s, through the
same gate as every other turn of the page.

With the notebook on, each browser's finished runs and its test set are kept beside its notebook
(``evals.history``): a reload keeps the table, and a run compares with an earlier one of the
same cases (``evals.compare.compare_evals``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import gradio as gr

from playground.errors import ConfigError
from playground.evals.compare import compare_evals
from playground.evals.files import (
    TestSet,
    read_cases_csv,
    read_jsonl,
    read_promptfoo,
    results_csv,
)
from playground.evals.files import write_promptfoo as promptfoo_text
from playground.evals.record import (
    EvalRecord,
    prompt_sha256,
    record_json,
    settings_of,
    what_changed,
)
from playground.evals.request import EvalCase, EvalConfiguration, EvalRequest
from playground.evals.results import CaseResult
from playground.evals.run import EvalEnded, EvalRun
from playground.prompts.store import PromptStore
from playground.turn.arena import MAX_REPEAT, ArenaSession
from playground.turn.gate import TurnGate
from playground.turn.request import TurnRequest
from playground.turn.runner import TurnRunner
from playground.ui.arena_tab import ArenaTab, configs_of
from playground.ui.composer import Composer
from playground.ui.eval_rows import HEADERS, cases_from_rows, rows_from_cases, text_rows
from playground.ui.eval_sets_row import SavedSetsRow
from playground.ui.notebook_files import UPLOAD_REFUSED, owner_of, read_upload, write_export
from playground.ui.render import eval_view
from playground.ui.settings_panel import SettingsPanel

__all__ = ["EvalsTab"]

_PRIVATE: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
EXAMPLE: Final = [
    ["What is the capital of France?", "", "icontains: paris", "", "a fact"],
    ["Say hello in one word", "", "regex: ^\\W*\\w+\\W*$; latency: 10000", "", "brevity"],
    ["Where is order A1001?", "shop_name=Larkspur", "contains: A1001", "", "a variable"],
]
INTRO: Final = (
    "A test set runs against the **arena's columns** or the **left-hand settings**: every case "
    "with every configuration, each answer checked by its assertions and timed. One row per "
    "case: the message, variables as `name=value; name=value`, assertions as `type: value` "
    "separated by `; ` (`contains`, `icontains`, `not-contains`, `regex`, `equals`, `similar`, "
    "`is-json`, `contains-json`, `json-schema`, `latency: ms`, `ttft: ms`, `cost: usd`, "
    "`tool-called`, `exit-path`; a value holding `; ` or spaces at its ends is written as a "
    'JSON string: `regex: "TL;DR: "`), an optional reference answer and a description. '
    "Import a promptfoo YAML, CSV or JSONL file; what cannot run here is listed, never dropped."
)
ARENA: Final = "Arena's columns"
LEFT_HAND: Final = "Left-hand settings"
NOT_KEPT: Final = "Runs are not kept on this server (the notebook is off), so none to compare."


@dataclass
class EvalSession:
    """The eval on screen: its run (for Stop and the CSV export) and, once it ended, its record
    (for the JSON export and comparisons)."""

    run: EvalRun | None = None
    record: EvalRecord | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> EvalSession:
        return EvalSession()  # Gradio copies state per browser: each starts empty


@dataclass(frozen=True)
class _Inputs:
    """How many values each group of the run's inputs has, to split the flat list Gradio
    hands the handler: the arena's columns, then the left-hand controls, then the keys."""

    arena: int
    controls: int


@dataclass
class _OnScreen:
    """A run as the tab shows it: its cases and configurations' labels, and when it started;
    each configuration's prompt hash for its record."""

    run: EvalRun
    cases: tuple[EvalCase, ...]
    labels: tuple[str, ...]
    prompt_hashes: tuple[str | None, ...] = ()
    started: float = field(default_factory=time.monotonic)

    def frame(self, running: bool, ended: EvalEnded | None = None) -> list[Any]:
        """Status, progress, summary, changes and grid."""
        run, results = self.run, self.run.results
        changes = (
            eval_view.changes_html(self.cases, self.labels, ended.changed, ended.streaming_variance)
            if ended is not None
            else ""
        )
        status = "Running…" if running else ("Stopped." if run.stopped else "Done.")
        elapsed = time.monotonic() - self.started
        return [
            status,
            eval_view.progress_html(len(results), run.request.runs, elapsed, running=running),
            eval_view.summary_html(self.labels, ended.summary if ended is not None else ()),
            changes,
            eval_view.grid_html(self.cases, self.labels, results, running=running),
        ]

    def record(self) -> EvalRecord:
        run = self.run
        return EvalRecord(
            eval_id=run.eval_id,
            cases=self.cases,
            labels=self.labels,
            results=tuple(run.results),
            runs=run.request.runs,
            stopped=run.stopped,
            settings=tuple(settings_of(c) for c in run.request.configurations),
            prompt_hashes=self.prompt_hashes,
        )


def configuration_of(request: TurnRequest) -> EvalConfiguration:
    """A turn request without its message: what each case is run with."""
    return EvalConfiguration.model_validate(
        request.model_dump(exclude={"message", "history"}, exclude_defaults=True)
    )


def left_hand_label(request: TurnRequest) -> str:
    prompt = "the Edit prompt draft" if request.prompt_draft is not None else request.prompt
    how = "streamed" if request.streaming else "complete"
    return f"1. Left-hand settings: {request.model} · {prompt} · {request.node} · {how}"


class EvalsTab:
    """Render inside a ``gr.Tab``; ``wire`` once the arena and the composer exist (the
    configurations are the arena's columns or the composer's settings)."""

    def __init__(
        self,
        runner: TurnRunner,
        settings: SettingsPanel,
        gate: TurnGate,
        arena: ArenaTab,
        export_dir: Callable[[], Path],
        prompt_store: PromptStore,
    ) -> None:
        self.runner, self.settings, self.gate, self.arena = runner, settings, gate, arena
        self.saved_sets = SavedSetsRow(prompt_store)
        self.export_dir = export_dir  # made on first use: most pages never export
        # Beside each browser's notebook (its owner ids, its expiry); none without.
        notebooks = arena.notebooks
        self.history = notebooks.history if notebooks is not None else None

    def render(self) -> None:
        gr.Markdown(INTRO, elem_id="sp-eval-intro")
        self.session = gr.State(EvalSession())
        self.cases = gr.Dataframe(
            value=EXAMPLE,
            headers=HEADERS,
            datatype="str",
            type="array",
            interactive=True,
            wrap=True,
            column_count=len(HEADERS),
            # message, variables, assert, reference, description: an empty column keeps room
            # for its header instead of folding it into a letter per line.
            column_widths=["30%", "15%", "25%", "15%", "15%"],
            label="Test set",
            elem_id="sp-eval-cases",
        )
        with gr.Row(elem_id="sp-eval-files"):
            self.upload = gr.UploadButton(
                "Import a test set",
                size="sm",
                file_types=[".yaml", ".yml", ".csv", ".jsonl"],
                elem_id="sp-eval-import",
            )
            self.export_set = gr.Button(
                "Export as promptfoo YAML", size="sm", elem_id="sp-eval-export-set"
            )
            self.export_results = gr.Button(
                "Export results (CSV)", size="sm", elem_id="sp-eval-export"
            )
            self.export_json = gr.Button(
                "Export results (JSON)", size="sm", elem_id="sp-eval-export-json"
            )
        self.saved_sets.render()
        # Not equal heights: the buttons keep their size beside the taller choice.
        with gr.Row(equal_height=False, elem_id="sp-eval-run-row"):
            self.repeat = gr.Textbox(
                "1", label="Repeat each case", max_lines=1, elem_id="sp-eval-repeat"
            )
            self.target = gr.Radio(
                [ARENA, LEFT_HAND], value=ARENA, label="Run against", elem_id="sp-eval-target"
            )
            self.run = gr.Button("Run", variant="primary", elem_id="sp-eval-run")
            self.stop = gr.Button("Stop", elem_id="sp-eval-stop")
        self.status = gr.Markdown("", elem_id="sp-eval-status")
        self.progress = gr.HTML("", elem_id="sp-eval-progress")
        self.summary = gr.HTML("", elem_id="sp-eval-summary")
        self.changes = gr.HTML("", elem_id="sp-eval-changes")
        self.compare_with = gr.Dropdown(
            [],
            value=None,
            label="Compare with an earlier run",
            info="Earlier runs of this browser with the same cases, once this run ends.",
            interactive=True,
            visible=self.history is not None,
            elem_id="sp-eval-compare-with",
        )
        self.comparison = gr.HTML("", elem_id="sp-eval-comparison")
        self.grid = gr.HTML("", elem_id="sp-eval-grid")
        self.file = gr.File(
            label="Download", visible=False, interactive=False, elem_id="sp-eval-file"
        )

    def wire(self, demo: gr.Blocks, composer: Composer, browser: gr.BrowserState) -> None:
        """``browser``: the page's stored value, whose owner id keys this browser's runs."""
        arena, self.composer = self.arena, composer
        controls = composer.controls()
        self.inputs = _Inputs(arena=len(arena.config_inputs), controls=len(controls))
        self.run.click(
            self.on_run,
            [
                self.cases,
                self.repeat,
                self.target,
                self.session,
                browser,
                arena.count,
                *arena.config_inputs,
                *controls,
                *self.settings.keys,
            ],
            [*self._frame_outputs, self.compare_with, self.comparison],
            concurrency_limit=4,
            concurrency_id="evals",
            **_PRIVATE,
        )
        self.stop.click(self.on_stop, [self.session], None, queue=False, **_PRIVATE)
        self.upload.upload(
            self.on_import, [self.upload, browser], [self.cases, self.status], **_PRIVATE
        )
        self.export_set.click(
            self.on_export_set, [self.cases], [self.file, self.status], **_PRIVATE
        )
        self.export_results.click(
            self.on_export_results, [self.session], [self.file, self.status], **_PRIVATE
        )
        self.export_json.click(
            self.on_export_json, [self.session], [self.file, self.status], **_PRIVATE
        )
        self.saved_sets.wire(demo, self.cases, self.status, browser, self._keep_opened)
        self.compare_with.input(
            self.on_compare,
            [self.compare_with, self.session, browser],
            [self.comparison],
            **_PRIVATE,
        )
        if self.history is not None:
            # Every edit is kept, so a reload brings back the table as it was left.
            self.cases.input(
                self.on_edit,
                [self.cases, browser],
                None,
                trigger_mode="always_last",
                queue=False,  # one small write: not worth a place in the queue
                **_PRIVATE,
            )
            demo.load(
                self.on_load,
                [browser],
                [
                    self.cases,
                    self.session,
                    self.status,
                    self.summary,
                    self.changes,
                    self.grid,
                    self.compare_with,
                ],
                **_PRIVATE,
            )

    @property
    def _frame_outputs(self) -> list[gr.components.Component]:
        return [self.status, self.progress, self.summary, self.changes, self.grid]

    # -- handlers --------------------------------------------------------------------------

    def on_stop(self, session: EvalSession) -> None:
        if session.run is not None:
            session.run.stop()

    def configurations(
        self, count: int, values: Sequence[Any], draft: tuple[object, object]
    ) -> tuple[list[EvalConfiguration], list[str]]:
        """The arena's columns as configurations, and their labels."""
        columns = configs_of(count if isinstance(count, int) else 2, values)
        # Variables are checked case by case (``EvalRun.check``): the cases bring values.
        requests = self.arena.requests(
            "(case)", ArenaSession(), columns, draft, require_variables=False
        )
        labels = [f"{i + 1}. {c.label}" for i, c in enumerate(columns)]
        return [configuration_of(r) for r in requests], labels

    def left_hand(self, controls: Sequence[Any]) -> tuple[list[EvalConfiguration], list[str]]:
        """The left-hand settings (the composer's controls, in ``Composer.controls`` order) as
        the one configuration. No voice: an eval times the text, as the arena's columns do."""
        model, prompt, version, node, streaming, _voice = controls[:6]
        toggles = self.composer.toggles
        flags, parameters = controls[6 : 6 + len(toggles)], controls[6 + len(toggles) : -2]
        request = Composer.compose(
            self.settings.prompts,
            "(case)",
            model=self.settings.catalog.typed_model(str(model or "")),
            prompt=str(prompt or ""),
            version=str(version or ""),
            node=node,
            streaming=bool(streaming),
            features=dict(zip(toggles, flags, strict=True)),
            parameters=tuple(parameters),
            draft_text=controls[-2],
            draft_base=controls[-1],
            require_variables=False,  # each case is checked with its own values
        )
        return [configuration_of(request)], [left_hand_label(request)]

    def _split(self, rest: Sequence[Any]) -> tuple[list[Any], list[Any], list[Any]]:
        """The arena's column values, the left-hand controls and the keys."""
        arena, controls = self.inputs.arena, self.inputs.controls
        return (
            list(rest[:arena]),
            list(rest[arena : arena + controls]),
            list(rest[arena + controls :]),
        )

    def _prepare(
        self,
        rows: Any,
        repeat: Any,
        target: Any,
        count: int,
        rest: Sequence[Any],
        request: gr.Request,
    ) -> _OnScreen:
        """The eval the inputs ask for, checked before anything runs: ``ConfigError`` (or
        ``ValueError`` for a repeat that is not a number) says what is wrong."""
        columns, controls, keys = self._split(rest)
        cases = cases_from_rows(rows if isinstance(rows, list) else [])
        times = int(str(repeat).strip() or "1")
        if not 1 <= times <= MAX_REPEAT:
            raise ConfigError(f"repeat: a whole number from 1 to {MAX_REPEAT}")
        if target == LEFT_HAND:
            configurations, labels = self.left_hand(controls)
        else:  # the composer's last two: the editor's draft, for a column set to it
            configurations, labels = self.configurations(
                count, columns, (controls[-2], controls[-1])
            )
        body = EvalRequest(cases=tuple(cases), configurations=tuple(configurations), repeat=times)
        creds = self.settings.credentials(*keys)
        run = EvalRun(body, self.runner, creds, self.settings.client_of(request), gate=self.gate)
        run.check()
        hashes = tuple(prompt_sha256(self.settings.prompts, c) for c in configurations)
        return _OnScreen(run, tuple(cases), tuple(labels), hashes)

    async def on_run(
        self,
        rows: Any,
        repeat: Any,
        target: Any,
        session: EvalSession,
        stored: Any,
        count: int,
        request: gr.Request,
        *rest: Any,
    ) -> AsyncIterator[list[Any]]:
        try:
            shown = self._prepare(rows, repeat, target, count, rest, request)
        except ValueError as exc:  # a repeat that is not a number
            yield _refused(f"repeat: {exc}")
            return
        except ConfigError as exc:
            yield _refused(_in_table_terms(exc.message))
            return
        owner = owner_of(stored)
        await self._keep_set(owner, rows)
        session.run, session.record = shown.run, None
        # A new run: the earlier comparison was of the last one.
        yield [*shown.frame(True), gr.update(choices=[], value=None), ""]
        # Closed with this handler (page closed, event cancelled): the eval's own cleanup stops
        # the runs in flight at once, instead of whenever the generator is collected.
        async with contextlib.aclosing(shown.run.events()) as events:
            async for event in events:
                if isinstance(event, CaseResult):
                    # A frame per finished run (not per chunk): a skipped one could be the
                    # last for a while, with the next runs held upstream.
                    yield [*shown.frame(True), gr.skip(), gr.skip()]
                elif isinstance(event, EvalEnded):
                    session.record = record = shown.record()
                    values = shown.frame(False, event)
                    note, picker = await self._keep_run(owner, record)
                    values[0] = f"{values[0]} {note}".strip()
                    yield [*values, picker, ""]

    async def _keep_set(self, owner: str | None, rows: Any) -> None:
        """The table as run, for a reload; not keeping it never stops the run."""
        if self.history is None or owner is None or not isinstance(rows, list):
            return
        with contextlib.suppress(ConfigError):  # too big to keep: it still runs
            await self.history.asave_set(owner, text_rows(rows))

    async def _keep_opened(self, stored: Any, rows: list[list[str]]) -> None:
        await self._keep_set(owner_of(stored), rows)

    async def _keep_run(self, owner: str | None, record: EvalRecord) -> tuple[str, Any]:
        """Keep the run for this browser; the status note and the "compare with" choices (the
        earlier runs of the same cases)."""
        if self.history is None:
            return "", gr.skip()
        if owner is None:
            return "This run is not kept: the page has no browser id yet.", gr.skip()
        note = ""
        if record.results:
            try:
                await self.history.aadd(owner, record)
            except ConfigError as exc:
                note = f"Not kept: {exc.message}."
        earlier = [
            (r.label, r.eval_id)
            for r in await self.history.aruns(owner)
            if r.eval_id != record.eval_id and r.same_test_set(record)
        ]
        if earlier:
            note += f" {len(earlier)} earlier run(s) of these cases to compare with."
        return note.strip(), gr.update(choices=earlier, value=None)

    async def on_compare(self, picked: Any, session: EvalSession, stored: Any) -> str:
        after, owner = session.record, owner_of(stored)
        if not picked or after is None or self.history is None or owner is None:
            return ""
        before = next((r for r in await self.history.aruns(owner) if r.eval_id == picked), None)
        if before is None or not before.same_test_set(after):
            return "<p class='sp-eval-worse'>That run is no longer kept in this browser.</p>"
        comparison = compare_evals(
            before.results, after.results, len(after.cases), len(after.labels)
        )
        return eval_view.comparison_html(
            after.cases, after.labels, before.label, comparison, what_changed(before, after)
        )

    async def on_load(self, stored: Any) -> list[Any]:
        """The test set this browser last ran, imported or edited (the example otherwise), and
        its last run's results as they were shown when it ended: its summary, changes and grid,
        ready to export or to compare with the runs before it."""
        owner = owner_of(stored)
        if self.history is None or owner is None:
            return [gr.skip() for _ in range(7)]
        rows = await self.history.aload_set(owner)
        kept = await self.history.aruns(owner)
        if not kept:
            return [rows if rows else gr.skip(), *(gr.skip() for _ in range(6))]
        last, earlier = kept[0], kept[1:]
        choices = [(r.label, r.eval_id) for r in earlier if r.same_test_set(last)]
        status = f"The last run, of {last.label}." + (
            f" {len(choices)} earlier run(s) of these cases to compare with." if choices else ""
        )
        return [
            rows if rows else gr.skip(),
            EvalSession(record=last),
            status,
            *eval_view.record_html(last),
            gr.update(choices=choices, value=None),
        ]

    async def on_edit(self, rows: Any, stored: Any) -> None:
        await self._keep_set(owner_of(stored), rows)

    async def on_import(self, path: Any, stored: Any) -> tuple[Any, str]:
        try:
            if not isinstance(path, str):
                raise ConfigError(UPLOAD_REFUSED, field="file")
            raw = await asyncio.to_thread(read_upload, path)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ConfigError("the file is not UTF-8 text") from None
            found = _read_set(path, text)
        except (ConfigError, ValueError) as exc:
            message = exc.message if isinstance(exc, ConfigError) else str(exc)
            return gr.skip(), f"Not imported: {message}"
        note = f"Imported {len(found.cases)} cases."
        if found.unsupported:
            note += " Not supported here:\n" + "\n".join(f"- {u}" for u in found.unsupported)
        rows = rows_from_cases(found.cases)
        await self._keep_set(owner_of(stored), rows)
        return rows, note

    async def on_export_set(self, rows: Any) -> tuple[Any, str]:
        try:
            cases = cases_from_rows(rows if isinstance(rows, list) else [])
        except ConfigError as exc:
            return gr.skip(), f"Not exported: {exc.message}"
        path = await write_export(self.export_dir(), "promptfooconfig.yaml", promptfoo_text(cases))
        return gr.update(value=str(path), visible=True), f"Exported {len(cases)} cases."

    async def on_export_results(self, session: EvalSession) -> tuple[Any, str]:
        # The run on screen; after a reload, the kept run shown in its place.
        results, eval_id = (
            (session.run.results, session.run.eval_id)
            if session.run is not None
            else (list(session.record.results), session.record.eval_id)
            if session.record is not None
            else ([], "")
        )
        if not results:
            return gr.skip(), "Nothing to export yet: run the test set first."
        text = results_csv(results)
        path = await write_export(self.export_dir(), f"{eval_id}.csv", text)
        return gr.update(value=str(path), visible=True), "Exported the results."

    async def on_export_json(self, session: EvalSession) -> tuple[Any, str]:
        record = session.record
        if record is None:
            running = session.run is not None
            why = "wait for the run to end (or stop it)" if running else "run the test set first"
            return gr.skip(), f"Nothing to export yet: {why}."
        path = await write_export(self.export_dir(), f"{record.eval_id}.json", record_json(record))
        return gr.update(value=str(path), visible=True), "Exported the results."


def _refused(why: str) -> list[Any]:
    """A run refused before it started: the reason in the status, and the other six outputs
    (progress, summary, changes, grid, the comparison's picker and view) left as they were,
    so the last run's results stay on screen."""
    return [f"Not run: {why}", *(gr.skip() for _ in range(6))]


def _in_table_terms(message: str) -> str:
    """``cases.2: …`` (the API's index, from 0) as the table numbers it: ``row 3: …``."""
    head, sep, rest = message.partition(": ")
    kind, _, index = head.partition(".")
    if sep and kind == "cases" and index.isdigit():
        return f"row {int(index) + 1}: {rest}"
    return message


def _read_set(path: str, text: str) -> TestSet:
    name = path.lower()
    if name.endswith(".csv"):
        return read_cases_csv(text)
    if name.endswith(".jsonl"):
        return read_jsonl(text)
    return read_promptfoo(text)
