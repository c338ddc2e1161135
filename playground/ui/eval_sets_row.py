"""The Evals tab's row for test sets kept in the prompt folder (``evals.prompt_sets``): open one
into the table, or save the table beside a prompt as ``prompts/<id>/tests/<name>.yaml``. On a
server whose prompt folder is read-only the save controls are shown switched off, with the
reason."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import gradio as gr

from playground.errors import ConfigError
from playground.evals.prompt_sets import read_saved_set, save_set, saved_sets
from playground.prompts.store import PromptStore
from playground.ui.eval_rows import cases_from_rows, rows_from_cases

__all__ = ["SavedSetsRow"]

_PRIVATE: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
# Keeps an opened set as the browser's table (``EvalsTab``'s, so a reload shows it again).
KeepRows = Callable[[Any, list[list[str]]], Awaitable[None]]


class SavedSetsRow:
    """Render inside the Evals tab; ``wire`` with the table and the status it reports to."""

    def __init__(self, store: PromptStore) -> None:
        self.store = store

    def _choices(self) -> list[str]:
        return [s.ref for s in saved_sets(self.store)]

    def render(self) -> None:
        writable, reason = self.store.writable, self.store.read_only_reason
        with gr.Row(equal_height=False, elem_id="sp-eval-saved-row"):
            self.picker = gr.Dropdown(
                self._choices(),
                value=None,
                label="Test sets in the prompt folder",
                info="prompts/<prompt>/tests/<name>.yaml (promptfoo's format): opens in the table.",
                interactive=True,
                elem_id="sp-eval-saved",
            )
            self.name = gr.Textbox(
                label="Save the table as",
                placeholder="support-agent/regressions",
                info="prompt/name: beside that prompt, replacing a set of that name."
                if writable
                else f"Saving is off: {reason}.",
                max_lines=1,
                interactive=writable,
                elem_id="sp-eval-save-name",
            )
            self.save = gr.Button(
                "Save beside the prompt",
                size="sm",
                interactive=writable,
                elem_id="sp-eval-save",
            )

    def wire(
        self,
        demo: gr.Blocks,
        cases: gr.Dataframe,
        status: gr.Markdown,
        browser: gr.BrowserState,
        keep: KeepRows,
    ) -> None:
        self.keep = keep
        self.picker.input(
            self.on_open, [self.picker, browser], [cases, status, self.name], **_PRIVATE
        )
        # A Save pressed before the previous save has ended in the page (its answer shown a
        # moment before Gradio's event for it is over) runs after it, with the name as it is
        # then; Gradio's default ("once") would drop it without a word.
        self.save.click(
            self.on_save,
            [self.name, cases],
            [status, self.picker],
            trigger_mode="always_last",
            **_PRIVATE,
        )
        # Sets saved since the page was built (by another browser, or by hand) show up too.
        demo.load(self.on_list, None, [self.picker], queue=False, **_PRIVATE)

    async def on_list(self) -> Any:
        return gr.update(choices=await asyncio.to_thread(self._choices))

    async def on_open(self, ref: Any, stored: Any) -> tuple[Any, str, Any]:
        if not ref:
            return gr.skip(), "", gr.skip()
        try:
            found = await asyncio.to_thread(read_saved_set, self.store, str(ref))
        except ConfigError as exc:
            return gr.skip(), f"Not opened: {exc.message}", gr.skip()
        if not found.cases:
            return gr.skip(), f"Not opened: {ref} has no case this playground can run.", gr.skip()
        rows = rows_from_cases(found.cases)
        await self.keep(stored, rows)
        note = f"Opened {ref}: {len(found.cases)} cases."
        if found.unsupported:
            note += " Not supported here:\n" + "\n".join(f"- {u}" for u in found.unsupported)
        return rows, note, ref  # saving goes back to the same file unless renamed

    async def on_save(self, ref: Any, rows: Any) -> tuple[str, Any]:
        try:
            cases = cases_from_rows(rows if isinstance(rows, list) else [])
            saved = await asyncio.to_thread(save_set, self.store, str(ref or ""), cases)
        except ConfigError as exc:
            return f"Not saved: {exc.message}", gr.skip()
        where = saved.path.relative_to(self.store.directory.parent)
        return (
            f"Saved {len(cases)} cases as {saved.ref} ({where}).",
            gr.update(choices=self._choices(), value=saved.ref),
        )
