#!/usr/bin/env bash
# Runs tests again and again while every core is kept busy, to catch order and timing races
# before CI does. Each round is a fresh pytest process; the first red round stops the loop and
# its log is kept. Prints "N passed, N failed" rounds at the end.
#
#   bash scripts/stress_suite.sh                   # the whole suite 5 times, then the API,
#                                                  # voice and browser modules 15 more times
#                                                  # (20 in all with the 5 full runs)
#   bash scripts/stress_suite.sh 3 tests/test_api.py   # one module 3 times
#
# The CPU burner is stress-ng (installed with apt when missing), one worker per core.
set -uo pipefail
cd "$(dirname "$0")/.."

export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
logs=$(mktemp -d -t sp-stress-XXXX)
passed=0
failed=0

burn() {
  if ! command -v stress-ng >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null
  fi
  stress-ng --cpu "$(nproc)" --quiet &
  burner=$!
  trap 'kill "$burner" 2>/dev/null' EXIT
}

rounds() {  # rounds COUNT PYTEST-ARGS...
  local count=$1
  shift
  for i in $(seq 1 "$count"); do
    local log="$logs/round-$((passed + failed + 1)).log"
    if python -m pytest -p no:cacheprovider -q "$@" >"$log" 2>&1; then
      passed=$((passed + 1))
      echo "round $i/$count of $*: $(tail -n 1 "$log")"
    else
      failed=$((failed + 1))
      echo "round $i/$count of $*: FAILED, log kept at $log"
      grep -E "^(FAILED|ERROR)" "$log" || tail -n 30 "$log"
      return 1
    fi
  done
}

burn
if [ "$#" -gt 0 ]; then
  count=$1
  shift
  rounds "$count" "$@"
else
  rounds 5 &&
    rounds 15 tests/test_api.py tests/test_api_checks.py tests/test_api_client.py \
      tests/test_api_voice.py tests/test_runner_order.py tests/test_turn_failures.py \
      tests/test_local_queue_surfaces.py tests/test_widget_token.py tests/test_api_prompts.py \
      tests/test_page_gate.py tests/test_ui_browser.py tests/test_notebook_browser.py \
      tests/test_widget_browser.py tests/test_workbench_browser.py tests/test_arena.py \
      tests/test_arena_browser.py tests/test_evals.py tests/test_evals_browser.py \
      tests/test_reasoning.py tests/test_responses_api.py tests/test_model_discovery.py \
      tests/test_voice_socket.py tests/test_voice_browser.py tests/test_local_stt.py \
      tests/test_deepgram_stt.py
fi
echo "rounds: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
