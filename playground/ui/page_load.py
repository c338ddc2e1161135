"""What a page does as it loads: who this browser is, its notebook, the conversation it was in,
and any run a previous page left streaming (followed from its first event).

The decisions are the core's: ``LiveTurns.recover`` picks the runs to resume and the chat to
continue, ``conversation_of`` the conversation a notebook cell continues.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.components import Component

from playground.notebook.access import Notebooks
from playground.notebook.continuation import conversation_of, turns_of
from playground.notebook.model import Notebook
from playground.notebook.store import new_owner_id
from playground.ui.chat_tab import UI_CONCURRENCY, ChatTab, chat_cell_of
from playground.ui.live_turns import LiveTurn, LiveTurns
from playground.ui.notebook_files import owner_of
from playground.ui.notebook_tab import NotebookSession, NotebookTab
from playground.ui.outputs import TurnSlots
from playground.ui.render import notebook_view
from playground.ui.session import SessionState, resume_turn

__all__ = ["PageLoad"]


@dataclass
class _Shown:
    """The load event's outputs by name: the browser's stored value, the turn's outputs, and
    (with a notebook) its cells and the live rerun cell. Every output goes out in every frame,
    unchanged ones as they were: a ``gr.skip()`` costs Gradio a component rebuild per frame
    (see ``SessionState.frame_values``)."""

    browser: Any
    turn: TurnSlots[Any]
    cells: Any = ""
    live: Any = ""

    def ordered(self, with_notebook: bool) -> tuple[Any, ...]:
        notebook = (self.cells, self.live) if with_notebook else ()
        return (self.browser, *self.turn.ordered(), *notebook)


class PageLoad:
    def __init__(
        self,
        live_turns: LiveTurns,
        notebooks: Notebooks | None,
        chat: ChatTab,
        notebook: NotebookTab | None,
    ) -> None:
        self.live_turns, self.notebooks = live_turns, notebooks
        self.chat, self.notebook = chat, notebook

    def wire(self, demo: gr.Blocks, browser: gr.BrowserState) -> None:
        notebook = self.notebook
        nb_state = notebook.state if notebook is not None else gr.State(NotebookSession())
        extra: list[Component] = [notebook.cells, notebook.live] if notebook is not None else []
        demo.load(
            self.on_load,
            [browser, self.chat.session, nb_state],
            [browser, *self.chat.outputs.components(), *extra],
            postprocess=False,  # ``render``'s frames are already postprocessed
            concurrency_limit=UI_CONCURRENCY,
            concurrency_id="turn",
            show_progress="hidden",
            show_progress_on=[browser],
            api_visibility="private",
        )

    def _cells(self, nb: Notebook, nbs: NotebookSession) -> str:
        return notebook_view.notebook_html(nb, pending_pin=nbs.pending_pin)

    async def on_load(
        self, stored: Any, state: SessionState, nbs: NotebookSession
    ) -> AsyncIterator[tuple[Any, ...]]:
        notebooks, with_nb = self.notebooks, self.notebooks is not None
        owner = owner_of(stored) or new_owner_id()
        state.owner = nbs.owner = nbs.rerun.owner = owner
        plan = self.live_turns.recover(owner, chat_cell_of(stored))
        nb = await notebooks.shown(owner) if notebooks is not None else Notebook()
        if plan.restore_chat and (history := conversation_of(nb, plan.chat_cell)) is not None:
            state.restore(history, turns_of(nb, history))
        shown = _Shown(
            browser={"owner": owner, "chat": plan.chat_cell},
            turn=self.chat.outputs.initial(state),
            cells=self._cells(nb, nbs) if with_nb else "",
        )
        yield shown.ordered(with_nb)
        async for _ in self._resume(plan.chat, plan.rerun, state, nbs, shown):
            yield shown.ordered(with_nb)
        if plan.chat is None and plan.rerun is None:
            return
        chat_done = await plan.chat.recorded() if plan.chat is not None else None
        if plan.rerun is not None:
            await plan.rerun.recorded()
        chat = chat_done.id if chat_done is not None else plan.chat_cell
        shown.browser = {"owner": owner, "chat": chat}
        if notebooks is not None:
            nb = await notebooks.shown(owner)  # with both runs in it, whichever came last
            shown.cells, shown.live = self._cells(nb, nbs), ""
        yield shown.ordered(with_nb)

    async def _resume(
        self,
        chat_run: LiveTurn | None,
        rerun: LiveTurn | None,
        state: SessionState,
        nbs: NotebookSession,
        shown: _Shown,
    ) -> AsyncIterator[None]:
        """Follow the resumed runs, chat first, updating ``shown`` for each frame."""
        if chat_run is not None:
            async for frame in resume_turn(self.live_turns, state, chat_run):
                shown.turn = self.chat.outputs.render(state, frame)
                yield None
        if rerun is not None and self.notebooks is not None:
            async for _frame in resume_turn(self.live_turns, nbs.rerun, rerun):
                shown.live = notebook_view.live_cell_html(rerun.request.message, nbs.rerun.current)
                yield None
