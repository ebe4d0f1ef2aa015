#!/usr/bin/env bash
# Grid Engine (Debian 12 gridengine 8.1.9) for the tuplebroker tests: one
# cell on this machine, daemons started directly (no init system).
#
#   gridengine.sh install              apt-get install the packages if missing
#   gridengine.sh up [DIR]             fresh cell under DIR, daemons up, a job
#                                      ran; writes DIR/gridengine.env
#   gridengine.sh down [DIR]           stop the daemons (and their jobs)
#   gridengine.sh stop-qmaster [DIR]   stop sge_qmaster only (state kept)
#   gridengine.sh start-qmaster [DIR]  start it again, wait until it answers
#
# DIR defaults to /tmp/tuplebroker-schedulers. The cell "tuplebroker" lives in
# DIR/gridengine/cell and is reached as $SGE_ROOT/tuplebroker (a symlink), so
# SGE_ROOT stays the Debian one (/var/lib/gridengine) with its utilbin, while
# every file of the cell (configuration, spool, accounting, logs) is under DIR.
# Ports: TUPLEBROKER_SGE_QMASTER_PORT / TUPLEBROKER_SGE_EXECD_PORT if set in
# the environment, else 6444 / 6445. Both daemons listen on all addresses
# (Grid Engine has no loopback-only option).
set -euo pipefail

SGE_ROOT=/var/lib/gridengine
CELL=tuplebroker
QUEUE=tuplebroker.q
PE=smp
SLOTS=${TUPLEBROKER_SGE_SLOTS:-4}
QPORT=${TUPLEBROKER_SGE_QMASTER_PORT:-6444}
EPORT=${TUPLEBROKER_SGE_EXECD_PORT:-6445}
PACKAGES=(gridengine-common gridengine-master gridengine-exec gridengine-client)

die() {
	echo "gridengine.sh: $*" >&2
	exit 1
}

# setdir DIR: the state paths.
setdir() {
	DIR=${1:-/tmp/tuplebroker-schedulers}
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd -P)
	GE=$DIR/gridengine
	CELLDIR=$GE/cell
	COMMON=$CELLDIR/common
	SPOOLDB=$GE/spooldb
	QSPOOL=$GE/qmaster
	ESPOOL=$GE/execd
	ENVFILE=$DIR/gridengine.env
	HOST=$(hostname)
}

sgeenv() {
	export SGE_ROOT SGE_CELL=$CELL SGE_QMASTER_PORT=$QPORT SGE_EXECD_PORT=$EPORT
	unset SGE_DEBUG_LEVEL SGE_ND
	# The binaries themselves: /usr/bin has wrapper scripts costing ~0.1 s
	# a call.
	PATH=/usr/lib/gridengine:$PATH
}

cmd_install() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
			missing+=("$p")
		fi
	done
	if [ ${#missing[@]} -eq 0 ]; then
		return 0
	fi
	local host t0
	host=$(hostname)
	t0=$(date +%s.%N)
	# The master's postinst initialises a "default" cell from these answers;
	# the tests use their own cell (see up), but the answers keep apt quiet.
	for p in gridengine-common gridengine-master gridengine-client gridengine-exec; do
		printf '%s shared/gridenginemaster string %s\n%s shared/gridenginecell string default\n%s shared/gridengineconfig boolean true\n' \
			"$p" "$host" "$p" "$p"
	done | debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-cache show gridengine-master >/dev/null 2>&1; then
		apt-get update -q >/dev/null
	fi
	local log
	log=$(mktemp)
	if ! apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		rm -f "$log"
		die "apt-get install failed"
	fi
	rm -f "$log"
	echo "gridengine: installed in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
}

# alive PID: the process exists and is not a zombie. PID 1 reaps slowly
# here, so kill -0 is not enough.
alive() {
	local st
	[ -n "$1" ] || return 1
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ] && [ "${st%% *}" != X ]
}

# waitgone SECONDS PID...: wait until every PID is gone; false on timeout.
waitgone() {
	local limit=$1 p left
	shift
	local end=$((SECONDS + limit))
	while :; do
		left=0
		for p in "$@"; do
			if alive "$p"; then left=1; fi
		done
		[ $left -eq 0 ] && return 0
		[ $SECONDS -ge $end ] && return 1
		sleep 0.1
	done
}

