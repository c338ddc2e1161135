"""The Evals tab: a test set edited as a table (or imported from a promptfoo, CSV or JSONL file),
run against the arena's columns, with a progress bar, Stop, the grid of cases × configurations,
each configuration's pass rate and latency percentiles, and exports. The runs are
``evals.run``'s, through the same gate as every other turn of the page."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import gradio as gr
from pydantic import ValidationError

from playground.errors import ConfigError
from playground.evals.files import (
    TestSet,
    parse_expected,
    read_cases_csv,
    read_jsonl,
    read_promptfoo,
    results_csv,
)
from playground.evals.files import write_promptfoo as promptfoo_text
from playground.evals.request import EvalCase, EvalConfiguration, EvalRequest
from playground.evals.results import CaseResult
from playground.evals.run import EvalEnded, EvalRun
from playground.turn.arena import MAX_REPEAT, ArenaSession
from playground.turn.gate import TurnGate
from playground.turn.runner import TurnRunner
from playground.ui.arena_tab import ArenaTab, configs_of
from playground.ui.notebook_files import UPLOAD_REFUSED, read_upload, write_export
from playground.ui.render import eval_view
from playground.ui.settings_panel import SettingsPanel

__all__ = ["EvalsTab", "cases_from_rows", "rows_from_cases"]

_PRIVATE: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
HEADERS: Final = ["message", "variables", "assert", "reference"]
EXAMPLE: Final = [
    ["What is the capital of France?", "", "icontains: paris", ""],
    ["Say hello in one word", "", "regex: ^\\W*\\w+\\W*$; latency: 10000", ""],
    ["Where is order A1001?", "shop_name=Larkspur", "contains: A1001", ""],
]
INTRO: Final = (
    "A test set runs against the **arena's columns**: every case with every configuration, "
    "each answer checked by its assertions and timed. One row per case: the message, variables "
    "as `name=value; name=value`, assertions as `type: value` separated by `; ` "
    "(`contains`, `icontains`, `not-contains`, `regex`, `equals`, `similar`, `is-json`, "
    "`contains-json`, `latency: ms`, `ttft: ms`, `cost: usd`, `tool-called`, `exit-path`). "
    "Import a promptfoo YAML, CSV or JSONL file; what cannot run here is listed, never dropped."
)


@dataclass
class EvalSession:
    """The eval on screen: its run, for Stop and the results export."""

    run: EvalRun | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> EvalSession:
        return EvalSession()  # Gradio copies state per browser: each starts empty


def cases_from_rows(rows: Sequence[Sequence[Any]]) -> list[EvalCase]:
    """The table's rows as cases; blank rows are skipped, a bad cell names its row and column."""
    cases = []
    for number, row in enumerate(rows, start=1):
        cells = [str(c if c is not None else "").strip() for c in [*row, "", "", "", ""][:4]]
        message, variables, asserts, reference = cells
        if not any(cells):
            continue
        pairs = {}
        for item in filter(None, (p.strip() for p in variables.split(";"))):
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise ConfigError(f"row {number}: variables: {item!r} is not name=value")
            pairs[name.strip()] = value.strip()
        specs = [parse_expected(a.strip()) for a in asserts.split("; ") if a.strip()]
        try:
            cases.append(
                EvalCase.model_validate(
                    {
                        "message": message,
                        "variables": pairs,
                        "assert": specs,
                        "reference": reference or None,
                    }
                )
            )
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"row {number}: {where}: {first['msg']}") from None
    if not cases:
        raise ConfigError("the test set is empty: write a message in the first column")
    return cases


def _assert_cell(case: EvalCase) -> str:
    out = []
    for a in case.assertions:
        if a.type in {"latency", "ttft", "cost"}:
            out.append(f"{a.type}: {a.threshold:g}")
        elif a.type in {"is-json", "contains-json"}:
            out.append(f"{a.type}:")
        elif a.type == "similar" and a.threshold is not None:
            out.append(f"similar: {a.value}|{a.threshold:g}")
        else:
            out.append(f"{a.type}: {a.value}")
    return "; ".join(out)


def rows_from_cases(cases: Sequence[EvalCase]) -> list[list[str]]:
    return [
        [
            c.message,
            "; ".join(f"{k}={v}" for k, v in c.variables.items()),
            _assert_cell(c),
            c.reference or "",
        ]
        for c in cases
    ]


