"""The "Edit prompt" tab: the picked prompt version as YAML, validated as you type (through the
same pydantic model the loader uses, the error naming the field), its diff against the saved
version, and Save as the next version (with a note) or as a new prompt. Until it is saved, Send
in the Chat tab runs the edited text as a draft (``Composer.compose``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import yaml
from gradio.blocks import Block

from playground.agent.tools import TOOLS
from playground.errors import ConfigError
from playground.notebook.access import Notebooks
from playground.notebook.prompt_history import runs_by_version
from playground.prompts.kept import KeptStorage
from playground.prompts.library import PromptFile
from playground.prompts.store import PromptStore, parse_document
from playground.prompts.workbench import EditorDraft, editor_text, parse_editor
from playground.providers.local_llm import find_local_model
from playground.providers.local_tokenizer import SystemTokenCounter
from playground.ui.editor_files import EditorFiles, kept_choices, kept_info, kept_row
from playground.ui.editor_form import EditorForm
from playground.ui.notebook_tab import NotebookSession
from playground.ui.parameters_panel import variables_note
from playground.ui.render import prompt_view
from playground.ui.render.editor_view import (
    editor_status,
    editor_title,
    history_html,
    saved_html,
    tool_reference_html,
)
from playground.ui.settings_panel import SettingsPanel

__all__ = ["EditorTab"]

_PRIVATE: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
_NOT_KEPT = (
    "Not saved: where versions are kept cannot be written just now (the server's disk, or its "
    "Redis). Your text is still in the editor: try again, or download it."
)


class EditorTab:
    """Render inside a ``gr.Tab``; ``wire`` once the settings panel is wired."""

    def __init__(
        self,
        store: PromptStore,
        settings: SettingsPanel,
        notebooks: Notebooks | None,
        export_dir: Callable[[], Path],
    ) -> None:
        self.store, self.settings, self.notebooks = store, settings, notebooks
        self.export_dir = export_dir
        # Where the server cannot save (a public Space), a save keeps the version in this
        # browser instead (beside its notebook); without a notebook file, saving is off.
        # The local model's tokenizer counts the system text exactly (estimated without it).
        self.tokens = SystemTokenCounter(find_local_model())
        self.kept: KeptStorage | None = None
        if store.read_only_reason is not None and notebooks is not None:
            self.kept = notebooks.kept

    @property
    def can_save(self) -> bool:
        return self.store.writable or self.kept is not None

    @property
    def saving_fact(self) -> str | None:
        """Where a save goes, said in the status box when it is not the prompt folder."""
        reason = self.store.read_only_reason
        if reason is None:
            return None
        if self.kept is not None:
            return f"Save keeps versions in this browser only ({reason})"
        return f"saving is off: {reason}"

    def render(self) -> None:
        # Filled when the page loads (``on_open``): the text a script calling ``/turn`` leaves
        # out must be "no draft", not the default prompt's text.
        self.title = gr.HTML("", elem_id="sp-editor-title")
        # Which ``id@version`` the text was opened from: Send runs the text as a draft only
        # while that is still the picked version (see ``Composer.compose``). A hidden box, not
        # a ``gr.State``: the page sends it with the text, so the pair always comes from the
        # same update — server state and page values can land in different orders when two
        # opens overlap, which once ran one version's text as a draft over another.
        self.opened = gr.Textbox("", visible=False, elem_id="sp-editor-opened")
        self.form = EditorForm()
        self.form.render()
        self.text = gr.Code(
            "",
            language="yaml",
            lines=16,
            max_lines=40,
            label="The same prompt as YAML (edit here or in the fields above: each follows "
            "the other)",
            interactive=True,
            wrap_lines=True,
            elem_id="sp-editor-yaml",
        )
        self.status = gr.HTML("", elem_id="sp-editor-status")
        with gr.Accordion("Tools", open=False, elem_id="sp-editor-tools-box"):
            # Ticking a tool rewrites the text's ``tools``; the text stays the one source.
            self.tools = gr.CheckboxGroup(
                list(TOOLS),
                label="Built-in tools this prompt may call (Agent Node)",
                elem_id="sp-editor-tools",
            )
            gr.HTML(tool_reference_html(), elem_id="sp-tool-schemas")
        self.diff = gr.HTML("", elem_id="sp-editor-diff")
        self._render_saving()
        self.files = EditorFiles(self)
        self.files.render()
        self.result = gr.HTML(self.read_only_note(), elem_id="sp-save-result")
        with gr.Accordion("Version history", open=True, elem_id="sp-history-box"):
            self.history = gr.HTML("", elem_id="sp-prompt-history")

    def _render_saving(self) -> None:
        """The note and the save, save-as, duplicate and discard buttons."""
        here = " (this browser)" if self.kept is not None else ""
        with gr.Row(equal_height=True):
            self.note = gr.Textbox(
                label="Note for the new version",
                placeholder="What changed, and why",
                max_lines=2,
                scale=4,
                elem_id="sp-save-note",
            )
            self.save = gr.Button(
                f"Save as new version{here}",
                variant="primary",
                interactive=self.can_save,
                scale=1,
                min_width=140,
                elem_id="sp-save-version",
            )
        with gr.Row(equal_height=True):
            self.new_id = gr.Textbox(
                label="New prompt id",
                placeholder="lowercase-letters-digits-and-dashes",
                max_lines=1,
                scale=3,
                elem_id="sp-new-id",
            )
            self.save_new = gr.Button(
                "Save as a new prompt",
                interactive=self.can_save,
                scale=1,
                min_width=140,
                elem_id="sp-save-new",
            )
            self.duplicate = gr.Button(
                "Duplicate",
                interactive=self.can_save,
                scale=1,
                min_width=100,
                elem_id="sp-duplicate",
            )
            self.discard = gr.Button(
                "Discard changes", scale=1, min_width=120, elem_id="sp-discard"
            )

    def read_only_note(self) -> str:
        reason = self.store.read_only_reason
        if reason is None:
            return ""
        if self.kept is not None:
            return saved_html(
                f"Saving on the server is off: {reason}. A save keeps the version in this "
                "browser only; download it to keep it elsewhere."
            )
        return saved_html(f"Saving is off here: {reason}.", ok=False)

    # -- events ------------------------------------------------------------------------------

    def wire(self, demo: gr.Blocks, tab: gr.Tab, notebook_state: gr.State | None) -> None:
        """``notebook_state`` (the notebook tab's session) says whose runs the history counts;
        None when the notebook is off."""
        s = self.settings
        pickers = [s.prompt_id, s.version]
        self.notebook_state = notebook_state
        whose: list[Block] = [notebook_state] if notebook_state is not None else []
        self.files.wire(tab, whose)
        self.tools.input(
            self.on_tools, [self.tools, self.text], [self.text, self.result], **_PRIVATE
        )
        self.form.wire(self.text)
        self.text.change(
            self.on_edit,
            [self.text, self.opened, *self.form.controls.values()],
            [self.status, self.diff, self.tools, *self.form.error_outputs],
            queue=False,
            trigger_mode="always_last",
            **_PRIVATE,
        )
        opened: list[Block] = [self.title, *self.text_replaced, self.opened, self.history]
        opened += s.parameters.prefill_outputs
        # A picked version opens in the editor, its parameters and variables prefilled.
        # One at a time, in the order they were asked for: a prompt picked and then a version
        # picked must not open in the reverse order.
        in_order: dict[str, Any] = {"concurrency_id": "editor-open", "concurrency_limit": 1}
        s.prompt_picked.then(self.on_open, [*pickers, *whose], opened, **in_order, **_PRIVATE)
        s.version.input(self.on_open, [*pickers, *whose], opened, **in_order, **_PRIVATE)
        # On load the default version opens in the page itself, before anyone can type: a
        # round trip to the server could land after a visitor's first edits and undo them.
        # (The config keeps the boxes blank, so a script calling ``/turn`` gets no draft.)
        initial = self.opened_values(s.default_prompt)
        demo.load(None, None, list(initial), js=f"() => {json.dumps(list(initial.values()))}")
        demo.load(self.on_history, [s.prompt_id, *whose], [self.history], **_PRIVATE)
        # Runs made since the tab was last drawn count when it is shown again.
        tab.select(self.on_history, [s.prompt_id, *whose], [self.history], **_PRIVATE)
        self.discard.click(self.on_discard, pickers, [*self.text_replaced, self.opened], **_PRIVATE)
        s.parameters.reset.click(
            self.on_reset, [self.text, self.opened], s.parameters.prefill_outputs, **_PRIVATE
        )
        s.parameters.variables.change(
            self.on_variables,
            [s.parameters.variables, self.text, self.opened],
            [s.parameters.note],
            queue=False,
            trigger_mode="always_last",
            **_PRIVATE,
        )
        saved = [s.prompt_id, s.version, self.title, self.text, self.opened, self.status]
        saved += [self.diff, self.history]
        saved += [self.note, self.new_id, self.result]
        saved += [self.files.kept_picker] if self.files.kept_picker is not None else []
        self.save.click(
            self.on_save, [self.text, self.note, self.opened, *whose], saved, **_PRIVATE
        )
        self.save_new.click(
            self.on_save_new,
            [self.text, self.note, self.new_id, self.opened, *whose],
            saved,
            **_PRIVATE,
        )
        self.duplicate.click(
            self.on_duplicate, [self.new_id, self.note, self.opened, *whose], saved, **_PRIVATE
        )

    @property
    def text_replaced(self) -> list[Block]:
        """What a handler that replaces the editor's text sets: the text, the form showing it,
        and the result line."""
        return [self.text, self.result, *self.form.controls.values()]

    def replaced_with(self, text: str, result: str) -> dict[Block, Any]:
        return {self.text: text, self.result: result, **self.form.values_for(text)}

    def base_of(self, prompt_id: str, version: str) -> PromptFile:
        return self.settings.prompts.resolve_shown(prompt_id, version)

    def base_of_ref(self, opened: str) -> PromptFile:
        """The version the editor's text was opened from (its ``opened`` box): what the text is
        compared with and saved after — not the pickers, which the page may update a moment
        later than the text when both change at once."""
        prompt_id, _, version = (opened or "").partition("@")
        return self.base_of(prompt_id, version)

    def status_of(self, text: str, base: PromptFile) -> tuple[str, EditorDraft | None]:
        try:
            draft = parse_editor(text, base)
        except ConfigError as exc:
            return editor_status(None, exc.message, saving=self.saving_fact), None
        return self.describe(draft), draft

    def describe(self, draft: EditorDraft) -> str:
        tokens = self.tokens.count(draft.prompt.system)
        return editor_status(draft, None, saving=self.saving_fact, tokens=tokens)

    def on_edit(self, text: str, opened: str, *form: Any) -> tuple[Any, ...]:
        """The status, the diff, the ticked tools, and each error beside its field (``form``:
        the form's controls, whose unreadable values are errors too)."""
        base = self.base_of_ref(opened)
        try:
            draft = parse_editor(text or "", base)
        except ConfigError as exc:
            status = editor_status(None, exc.message, saving=self.saving_fact)
            errors = self.form.errors_for(exc.field, exc.message, list(form))
            return status, "", gr.skip(), *errors
        status = self.describe(draft)
        tools = list(draft.prompt.tools)
        diff = prompt_view.prompt_diff(base, draft.prompt) if draft.changed else ""
        return status, diff, tools, *self.form.errors_for(None, None, list(form))

    def on_tools(self, tools: list[str], text: str) -> tuple[Any, str]:
        """The ticked tools written into the text (in the reference's order)."""
        try:
            data = yaml.safe_load(text or "")
            if not isinstance(data, dict):
                raise ValueError
        except (yaml.YAMLError, ValueError):
            return gr.skip(), saved_html("Fix the text first: tools are written into it.", ok=False)
        data["tools"] = [name for name in TOOLS if name in (tools or [])]
        if not data["tools"]:
            del data["tools"]
        try:
            prompt = parse_document(data, field="prompt_draft")
        except ConfigError as exc:
            return gr.skip(), saved_html(f"Fix the text first: {exc.message}", ok=False)
        return editor_text(prompt), self.read_only_note()

    async def history_of(self, prompt_id: str, nbs: NotebookSession | None) -> str:
        library = self.settings.prompts
        versions = list(library.prompts.get(prompt_id, {}).values())
        runs = None
        if self.notebooks is not None:
            owner = nbs.owner if isinstance(nbs, NotebookSession) else None
            cells = (await self.notebooks.load(owner)).cells if owner else ()
            runs = runs_by_version(cells, prompt_id)
        kept = [
            kept_row(version)
            for version in await self.files.kept_of(nbs)
            if version.prompt_id == prompt_id
        ]
        return history_html(versions, library.sha256, runs, kept)

    async def on_history(self, prompt_id: str, nbs: NotebookSession | None = None) -> str:
        return await self.history_of(prompt_id, nbs)

    def opened_values(self, base: PromptFile) -> dict[Block, Any]:
        """The editor and the parameters with ``base`` opened in them."""
        return {
            self.title: editor_title(base),
            **self.replaced_with(editor_text(base), self.read_only_note()),
            self.opened: base.ref,
            **self.settings.parameters.prefill(base),
        }

    async def on_open(
        self, prompt_id: str, version: str, nbs: NotebookSession | None = None
    ) -> dict[Block, Any]:
        base = self.base_of(prompt_id, version)
        return {
            self.history: await self.history_of(base.id, nbs),
            **self.opened_values(base),
        }

    def on_variables(self, variables: str, text: str, opened: str) -> str:
        """The variables' note, for the prompt a Send would run (the draft, if there is one)."""
        base = self.base_of_ref(opened)
        _, draft = self.status_of(text or "", base)
        used = draft.prompt if draft is not None and draft.changed else base
        return variables_note(used, variables)

    def on_discard(self, prompt_id: str, version: str) -> dict[Block, Any]:
        base = self.base_of(prompt_id, version)
        return {**self.replaced_with(editor_text(base), ""), self.opened: base.ref}

    def on_reset(self, text: str, opened: str) -> dict[Block, Any]:
        """The defaults of the prompt a Send would run: the draft's, while the editor holds a
        valid one (so defaults changed in the editor can be tried before a save)."""
        base = self.base_of_ref(opened)
        _, draft = self.status_of(text or "", base)
        used = draft.prompt if draft is not None and draft.changed else base
        return self.settings.parameters.prefill(used)

    async def on_save(
        self,
        text: str,
        note: str,
        opened: str,
        nbs: NotebookSession | None = None,
    ) -> dict[Block, Any]:
        base = self.base_of_ref(opened)
        try:
            draft = parse_editor(text or "", base)
            if draft.prompt.id != base.id:
                raise ConfigError(
                    f"id: the text says {draft.prompt.id!r} but {base.id!r} is open; "
                    "use Save as a new prompt for a new id",
                    field="id",
                )
            if not draft.changed:
                raise ConfigError("nothing to save: the text is the saved version", field=None)
            return await self._save(base.id, draft, note, after=base, nbs=nbs)
        except ConfigError as exc:
            return {self.result: saved_html(f"Not saved: {exc.message}", ok=False)}
        except OSError:  # where the version is kept: a full disk, Redis out of reach
            return {self.result: saved_html(_NOT_KEPT, ok=False)}

    async def on_save_new(
        self,
        text: str,
        note: str,
        new_id: str,
        opened: str,
        nbs: NotebookSession | None = None,
    ) -> dict[Block, Any]:
        base = self.base_of_ref(opened)
        new_id = (new_id or "").strip()
        try:
            if not new_id:
                raise ConfigError("give the new prompt an id", field="id")
            if new_id in self.settings.prompts.prompts:
                raise ConfigError(
                    f"a prompt {new_id!r} exists; pick another id, or open it and save a version",
                    field="id",
                )
            draft = parse_editor(text or "", base)
            return await self._save(new_id, draft, note, after=None, nbs=nbs)
        except ConfigError as exc:
            return {self.result: saved_html(f"Not saved: {exc.message}", ok=False)}
        except OSError:
            return {self.result: saved_html(_NOT_KEPT, ok=False)}

    async def on_duplicate(
        self,
        new_id: str,
        note: str,
        opened: str,
        nbs: NotebookSession | None = None,
    ) -> dict[Block, Any]:
        """The saved version (not the editor's changes) copied to a new id at version 1."""
        base = self.base_of_ref(opened)
        note = (note or "").strip() or f"duplicate of {base.ref}"
        return await self.on_save_new(editor_text(base), note, new_id, opened, nbs)

    async def _save(
        self,
        prompt_id: str,
        draft: EditorDraft,
        note: str,
        *,
        after: PromptFile | None,
        nbs: NotebookSession | None,
    ) -> dict[Block, Any]:
        document = {**draft.document, "id": prompt_id}
        if self.kept is not None:
            return await self._keep(prompt_id, document, note, after=after, nbs=nbs)
        saved = await asyncio.to_thread(
            self.store.save, prompt_id, document, note=(note or "").strip()
        )
        message = f"Saved {saved.ref}."
        if after is not None and saved.version != after.version + 1:
            # Another tab or person saved in between: theirs is kept, this is the next one.
            message += (
                f" Version {after.version + 1} was saved elsewhere meanwhile and is kept; "
                f"this is version {saved.version}."
            )
        prompts = self.settings.prompts
        return {
            self.settings.prompt_id: gr.update(choices=sorted(prompts.prompts), value=saved.id),
            self.settings.version: gr.update(
                choices=self.settings.versions_of(saved.id), value=str(saved.version)
            ),
            self.title: editor_title(saved),
            self.text: editor_text(saved),
            self.opened: saved.ref,
            # Set here too: the text is often unchanged by a save, so no change event follows.
            self.status: self.status_of(editor_text(saved), saved)[0],
            self.diff: "",
            self.history: await self.history_of(saved.id, nbs),
            self.note: "",
            self.new_id: "",
            self.result: saved_html(message),
        }

    async def _keep(
        self,
        prompt_id: str,
        document: dict[str, Any],
        note: str,
        *,
        after: PromptFile | None,
        nbs: NotebookSession | None,
    ) -> dict[Block, Any]:
        """A save on a read-only server: the version is kept for this browser; the editor keeps
        its text (a draft over the version it was opened from), so Send runs it."""
        assert self.kept is not None and self.files.kept_picker is not None
        owner = nbs.owner if isinstance(nbs, NotebookSession) else None
        if not owner:
            raise ConfigError("this page has no browser id yet; reload it and save again")
        text = editor_text(parse_document(document, field="prompt_draft"))
        based_on = after.ref if after is not None else "new"
        kept = await self.kept.akeep(
            owner, prompt_id, text, based_on=based_on, note=(note or "").strip()
        )
        listed = await self.kept.aversions(owner)
        return {
            self.history: await self.history_of(prompt_id, nbs),
            self.files.kept_picker: gr.update(
                choices=kept_choices(listed), value=kept.key, info=kept_info(listed)
            ),
            self.note: "",
            self.new_id: "",
            self.result: saved_html(
                f"Kept {kept.label} in this browser (the server's prompts are read-only). "
                "Open it any time from the list above; download it to keep it elsewhere."
            ),
        }
