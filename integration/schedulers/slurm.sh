#!/usr/bin/env bash
# slurm.sh — two independent Slurm clusters, "slurm-a" and "slurm-b", on
# 127.0.0.1 for tuplebroker's tests and benchmarks. No systemd; everything
# (configuration, state, spool, logs, pid files and a private munged per
# cluster) lives under DIR/slurm/<cluster>.
#
#   slurm.sh install              apt-get install slurm-wlm and munge if missing
#   slurm.sh up [DIR]             start both clusters with fresh state, wait until
#                                 each has run a job, write DIR/slurm.env
#   slurm.sh down [DIR]           stop both clusters and wait until they are gone
#   slurm.sh stop-ctld NAME [DIR] stop one cluster's slurmctld (its jobs survive)
#   slurm.sh start-ctld NAME [DIR] start it again on its saved state
#   slurm.sh status [DIR]         print each cluster's sinfo
#
# DIR defaults to /tmp/tuplebroker-schedulers. Ports: slurm-a uses
# $TUPLEBROKER_SLURM_PORT_BASE (default 26817) for slurmctld and +1 for
# slurmd; slurm-b uses +10 and +11. Cluster slurm-a has one node of 6 CPUs,
# slurm-b one node of 4 (config_overrides lets them exceed the real cores).
set -euo pipefail

readonly CLUSTERS=(slurm-a slurm-b)
readonly PORT_BASE=${TUPLEBROKER_SLURM_PORT_BASE:-26817}
readonly READY_TIMEOUT=${TUPLEBROKER_SLURM_READY_TIMEOUT:-60}

log() { printf 'slurm.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

usage() {
	sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# cluster parameters: node name, CPUs, memory (MB), slurmctld port, slurmd port.
params() {
	case $1 in
	slurm-a) echo "a1 6 6000 $PORT_BASE $((PORT_BASE + 1))" ;;
	slurm-b) echo "b1 4 4000 $((PORT_BASE + 10)) $((PORT_BASE + 11))" ;;
	*) die "unknown cluster '$1' (want one of: ${CLUSTERS[*]})" ;;
	esac
}

# ---------------------------------------------------------------- install

