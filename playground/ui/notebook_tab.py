"""The Notebook tab: every run a cell to rerun, edit, pin, delete and export. Wiring only —
rendering is in ``render.notebook_view``, runs in ``live_turns``, the notebook itself in
``playground.notebook`` (its model, storage and import merge)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import gradio as gr
from gradio.blocks import Block

from playground.errors import ConfigError
from playground.notebook.access import Notebooks
from playground.notebook.audio_check import drop_unreadable_audio
from playground.notebook.export import ExportPrompt, prompt_resolver, to_ipynb_json, view_code
from playground.notebook.merge import merge_imported
from playground.notebook.model import (
    Notebook,
    RunCell,
    RunConfig,
    config_from_request,
    notebook_from_json,
    notebook_to_json,
    request_for_rerun,
)
from playground.prompts.library import PromptLibrary
from playground.services import Services
from playground.ui.composer import Composer
from playground.ui.live_turns import LiveTurn, LiveTurns
from playground.ui.notebook_files import UPLOAD_REFUSED, app_url_of, read_upload, write_export
from playground.ui.render import notebook_view
from playground.ui.session import SessionState, drive_turn
from playground.ui.settings_panel import SettingsPanel

__all__ = ["NotebookSession", "NotebookTab"]

_LIVE_INTERVAL_S = 0.1
INTRO = (
    "Every run is a cell: **Rerun** runs it again as a new cell, **Edit** puts it back in "
    "the composer, **Pin** then **Compare** puts two side by side. Kept for this browser "
    "only, across refreshes and restarts."
)
Shown = dict[Block, Any]


class ArenaOpener(Protocol):
    """The arena, as the notebook sees it: it can take an arena run's cells back as columns."""

    @property
    def open_outputs(self) -> list[Block]: ...

    def open_cells(self, cells: Sequence[RunCell]) -> tuple[Shown, str]: ...


@dataclass
class NotebookSession:
    """The tab's per-session state (a ``gr.State``): whose notebook, and what is half done."""

    owner: str | None = None
    pending_pin: str | None = None
    rerun: SessionState = field(default_factory=SessionState)
    queued: RunCell | None = None  # a Rerun click waiting for its streaming event
    client: str = "ip:unknown"  # who clicked it, for the limits (set with ``queued``)

    def __deepcopy__(self, memo: dict[int, Any]) -> NotebookSession:
        return NotebookSession()


def _ok(message: str) -> str:
    return notebook_view.status_html(message)


def _error(message: str) -> str:
    return notebook_view.status_html(message, error=True)


