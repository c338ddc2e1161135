"""The Notebook tab: every run a cell to rerun, edit, pin, delete and export. Wiring only —
rendering is in ``notebook_view``, runs in ``live_turns``, the notebook itself in
``playground.notebook.model`` and its storage in ``playground.notebook.access``."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gradio as gr

from playground.catalog import Credentials
from playground.errors import ConfigError
from playground.notebook.access import Notebooks
from playground.notebook.export import prompt_resolver, to_ipynb_json, view_code
from playground.notebook.model import (
    Notebook,
    RunCell,
    config_from_request,
    notebook_from_json,
    notebook_to_json,
    request_for_rerun,
)
from playground.notebook.store import validate_owner_id
from playground.prompts.library import PromptLibrary
from playground.turn.request import Features, TurnRequest
from playground.ui.live_turns import LiveTurn, LiveTurns
from playground.ui.render import notebook_view
from playground.ui.session import SessionState, drive_turn

__all__ = [
    "EXPORT_KEEP_S",
    "NotebookSession",
    "NotebookTab",
    "app_url_of",
    "build_notebook_tab",
    "owner_of",
    "write_export",
]

_LIVE_INTERVAL_S = 0.1
_IMPORT_MAX_BYTES = 20_000_000
EXPORT_KEEP_S = 60.0  # long enough for Gradio to copy an export into its cache


@dataclass
class NotebookSession:
    """The tab's per-session state (a ``gr.State``): whose notebook, and what is half done."""

    owner: str | None = None
    pending_pin: str | None = None
    rerun: SessionState = field(default_factory=SessionState)
    queued: RunCell | None = None  # a Rerun click waiting for its streaming event

    def __deepcopy__(self, memo: dict[int, Any]) -> NotebookSession:
        return NotebookSession()


@dataclass(frozen=True)
class Composer:
    """The chat tab's controls an Edit fills in, in this order."""

    model: gr.Dropdown
    prompt_id: gr.Dropdown
    version: gr.Dropdown
    node: gr.Radio
    streaming: gr.Checkbox
    voice: gr.Dropdown
    toggles: dict[str, gr.Checkbox]
    message: gr.Textbox

    def components(self) -> list[Any]:
        return [
            self.model,
            self.prompt_id,
            self.version,
            self.node,
            self.streaming,
            self.voice,
            *self.toggles.values(),
            self.message,
        ]


@dataclass(frozen=True)
class NotebookTab:
    state: gr.State
    cells: gr.HTML
    live: gr.HTML
    actions: tuple[Any, ...]  # the cell-button events, for the page to chain on (after an Edit)


def owner_of(value: Any) -> str | None:
    """The notebook id in the browser's stored value, if it is a well-formed one."""
    owner = value.get("owner") if isinstance(value, dict) else None
    try:
        return validate_owner_id(owner)
    except ConfigError:
        return None


def app_url_of(request: gr.Request | None) -> str:
    """This app's base URL as the browser reached it (for exported code and curl)."""
    headers = getattr(request, "headers", None) or {}
    host = headers.get("x-forwarded-host") or headers.get("host") or "127.0.0.1:7860"
    proto = headers.get("x-forwarded-proto") or "http"
    return f"{proto.split(',')[0].strip()}://{host.split(',')[0].strip()}"


