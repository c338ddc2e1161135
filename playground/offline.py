"""Keep the process off the internet: no analytics, no hub look-ups. Imported before gradio."""

from __future__ import annotations

import os

for _name, _value in (
    ("GRADIO_ANALYTICS_ENABLED", "False"),
    ("HF_HUB_OFFLINE", "1"),
    ("HF_HUB_DISABLE_TELEMETRY", "1"),
    ("DO_NOT_TRACK", "1"),
):
    os.environ.setdefault(_name, _value)
