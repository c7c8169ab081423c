#!/usr/bin/env bash
# A real single-node Slurm on this machine, for tests of `snakemake --profile slurm`.
#
#   tests/slurm/local_cluster.sh start    install slurm-wlm + munge (apt) if missing, write
#                                         slurm.conf, start munged, slurmctld, slurmd
#   tests/slurm/local_cluster.sh stop     stop the daemons this script started (by recorded PID)
#                                         and remove the slurm.conf it wrote
#   tests/slurm/local_cluster.sh status   daemons alive? + sinfo
#
# Needs root (apt, /etc/slurm, daemons); exits 3 when Slurm is missing and cannot be installed
# (not root, no apt-get), 1 on any other failure. No systemd: the daemons run in the foreground
# under setsid and their PIDs are recorded in $STATE/*.pid. State, spool and daemon logs live in
# $STATE (default /tmp/cosmoflow-slurm). /etc/slurm/slurm.conf is written only when absent or
# written by this script before (marker line); a foreign slurm.conf makes `start` refuse.
# Facts behind the settings: ../shared/specs/slurm.md (MinJobAge >= 3 x the executor plugin's
# init-seconds-before-status-checks, or it silently falls back to sacct; no cgroups here).
set -euo pipefail

STATE=${COSMOFLOW_SLURM_STATE:-/tmp/cosmoflow-slurm}
CONF=/etc/slurm/slurm.conf
MARKER="# written by cosmoflow tests/slurm/local_cluster.sh"
PARTITION=${COSMOFLOW_SLURM_PARTITION:-debug}
# The partition's MaxTime: finite like a real cluster's, >= the training rule's 720 min.
MAXTIME=${COSMOFLOW_SLURM_LOCAL_MAXTIME:-12:00:00}
DAEMONS=(munged slurmctld slurmd)

log() { echo "local_cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }
cannot_install() { log "cannot install Slurm here: $*"; exit 3; }  # exit 3: tests skip

wait_apt_lock() {
    # Other processes (unattended upgrades, other helpers) may hold the dpkg/apt locks.
    local i
    for i in $(seq 1 180); do
        local busy=no p
        for p in apt apt-get dpkg unattended-upgr; do
            pgrep -x "$p" >/dev/null && busy=yes
        done
        [ "$busy" = no ] && return 0
        [ "$i" = 1 ] && log "waiting for the apt/dpkg lock"
        sleep 2
    done
    die "apt/dpkg lock still held after 6 minutes"
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
            && command -v munged >/dev/null && command -v srun >/dev/null; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || cannot_install "slurm-wlm/munge missing and not root (apt-get needs root)"
    command -v apt-get >/dev/null || cannot_install "slurm-wlm/munge missing and no apt-get"
    log "installing slurm-wlm munge (apt)"
    export DEBIAN_FRONTEND=noninteractive
    wait_apt_lock
    # -o DPkg::Lock::Timeout: apt itself waits for the lock instead of failing
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    wait_apt_lock
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
        slurm-wlm munge >/dev/null
}

alive() {  # alive NAME -> 0 when the recorded PID runs
    local f="$STATE/$1.pid"
    [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

write_conf() {
    local host cpus free_mb mem
    host=$(hostname -s)
    cpus=$(nproc)
    free_mb=$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
    mem=$(( free_mb * 8 / 10 ))       # RealMemory below what is free: the node stays IDLE
    [ "$mem" -ge 512 ] || die "only ${free_mb} MB free memory"
    if [ -e "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
        die "$CONF exists and was not written by this script: a real Slurm is configured here; refusing"
    fi
    mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" "$STATE/log"
    chmod 755 "$STATE"
    cat > "$CONF" <<EOF
$MARKER
# single-node test cluster; state in $STATE
ClusterName=cosmoflow-local
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.daemon.pid
SlurmdPidFile=$STATE/slurmd.daemon.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
# no cgroups in this container
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
SchedulerType=sched/backfill
ReturnToService=2
# finished jobs stay visible to squeue/scontrol for an hour: the executor plugin's status
# checks need >= 3 x its init seconds, the tests read every job of a ~10 min run afterwards
MinJobAge=3600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=10
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=$MAXTIME State=UP OverSubscribe=NO
EOF
    log "wrote $CONF (node $host, CPUs=$cpus, RealMemory=$mem MB, partition $PARTITION, MaxTime $MAXTIME)"
}

start_munge() {
    if alive munged; then return 0; fi
    if [ ! -s /etc/munge/munge.key ]; then
        if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null
        else dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
    fi
    chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 0755 /run/munge
    if pgrep -x munged >/dev/null; then
        log "munged already running (not ours): using it"
        return 0
    fi
    # setpriv execs (no fork): the recorded PID is munged's own
    setsid setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground >"$STATE/log/munged.out" 2>&1 &
    echo $! > "$STATE/munged.pid"
    local i
    for i in $(seq 1 50); do
        if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    die "munged did not come up (see $STATE/log/munged.out)"
}

start_daemon() {  # start_daemon NAME ARGS...
    local name=$1; shift
    if alive "$name"; then return 0; fi
    setsid "$name" -D "$@" >"$STATE/log/$name.out" 2>&1 &
    echo $! > "$STATE/$name.pid"
}

wait_idle() {
    local i state
    for i in $(seq 1 60); do
        state=$(sinfo -h -o %T 2>/dev/null | head -n1 || true)
        case "$state" in
            idle*|mixed*|allocated*) log "node $state: cluster up"; return 0 ;;
        esac
        sleep 0.5
    done
    die "node not idle after 30 s (state '${state:-?}'); see $STATE/log/"
}

cmd_start() {
    [ "$(id -u)" = 0 ] || cannot_install "not root: cannot write $CONF or start the daemons"
    install_packages
    write_conf
    start_munge
    if alive slurmctld; then
        # already up (an earlier start): make it read the conf just written
        scontrol reconfigure >/dev/null 2>&1 || log "scontrol reconfigure failed"
    fi
    start_daemon slurmctld -f "$CONF"
    # let slurmctld bind its port before slurmd registers
    for _ in $(seq 1 40); do scontrol ping >/dev/null 2>&1 && break; sleep 0.25; done
    start_daemon slurmd -f "$CONF" -N "$(hostname -s)"
    wait_idle
    scontrol update NodeName="$(hostname -s)" State=RESUME >/dev/null 2>&1 || true
}

cmd_stop() {
    local name pid i
    for name in slurmd slurmctld munged; do
        [ -s "$STATE/$name.pid" ] || continue
        pid=$(cat "$STATE/$name.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            if kill -0 "$pid" 2>/dev/null; then
                log "$name (pid $pid) ignored SIGTERM: SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
        rm -f "$STATE/$name.pid"
        log "stopped $name (pid $pid)"
    done
    # Leave no slurm.conf of ours behind: with a conf and no slurmctld every Slurm client call
    # waits for the controller (scontrol ~9 s), and every `snakemake` start, local runs included,
    # calls `scontrol show config` (the Slurm executor plugin, at import); without a conf it
    # fails at once, as on a machine without Slurm.
    if [ -e "$CONF" ] && grep -qF "$MARKER" "$CONF"; then
        rm -f "$CONF"
        log "removed $CONF"
    fi
}

cmd_status() {
    local name rc=0
    for name in "${DAEMONS[@]}"; do
        if alive "$name"; then echo "$name: running (pid $(cat "$STATE/$name.pid"))"
        else echo "$name: stopped"; rc=1; fi
    done
    [ "$rc" = 0 ] && sinfo
    return $rc
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