def build_notebook_tab(
    *,
    notebooks: Notebooks,
    live_turns: LiveTurns,
    prompts: PromptLibrary,
    chat_session: gr.State,
    composer: Composer,
    tabs: gr.Tabs,
    keys: Sequence[gr.Textbox],
    creds_for: Callable[..., Credentials],
    versions_of: Callable[[str], list[str]],
    export_dir: Callable[[], Path],
    concurrency: int,
) -> NotebookTab:
    """Lay out the tab inside the current ``gr.Tab`` and wire its events."""
    resolve = prompt_resolver(prompts)
    state = gr.State(NotebookSession())
    gr.Markdown(
        "Every run is a cell: **Rerun** runs it again as a new cell, **Edit** puts it back in "
        "the composer, **Pin** then **Compare** puts two side by side. Kept for this browser "
        "only, across refreshes and restarts.",
        elem_classes="sp-nb-intro",
    )
    with gr.Row(elem_id="sp-nb-toolbar"):
        export_ipynb = gr.Button("Export .ipynb", size="sm", elem_id="sp-nb-export-ipynb")
        export_json = gr.Button("Export JSON", size="sm", elem_id="sp-nb-export-json")
        import_json = gr.UploadButton(
            "Import JSON", size="sm", file_types=[".json"], elem_id="sp-nb-import"
        )
        code_button = gr.Button("View code", size="sm", elem_id="sp-nb-view-code")
    status = gr.HTML("", elem_id="sp-nb-status")
    download = gr.File(label="Download", visible=False, interactive=False, elem_id="sp-nb-file")
    with gr.Accordion("Code", open=True, visible=False, elem_id="sp-nb-code") as code_box:
        code_title = gr.Markdown()
        code_python = gr.Code(language="python", label="Python (SDK)", elem_id="sp-nb-python")
        code_curl = gr.Code(language="shell", label="curl (this app's API)", elem_id="sp-nb-curl")
    live = gr.HTML("", elem_id="sp-nb-live", js_on_load=notebook_view.ACTIONS_JS)
    cells = gr.HTML(
        notebook_view.notebook_html(Notebook()),
        elem_id="sp-nb-cells",
        js_on_load=notebook_view.ACTIONS_JS,
    )

    async def load(nbs: NotebookSession) -> Notebook:
        return await notebooks.load(nbs.owner) if nbs.owner else Notebook()

    def render(nb: Notebook, nbs: NotebookSession) -> str:
        if nbs.pending_pin is not None and nbs.pending_pin not in {c.id for c in nb.cells}:
            nbs.pending_pin = None
        return notebook_view.notebook_html(nb, pending_pin=nbs.pending_pin)

    def code_outputs(title: str, code: dict[str, str]) -> tuple[Any, ...]:
        return gr.update(visible=True), title, code["python"], code["curl"]

    no_code = (gr.skip(), gr.skip(), gr.skip(), gr.skip())
    no_composer = tuple(gr.skip() for _ in composer.components())

    async def on_action(
        nbs: NotebookSession, evt: gr.EventData, request: gr.Request
    ) -> tuple[Any, ...]:
        action = str(getattr(evt, "action", "") or "")
        cell_id = str(getattr(evt, "cell", "") or "")
        if action == "stop":
            nbs.rerun.stop()
            return (gr.skip(), "", *no_code, *no_composer, gr.skip())
        if nbs.owner is None:
            return (
                gr.skip(),
                _error("The notebook is still loading."),
                *no_code,
                *no_composer,
                gr.skip(),
            )
        try:
            if action == "delete":
                nb = await notebooks.update(nbs.owner, lambda n: n.without(cell_id))
                return (render(nb, nbs), "", *no_code, *no_composer, gr.skip())
            if action == "pin":
                nb = await load(nbs)
                nb.cell(cell_id)
                nbs.pending_pin = cell_id
                return (
                    render(nb, nbs),
                    _ok("Pinned: now pick the run to compare it with."),
                    *no_code,
                    *no_composer,
                    gr.skip(),
                )
            if action == "unpin":
                nbs.pending_pin = None
                nb = await notebooks.update(nbs.owner, lambda n: n.unpinned())
                return (render(nb, nbs), "", *no_code, *no_composer, gr.skip())
            if action == "compare":
                first = nbs.pending_pin
                if first is None:
                    raise ConfigError("pin a run first, then pick the one to compare it with")
                nb = await notebooks.update(nbs.owner, lambda n: n.with_pinned(first, cell_id))
                nbs.pending_pin = None
                return (render(nb, nbs), "", *no_code, *no_composer, gr.skip())
            cell = (await load(nbs)).cell(cell_id)
            if action == "code":
                code = view_code(
                    cell.config,
                    cell.message,
                    app_url=app_url_of(request),
                    history=cell.history,
                    resolve_prompt=resolve,
                )
                return (
                    gr.skip(),
                    "",
                    *code_outputs(f"**Code for run {cell.id}**", code),
                    *no_composer,
                    gr.skip(),
                )
            if action == "edit":
                return (gr.skip(), "", *no_code, *_composer_values(cell), gr.Tabs(selected="chat"))
            if action == "rerun":
                nbs.queued = cell
                return (gr.skip(), _ok("Rerunning…"), *no_code, *no_composer, gr.skip())
        except ConfigError as exc:
            return (gr.skip(), _error(exc.message), *no_code, *no_composer, gr.skip())
        return (gr.skip(), _error(f"Unknown action {action!r}."), *no_code, *no_composer, gr.skip())

    def _composer_values(cell: RunCell) -> tuple[Any, ...]:
        c = cell.config
        features = c.features.model_dump()
        prompt_id, _, version = c.prompt.partition("@")
        return (
            c.model,
            prompt_id,
            gr.update(choices=versions_of(prompt_id), value=version),
            c.node,
            c.streaming,
            c.voice or "none",
            *(features.get(name, False) for name in composer.toggles),
            cell.message,
        )

    async def on_rerun(nbs: NotebookSession, *key_values: str) -> AsyncIterator[tuple[Any, ...]]:
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
        creds = creds_for(*(v or "" for v in key_values))
        run: LiveTurn | None = None  # the rerun's run, once it has started
        async for frame in drive_turn(
            live_turns, session, request, creds, kind="rerun", chat_interval=_LIVE_INTERVAL_S
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
        yield (notebook_view.live_cell_html(request.message, turn), gr.skip(), gr.skip())
        await run.recorded()
        yield "", render(run.notebook or await load(nbs), nbs), ""

    async def on_export(nbs: NotebookSession, kind: str, request: gr.Request) -> tuple[Any, ...]:
        nb = await load(nbs)
        if not nb.cells:
            return gr.update(visible=False), _error("Nothing to export yet: send a message first.")
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        if kind == "ipynb":
            text = to_ipynb_json(nb, app_url=app_url_of(request), resolve_prompt=resolve)
        else:
            text = notebook_to_json(nb, include_audio=True)
        path = await write_export(export_dir(), f"streaming-playground-{stamp}.{kind}", text)
        runs = f"{len(nb.cells)} run{'s' if len(nb.cells) != 1 else ''}"
        return gr.update(value=str(path), visible=True), _ok(f"Exported {runs} as .{kind}.")

    async def on_export_ipynb(nbs: NotebookSession, request: gr.Request) -> tuple[Any, ...]:
        return await on_export(nbs, "ipynb", request)

    async def on_export_json(nbs: NotebookSession, request: gr.Request) -> tuple[Any, ...]:
        return await on_export(nbs, "json", request)

    async def on_import(nbs: NotebookSession, path: str | None) -> tuple[Any, ...]:
        if not path or nbs.owner is None:
            return gr.skip(), gr.skip()
        try:
            imported = notebook_from_json(await asyncio.to_thread(_read_upload, Path(path)))
        except ConfigError as exc:
            return gr.skip(), _error(f"Not imported: {exc.message}")
        except OSError as exc:
            return gr.skip(), _error(f"Not imported: the file could not be read ({exc}).")

        def merge(nb: Notebook) -> Notebook:
            known = {c.id for c in nb.cells}
            fresh = [c for c in imported.cells if c.id not in known]
            for cell in fresh:
                nb = nb.appended(cell, max_cells=notebooks.store.max_cells)
            return nb

        before = len((await load(nbs)).cells)
        nb = await notebooks.update(nbs.owner, merge)
        added = max(0, len(nb.cells) - before)
        return render(nb, nbs), _ok(
            f"Imported {added} run{'s' if added != 1 else ''}"
            + (" (runs already here were skipped)." if added < len(imported.cells) else ".")
        )

    async def on_view_code(
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
        message: str,
        session: SessionState,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        flags = (guardrails, interception, post_processing, streaming_guardrail)
        names = list(composer.toggles)
        request_body = TurnRequest(
            message=(message or "").strip() or "Hello!",
            model=model,
            prompt=f"{prompt_id}@{version}",
            node=node,
            streaming=streaming,
            voice=voice,
            history=tuple(session.history) if isinstance(session, SessionState) else (),
            features=Features(**dict(zip(names, flags, strict=True))),
        )
        try:
            config = config_from_request(request_body, prompts=prompts)
            code = view_code(
                config,
                request_body.message,
                app_url=app_url_of(request),
                history=request_body.history,
                resolve_prompt=resolve,
            )
        except ConfigError as exc:
            return (gr.skip(), gr.skip(), gr.skip(), gr.skip(), _error(exc.message))
        return (*code_outputs("**Code for the current settings and message**", code), "")

    action_outputs = [
        cells,
        status,
        code_box,
        code_title,
        code_python,
        code_curl,
        *composer.components(),
        tabs,
    ]
    cells_action = cells.action
    live_action = live.action
    actions = []
    for trigger in (cells_action, live_action):
        action = trigger(
            on_action,
            [state],
            action_outputs,
            queue=False,
            show_progress="hidden",
            api_visibility="private",
        )
        actions.append(action)
        action.then(
            on_rerun,
            [state, *keys],
            [live, cells, status],
            concurrency_limit=concurrency,
            concurrency_id="rerun",
            show_progress="hidden",
            api_visibility="private",
        )
    export_ipynb.click(on_export_ipynb, [state], [download, status], api_visibility="private")
    export_json.click(on_export_json, [state], [download, status], api_visibility="private")
    import_json.upload(on_import, [state, import_json], [cells, status], api_visibility="private")
    code_button.click(
        on_view_code,
        [*composer.components(), chat_session],
        [code_box, code_title, code_python, code_curl, status],
        queue=False,
        api_visibility="private",
    )
    return NotebookTab(state=state, cells=cells, live=live, actions=tuple(actions))


def _read_upload(path: Path) -> bytes:
    size = path.stat().st_size
    if size > _IMPORT_MAX_BYTES:
        raise ConfigError(f"the file is {size:,} bytes; the limit is {_IMPORT_MAX_BYTES:,}")
    return path.read_bytes()


async def write_export(root: Path, name: str, text: str, keep_s: float = EXPORT_KEEP_S) -> Path:
    """``text`` in a folder of its own under ``root``, removed after ``keep_s`` seconds: Gradio
    copies a returned file into its own cache as the event ends, so ours is only needed until
    then (and ``root`` goes at shutdown, should the server stop first)."""
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="export-", dir=root))
    path = folder / name
    await asyncio.to_thread(path.write_text, text, encoding="utf-8")
    asyncio.get_running_loop().call_later(keep_s, shutil.rmtree, folder, True)
    return path


def _ok(message: str) -> str:
    return notebook_view.status_html(message)


def _error(message: str) -> str:
    return notebook_view.status_html(message, error=True)