cmd_install() {
	local missing=()
	command -v sbatch >/dev/null 2>&1 && [[ -x /usr/sbin/slurmctld && -x /usr/sbin/slurmd ]] || missing+=(slurm-wlm)
	[[ -x /usr/sbin/munged ]] || missing+=(munge)
	if ((${#missing[@]} == 0)); then
		log "install: slurm-wlm and munge already installed"
		return 0
	fi
	log "install: apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	local out apt=(apt-get -o DPkg::Lock::Timeout=300 -y -q)
	if ! out=$("${apt[@]}" install --no-install-recommends "${missing[@]}" 2>&1); then
		if ! out=$({ "${apt[@]}" update && "${apt[@]}" install --no-install-recommends "${missing[@]}"; } 2>&1); then
			printf '%s\n' "$out" | tail -20 >&2
			die "install: apt-get install ${missing[*]} failed"
		fi
	fi
	# The packages may start a system munged (or not, with policy-rc.d); the
	# clusters here use their own, so that one is left alone.
	command -v sbatch >/dev/null 2>&1 || die "install: sbatch still missing after apt-get"
}

# ---------------------------------------------------------------- helpers

# alive PID: true while PID exists and is not a zombie (kill -0 succeeds on
# zombies, which PID 1 reaps slowly on these machines).
alive() {
	local st
	[[ -r /proc/$1/stat ]] || return 1
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[[ ${st%% *} != Z && ${st%% *} != X ]]
}

# stop_pid PID WHAT: SIGTERM, wait up to 10 s, then SIGKILL and wait.
stop_pid() {
	local pid=$1 what=$2 i
	alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		alive "$pid" || return 0
		sleep 0.05
	done
	log "$what (pid $pid) ignored SIGTERM for 10 s: SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || return 0
		sleep 0.05
	done
	die "$what (pid $pid) is still alive after SIGKILL"
}

# pid_from FILE TEXT: the pid in FILE if it names a live process whose
# command line contains TEXT (pid files outlive their daemon; pids are reused).
pid_from() {
	local file=$1 pattern=$2 pid
	[[ -r $file ]] || return 1
	pid=$(tr -dc '0-9' <"$file")
	[[ -n $pid ]] && alive "$pid" || return 1
	tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$pattern" || return 1
	echo "$pid"
}

# stray_steps CDIR: pids of slurmstepd processes of the cluster in CDIR,
# recognised by an open file under CDIR (their log or spool socket).
stray_steps() {
	local cdir=$1 p pid
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[[ $(tr '\0' ' ' 2>/dev/null <"$p/cmdline") == slurmstepd* ]] || continue
		alive "$pid" || continue
		if find "$p/fd" -maxdepth 1 -lname "$cdir/*" 2>/dev/null | grep -q .; then
			echo "$pid"
		fi
	done
}

# kill_tree PID: SIGKILL PID and its descendants, children first.
kill_tree() {
	local child
	for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		kill_tree "$child"
	done
	kill -KILL "$1" 2>/dev/null || true
}

port_busy() {
	local hex
	hex=$(printf '%04X' "$1")
	# /proc/net/tcp: local_address is IP:PORT in hex, st 0A is LISTEN.
	awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# cdir DIR NAME: the cluster's directory.
cdir() { echo "$1/slurm/$2"; }

# ---------------------------------------------------------------- config

write_conf() {
	local dir=$1 name=$2 node cpus mem cport dport
	read -r node cpus mem cport dport < <(params "$name")
	local c
	c=$(cdir "$dir" "$name")
	cat >"$c/slurm.conf" <<EOF
# Generated by integration/schedulers/slurm.sh — cluster $name on 127.0.0.1.
ClusterName=$name
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$cport
SlurmdPort=$dport
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$c/munge/munge.sock
StateSaveLocation=$c/state
SlurmdSpoolDir=$c/spool
SlurmctldPidFile=$c/slurmctld.pid
SlurmdPidFile=$c/slurmd.pid
SlurmctldLogFile=$c/slurmctld.log
SlurmdLogFile=$c/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
MailProg=/bin/true
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MinJobAge=3600
EnforcePartLimits=ALL
KillWait=5
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$c/jobcomp.txt
NodeName=$node NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

# ---------------------------------------------------------------- daemons

start_munged() {
	local c=$1 m=$1/munge
	if pid_from "$m/munged.pid" "$m/" >/dev/null; then
		return 0
	fi
	mkdir -p "$m"
	chmod 0755 "$m" # the key is 0400; clients of any user need the socket
	if [[ ! -s $m/munge.key ]]; then
		mungekey --create --keyfile="$m/munge.key" --force 2>/dev/null ||
			dd if=/dev/urandom of="$m/munge.key" bs=1024 count=1 status=none
	fi
	chmod 0400 "$m/munge.key"
	rm -f "$m/munge.sock" "$m/munge.sock.lock"
	/usr/sbin/munged --force --socket="$m/munge.sock" --key-file="$m/munge.key" \
		--pid-file="$m/munged.pid" --log-file="$m/munged.log" --seed-file="$m/munged.seed" \
		</dev/null >/dev/null 2>&1 ||
		die "munged for $c did not start: $(tail -5 "$m/munged.log" 2>/dev/null)"
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -S $m/munge.sock ]] && return 0
		sleep 0.05
	done
	die "munged for $c: no socket $m/munge.sock after 5 s: $(tail -5 "$m/munged.log" 2>/dev/null)"
}

start_ctld() {
	local c=$1 name=$2 fresh=${3:-}
	if pid_from "$c/slurmctld.pid" "$c/" >/dev/null; then
		return 0
	fi
	local args=(-f "$c/slurm.conf")
	[[ -n $fresh ]] && args+=(-c)
	/usr/sbin/slurmctld "${args[@]}" </dev/null >>"$c/slurmctld.out" 2>&1 ||
		die "slurmctld of $name did not start: $(tail -20 "$c/slurmctld.log" "$c/slurmctld.out" 2>/dev/null)"
}

start_slurmd() {
	local c=$1 name=$2 node
	read -r node _ < <(params "$name")
	if pid_from "$c/slurmd.pid" "$c/" >/dev/null; then
		return 0
	fi
	mkdir -p "$c/spool"
	/usr/sbin/slurmd -f "$c/slurm.conf" -N "$node" </dev/null >>"$c/slurmd.out" 2>&1 ||
		die "slurmd of $name did not start: $(tail -20 "$c/slurmd.log" "$c/slurmd.out" 2>/dev/null)"
}

# wait_ready C NAME: wait until a trivial batch job has run to completion.
wait_ready() {
	local c=$1 name=$2 deadline id state
	deadline=$((SECONDS + READY_TIMEOUT))
	export SLURM_CONF=$c/slurm.conf
	until id=$(sbatch --parsable -J tuplebroker-ready -D / -o /dev/null -e /dev/null --wrap=true 2>/dev/null); do
		((SECONDS < deadline)) || fail_ready "$c" "$name" "sbatch still fails"
		sleep 0.1
	done
	id=${id%%;*}
	while :; do
		state=$(squeue -h -t all -j "$id" -o %T 2>/dev/null || true)
		case $state in
		COMPLETED) break ;;
		FAILED | CANCELLED | TIMEOUT | NODE_FAIL | BOOT_FAIL | OUT_OF_MEMORY)
			fail_ready "$c" "$name" "readiness job $id ended $state"
			;;
		esac
		((SECONDS < deadline)) || fail_ready "$c" "$name" "readiness job $id still '${state}'"
		sleep 0.1
	done
	unset SLURM_CONF
}

fail_ready() {
	local c=$1 name=$2
	log "cluster $name not ready after ${READY_TIMEOUT}s: $3"
	local f
	for f in slurmctld.log slurmd.log slurmctld.out slurmd.out munge/munged.log; do
		[[ -s $c/$f ]] || continue
		log "---- $c/$f (tail)"
		tail -15 "$c/$f" >&2
	done
	die "cluster $name not ready"
}

stop_cluster() {
	local c=$1 name=$2 pid i
	[[ -d $c ]] || return 0
	# Cancel what still runs and let slurmd clean up while slurmctld is
	# there to hear about it (slurmstepd outlives slurmd otherwise, and
	# slurmd lingers trying to report to a stopped slurmctld).
	if pid_from "$c/slurmctld.pid" "$c/" >/dev/null; then
		export SLURM_CONF=$c/slurm.conf
		timeout 5 scancel --quiet --user="$(id -un)" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			[[ -z $(timeout 5 squeue -h -t running,completing,configuring,suspended,stopped -o %i 2>/dev/null) ]] && break
			sleep 0.1
		done
		unset SLURM_CONF
	fi
	if pid=$(pid_from "$c/slurmd.pid" "$c/"); then stop_pid "$pid" "slurmd of $name"; fi
	if pid=$(pid_from "$c/slurmctld.pid" "$c/"); then stop_pid "$pid" "slurmctld of $name"; fi
	for pid in $(stray_steps "$c"); do
		kill_tree "$pid"
	done
	for pid in $(stray_steps "$c"); do
		stop_pid "$pid" "slurmstepd of $name"
	done
	if pid=$(pid_from "$c/munge/munged.pid" "$c/"); then stop_pid "$pid" "munged of $name"; fi
	return 0
}

# ---------------------------------------------------------------- commands

cmd_up() {
	local dir=$1 name c node cpus mem cport dport t0=$EPOCHREALTIME
	command -v sbatch >/dev/null 2>&1 || die "up: Slurm is not installed (run: $0 install)"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd -P)
	cmd_down "$dir"
	for name in "${CLUSTERS[@]}"; do
		read -r node cpus mem cport dport < <(params "$name")
		for p in "$cport" "$dport"; do
			port_busy "$p" && die "up: port $p (for $name) is already in use; set TUPLEBROKER_SLURM_PORT_BASE"
		done
		c=$(cdir "$dir" "$name")
		rm -rf "$c"
		mkdir -p "$c/state" "$c/spool" "$c/munge"
		chmod 0755 "$c"
		(( ${#c} < 90 )) || die "up: $c is too long for a unix socket path"
		write_conf "$dir" "$name"
		: >"$c/jobcomp.txt"
	done
	# Two munged starts at once can race for one socket: one at a time.
	for name in "${CLUSTERS[@]}"; do
		start_munged "$(cdir "$dir" "$name")"
	done
	for name in "${CLUSTERS[@]}"; do
		c=$(cdir "$dir" "$name")
		start_ctld "$c" "$name" fresh
		start_slurmd "$c" "$name"
	done
	local pids=() rc=0
	for name in "${CLUSTERS[@]}"; do
		wait_ready "$(cdir "$dir" "$name")" "$name" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || rc=1
	done
	((rc == 0)) || die "up: a cluster did not become ready"
	cat >"$dir/slurm.env.tmp" <<EOF
export TUPLEBROKER_SLURM_DIR=$(printf '%q' "$dir")
export TUPLEBROKER_SLURM_A_CONF=$(printf '%q' "$(cdir "$dir" slurm-a)/slurm.conf")
export TUPLEBROKER_SLURM_B_CONF=$(printf '%q' "$(cdir "$dir" slurm-b)/slurm.conf")
EOF
	mv "$dir/slurm.env.tmp" "$dir/slurm.env"
	log "up: ${CLUSTERS[*]} ready in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s under $dir/slurm; env in $dir/slurm.env"
}

cmd_down() {
	local dir=$1 name pids=() p rc=0
	[[ -d $dir ]] || return 0
	dir=$(cd "$dir" && pwd -P)
	rm -f "$dir/slurm.env"
	for name in "${CLUSTERS[@]}"; do
		stop_cluster "$(cdir "$dir" "$name")" "$name" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || rc=1
	done
	((rc == 0)) || die "down: a cluster did not stop"
}

cmd_stop_ctld() {
	local name=$1 dir=$2 c pid
	params "$name" >/dev/null
	c=$(cdir "$dir" "$name")
	[[ -f $c/slurm.conf ]] || die "stop-ctld: no cluster $name under $dir"
	if pid=$(pid_from "$c/slurmctld.pid" "$c/"); then
		stop_pid "$pid" "slurmctld of $name"
	fi
}

cmd_start_ctld() {
	local name=$1 dir=$2 c i
	params "$name" >/dev/null
	c=$(cdir "$dir" "$name")
	[[ -f $c/slurm.conf ]] || die "start-ctld: no cluster $name under $dir"
	start_munged "$c"
	start_ctld "$c" "$name"
	for ((i = 0; i < 200; i++)); do
		SLURM_CONF=$c/slurm.conf sinfo -h -o %T >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	die "start-ctld: slurmctld of $name does not answer: $(tail -20 "$c/slurmctld.log")"
}

cmd_status() {
	local dir=$1 name
	for name in "${CLUSTERS[@]}"; do
		printf '%s: ' "$name"
		SLURM_CONF=$(cdir "$dir" "$name")/slurm.conf sinfo -h -o '%P %T %c' 2>&1 || true
	done
}

main() {
	local cmd=${1:-}
	shift || true
	case $cmd in
	install) cmd_install ;;
	up) cmd_up "${1:-/tmp/tuplebroker-schedulers}" ;;
	down) cmd_down "${1:-/tmp/tuplebroker-schedulers}" ;;
	stop-ctld)
		[[ $# -ge 1 ]] || usage
		cmd_stop_ctld "$1" "${2:-/tmp/tuplebroker-schedulers}"
		;;
	start-ctld)
		[[ $# -ge 1 ]] || usage
		cmd_start_ctld "$1" "${2:-/tmp/tuplebroker-schedulers}"
		;;
	status) cmd_status "${1:-/tmp/tuplebroker-schedulers}" ;;
	*) usage ;;
	esac
}

main "$@"
