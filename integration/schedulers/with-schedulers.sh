#!/usr/bin/env bash
# with-schedulers.sh CMD...: runs CMD with the test batch schedulers up —
# two independent Slurm clusters (slurm-a, slurm-b) and one Grid Engine cell,
# all on 127.0.0.1 — and their settings exported (TUPLEBROKER_SLURM_*,
# TUPLEBROKER_SGE_*), then stops them. Installs the Debian packages first if
# missing (needs root and apt-get). Without root or apt-get, or with
# TUPLEBROKER_SCHEDULERS=0, CMD runs without schedulers: the tests that need
# one skip, or fail if TUPLEBROKER_REQUIRE_SCHEDULERS=1 (as in CI).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${TUPLEBROKER_SCHED_DIR:-/tmp/tuplebroker-schedulers}

can=1
if [ "${TUPLEBROKER_SCHEDULERS:-1}" = 0 ]; then
	can=0
elif [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "with-schedulers: not root or no apt-get: running without batch schedulers" >&2
	can=0
fi

if [ "$can" = 1 ]; then
	scheds=()
	for s in slurm gridengine; do
		if [ -x "$here/$s.sh" ]; then scheds+=("$s"); fi
	done
	stop_all() {
		for s in "${scheds[@]}"; do "$here/$s.sh" down "$dir" || true; done
	}
	trap stop_all EXIT
	start=$(date +%s)
	for s in "${scheds[@]}"; do "$here/$s.sh" install; done
	mkdir -p "$dir"
	for s in "${scheds[@]}"; do
		"$here/$s.sh" down "$dir" >/dev/null 2>&1 || true # leftovers of a killed run
		if ! "$here/$s.sh" up "$dir"; then
			# Daemons of a run that just ended may still hold ports or
			# state: stop everything and try once more.
			echo "with-schedulers: $s did not come up; retrying once" >&2
			"$here/$s.sh" down "$dir" >/dev/null 2>&1 || true
			sleep 2
			"$here/$s.sh" up "$dir"
		fi
		# shellcheck disable=SC1090
		. "$dir/$s.env"
	done
	echo "with-schedulers: ${scheds[*]} up in $(($(date +%s) - start)) s (state in $dir)" >&2
fi

"$@"
