"""A spoken turn's waterfall as the notebook keeps it: one bar per stage, from where the previous
stage ended to where its own ended, the slowest in red. The same markup (and stylesheet) as the
live waterfall the voice input draws in the timing panel (``static/voice_input.js``), so a
recorded turn reads like the one that was just heard."""

from __future__ import annotations

import html

from playground.notebook.cells import VoiceTiming
from playground.turn.waterfall import STAGES

__all__ = ["waterfall_html"]

_LABELS = dict(STAGES)


def _ms(value: float) -> str:
    return f"{value:,.0f} ms"


def waterfall_html(voice: VoiceTiming) -> str:
    stages = voice.stages
    if not stages:
        return ""
    total = max(1.0, *(s.end_ms for s in stages))
    widths = [s.end_ms - s.start_ms for s in stages]
    slowest = widths.index(max(widths)) if len(stages) > 1 else -1
    rows = []
    for i, (stage, width) in enumerate(zip(stages, widths, strict=True)):
        slow = i == slowest
        left = stage.start_ms / total * 100
        bar = max(0.6, width / total * 100)
        label = html.escape(_LABELS.get(stage.stage, stage.stage))
        rows.append(
            f"<div class='sp-wf-row{' sp-wf-slowest' if slow else ''}'"
            f" data-stage='{html.escape(stage.stage)}'>"
            f"<span class='sp-wf-label'>{label}{' <em>slowest</em>' if slow else ''}</span>"
            f"<span class='sp-wf-track'><i style='left:{left:.2f}%;width:{bar:.2f}%'></i></span>"
            f"<span class='sp-wf-ms'>+{_ms(width)}</span></div>"
        )
    v2v = _ms(voice.voice_to_voice_ms) if voice.voice_to_voice_ms is not None else "—"
    barge = (
        f"<div class='sp-wf-note'>Barge-in: the voice went silent {_ms(voice.barge_in_ms)} "
        "after the user started speaking.</div>"
        if voice.barge_in_ms is not None
        else ""
    )
    return (
        "<div class='sp-wf sp-nb-wf'><div class='sp-wf-head'><span>Voice waterfall</span>"
        f"<span class='sp-wf-v2v'>Voice to voice <b>{v2v}</b></span></div>"
        f"<div class='sp-wf-rows'>{''.join(rows)}</div>"
        "<div class='sp-wf-row sp-wf-axis'><span></span><span><span>0: end of speech</span>"
        f"<span>{_ms(total)}</span></span><span></span></div>{barge}</div>"
    )
