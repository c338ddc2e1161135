#!/usr/bin/env bash
# One machine, scaled out: Redis, two page replicas, two API replicas and nginx in front of them
# on http://127.0.0.1:8080 (see README, "Scaling out"). Ctrl-C stops everything it started.
#
#   bash deploy/run.sh
#
# Needs redis-server and nginx (apt-get install redis-server nginx); keys and endpoints come
# from the environment as for `python app.py`. Logs go to deploy/run/.
set -euo pipefail
cd "$(dirname "$0")/.."
run="deploy/run"
mkdir -p "$run/tmp"

pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$run/nginx.pid" ] && kill "$(cat "$run/nginx.pid")" 2>/dev/null || true
}
trap stop EXIT INT TERM

# Browsers' notebooks live here too: written to an append-only file so a restart keeps them, and
# bounded as the SQLite file is (1 GB; the least recently used of the expiring keys go first).
redis-server --port 6390 --bind 127.0.0.1 --dir "$PWD/$run" --appendonly yes --save "" \
  --maxmemory 1gb --maxmemory-policy volatile-lru >"$run/redis.log" 2>&1 &
pids+=($!)
export PLAYGROUND_REDIS_URL="redis://127.0.0.1:6390/0"
# Behind nginx the client is the first X-Forwarded-For address (per-client limits, keys).
export PLAYGROUND_TRUST_FORWARDED_FOR=true

for port in 7861 7862; do
  python app.py --host 127.0.0.1 --port "$port" >"$run/page-$port.log" 2>&1 &
  pids+=($!)
done
for port in 8001 8002; do
  python -m playground.api --host 127.0.0.1 --port "$port" >"$run/api-$port.log" 2>&1 &
  pids+=($!)
done

for port in 7861 7862 8001 8002; do
  until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 1; done
done
nginx -p "$PWD/$run" -c "$PWD/deploy/nginx.conf"
echo "Streaming Playground on http://127.0.0.1:8080 (2 page replicas, 2 API replicas, Redis)"
wait "${pids[0]}"
