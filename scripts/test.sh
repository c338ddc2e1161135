#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian/Ubuntu machine, then runs the whole suite.
# Idempotent: on a prepared machine it only runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing ${missing[*]} with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# llama-cpp-python builds from source; a portable build runs on any x86-64 CPU.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
python -m pip install -q --disable-pip-version-check -e ".[test]"

export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
python -m pytest "$@"
