"""The editor's files: the text or all of a prompt's versions downloaded, a YAML file opened
as a draft, and — where the server cannot save (a public Space) — the versions this browser
kept, listed, opened and downloaded. Files are how work leaves a server that keeps nothing, and
how a prompt travels between playgrounds."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import yaml
from gradio.blocks import Block

from playground.errors import ConfigError
from playground.prompts.kept import KeptStorage, KeptVersion
from playground.prompts.library import prompt_yaml
from playground.prompts.store import parse_document
from playground.prompts.workbench import editor_text, parse_editor
from playground.ui.notebook_files import UPLOAD_REFUSED, read_upload, write_export
from playground.ui.notebook_tab import NotebookSession
from playground.ui.render.editor_view import KeptRow, saved_html

if TYPE_CHECKING:
    from playground.ui.editor_tab import EditorTab

__all__ = ["EditorFiles", "kept_choices", "kept_info", "kept_row"]

_PRIVATE: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}


class EditorFiles:
    """Render inside the editor tab, where its file row goes; ``wire`` with the tab."""

    def __init__(self, editor: EditorTab) -> None:
        self.editor = editor

    @property
    def kept(self) -> KeptStorage | None:
        return self.editor.kept

    def render(self) -> None:
        with gr.Row(elem_id="sp-editor-files"):
            # Files: the way to keep work where the server cannot save (a public Space), and
            # to carry a prompt between playgrounds.
            self.download_text = gr.Button(
                "Download this YAML", size="sm", elem_id="sp-download-yaml"
            )
            self.download_all = gr.Button(
                "Download all versions (.zip)", size="sm", elem_id="sp-download-versions"
            )
            self.upload = gr.UploadButton(
                "Open a YAML file",
                size="sm",
                file_types=[".yaml", ".yml"],
                elem_id="sp-upload-yaml",
            )
        self.kept_picker: gr.Dropdown | None = None
        if self.kept is not None:
            with gr.Row(equal_height=True, elem_id="sp-kept-row"):
                self.kept_picker = gr.Dropdown(
                    [],
                    value=None,
                    label="Versions kept in this browser",
                    info=kept_info([]),
                    scale=4,
                    elem_id="sp-kept",
                )
                self.open_kept = gr.Button("Open", size="sm", elem_id="sp-open-kept")
                self.download_kept = gr.Button("Download", size="sm", elem_id="sp-download-kept")
        self.file = gr.File(
            label="Download", visible=False, interactive=False, elem_id="sp-editor-file"
        )

    def wire(self, tab: gr.Tab, whose: list[Block]) -> None:
        """``whose``: the notebook session (whose kept versions), when the notebook is on."""
        self.upload.upload(
            self.on_upload, [self.upload, self.editor.opened], self.editor.text_replaced, **_PRIVATE
        )
        self.download_text.click(
            self.on_download_text,
            [self.editor.text, self.editor.opened],
            [self.file, self.editor.result],
            **_PRIVATE,
        )
        self.download_all.click(
            self.on_download_all,
            [self.editor.settings.prompt_id, *whose],
            [self.file, self.editor.result],
            **_PRIVATE,
        )
        if self.kept_picker is None:
            return
        # Kept versions are listed when the tab is shown (the page's owner is known by then)
        # and after each save.
        tab.select(self.on_kept_list, whose, [self.kept_picker], **_PRIVATE)
        self.open_kept.click(
            self.on_open_kept,
            [self.kept_picker, self.editor.opened, *whose],
            self.editor.text_replaced,
            **_PRIVATE,
        )
        self.download_kept.click(
            self.on_download_kept,
            [self.kept_picker, *whose],
            [self.file, self.editor.result],
            **_PRIVATE,
        )

    async def on_download_text(self, text: str, opened: str) -> tuple[Any, str]:
        """The editor's text as a file: ``<id>-v<N>.yaml`` for a saved version, else named by
        the draft's hash; a text that does not validate is not offered."""
        base = self.editor.base_of_ref(opened)
        try:
            draft = parse_editor(text or "", base)
        except ConfigError as exc:
            return gr.skip(), saved_html(f"Not downloaded: {exc.message}", ok=False)
        if draft.changed:
            name = f"{draft.prompt.id}-draft-{(draft.prompt.draft_sha256 or '')[:12]}.yaml"
        else:
            name = f"{base.id}-v{base.version}.yaml"
        path = await write_export(self.editor.export_dir(), name, text)
        return gr.update(value=str(path), visible=True), self.editor.read_only_note()

    async def on_download_all(
        self, prompt_id: str, nbs: NotebookSession | None = None
    ) -> tuple[Any, str]:
        """Every saved version of the prompt, as its files, in one zip (with the versions this
        browser kept, where the server cannot save)."""
        versions = self.editor.settings.prompts.prompts.get(prompt_id, {})
        kept = [k for k in await self.kept_of(nbs) if k.prompt_id == prompt_id]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for number in sorted(versions):
                name = f"{prompt_id}/v{number}.yaml"
                # The file as it is on disk (its hash is the one listed), else as it would be.
                saved = self.editor.store.directory / name
                text = saved.read_bytes() if saved.is_file() else prompt_yaml(versions[number])
                archive.writestr(name, text)
            for version in sorted(kept, key=lambda k: k.number):
                archive.writestr(f"{prompt_id}/kept-{version.number}.yaml", kept_file(version))
        path = await write_export(
            self.editor.export_dir(), f"{prompt_id}-versions.zip", buffer.getvalue()
        )
        return gr.update(value=str(path), visible=True), self.editor.read_only_note()

    async def on_upload(self, path: Any, opened: str) -> dict[Block, Any]:
        """A YAML file (a saved version or a downloaded draft) opened as a draft over the
        picked version; what a save adds (version, note, time) is dropped."""
        try:
            if not isinstance(path, str | Path):  # the page sends a path; anything else is not
                raise ConfigError(UPLOAD_REFUSED, field="file")
            raw = await asyncio.to_thread(read_upload, path)
            try:
                data = yaml.safe_load(raw.decode("utf-8"))
            except (UnicodeDecodeError, yaml.YAMLError):
                raise ConfigError("the file is not YAML text", field="file") from None
            if not isinstance(data, dict):
                raise ConfigError("the file is not a prompt (a mapping of fields)", field="file")
            for name in ("version", "note", "created"):
                data.pop(name, None)
            prompt = parse_document(data, field="file")
        except ConfigError as exc:
            return {self.editor.result: saved_html(f"Not opened: {exc.message}", ok=False)}
        base = self.editor.base_of_ref(opened)
        return self.editor.replaced_with(
            editor_text(prompt),
            saved_html(
                f"Opened as a draft over {base.ref}: Send runs it; save it to keep it here."
            ),
        )

    # -- versions kept in this browser (read-only servers) ------------------------------------

    async def kept_of(self, nbs: NotebookSession | None) -> list[KeptVersion]:
        owner = nbs.owner if isinstance(nbs, NotebookSession) else None
        if self.kept is None or not owner:
            return []
        return await self.kept.aversions(owner)

    async def on_kept_list(self, nbs: NotebookSession | None = None) -> Any:
        kept = await self.kept_of(nbs)
        return gr.update(choices=kept_choices(kept), info=kept_info(kept))

    async def _picked_kept(self, picked: str | None, nbs: NotebookSession | None) -> KeptVersion:
        owner = nbs.owner if isinstance(nbs, NotebookSession) else None
        if self.kept is None or not owner or not isinstance(picked, str) or not picked:
            raise ConfigError("pick a kept version first", field="kept")
        return await self.kept.aversion(owner, picked)

    async def on_open_kept(
        self, picked: str | None, opened: str, nbs: NotebookSession | None = None
    ) -> dict[Block, Any]:
        """A kept version opened as a draft over the picked version, as an uploaded file is."""
        try:
            kept = await self._picked_kept(picked, nbs)
        except ConfigError as exc:
            return {self.editor.result: saved_html(f"Not opened: {exc.message}", ok=False)}
        base = self.editor.base_of_ref(opened)
        return self.editor.replaced_with(
            kept.text, saved_html(f"Opened {kept.label} as a draft over {base.ref}: Send runs it.")
        )

    async def on_download_kept(
        self, picked: str | None, nbs: NotebookSession | None = None
    ) -> tuple[Any, str]:
        try:
            kept = await self._picked_kept(picked, nbs)
        except ConfigError as exc:
            return gr.skip(), saved_html(f"Not downloaded: {exc.message}", ok=False)
        path = await write_export(self.editor.export_dir(), kept.file_name, kept_file(kept))
        return gr.update(value=str(path), visible=True), self.editor.read_only_note()


