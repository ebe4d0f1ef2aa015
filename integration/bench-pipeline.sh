#!/usr/bin/env bash
# bench-pipeline.sh [JOBS]: the job pipeline's throughput and latency with
# `tuplebroker bench` against three zero-latency sim agents (simulated
# resource brokers, examples/bench-sim.json), beside the raw JetStream KV put
# rate of the same server measured in the same run (--kv-baseline), with the
# KV writes each job cost:
#   (a) every role in one `serve` process, default durability, then --fsync;
#   (b) `serve --roles none` (NATS and the space only), a factory, an agent
#       process (three sim agents) and a manager, each its own process.
# Each setup runs POST→201 at concurrency 1 and 64, accept-only (wait=0 →
# 202) at 64, and paced at 1,000 jobs/s (201 and accept-only); (a) ends with
# the serve process's RSS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=${1:-5000}
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

bench() { # URL NATS_URL TOKEN LABEL ARGS...
	local url=$1 nats=$2 tok=$3 label=$4
	shift 4
	echo "--- $label"
	TUPLEBROKER_TOKEN=$tok "$bin" bench --url "$url" --kv-baseline "$nats" "$@" 2>/dev/null |
		grep -E '^(jobs/s|latency p50|latency p99|raw KV put/s|jobs/s ÷|KV writes|status|errors)'
}

run_bench() { # URL NATS_URL TOKEN
	bench "$@" "201, concurrency 1" --jobs $((jobs / 5)) --concurrency 1
	bench "$@" "201, concurrency 64" --jobs "$jobs" --concurrency 64
	bench "$@" "accept only (wait=0), concurrency 64" --jobs "$jobs" --concurrency 64 --wait 0
	bench "$@" "201, paced at 1000 jobs/s" --jobs "$jobs" --concurrency 64 --rate 1000
	bench "$@" "accept only, paced at 1000 jobs/s" --jobs "$jobs" --concurrency 64 --rate 1000 --wait 0
}

serve_a() { # NAME FLAGS...
	local name=$1
	shift
	"$bin" serve --data-dir "$work/$name" --config examples/bench-sim.json --nats-listen 127.0.0.1:0 \
		--http 127.0.0.1:18480 --token-file "$work/$name-token" "$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	wait_file "$work/$name/nats.url"
	run_bench http://127.0.0.1:18480 "$(cat "$work/$name/nats.url")" "$(cat "$work/$name-token")"
	echo "--- serve RSS after $((jobs * 4 + jobs / 5)) jobs: $(awk '/VmRSS/{print $2/1024 " MB"}' /proc/"${pids[-1]}"/status)"
	kill "${pids[-1]}"
	wait "${pids[-1]}" 2>/dev/null || true
}

echo "=== (a) all roles in one serve process"
serve_a a
echo "=== (a) the same with --fsync (every write fsynced before it is acknowledged)"
serve_a a-fsync --fsync

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
