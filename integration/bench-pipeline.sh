#!/usr/bin/env bash
# bench-pipeline.sh [JOBS]: the job pipeline's throughput and latency with
# `tuplebroker bench` against three zero-latency sim agents
# (examples/bench-sim.json), beside the raw JetStream KV put rate of the same
# server measured in the same run (--kv-baseline):
#   (a) every role in one `serve` process;
#   (b) `serve --roles none` (NATS and the space only), a factory, an agent
#       process (three sim agents) and a manager, each its own process.
# Each runs unpaced at concurrency $CONCURRENCY (default 32), then paced at
# 1,000 jobs/s.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=${1:-5000}
conc=${CONCURRENCY:-32}
work=$(mktemp -d)
bin="$work/tuplebroker"
go build -o "$bin" ./cmd/tuplebroker
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

wait_file() { for _ in $(seq 1 300); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "no $1" >&2; return 1; }
wait_http() { for _ in $(seq 1 300); do curl -sf "$1/healthz" >/dev/null && return 0; sleep 0.1; done; echo "no $1" >&2; return 1; }

run_bench() { # URL NATS_URL TOKEN
	echo "--- unpaced, concurrency $conc"
	TUPLEBROKER_TOKEN=$3 "$bin" bench --url "$1" --jobs "$jobs" --concurrency "$conc" --kv-baseline "$2" 2>/dev/null
	echo "--- paced at 1000 jobs/s, concurrency 64"
	TUPLEBROKER_TOKEN=$3 "$bin" bench --url "$1" --jobs "$jobs" --concurrency 64 --rate 1000 2>/dev/null
}

echo "=== (a) all roles in one serve process"
"$bin" serve --data-dir "$work/a" --config examples/bench-sim.json --nats-listen 127.0.0.1:0 \
	--http 127.0.0.1:18480 --token-file "$work/a-token" >"$work/a.log" 2>&1 &
pids+=($!)
wait_file "$work/a/nats.url"
run_bench http://127.0.0.1:18480 "$(cat "$work/a/nats.url")" "$(cat "$work/a-token")"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

echo "=== (b) factory, agents, manager as separate processes"
"$bin" serve --data-dir "$work/b" --roles none --nats-listen 127.0.0.1:0 --http "" >"$work/b.log" 2>&1 &
pids+=($!)
wait_file "$work/b/nats.url"
nats=$(cat "$work/b/nats.url")
tok=bench-token-0123456789abcdef
echo "$tok bench" >"$work/tokens"
"$bin" agent --nats "$nats" --config examples/bench-sim.json >"$work/agent.log" 2>&1 &
pids+=($!)
"$bin" manager --nats "$nats" --config examples/bench-sim.json --handle m1 >"$work/manager.log" 2>&1 &
pids+=($!)
sleep 2 # the agents advertise before the factory takes jobs
"$bin" factory --nats "$nats" --config examples/bench-sim.json --http 127.0.0.1:18481 \
	--tokens-file "$work/tokens" >"$work/factory.log" 2>&1 &
pids+=($!)
wait_http http://127.0.0.1:18481
run_bench http://127.0.0.1:18481 "$nats" "$tok"