def kept_row(kept: KeptVersion) -> KeptRow:
    """A kept version as the history lists it: its runs are its text's, run as a draft."""
    try:
        draft = parse_editor(kept.text, None).prompt
    except ConfigError:  # kept before a rule it breaks was added: listed, never run
        return KeptRow(kept.label, kept.created, kept.note, "", kept.sha256)
    return KeptRow(kept.label, kept.created, kept.note, draft.ref, draft.draft_sha256 or "")


def kept_choices(kept: list[KeptVersion]) -> list[tuple[str, str]]:
    """The kept versions as picker choices, newest first: label with note and time."""
    choices = []
    for version in kept:
        when = version.created.strftime("%Y-%m-%d %H:%M UTC")
        note = f" · {version.note[:60]}" if version.note else ""
        choices.append((f"{version.label}{note} · {when}", version.key))
    return choices


def kept_info(kept: list[KeptVersion]) -> str:
    count = f"{len(kept)} kept" if kept else "None kept yet"
    return f"{count}. Only this browser sees them: download them to keep them elsewhere."


def kept_file(kept: KeptVersion) -> str:
    """A kept version as a file: its text under a comment saying where it came from (opening
    the file drops the comment with everything else a save adds)."""
    note = " ".join(kept.note.split())
    head = f"# {kept.label}, kept in a browser from {kept.based_on} on {kept.created:%Y-%m-%d}"
    return f"{head}{': ' + note if note else ''}\n{kept.text}"