class EvalsTab:
    """Render inside a ``gr.Tab``; ``wire`` once the arena exists (its columns are the
    configurations)."""

    def __init__(
        self,
        runner: TurnRunner,
        settings: SettingsPanel,
        gate: TurnGate,
        arena: ArenaTab,
        export_dir: Callable[[], Path],
    ) -> None:
        self.runner, self.settings, self.gate, self.arena = runner, settings, gate, arena
        self.export_dir = export_dir  # made on first use: most pages never export

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
            column_count=4,
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
        with gr.Row(equal_height=True):
            self.repeat = gr.Textbox(
                "1", label="Repeat each case", max_lines=1, elem_id="sp-eval-repeat"
            )
            self.run = gr.Button(
                "Run against the arena's columns", variant="primary", elem_id="sp-eval-run"
            )
            self.stop = gr.Button("Stop", elem_id="sp-eval-stop")
        self.status = gr.Markdown("", elem_id="sp-eval-status")
        self.progress = gr.HTML("", elem_id="sp-eval-progress")
        self.summary = gr.HTML("", elem_id="sp-eval-summary")
        self.changes = gr.HTML("", elem_id="sp-eval-changes")
        self.grid = gr.HTML("", elem_id="sp-eval-grid")
        self.file = gr.File(
            label="Download", visible=False, interactive=False, elem_id="sp-eval-file"
        )

    def wire(self, draft: gr.Code, draft_base: gr.Textbox) -> None:
        arena = self.arena
        configs = [arena.count, *arena.config_inputs]
        outputs = [self.status, self.progress, self.summary, self.changes, self.grid]
        self.run.click(
            self.on_run,
            [
                self.cases,
                self.repeat,
                self.session,
                *configs,
                draft,
                draft_base,
                *self.settings.keys,
            ],
            outputs,
            concurrency_limit=4,
            concurrency_id="evals",
            **_PRIVATE,
        )
        self.stop.click(self.on_stop, [self.session], None, queue=False, **_PRIVATE)
        self.upload.upload(self.on_import, [self.upload], [self.cases, self.status], **_PRIVATE)
        self.export_set.click(
            self.on_export_set, [self.cases], [self.file, self.status], **_PRIVATE
        )
        self.export_results.click(
            self.on_export_results, [self.session], [self.file, self.status], **_PRIVATE
        )

    # -- handlers --------------------------------------------------------------------------

    def on_stop(self, session: EvalSession) -> None:
        if session.run is not None:
            session.run.stop()

    def configurations(
        self, count: int, values: Sequence[Any], draft: tuple[object, object]
    ) -> tuple[list[EvalConfiguration], list[str]]:
        columns = configs_of(count if isinstance(count, int) else 2, values)
        requests = self.arena.requests("(case)", ArenaSession(), columns, draft)
        out = [
            EvalConfiguration.model_validate(
                r.model_dump(exclude={"message", "history"}, exclude_defaults=True)
            )
            for r in requests
        ]
        return out, [f"{i + 1}. {c.label}" for i, c in enumerate(columns)]

    async def on_run(
        self,
        rows: Any,
        repeat: Any,
        session: EvalSession,
        count: int,
        request: gr.Request,
        *rest: Any,
    ) -> AsyncIterator[list[Any]]:
        values, rest = rest[:-6], rest[-6:]
        draft, keys = (rest[0], rest[1]), rest[2:]
        try:
            cases = cases_from_rows(rows if isinstance(rows, list) else [])
            times = int(str(repeat).strip() or "1")
            if not 1 <= times <= MAX_REPEAT:
                raise ConfigError(f"repeat: a whole number from 1 to {MAX_REPEAT}")
            configurations, labels = self.configurations(count, values, draft)
            body = EvalRequest(
                cases=tuple(cases), configurations=tuple(configurations), repeat=times
            )
            creds = self.settings.credentials(*keys)
            client = self.settings.client_of(request)
            run = EvalRun(body, self.runner, creds, client, gate=self.gate)
            run.check()
        except ValueError as exc:  # a repeat that is not a number
            yield [f"Not run: repeat: {exc}", "", "", "", ""]
            return
        except ConfigError as exc:
            yield [f"Not run: {exc.message}", "", "", "", ""]
            return
        session.run = run
        started = time.monotonic()
        results: list[CaseResult] = []

        def frame(running: bool, ended: EvalEnded | None = None) -> list[Any]:
            elapsed = time.monotonic() - started
            summary = ended.summary if ended is not None else ()
            changes = (
                eval_view.changes_html(cases, labels, ended.changed, ended.streaming_variance)
                if ended is not None
                else ""
            )
            status = "Running…" if running else ("Stopped." if run.stopped else "Done.")
            return [
                status,
                eval_view.progress_html(len(results), body.runs, elapsed, running=running),
                eval_view.summary_html(labels, summary),
                changes,
                eval_view.grid_html(cases, labels, results),
            ]

        yield frame(True)
        # Closed with this handler (page closed, event cancelled): the eval's own cleanup stops
        # the runs in flight at once, instead of whenever the generator is collected.
        async with contextlib.aclosing(run.events()) as events:
            async for event in events:
                if isinstance(event, CaseResult):
                    # A frame per finished run (not per chunk): a skipped one could be the
                    # last for a while, with the next runs held upstream.
                    results.append(event)
                    yield frame(True)
                elif isinstance(event, EvalEnded):
                    yield frame(False, event)

    async def on_import(self, path: Any) -> tuple[Any, str]:
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
        return rows_from_cases(found.cases), note

    async def on_export_set(self, rows: Any) -> tuple[Any, str]:
        try:
            cases = cases_from_rows(rows if isinstance(rows, list) else [])
        except ConfigError as exc:
            return gr.skip(), f"Not exported: {exc.message}"
        path = await write_export(self.export_dir(), "promptfooconfig.yaml", promptfoo_text(cases))
        return gr.update(value=str(path), visible=True), f"Exported {len(cases)} cases."

    async def on_export_results(self, session: EvalSession) -> tuple[Any, str]:
        if session.run is None or not session.run.results:
            return gr.skip(), "Nothing to export yet: run the test set first."
        text = results_csv(session.run.results)
        path = await write_export(self.export_dir(), f"{session.run.eval_id}.csv", text)
        return gr.update(value=str(path), visible=True), "Exported the results."


def _read_set(path: str, text: str) -> TestSet:
    name = path.lower()
    if name.endswith(".csv"):
        return read_cases_csv(text)
    if name.endswith(".jsonl"):
        return read_jsonl(text)
    return read_promptfoo(text)