# pidof_file FILE NAME: the pid in FILE if that process is NAME.
pid_of() {
	local f=$1 name=$2 pid comm
	[ -r "$f" ] || return 1
	pid=$(tr -dc '0-9' <"$f")
	[ -n "$pid" ] || return 1
	alive "$pid" || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[ "$comm" = "$name" ] || return 1
	echo "$pid"
}

qmaster_pid() { pid_of "$QSPOOL/qmaster.pid" sge_qmaster; }
# The execd names its spool directory after the name it resolves itself to
# ("localhost" here), not necessarily $HOST.
execd_pid() {
	local f
	for f in "$ESPOOL"/*/execd.pid; do
		pid_of "$f" sge_execd && return 0
	done
	return 1
}

# descendants PID: every live descendant of PID (shepherds and jobs).
descendants() {
	ps -e -o pid= -o ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END {
			n = split(kids[root], queue, " ")
			for (i = 1; i <= n; i++) {
				out = out " " queue[i]
				m = split(kids[queue[i]], more, " ")
				for (j = 1; j <= m; j++) queue[++n] = more[j]
			}
			print out
		}'
}

# stop_qmaster [GRACE]: SIGTERM, then SIGKILL after GRACE seconds (default
# 30: sge_qmaster takes about 7 s to stop on SIGTERM, and then restarts with
# its state intact).
stop_qmaster() {
	local pid grace=${1:-30}
	pid=$(qmaster_pid) || return 0
	kill -TERM "$pid" 2>/dev/null || true
	if ! waitgone "$grace" "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		waitgone 10 "$pid" || die "sge_qmaster $pid does not stop"
	fi
}

stop_execd() {
	local pid kids
	pid=$(execd_pid) || return 0
	kids=$(descendants "$pid")
	kill -TERM "$pid" 2>/dev/null || true
	if ! waitgone 10 "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		waitgone 10 "$pid" || die "sge_execd $pid does not stop"
	fi
	# Jobs and their shepherds outlive the execd: they belong to the cell.
	if [ -n "$kids" ]; then
		# shellcheck disable=SC2086
		kill -KILL $kids 2>/dev/null || true
		# shellcheck disable=SC2086
		waitgone 10 $kids || true
	fi
}

start_qmaster() {
	sgeenv
	qmaster_pid >/dev/null && return 0
	sge_qmaster || die "sge_qmaster did not start: $(tail -n 20 "$QSPOOL/messages" 2>/dev/null)"
	local end=$((SECONDS + 30))
	until qstat -f >/dev/null 2>&1; do
		if [ $SECONDS -ge $end ]; then
			echo "--- $QSPOOL/messages" >&2
			tail -n 30 "$QSPOOL/messages" >&2 2>/dev/null || true
			die "sge_qmaster does not answer on port $QPORT after 30 s"
		fi
		sleep 0.1
	done
}

# qconf_file OPTION NAME CONTENT: qconf -A*/-M* from a file named NAME (qconf
# takes an object's name from some files' name).
qconf_file() {
	local tmp out
	tmp=$(mktemp -d)
	printf '%s\n' "$3" >"$tmp/$2"
	if ! out=$(qconf "$1" "$tmp/$2" 2>&1); then
		rm -rf "$tmp"
		die "qconf $1 $2: $out"
	fi
	rm -rf "$tmp"
}

cmd_up() {
	setdir "${1:-}"
	[ -x /usr/lib/gridengine/sge_qmaster ] || die "Grid Engine is not installed: run $0 install"
	local t0
	t0=$(date +%s.%N)
	cmd_down "$DIR" >/dev/null
	rm -rf "$GE"
	mkdir -p "$COMMON" "$SPOOLDB" "$QSPOOL/job_scripts" "$ESPOOL"
	ln -sfn "$CELLDIR" "$SGE_ROOT/$CELL"
	sgeenv

	# Cell files. admin_user none: the daemons stay root (jobs run as root).
	cat >"$COMMON/bootstrap" <<EOF
# Version: 6.2
admin_user              none
default_domain          none
ignore_fqdn             true
spooling_method         berkeleydb
spooling_lib            libspoolb
spooling_params         $SPOOLDB
binary_path             /usr/sbin
qmaster_spool_dir       $QSPOOL
security_mode           none
listener_threads        2
worker_threads          2
scheduler_threads       1
EOF
	echo "$HOST" >"$COMMON/act_qmaster"
	echo "$CELL" >"$COMMON/cluster_name"
	# 127.0.0.1 reverse-resolves to "localhost" here while the host is named
	# otherwise; commlib refuses such clients unless both names are aliases.
	if [ "$HOST" != localhost ]; then
		echo "$HOST localhost" >"$COMMON/host_aliases"
	fi
	cat >"$COMMON/settings.sh" <<EOF
SGE_ROOT=$SGE_ROOT; export SGE_ROOT
SGE_CELL=$CELL; export SGE_CELL
SGE_QMASTER_PORT=$QPORT; export SGE_QMASTER_PORT
SGE_EXECD_PORT=$EPORT; export SGE_EXECD_PORT
EOF
	sed -e "s|^execd_spool_dir .*|execd_spool_dir        $ESPOOL|" \
		-e 's|^min_uid .*|min_uid                0|' \
		-e 's|^min_gid .*|min_gid                0|' \
		-e 's|^mailer .*|mailer                 /bin/true|' \
		-e 's|^load_report_time .*|load_report_time       00:00:05|' \
		-e 's|^reporting_params .*|reporting_params       accounting=true reporting=false flush_time=00:00:15 accounting_flush_time=00:00:00 joblog=false sharelog=00:00:00|' \
		-e 's|^finished_jobs .*|finished_jobs          1000|' \
		/usr/share/gridengine/default-configuration >"$GE/global"
	# The stock complexes plus "exclusive" (relop EXCL): -l exclusive=true
	# gets a host to itself.
	cp -r /usr/share/gridengine/util/resources/centry "$GE/centry"
	cat >"$GE/centry/exclusive" <<EOF
name        exclusive
shortcut    excl
type        BOOL
relop       EXCL
requestable YES
consumable  YES
default     0
urgency     1000
EOF
	local log=$GE/init.log
	{
		/usr/lib/gridengine/spoolinit berkeleydb libspoolb "$SPOOLDB" init &&
			/usr/lib/gridengine/spooldefaults configuration "$GE/global" &&
			/usr/lib/gridengine/spooldefaults complexes "$GE/centry" &&
			/usr/lib/gridengine/spooldefaults usersets /usr/share/gridengine/util/resources/usersets &&
			/usr/lib/gridengine/spooldefaults managers root
	} >"$log" 2>&1 || {
		cat "$log" >&2
		die "cell initialisation failed"
	}

	start_qmaster

	qconf -as "$HOST" >/dev/null 2>&1 || die "qconf -as $HOST failed"
	qconf_file -Ae "$HOST" "hostname              $HOST
load_scaling          NONE
complex_values        exclusive=true
user_lists            NONE
xuser_lists           NONE
projects              NONE
xprojects             NONE
usage_scaling         NONE
report_variables      NONE"
	qconf_file -Ahgrp @allhosts "group_name @allhosts
hostlist $HOST"
	qconf_file -Ap "$PE" "pe_name            $PE
slots              9999
user_lists         NONE
xuser_lists        NONE
start_proc_args    NONE
stop_proc_args     NONE
allocation_rule    \$pe_slots
control_slaves     FALSE
job_is_first_task  TRUE
urgency_slots      min
accounting_summary FALSE
qsort_args         NONE"
	local qtmp out
	qtmp=$(mktemp -d)
	cat >"$qtmp/$QUEUE" <<EOF
qname                 $QUEUE
hostlist              @allhosts
seq_no                0
load_thresholds       NONE
suspend_thresholds    NONE
nsuspend              1
suspend_interval      00:05:00
priority              0
min_cpu_interval      00:05:00
processors            UNDEFINED
qtype                 BATCH INTERACTIVE
ckpt_list             NONE
pe_list               $PE
rerun                 FALSE
slots                 $SLOTS
tmpdir                /tmp
shell                 /bin/sh
prolog                NONE
epilog                NONE
shell_start_mode      posix_compliant
starter_method        NONE
suspend_method        NONE
resume_method         NONE
terminate_method      NONE
notify                00:00:60
owner_list            NONE
user_lists            NONE
xuser_lists           NONE
subordinate_list      NONE
complex_values        NONE
projects              NONE
xprojects             NONE
calendar              NONE
initial_state         default
s_rt                  INFINITY
h_rt                  INFINITY
s_cpu                 INFINITY
h_cpu                 INFINITY
s_fsize               INFINITY
h_fsize               INFINITY
s_data                INFINITY
h_data                INFINITY
s_stack               INFINITY
h_stack               INFINITY
s_core                INFINITY
h_core                INFINITY
s_rss                 INFINITY
h_rss                 INFINITY
s_vmem                INFINITY
h_vmem                INFINITY
EOF
	if ! out=$(qconf -Aq "$qtmp/$QUEUE" 2>&1); then
		rm -rf "$qtmp"
		die "qconf -Aq: $out"
	fi
	rm -rf "$qtmp"
	# Schedule every second instead of every 15 s.
	qconf -ssconf | sed -e 's|^schedule_interval .*|schedule_interval                 0:0:1|' \
		-e 's|^flush_submit_sec .*|flush_submit_sec                  0|' \
		-e 's|^flush_finish_sec .*|flush_finish_sec                  0|' >"$GE/sconf"
	out=$(qconf -Msconf "$GE/sconf" 2>&1) || die "qconf -Msconf: $out"

	sge_execd || die "sge_execd did not start"

	# Ready when a trivial job has run.
	local jid end=$((SECONDS + 60))
	jid=$(cd "$GE" && qsub -terse -N tuplebroker-ready -q "$QUEUE" -o /dev/null -e /dev/null -b y /bin/true 2>&1) ||
		die "test job submission failed: $jid"
	until qacct -j "$jid" >/dev/null 2>&1; do
		if [ $SECONDS -ge $end ]; then
			echo "--- qstat -f" >&2
			qstat -f >&2 || true
			echo "--- $QSPOOL/messages" >&2
			tail -n 30 "$QSPOOL/messages" >&2 2>/dev/null || true
			echo "--- $ESPOOL/$HOST/messages" >&2
			tail -n 30 "$ESPOOL/$HOST/messages" >&2 2>/dev/null || true
			die "test job $jid did not run within 60 s"
		fi
		sleep 0.1
	done

	cat >"$ENVFILE" <<EOF
export TUPLEBROKER_SGE_ROOT=$SGE_ROOT
export TUPLEBROKER_SGE_CELL=$CELL
export TUPLEBROKER_SGE_QMASTER_PORT=$QPORT
export TUPLEBROKER_SGE_EXECD_PORT=$EPORT
export TUPLEBROKER_SGE_QUEUE=$QUEUE
export TUPLEBROKER_SGE_PE=$PE
export TUPLEBROKER_SGE_SLOTS=$SLOTS
export TUPLEBROKER_SGE_DIR=$DIR
EOF
	echo "gridengine: cell $CELL up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s (qmaster port $QPORT, execd port $EPORT, queue $QUEUE, $SLOTS slots); env in $ENVFILE"
}

cmd_down() {
	setdir "${1:-}"
	stop_execd
	# The next up starts afresh: no need to wait for a clean shutdown.
	stop_qmaster 1
	rm -f "$ENVFILE"
	echo "gridengine: down"
}

case "${1:-}" in
install) cmd_install ;;
up) cmd_up "${2:-}" ;;
down) cmd_down "${2:-}" ;;
stop-qmaster)
	setdir "${2:-}"
	stop_qmaster
	;;
start-qmaster)
	setdir "${2:-}"
	[ -d "$QSPOOL" ] || die "no cell under $DIR: run $0 up $DIR"
	start_qmaster
	;;
*)
	echo "usage: $0 install | up [DIR] | down [DIR] | stop-qmaster [DIR] | start-qmaster [DIR]" >&2
	exit 2
	;;
esac