class NotebookTab:
    """Render inside a ``gr.Tab``; ``wire`` once the composer exists."""

    def __init__(
        self,
        services: Services,
        notebooks: Notebooks,
        live_turns: LiveTurns,
        settings: SettingsPanel,
    ) -> None:
        self.notebooks, self.live_turns, self.settings = notebooks, live_turns, settings
        self.services, self.export_dir = services, services.export_dir

    @property
    def prompts(self) -> PromptLibrary:
        return self.services.prompts

    def resolve(self, config: RunConfig) -> ExportPrompt | None:
        """A run's prompt as the library has it now (see ``prompt_resolver``)."""
        return prompt_resolver(self.services.prompts)(config)

    def render(self) -> None:
        self.state = gr.State(NotebookSession())
        gr.Markdown(INTRO, elem_classes="sp-nb-intro")
        with gr.Row(elem_id="sp-nb-toolbar"):
            self.export_ipynb = gr.Button("Export .ipynb", size="sm", elem_id="sp-nb-export-ipynb")
            self.export_json = gr.Button("Export JSON", size="sm", elem_id="sp-nb-export-json")
            self.import_json = gr.UploadButton(
                "Import JSON", size="sm", file_types=[".json"], elem_id="sp-nb-import"
            )
            self.code_button = gr.Button("View code", size="sm", elem_id="sp-nb-view-code")
        self.status = gr.HTML("", elem_id="sp-nb-status")
        self.download = gr.File(
            label="Download", visible=False, interactive=False, elem_id="sp-nb-file"
        )
        with gr.Accordion("Code", open=True, visible=False, elem_id="sp-nb-code") as self.code_box:
            self.code_title = gr.Markdown()
            self.code_python = gr.Code(
                language="python", label="Python (SDK)", elem_id="sp-nb-python"
            )
            self.code_curl = gr.Code(
                language="shell", label="curl (this app's API)", elem_id="sp-nb-curl"
            )
        self.live = gr.HTML("", elem_id="sp-nb-live", js_on_load=notebook_view.ACTIONS_JS)
        self.cells = gr.HTML(
            notebook_view.notebook_html(Notebook()),
            elem_id="sp-nb-cells",
            js_on_load=notebook_view.ACTIONS_JS,
        )

    def wire(
        self,
        composer: Composer,
        tabs: gr.Tabs,
        chat_session: gr.State,
        concurrency: int,
        arena: ArenaOpener | None = None,
    ) -> None:
        """``arena``: where "Open in arena" puts an arena run's columns back."""
        self.composer, self.tabs, self.arena = composer, tabs, arena
        keys = self.settings.keys
        action_outputs = [
            self.cells,
            self.status,
            self.code_box,
            self.code_title,
            self.code_python,
            self.code_curl,
            *composer.controls(),
            composer.message,
            tabs,
            *(arena.open_outputs if arena is not None else []),
        ]
        for trigger in (self.cells.action, self.live.action):
            action = trigger(
                self.on_action,
                [self.state],
                action_outputs,
                queue=False,
                show_progress="hidden",
                api_visibility="private",
            )
            action.then(
                self.on_rerun,
                [self.state, *keys],
                [self.live, self.cells, self.status],
                concurrency_limit=concurrency,
                concurrency_id="rerun",
                show_progress="hidden",
                api_visibility="private",
            )
            self.settings.refresh_after(action)  # an Edit set the composer's controls
        to_file = [self.download, self.status]
        self.export_ipynb.click(
            self.on_export_ipynb, [self.state], to_file, api_visibility="private"
        )
        self.export_json.click(self.on_export_json, [self.state], to_file, api_visibility="private")
        self.import_json.upload(
            self.on_import,
            [self.state, self.import_json],
            [self.cells, self.status],
            api_visibility="private",
        )
        self.code_button.click(
            self.on_view_code,
            [*composer.controls(), composer.message, chat_session],
            [self.code_box, self.code_title, self.code_python, self.code_curl, self.status],
            queue=False,
            api_visibility="private",
        )

    # -- the cells' buttons ------------------------------------------------------------------

    async def _load(self, nbs: NotebookSession) -> Notebook:
        return await self.notebooks.load(nbs.owner) if nbs.owner else Notebook()

    def _render(self, nb: Notebook, nbs: NotebookSession) -> str:
        if nbs.pending_pin is not None and nbs.pending_pin not in {c.id for c in nb.cells}:
            nbs.pending_pin = None
        return notebook_view.notebook_html(nb, pending_pin=nbs.pending_pin)

    def _code(self, title: str, code: dict[str, str]) -> Shown:
        return {
            self.code_box: gr.update(visible=True),
            self.code_title: title,
            self.code_python: code["python"],
            self.code_curl: code["curl"],
        }

    async def on_action(
        self, nbs: NotebookSession, evt: gr.EventData, request: gr.Request
    ) -> Shown:
        """A cell's button: what changes, by component (the rest stays as it is)."""
        action = str(getattr(evt, "action", "") or "")
        cell_id = str(getattr(evt, "cell", "") or "")
        if action == "stop":
            nbs.rerun.stop()
            return {self.status: ""}
        if nbs.owner is None:
            return {self.status: _error("The notebook is still loading.")}
        owner = nbs.owner
        try:
            on_notebook = self._notebook_actions(owner).get(action)
            if on_notebook is not None:
                return await on_notebook(nbs, cell_id)
            cell = (await self._load(nbs)).cell(cell_id)
            on_cell = self._cell_actions().get(action)
            if on_cell is not None:
                return on_cell(nbs, cell, request)
        except ConfigError as exc:
            return {self.status: _error(exc.message)}
        return {self.status: _error(f"Unknown action {action!r}.")}

    def _notebook_actions(
        self, owner: str
    ) -> dict[str, Callable[[NotebookSession, str], Awaitable[Shown]]]:
        update = self.notebooks.update

        async def delete(nbs: NotebookSession, cell_id: str) -> Shown:
            nb = await update(owner, lambda n: n.without(cell_id))
            return {self.cells: self._render(nb, nbs), self.status: ""}

        async def pin(nbs: NotebookSession, cell_id: str) -> Shown:
            nb = await self._load(nbs)
            nb.cell(cell_id)  # it must exist
            nbs.pending_pin = cell_id
            status = _ok("Pinned: now pick the run to compare it with.")
            return {self.cells: self._render(nb, nbs), self.status: status}

        async def unpin(nbs: NotebookSession, cell_id: str) -> Shown:
            nbs.pending_pin = None
            nb = await update(owner, lambda n: n.unpinned())
            return {self.cells: self._render(nb, nbs), self.status: ""}

        async def compare(nbs: NotebookSession, cell_id: str) -> Shown:
            first = nbs.pending_pin
            if first is None:
                raise ConfigError("pin a run first, then pick the one to compare it with")
            nb = await update(owner, lambda n: n.with_pinned(first, cell_id))
            nbs.pending_pin = None
            return {self.cells: self._render(nb, nbs), self.status: ""}

        async def open_in_arena(nbs: NotebookSession, cell_id: str) -> Shown:
            nb = await self._load(nbs)
            run_id = (nb.cell(cell_id).config.arena or "").partition("/")[0]
            cells = [c for c in nb.cells if (c.config.arena or "").partition("/")[0] == run_id]
            if self.arena is None or not run_id:
                raise ConfigError("this run is not a column of an arena run")
            shown, note = self.arena.open_cells(cells)
            return {**shown, self.tabs: gr.Tabs(selected="arena"), self.status: _ok(note)}

        return {
            "delete": delete,
            "pin": pin,
            "unpin": unpin,
            "compare": compare,
            "arena": open_in_arena,
        }

    def _cell_actions(self) -> dict[str, Callable[[NotebookSession, RunCell, gr.Request], Shown]]:
        return {"code": self._show_code, "edit": self._edit, "rerun": self._queue_rerun}

    def _show_code(self, nbs: NotebookSession, cell: RunCell, request: gr.Request) -> Shown:
        code = view_code(
            cell.config,
            cell.message,
            app_url=app_url_of(request),
            history=cell.history,
            resolve_prompt=self.resolve,
        )
        return {**self._code(f"**Code for run {cell.id}**", code), self.status: ""}

    def _edit(self, nbs: NotebookSession, cell: RunCell, request: gr.Request) -> Shown:
        values = self.composer.fill(request_for_rerun(cell), self.prompts)
        return {self.status: "", **values, self.tabs: gr.Tabs(selected="chat")}

    def _queue_rerun(self, nbs: NotebookSession, cell: RunCell, request: gr.Request) -> Shown:
        nbs.queued = cell
        nbs.client = self.settings.client_of(request)
        return {self.status: _ok("Rerunning…")}

    async def on_rerun(
        self, nbs: NotebookSession, *key_values: str
    ) -> AsyncIterator[tuple[Any, ...]]:
        """The queued Rerun, streamed into the live cell, then the notebook with its new cell."""
        cell, nbs.queued = nbs.queued, None
        if cell is None or nbs.owner is None:
            # A generator that yields nothing would blank its outputs: say "unchanged".
            yield gr.skip(), gr.skip(), gr.skip()
            return
        session = nbs.rerun
        session.owner = nbs.owner
        session.history.clear()
        session.shown.clear()
        request = request_for_rerun(cell)
        creds = self.settings.credentials(*key_values)
        run: LiveTurn | None = None  # the rerun's run, once it has started
        turn = None
        async for frame in drive_turn(
            self.live_turns,
            session,
            request,
            creds,
            client=nbs.client,
            kind="rerun",
            chat_interval=_LIVE_INTERVAL_S,
        ):
            turn = session.current
            run = run or session.live_turn
            if frame.final:
                break
            if frame.chat:
                yield notebook_view.live_cell_html(request.message, turn), gr.skip(), gr.skip()
        if run is None:  # the request could not start (a missing key, say): say why
            message = turn.errors[0].message if turn and turn.errors else "the rerun did not start"
            yield "", gr.skip(), _error(message)
            return
        yield notebook_view.live_cell_html(request.message, turn), gr.skip(), gr.skip()
        await run.recorded()
        yield "", self._render(run.notebook or await self._load(nbs), nbs), ""

    # -- the toolbar -------------------------------------------------------------------------

    async def _export(
        self, nbs: NotebookSession, kind: str, request: gr.Request
    ) -> tuple[Any, ...]:
        nb = await self._load(nbs)
        if not nb.cells:
            return gr.update(visible=False), _error("Nothing to export yet: send a message first.")
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        if kind == "ipynb":
            text = to_ipynb_json(nb, app_url=app_url_of(request), resolve_prompt=self.resolve)
        else:
            text = notebook_to_json(nb, include_audio=True)
        path = await write_export(self.export_dir(), f"streaming-playground-{stamp}.{kind}", text)
        runs = f"{len(nb.cells)} run{'s' if len(nb.cells) != 1 else ''}"
        return gr.update(value=str(path), visible=True), _ok(f"Exported {runs} as .{kind}.")

    async def on_export_ipynb(self, nbs: NotebookSession, request: gr.Request) -> tuple[Any, ...]:
        return await self._export(nbs, "ipynb", request)

    async def on_export_json(self, nbs: NotebookSession, request: gr.Request) -> tuple[Any, ...]:
        return await self._export(nbs, "json", request)

    async def on_import(self, nbs: NotebookSession, path: Any) -> tuple[Any, ...]:
        if not path or nbs.owner is None:
            return gr.skip(), gr.skip()
        try:
            if not isinstance(path, str | Path):  # the page sends a path; anything else is not
                raise ConfigError(UPLOAD_REFUSED, field="file")
            data = await asyncio.to_thread(read_upload, path)
            imported, unreadable = drop_unreadable_audio(notebook_from_json(data))
        except ConfigError as exc:
            return gr.skip(), _error(f"Not imported: {exc.message}")
        max_cells = self.notebooks.store.max_cells
        before = len((await self._load(nbs)).cells)
        nb = await self.notebooks.update(
            nbs.owner, lambda n: merge_imported(n, imported, max_cells=max_cells)
        )
        added = max(0, len(nb.cells) - before)
        return self._render(nb, nbs), _ok(
            f"Imported {added} run{'s' if added != 1 else ''}"
            + (" (runs already here were skipped)." if added < len(imported.cells) else ".")
            + (
                f" {unreadable} audio piece{'s' if unreadable != 1 else ''} could not be "
                "decoded and were left out (the runs' text and timing are kept)."
                if unreadable
                else ""
            )
        )

    async def on_view_code(
        self,
        model: str,
        prompt_id: str,
        version: str,
        node: str,
        streaming: bool,
        voice: str,
        guardrails: bool,
        interception: bool,
        post_processing: bool,
        streaming_guardrail: bool,
        temperature: object,
        top_p: object,
        max_tokens: object,
        seed: object,
        stop: object,
        variables: object,
        reasoning_effort: object,
        prompt_draft: object,
        draft_base: object,
        message: str,
        session: SessionState,
        request: gr.Request,
    ) -> Shown:
        """Python and curl for the composer's settings and message (the editor's draft, the
        parameters and variables included)."""
        flags = (guardrails, interception, post_processing, streaming_guardrail)
        try:
            turn_request = Composer.compose(
                self.prompts,
                (message or "").strip() or "Hello!",
                model=model,
                prompt=prompt_id,
                version=version,
                node=node,
                streaming=streaming,
                voice=voice,
                features=dict(zip(self.composer.toggles, flags, strict=True)),
                history=session.history if isinstance(session, SessionState) else (),
                parameters=(
                    temperature,
                    top_p,
                    max_tokens,
                    seed,
                    stop,
                    variables,
                    reasoning_effort,
                ),
                draft_text=prompt_draft,
                draft_base=draft_base,
            )
            config = config_from_request(turn_request, prompts=self.prompts)
            code = view_code(
                config,
                turn_request.message,
                app_url=app_url_of(request),
                history=turn_request.history,
                resolve_prompt=self.resolve,
            )
        except ConfigError as exc:
            return {self.status: _error(exc.message)}
        title = "**Code for the current settings and message**"
        return {**self._code(title, code), self.status: ""}
