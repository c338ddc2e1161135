"""The playground page, composed: a header, the settings panel and five tabs (Chat, Arena,
Evals, Notebook, Edit prompt). Each part is a class that renders its components (``render``) and
attaches its events (``wire``); this module only puts them together. Rendering is in
``render/``, per-session state and throttling in ``session``, decisions in the core modules."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from playground.notebook.browser_secret import browser_secret
from playground.services import Services
from playground.settings import project_path
from playground.turn.runner import TurnRunner
from playground.ui.arena_tab import ArenaTab
from playground.ui.chat_tab import UI_CONCURRENCY, ChatTab
from playground.ui.composer import Composer
from playground.ui.editor_tab import EditorTab
from playground.ui.evals_tab import EvalsTab
from playground.ui.live_feed import LiveFeeds
from playground.ui.live_turns import LiveTurns
from playground.ui.notebook_tab import NotebookTab
from playground.ui.page_load import PageLoad
from playground.ui.settings_panel import SettingsPanel

__all__ = ["PAGE_CSS", "PAGE_HEAD", "build_ui"]

_STATIC = Path(__file__).parent / "static"
PAGE_CSS = (_STATIC / "style.css").read_text(encoding="utf-8")
PAGE_HEAD = "".join(
    f"<script>{(_STATIC / name).read_text(encoding='utf-8')}</script>"
    for name in ("player.js", "timing.js", "voice_input.js", "arena.js")
)
NOTEBOOK_OFF = (
    "The notebook is off on this server: `PLAYGROUND_NOTEBOOK_DB` is blank or its folder is not "
    "writable. Runs still stream; they are just not kept."
)
HEADER = """<div class='sp-header'><h1>Streaming Playground</h1>
<p>Pick a model, a prompt version and a node type; watch the answer stream in chunk by chunk,
hear it spoken while it is written, and see when every chunk arrived.
With no keys it runs on a tiny offline model and a local voice.</p></div>"""


def _browser_secret(services: Services) -> str | None:
    settings = services.settings
    configured = settings.playground_browser_secret
    db = settings.playground_notebook_db.strip()
    return browser_secret(
        configured.get_secret_value() if configured is not None else None,
        project_path(db).parent if db and services.notebooks is not None else None,
    )


def build_ui(
    services: Services,
    runner: TurnRunner,
    live_turns: LiveTurns,
    live_feeds: LiveFeeds | None = None,
) -> gr.Blocks:
    """The page. ``live_turns``: its running turns (the server stops them at shutdown);
    ``live_feeds``: the arena's sockets (``live_feed.live_router``; None: in Gradio's frames)."""
    notebooks = services.notebooks
    settings = SettingsPanel(services)
    chat = ChatTab(services, live_turns, settings)
    arena = ArenaTab(runner, settings, live_turns.gate, notebooks, live_feeds)
    editor = EditorTab(services.prompt_store, settings, notebooks, services.export_dir)
    evals = EvalsTab(
        runner, settings, live_turns.gate, arena, services.export_dir, services.prompt_store
    )
    notebook = (
        NotebookTab(services, notebooks, live_turns, settings) if notebooks is not None else None
    )
    demo: gr.Blocks
    # Gradio keeps a copy of every export and upload in its cache: clear out hour-old copies
    # hourly, so a long-running Space does not fill its disk.
    with gr.Blocks(title="Streaming Playground", delete_cache=(3600, 3600)) as demo:
        # Only the notebook's random id and which run the chat continues: never keys.
        # With a lasting secret, so a restart does not make every stored id unreadable.
        browser = gr.BrowserState(
            None, storage_key="streaming-playground", secret=_browser_secret(services)
        )
        gr.HTML(HEADER)
        with gr.Row(equal_height=False, elem_id="sp-main"):
            settings.render()
            with (
                gr.Column(scale=2, min_width=320, elem_id="sp-work"),
                gr.Tabs(elem_id="sp-tabs") as tabs,
            ):
                with gr.Tab("Chat", id="chat", elem_id="sp-tab-chat"):
                    chat.render()
                # Where comparison lives: configurations side by side, "streaming vs complete"
                # among its presets.
                with gr.Tab("Arena", id="arena", elem_id="sp-tab-arena"):
                    arena.render()
                # Test sets run against the arena's columns: pass rates and percentiles.
                with gr.Tab("Evals", id="evals", elem_id="sp-tab-evals"):
                    evals.render()
                with gr.Tab("Notebook", id="notebook", elem_id="sp-tab-notebook"):
                    if notebook is not None:
                        notebook.render()
                    else:
                        gr.Markdown(NOTEBOOK_OFF, elem_id="sp-nb-off")
                with gr.Tab("Edit prompt", id="editor", elem_id="sp-tab-editor") as editor_tab:
                    editor.render()
        composer = Composer(
            model=settings.model,
            prompt_id=settings.prompt_id,
            version=settings.version,
            node=settings.node,
            streaming=settings.streaming,
            voice=settings.voice,
            toggles=settings.toggles,
            parameters=settings.parameters,
            draft=editor.text,
            draft_base=editor.opened,
            message=chat.message,
        )
        chat.wire(composer, browser, notebook)
        arena.wire(
            UI_CONCURRENCY,
            editor.text,
            editor.opened,
            notebook,
        )
        evals.wire(demo, composer, browser)
        settings.wire(demo, chat.structured_box)
        settings.parameters.follow(settings.model)
        editor.wire(demo, editor_tab, notebook.state if notebook is not None else None)
        if notebook is not None:
            notebook.wire(composer, tabs, chat.session, UI_CONCURRENCY, arena)
        PageLoad(live_turns, notebooks, chat, notebook).wire(demo, browser)
    demo.queue(default_concurrency_limit=UI_CONCURRENCY)
    return demo
