#!/usr/bin/env bash
# Proves the Hugging Face Space path: a clean virtual environment built from requirements.txt
# alone starts app.py and answers /healthz (as the Space's gradio SDK would run it).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="$(mktemp -d)/space-venv"
python -m venv "$venv"
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$(dirname "$venv")/app.log"
GRADIO_SERVER_PORT="$port" "$venv/bin/python" app.py >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$(dirname "$venv")"' EXIT

for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    curl -fsS "http://127.0.0.1:$port/healthz"; echo
    # Read the whole page first: grep -q stops at the first match, and curl writing into the
    # closed pipe would fail the check.
    page="$(curl -fsS "http://127.0.0.1:$port/")"
    grep -q "Streaming Playground" <<<"$page"
    echo "space check: app.py from requirements.txt alone answers /healthz and serves the UI"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.5
done
echo "space check failed; app log:" >&2
cat "$log" >&2
exit 1
