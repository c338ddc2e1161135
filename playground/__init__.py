"""Streaming Playground: watch an LLM answer stream, hear it spoken, time every chunk.

Importing the package keeps the process off the internet before anything else can look: Gradio's
analytics and the Hugging Face hub read these variables when *they* are imported, so setting them
here (the first module of any entry point, server, benchmark or test) is the only place that is
early enough. Values already set by the environment win.
"""

from __future__ import annotations

import os


def _stay_offline() -> None:
    for name, value in (
        ("GRADIO_ANALYTICS_ENABLED", "False"),
        ("HF_HUB_OFFLINE", "1"),
        ("HF_HUB_DISABLE_TELEMETRY", "1"),
        ("DO_NOT_TRACK", "1"),
    ):
        os.environ.setdefault(name, value)


_stay_offline()
