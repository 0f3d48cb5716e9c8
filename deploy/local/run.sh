#!/usr/bin/env bash
# `make run`: the whole of duanka on one machine. Starts the local broker (unless one runs),
# creates the topics, starts a worker and simulated carriers, prints the console's address
# and a development token, and then alerts and cases as they arrive. Ctrl-C, or DURATION
# seconds, stops everything this script started.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
bin=.venv/bin
logs=.local/run
mkdir -p "$logs"
# Every run is a fresh world: its own topics, consumer group and state, removed at the end.
export DUANKA_TOPIC_PREFIX=${DUANKA_TOPIC_PREFIX:-demo-$(date +%s).}
export DUANKA_DATA_DIR=${DUANKA_DATA_DIR:-.local/demo-worker/$DUANKA_TOPIC_PREFIX}
port=${DUANKA_WEB_PORT:-6066}
duration=${DURATION:-}
# The console and the query API take this token; a fresh one for every run unless given.
export DUANKA_API_TOKEN=${DUANKA_API_TOKEN:-dev-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')}

if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "run: port $port is already in use (a worker of another checkout, perhaps);" >&2
  echo "run: stop it, or choose another port: make run DUANKA_WEB_PORT=6067" >&2
  exit 1
fi

started_kafka=0
if ! deploy/local/kafka.sh status; then
  deploy/local/kafka.sh up
  started_kafka=1
fi

pids=()
stop() {
  trap - EXIT INT TERM
  echo "run: stopping" >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # a worker whose shutdown hangs (Faust waiting for its streams) is killed after 30 s;
  # what it had not committed is processed again at the next start
  for _ in $(seq 1 60); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    if [[ $alive == 0 ]]; then break; fi
    sleep 0.5
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "run: $pid did not stop within 30 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  "$bin/duanka" topics --delete >/dev/null || true
  rm -rf "$DUANKA_DATA_DIR"
  if [[ $started_kafka == 1 ]]; then deploy/local/kafka.sh down; fi
}
trap stop EXIT INT TERM

"$bin/duanka" topics
"$bin/duanka" worker >"$logs/worker.log" 2>&1 &
pids+=($!)
echo "run: worker starting (log: $logs/worker.log)" >&2
ready=0
for _ in $(seq 1 120); do
  if ! kill -0 "${pids[0]}" 2>/dev/null; then
    echo "run: the worker exited; the end of $logs/worker.log:" >&2
    tail -n 20 "$logs/worker.log" >&2
    exit 1
  fi
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.5
done
if [[ $ready == 0 ]]; then echo "run: the worker is not ready after 60 s; see $logs/worker.log" >&2; exit 1; fi

echo "run: console at http://127.0.0.1:$port/console/ (log in with the token $DUANKA_API_TOKEN)" >&2
"$bin/duanka" alerts --cases &
pids+=($!)
echo "run: simulated carriers producing (log: $logs/simulate.log); alerts and cases follow" >&2
"$bin/duanka" simulate ${duration:+--duration "$duration"} >"$logs/simulate.log" 2>&1 &
simulator=$!
pids+=("$simulator")
wait "$simulator" || true
if [[ -n $duration ]]; then sleep 5; fi  # let the worker publish what the last events caused
