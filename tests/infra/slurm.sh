#!/usr/bin/env bash
# Bring up (or down) a real, single-host Slurm cluster for nemorun's integration tests.
#
#   tests/infra/slurm.sh start [--no-accounting]   # idempotent; installs packages if missing
#   tests/infra/slurm.sh status                    # exit 0 if the cluster is up and healthy
#   tests/infra/slurm.sh stop                      # stops everything this script started
#
# Run as root (Debian 12, no systemd needed: every daemon is started directly).
#
# Ownership: after each start this script writes $NEMORUN_SLURM_DIR/mark (a token, the pid of
# the slurmctld it started, the config path and its sha256). start (which may restart) and stop
# act only on a Slurm that mark describes; any other Slurm on this host (a config in /etc/slurm
# this script did not write, a daemon it did not start) makes them refuse, exit 3, touching
# nothing. The tests read the same mark and skip without it (tests/conftest.py).
#
# The cluster: partition `debug` (default) with nodes node1 and node2, both emulated on this
# host (one `slurmd -N nodeN` each, NodeAddr=127.0.0.1, ports 17001/17002), 4 CPUs each (more
# than the host may have: SlurmdParameters=config_overrides) and 2 fake GPUs each
# (gres gpu:a100:2, character devices /dev/fakegpu0..3). With accounting (the default) a private
# MariaDB on 127.0.0.1:3307 and slurmdbd on 127.0.0.1:6819 back `sacct`; `--no-accounting` uses
# AccountingStorageType=accounting_storage/none instead. Switch modes with stop, then start
# (start in the other mode while the cluster runs restarts it in the requested mode).
#
# Everything (generated configs, spool, logs, pid files, database) lives under
# $NEMORUN_SLURM_DIR (default /var/tmp/nemorun-slurm). The configs are copied to /etc/slurm,
# the Debian default path, so plain `sbatch`/`sacct` work for every user without SLURM_CONF.
#
# Environment knobs:
#   NEMORUN_SLURM_DIR      state directory (default /var/tmp/nemorun-slurm)
#   NEMORUN_SLURM_TIMEOUT  seconds to wait for each readiness step (default 60)
set -euo pipefail

# Client calls made by this script must use /etc/slurm, even when called from inside a job:
# drop SLURM_CONF and every other SLURM_* variable of the caller.
for _var in "${!SLURM_@}"; do unset "$_var"; done
unset _var
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

STATE_DIR=${NEMORUN_SLURM_DIR:-/var/tmp/nemorun-slurm}
TIMEOUT=${NEMORUN_SLURM_TIMEOUT:-60}

readonly CLUSTER_NAME=nemorun
readonly PARTITION=debug
readonly NODES=(node1 node2)
readonly NODE_PORTS=(17001 17002)
readonly NODE_CPUS=4
readonly GPUS_PER_NODE=2
readonly GPU_TYPE=a100
readonly CTLD_PORT=6817
readonly DBD_PORT=6819
readonly DB_PORT=3307
readonly DB_NAME=slurm_acct_db
readonly SLURM_ETC=/etc/slurm
readonly APT_PACKAGES=(munge slurm-wlm slurmctld slurmd slurm-client slurmdbd mariadb-server)

ETC_DIR=$STATE_DIR/etc       # generated configs (the source of the /etc/slurm copies)
RUN_DIR=$STATE_DIR/run       # pid files of the Slurm daemons
LOG_DIR=$STATE_DIR/log
SPOOL_DIR=$STATE_DIR/spool   # slurmctld state and one slurmd spool dir per node
MUNGE_DIR=$STATE_DIR/munge   # owned by the munge user: munged writes its pid and log files there
DB_DIR=$STATE_DIR/mysql      # owned by the mysql user: datadir, socket, pid file
MODE_FILE=$STATE_DIR/mode    # "accounting" or "none": the mode of the last start
MARK=$STATE_DIR/mark         # written after a start: what proves the cluster is ours

# Daemons get a clean environment: nothing from a calling test (SLURM_*, a venv, ...) leaks in.
readonly DAEMON_ENV=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)

# ---------------------------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------------------------

log() { printf '[slurm.sh] %s\n' "$*" >&2; }

log_files() {
  local f
  for f in "$MUNGE_DIR/munged.log" "$LOG_DIR"/{mariadbd,slurmdbd,slurmctld,slurmd-*}.log \
    "$LOG_DIR/daemons.out"; do
    [[ -f $f ]] && echo "$f"
  done
  return 0
}

# Remember each log's size, so that a failure shows only what this run wrote. Before this is
# called (argument errors, ...) a failure shows no logs.
declare -A LOG_MARK=()
LOGS_MARKED=
mark_logs() {
  local f
  LOGS_MARKED=1
  while read -r f; do LOG_MARK[$f]=$(stat -c %s "$f"); done < <(log_files)
}

# Print the tail of what each daemon logged during this run, to explain a failure.
show_logs() {
  local f
  [[ -n $LOGS_MARKED && -d $LOG_DIR ]] || return 0
  while read -r f; do
    [[ $(stat -c %s "$f") -gt ${LOG_MARK[$f]:-0} ]] || continue
    printf '\n----- last lines of %s -----\n' "$f" >&2
    tail -c +"$((${LOG_MARK[$f]:-0} + 1))" "$f" | tail -n 15 >&2 || true
  done < <(log_files)
}

die() {
  printf '[slurm.sh] ERROR: %s\n' "$*" >&2
  show_logs
  exit 1
}

usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
}

# refuse ACTION REASON: leave a Slurm this script did not start alone (exit 3, nothing touched).
refuse() {
  printf '[slurm.sh] refusing to %s: %s. This script starts, restarts and stops only the Slurm\n' \
    "$1" "$2" >&2
  printf '[slurm.sh] it started itself (described by %s); it leaves this one alone.\n' "$MARK" >&2
  exit 3
}

# ---------------------------------------------------------------------------------------------
# Process helpers. PID 1 here reaps orphans late and PIDs wrap (pid_max 32768), so a pid file
# is trusted only if the process exists, has the expected name and is not a zombie.
# ---------------------------------------------------------------------------------------------

# pid_alive PID [COMM]: true if PID runs (not a zombie) and /proc/PID/comm is COMM (if given).
pid_alive() {
  local pid=$1 comm=${2:-} stat
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -z $comm || $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }            # fields after "(comm) "; the first one is the state
  [[ ${stat:0:1} != Z ]]
}

# pidfile_alive FILE COMM: prints the pid and succeeds if FILE names a live COMM process.
pidfile_alive() {
  local file=$1 comm=$2 pid
  [[ -r $file ]] || return 1
  pid=$(tr -dc '0-9' <"$file")
  pid_alive "$pid" "$comm" || return 1
  echo "$pid"
}

# stop_pidfile FILE COMM: TERM the process, wait up to 10 s, then KILL. Removes FILE.
stop_pidfile() {
  local file=$1 comm=$2 pid i
  if pid=$(pidfile_alive "$file" "$comm"); then
    log "stopping $comm (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      pid_alive "$pid" "$comm" || break
      sleep 0.1
    done
    if pid_alive "$pid" "$comm"; then
      log "$comm (pid $pid) ignored SIGTERM for 10 s: sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "$file"
}

# running_pids COMM: pids of live (non-zombie) processes named COMM.
running_pids() {
  local comm=$1 pid out=()
  for pid in $(pgrep -x "$comm" || true); do
    pid_alive "$pid" "$comm" && out+=("$pid")
  done
  echo "${out[*]}"
}

# launch COMMAND...: run a daemon's start command with a clean environment, no stdio of ours
# and without fd 9 (the start/stop lock: a daemon inheriting it would hold the lock forever).
launch() {
  "${DAEMON_ENV[@]}" "$@" </dev/null >>"$LOG_DIR/daemons.out" 2>&1 9>&-
}

# elapsed T0: seconds since T0 (an $EPOCHREALTIME value), one decimal.
elapsed() {
  local now=${EPOCHREALTIME//[.,]/} t0=${1//[.,]/} d  # microseconds (the separator is locale's)
  d=$(((now - t0) / 100000))
  echo "$((d / 10)).$((d % 10))"
}

# Fail fast if a daemon started by this run has died (rather than waiting for a timeout): pid
# files are removed before each launch, so an existing pid file of a dead process means a crash.
MARIADB_PID=  # mariadbd is our child (it does not daemonize) and may die before its pid file
assert_daemons_alive() {
  local entry file comm
  for entry in "$MUNGE_DIR/munged.pid:munged" "$DB_DIR/mariadbd.pid:mariadbd" \
    "$RUN_DIR/slurmdbd.pid:slurmdbd" "$RUN_DIR/slurmctld.pid:slurmctld" \
    "$RUN_DIR"/slurmd-*.pid; do
    file=${entry%:*}
    comm=${entry##*:}
    [[ $entry == *:* ]] || comm=slurmd
    [[ -e $file ]] || continue
    pidfile_alive "$file" "$comm" >/dev/null ||
      die "$comm exited during start-up (pid file $file)"
  done
  # (No name check: until its exec the child is still called env or setsid.)
  if [[ -n $MARIADB_PID ]] && ! pid_alive "$MARIADB_PID"; then
    die "mariadbd exited during start-up"
  fi
}

# wait_for DESCRIPTION COMMAND...: poll COMMAND (quietly) until it succeeds or TIMEOUT passes.
wait_for() {
  local what=$1 deadline
  shift
  deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    assert_daemons_alive
    ((SECONDS < deadline)) || die "timed out after ${TIMEOUT}s waiting for $what"
    sleep 0.1
  done
}

# ---------------------------------------------------------------------------------------------
# Machine preparation
# ---------------------------------------------------------------------------------------------

ensure_packages() {
  local bin missing=()
  for bin in munged munge unmunge slurmctld slurmd slurmdbd sbatch sacct sacctmgr \
    mariadbd mariadb mariadb-install-db mariadb-admin; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing Slurm, munge and MariaDB from apt (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >"$LOG_DIR/apt.log" 2>&1 || die "apt-get update failed (see $LOG_DIR/apt.log)"
  apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "${APT_PACKAGES[@]}" \
    >>"$LOG_DIR/apt.log" 2>&1 || die "apt-get install failed (see $LOG_DIR/apt.log)"
}

make_dirs() {
  mkdir -p "$ETC_DIR" "$RUN_DIR" "$LOG_DIR" "$SPOOL_DIR/ctld" "$MUNGE_DIR" "$DB_DIR"
  local node
  for node in "${NODES[@]}"; do mkdir -p "$SPOOL_DIR/$node"; done
  chmod 755 "$STATE_DIR"   # munge and mysql users must traverse it
  chmod 700 "$ETC_DIR"     # holds the database password
}

# Append "127.0.0.1 name" to /etc/hosts for every name that is missing. Only appends: in
# containers /etc/hosts is often a bind mount that cannot be replaced (sed -i would fail).
ensure_hosts() {
  local name missing=()
  for name in "$(hostname -s)" "${NODES[@]}"; do
    awk -v n="$name" '!/^[[:space:]]*#/ { for (i = 2; i <= NF; i++) if ($i == n) f = 1 }
                      END { exit !f }' /etc/hosts || missing+=("$name")
  done
  ((${#missing[@]} == 0)) && return 0
  log "adding ${missing[*]} to /etc/hosts"
  printf '127.0.0.1 %s # nemorun-slurm\n' "${missing[*]}" >>/etc/hosts
}

# Fake GPUs: gres File= entries must be character devices (regular files are rejected).
# 1,3 is /dev/null's device number, so "using" a GPU is harmless.
ensure_fake_gpus() {
  local i dev
  for ((i = 0; i < ${#NODES[@]} * GPUS_PER_NODE; i++)); do
    dev=/dev/fakegpu$i
    [[ -c $dev ]] && continue
    rm -f "$dev"
    mknod -m 666 "$dev" c 1 3 || die "cannot create fake GPU device $dev (mknod)"
  done
}

ensure_munge_key() {
  [[ -s /etc/munge/munge.key ]] && return 0
  log "creating /etc/munge/munge.key"
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
}

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------

# RealMemory must not exceed what `slurmd -C` sees, or the node is marked invalid: use 90 %.
real_memory_mb() {
  local mem
  mem=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n 1)
  if [[ -z $mem ]]; then
    mem=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
  fi
  echo $((mem * 9 / 10))
}

db_password() {
  local file=$ETC_DIR/dbpass
  if [[ ! -s $file ]]; then
    (umask 077 && head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$file")
  fi
  cat "$file"
}

# write_configs MODE: generate slurm.conf, gres.conf and slurmdbd.conf into $ETC_DIR.
write_configs() {
  local mode=$1 host mem accounting node_ports gpu_last
  host=$(hostname -s)
  mem=$(real_memory_mb)
  node_ports="${NODE_PORTS[0]}-${NODE_PORTS[-1]}"
  if [[ $mode == accounting ]]; then
    accounting="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
  else
    accounting="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
  fi

  cat >"$ETC_DIR/slurm.conf" <<EOF
# Generated by nemorun tests/infra/slurm.sh ($mode mode): do not edit, it is overwritten.
ClusterName=$CLUSTER_NAME
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$SPOOL_DIR/ctld
SlurmdSpoolDir=$SPOOL_DIR/%n
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd-%n.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info

# Works in any container (no cgroup delegation needed). No CPU binding: the emulated CPUs
# (more than the host has) must not be bound to.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none

# Emulated nodes announce the CPUs/memory configured below, not the host's.
SlurmdParameters=config_overrides
# A node that was down (e.g. after stop/start) comes back as soon as its slurmd registers.
ReturnToService=2
SlurmdTimeout=60
SlurmctldTimeout=60
InactiveLimit=0
KillWait=2
# Finished jobs stay visible to scontrol/squeue-less tools for 300 s (the default).
MinJobAge=300
CompleteWait=0
JobRequeue=1
# Small on purpose: launch reads it (scontrol show config) and splits sweeps to fit.
MaxArraySize=200
MaxJobCount=20000

# Start jobs fast: the default batch_sched_delay makes each job wait for a 3-second tick
# (now jobs start on the controller's 1-second tick); sched_interval=1 re-tests pending jobs
# (dependencies, array tasks) every second instead of every 60. kill_invalid_depend is NOT set
# on purpose: a job whose dependency can never be met stays PENDING (DependencyNeverSatisfied).
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1,bf_interval=1,default_queue_depth=1000,bf_continue

# Jobs share nodes by core and memory. Without DefMemPerCPU a job without --mem takes the
# whole node's memory and jobs run one at a time.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512

$accounting
JobCompType=jobcomp/none
# No mail transport here; without this slurmctld logs "Configured MailProg is invalid".
MailProg=/bin/true

GresTypes=gpu
NodeName=node[1-${#NODES[@]}] NodeHostname=$host NodeAddr=127.0.0.1 Port=[$node_ports] CPUs=$NODE_CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$NODE_CPUS ThreadsPerCore=1 RealMemory=$mem Gres=gpu:$GPU_TYPE:$GPUS_PER_NODE State=UNKNOWN
PartitionName=$PARTITION Nodes=node[1-${#NODES[@]}] Default=YES MaxTime=INFINITE State=UP
EOF

  local i first
  : >"$ETC_DIR/gres.conf"
  echo "# Generated by nemorun tests/infra/slurm.sh: fake GPUs (character devices)." \
    >>"$ETC_DIR/gres.conf"
  for i in "${!NODES[@]}"; do
    first=$((i * GPUS_PER_NODE))
    gpu_last=$((first + GPUS_PER_NODE - 1))
    echo "NodeName=${NODES[i]} Name=gpu Type=$GPU_TYPE File=/dev/fakegpu[$first-$gpu_last]" \
      >>"$ETC_DIR/gres.conf"
  done

  (
    umask 077
    cat >"$ETC_DIR/slurmdbd.conf" <<EOF
# Generated by nemorun tests/infra/slurm.sh: do not edit, it is overwritten.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$RUN_DIR/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$(db_password)
StorageLoc=$DB_NAME
EOF
  )
}

# True if the configs in /etc/slurm are the ones just generated.
configs_installed() {
  local f
  for f in slurm.conf gres.conf slurmdbd.conf; do
    cmp -s "$ETC_DIR/$f" "$SLURM_ETC/$f" || return 1
  done
}

install_configs() {
  mkdir -p "$SLURM_ETC"
  install -m 644 "$ETC_DIR/slurm.conf" "$SLURM_ETC/slurm.conf"
  install -m 644 "$ETC_DIR/gres.conf" "$SLURM_ETC/gres.conf"
  # slurmdbd refuses a config readable by others (it holds the DB password).
  install -m 600 "$ETC_DIR/slurmdbd.conf" "$SLURM_ETC/slurmdbd.conf"
}

# ---------------------------------------------------------------------------------------------
# Daemons
# ---------------------------------------------------------------------------------------------

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

# munged on the default socket (/run/munge/munge.socket.2), which Slurm and its clients use.
# A munged that is already running and working (e.g. the system's) is reused, not managed.
start_munge() {
  if pidfile_alive "$MUNGE_DIR/munged.pid" munged >/dev/null; then
    return 0
  fi
  if munge_works; then
    log "reusing a munged not started by this script"
    return 0
  fi
  ensure_munge_key
  mkdir -p /run/munge
  chown munge:munge /run/munge "$MUNGE_DIR"
  chmod 755 /run/munge
  chmod 700 "$MUNGE_DIR"
  log "starting munged"
  rm -f "$MUNGE_DIR/munged.pid"
  launch runuser -u munge -- munged \
    --pid-file="$MUNGE_DIR/munged.pid" --log-file="$MUNGE_DIR/munged.log" ||
    die "munged failed to start"
  wait_for "munge to answer" munge_works
}

db_ping() {
  mariadb-admin --no-defaults --socket="$DB_DIR/mysqld.sock" -u root ping
}

# A private MariaDB (own datadir, 127.0.0.1:3307, socket under the state dir): it does not
# touch the Debian instance in /var/lib/mysql.
start_mariadb() {
  if pidfile_alive "$DB_DIR/mariadbd.pid" mariadbd >/dev/null; then
    return 0
  fi
  local datadir=$DB_DIR/data
  chown mysql:mysql "$DB_DIR"
  chmod 750 "$DB_DIR"
  if [[ ! -d $datadir/mysql ]]; then
    log "initialising MariaDB in $datadir"
    rm -rf "$datadir"
    mariadb-install-db --no-defaults --datadir="$datadir" --user=mysql \
      --auth-root-authentication-method=socket --skip-test-db \
      >"$LOG_DIR/mariadb-install.log" 2>&1 || die "mariadb-install-db failed"
  fi
  touch "$LOG_DIR/mariadbd.log"
  chown mysql:mysql "$LOG_DIR/mariadbd.log"
  log "starting mariadbd on 127.0.0.1:$DB_PORT"
  rm -f "$DB_DIR/mariadbd.pid"
  # mariadbd does not daemonize: run it in the background in its own session (setsid) with no
  # stdio or lock fd of ours, so neither this script nor a caller capturing its output waits
  # for it. (Not via the launch function: a backgrounded function would leave a bash parent.)
  "${DAEMON_ENV[@]}" setsid mariadbd --no-defaults --user=mysql --datadir="$datadir" \
    --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
    --socket="$DB_DIR/mysqld.sock" --pid-file="$DB_DIR/mariadbd.pid" \
    --log-error="$LOG_DIR/mariadbd.log" \
    --innodb-buffer-pool-size=512M --innodb-log-file-size=64M --innodb-lock-wait-timeout=900 \
    --innodb-flush-log-at-trx-commit=2 </dev/null >>"$LOG_DIR/daemons.out" 2>&1 9>&- &
  MARIADB_PID=$!
  wait_for "MariaDB to answer" db_ping
  # (512M buffer pool: slurmdbd logs an error below half its 1 GiB recommendation; the memory
  # is only used as the database grows.) The slurm DB user; its password lives in $ETC_DIR/dbpass (and slurmdbd.conf).
  local pw
  pw=$(db_password)
  mariadb --no-defaults --socket="$DB_DIR/mysqld.sock" -u root -e "
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pw';
    ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pw';
    GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO 'slurm'@'127.0.0.1';" \
    >>"$LOG_DIR/daemons.out" 2>&1 || die "cannot create the slurm database user"
}

dbd_answers() { sacctmgr -n -P show cluster format=cluster; }
cluster_registered() { sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER_NAME"; }
sacct_answers() { sacct -n -X -S now-1hours -o jobid; }

start_slurmdbd() {
  pidfile_alive "$RUN_DIR/slurmdbd.pid" slurmdbd >/dev/null && return 0
  log "starting slurmdbd on 127.0.0.1:$DBD_PORT"
  rm -f "$RUN_DIR/slurmdbd.pid"
  launch slurmdbd || die "slurmdbd failed to start"
  wait_for "slurmdbd to answer" dbd_answers
}

ctld_answers() { scontrol ping | grep -q 'is UP'; }

start_slurmctld() {
  pidfile_alive "$RUN_DIR/slurmctld.pid" slurmctld >/dev/null && return 0
  log "starting slurmctld"
  rm -f "$RUN_DIR/slurmctld.pid"
  # Daemonizes by itself; state (job ids, queued jobs) is recovered from StateSaveLocation.
  launch slurmctld || die "slurmctld failed to start"
  wait_for "slurmctld to answer" ctld_answers
}

start_slurmd() {
  local node=$1
  pidfile_alive "$RUN_DIR/slurmd-$node.pid" slurmd >/dev/null && return 0
  log "starting slurmd for $node"
  rm -f "$RUN_DIR/slurmd-$node.pid"
  launch slurmd -N "$node" || die "slurmd -N $node failed to start"
}

# Node states as "node state" lines, e.g. "node1 idle", "node2 idle*" (* = not responding).
node_states() { sinfo -h -N -p "$PARTITION" -o '%N %t' 2>/dev/null | sort -u; }
# "node1 idle node2 idle", or a note that sinfo got no answer.
node_states_line() {
  local line
  line=$(node_states | paste -sd ' ' -)
  echo "${line:-(no answer from sinfo)}"
}

# True if every node is up: idle, or busy with jobs (mix/alloc), and responding.
nodes_up() {
  local states node
  states=$(node_states) || return 1
  for node in "${NODES[@]}"; do
    grep -Eqx "$node (idle|mix|alloc)" <<<"$states" || return 1
  done
}

# slurmd_registered NODE SINCE: true if NODE's slurmd, started after epoch SINCE, registered.
# (A restarted slurmctld shows nodes as "unk" until then; this also rules out trusting a state
# that an old slurmd left behind.)
slurmd_registered() {
  local started
  started=$(scontrol show node "$1" 2>/dev/null | sed -n 's/.*SlurmdStartTime=\([^ ]*\).*/\1/p')
  [[ -n $started && $started != None ]] || return 1
  (($(date -d "$started" +%s 2>/dev/null || echo 0) >= $2))
}

all_registered() {
  local node
  for node in "${NODES[@]}"; do slurmd_registered "$node" "$1" || return 1; done
}

# wait_nodes_up SINCE: wait until every slurmd registered after epoch SINCE and every node is up.
# A node left drained or down by an earlier run is resumed once.
wait_nodes_up() {
  local since=$1 deadline=$((SECONDS + TIMEOUT)) node state resumed=" "
  wait_for "slurmd of ${NODES[*]} to register" all_registered "$since"
  until nodes_up; do
    assert_daemons_alive
    ((SECONDS < deadline)) || die "timed out after ${TIMEOUT}s waiting for nodes to be idle; sinfo: $(node_states_line)"
    while read -r node state; do
      if [[ $state =~ ^(drain|drng|down|fail|inval)$ && $resumed != *" $node "* ]]; then
        log "resuming $node (state $state)"
        scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true
        resumed+="$node "
      fi
    done < <(node_states)
    sleep 0.1
  done
}

# Refuse to start a Slurm daemon next to one this script does not know about: a second
# slurmctld kills the running one, and a second slurmd/slurmdbd fights for its port. Called
# once our own daemons are stopped, so any one still running is foreign.
guard_foreign_daemons() {
  local comm pids
  for comm in slurmctld slurmd slurmdbd; do
    pids=$(running_pids "$comm")
    [[ -z $pids ]] || die "a $comm not started by this script runs (pid $pids); stop it first"
  done
}

# ---------------------------------------------------------------------------------------------
# Ownership: the mark
# ---------------------------------------------------------------------------------------------

# mark_get KEY: the value of KEY in the mark (empty if there is none).
mark_get() {
  [[ -r $MARK ]] || return 0
  sed -n "s/^$1=//p" "$MARK" | head -n 1
}

installed_sha256() { sha256sum "$SLURM_ETC/slurm.conf" 2>/dev/null | cut -d ' ' -f 1; }

# our_pid PID COMM: true if one of the pid files under $RUN_DIR names PID.
our_pid() {
  local pid=$1 comm=$2 file
  case $comm in
    slurmd) set -- "$RUN_DIR"/slurmd-*.pid ;;
    *) set -- "$RUN_DIR/$comm.pid" ;;
  esac
  for file; do [[ $(pidfile_alive "$file" "$comm") == "$pid" ]] && return 0; done
  return 1
}

# assert_ours ACTION: refuse ACTION unless every Slurm daemon on this host is one we started
# and the installed slurm.conf is the one the mark describes. Without a mark (a cluster
# started before marks existed, or a first start), /etc/slurm/slurm.conf must be absent or
# byte-identical to the copy this script generated in its own state directory.
assert_ours() {
  local action=$1 conf=$SLURM_ETC/slurm.conf comm pid
  for comm in slurmctld slurmd slurmdbd; do
    for pid in $(running_pids "$comm"); do
      our_pid "$pid" "$comm" || refuse "$action" "a $comm this script did not start runs (pid $pid)"
    done
  done
  if [[ -f $MARK ]]; then
    [[ $(mark_get config) == "$conf" ]] ||
      refuse "$action" "the mark describes the config $(mark_get config), not $conf"
    [[ ! -e $conf || $(installed_sha256) == "$(mark_get config_sha256)" ]] ||
      refuse "$action" "$conf changed since this script installed it"
  elif [[ -e $conf ]] && ! cmp -s "$conf" "$ETC_DIR/slurm.conf"; then
    refuse "$action" "$conf was not written by this script (no mark $MARK)"
  elif [[ ! -e $conf ]] && timeout 10 scontrol ping >/dev/null 2>&1; then
    # No config here, yet a controller answers: a configless cluster (DNS SRV, a cached config).
    refuse "$action" "a Slurm controller answers without $conf (a configless cluster)"
  fi
}

# write_mark MODE: record what this script installed and started (atomically). Called as soon
# as the configs are installed (a start that fails later still owns them) and once slurmctld runs.
write_mark() {
  local token pid
  token=$(mark_get token)
  [[ -n $token ]] || token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  pid=$(pidfile_alive "$RUN_DIR/slurmctld.pid" slurmctld) || pid=
  cat >"$MARK.tmp" <<EOF
# Written by tests/infra/slurm.sh: it installed the config below and started this slurmctld.
# The script and the tests start, restart and stop a Slurm only while this file describes it.
token=$token
slurmctld_pid=$pid
config=$SLURM_ETC/slurm.conf
config_sha256=$(installed_sha256)
mode=$1
cluster=$CLUSTER_NAME
EOF
  mv "$MARK.tmp" "$MARK"
}

# ---------------------------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------------------------

current_mode() { cat "$MODE_FILE" 2>/dev/null || echo unknown; }

# healthy [verbose]: true if every daemon of the current mode runs and Slurm answers.
healthy() {
  local verbose=${1:-} ok=0 mode node pid
  mode=$(current_mode)
  say() { [[ -z $verbose ]] || printf '%-16s %s\n' "$1" "$2"; }
  check_pid() {  # check_pid LABEL FILE COMM
    if pid=$(pidfile_alive "$2" "$3"); then say "$1" "running (pid $pid)"; else
      say "$1" "NOT running"
      ok=1
    fi
  }
  [[ -d $STATE_DIR && $mode != unknown ]] || { say cluster "not started (no state in $STATE_DIR)"; return 1; }
  say "state dir" "$STATE_DIR"
  say mode "$mode"
  if munge_works; then say munge "working"; else
    say munge "NOT working"
    ok=1
  fi
  if [[ $mode == accounting ]]; then
    check_pid mariadbd "$DB_DIR/mariadbd.pid" mariadbd
    check_pid slurmdbd "$RUN_DIR/slurmdbd.pid" slurmdbd
  fi
  check_pid slurmctld "$RUN_DIR/slurmctld.pid" slurmctld
  for node in "${NODES[@]}"; do
    check_pid "slurmd $node" "$RUN_DIR/slurmd-$node.pid" slurmd
  done
  if nodes_up; then say nodes "$(node_states_line)"; else
    say nodes "NOT all up: $(node_states_line)"
    ok=1
  fi
  if [[ $mode == accounting ]]; then
    if sacct_answers >/dev/null 2>&1; then say sacct "answers"; else
      say sacct "NOT answering"
      ok=1
    fi
  fi
  return "$ok"
}

summary() {
  local mode=$1 secs=$2 acct
  if [[ $mode == accounting ]]; then
    acct="on (slurmdbd 127.0.0.1:$DBD_PORT, MariaDB 127.0.0.1:$DB_PORT)"
  else
    acct="off (accounting_storage/none)"
  fi
  cat <<EOF
Slurm cluster '$CLUSTER_NAME' is up ($secs)
  partition: $PARTITION (default), nodes: ${NODES[*]} ($NODE_CPUS CPUs, ${GPUS_PER_NODE}x gpu:$GPU_TYPE each)
  nodes:     $(node_states_line)
  accounting: $acct
  config:    $SLURM_ETC/slurm.conf   state/logs: $STATE_DIR
EOF
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

# Serialize start/stop (e.g. several pytest-xdist workers calling start at once).
take_lock() {
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/lock"
  flock -w 600 9 || die "could not lock $STATE_DIR/lock"
}

cmd_start() {
  local mode=accounting t0=$EPOCHREALTIME
  while (($#)); do
    case $1 in
      --no-accounting) mode=none ;;
      --accounting) mode=accounting ;;
      *)
        usage >&2
        die "unknown option for start: $1"
        ;;
    esac
    shift
  done
  [[ $EUID -eq 0 ]] || die "must run as root"
  take_lock
  assert_ours start
  make_dirs
  mark_logs
  ensure_packages
  ensure_hosts
  ensure_fake_gpus
  write_configs "$mode"

  if healthy; then
    if [[ $(current_mode) == "$mode" ]] && configs_installed; then
      write_mark "$mode"
      summary "$mode" "already running"
      return 0
    elif [[ $(current_mode) != "$mode" ]]; then
      log "the cluster runs in mode '$(current_mode)': restarting it in mode '$mode'"
    else
      log "the configuration changed: restarting the cluster"
    fi
  fi
  # Anything half-up, started with other configs or in the other mode: start afresh.
  stop_daemons
  guard_foreign_daemons

  install_configs
  write_mark "$mode"
  echo "$mode" >"$MODE_FILE"

  start_munge
  if [[ $mode == accounting ]]; then
    start_mariadb
    start_slurmdbd
  fi
  start_slurmctld
  write_mark "$mode"
  local node since
  since=$(date +%s)
  for node in "${NODES[@]}"; do start_slurmd "$node"; done
  wait_nodes_up "$since"
  if [[ $mode == accounting ]]; then
    wait_for "slurmctld to register cluster '$CLUSTER_NAME' with slurmdbd" cluster_registered
    wait_for "sacct to answer" sacct_answers
  fi
  summary "$mode" "started in $(elapsed "$t0") s"
}

# Cancel all jobs (so no job outlives the cluster), then stop the daemons we started.
stop_daemons() {
  local node ids i
  if pidfile_alive "$RUN_DIR/slurmctld.pid" slurmctld >/dev/null; then
    ids=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ') || ids=
    if [[ -n ${ids// /} ]]; then
      log "cancelling jobs: $ids"
      # shellcheck disable=SC2086  # one argument per job id
      scancel $ids 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do
        [[ -z $(squeue -h -o %A 2>/dev/null) ]] && break
        sleep 0.1
      done
    fi
  fi
  for node in "${NODES[@]}"; do stop_pidfile "$RUN_DIR/slurmd-$node.pid" slurmd; done
  stop_pidfile "$RUN_DIR/slurmctld.pid" slurmctld
  stop_pidfile "$RUN_DIR/slurmdbd.pid" slurmdbd
  stop_pidfile "$DB_DIR/mariadbd.pid" mariadbd
  stop_pidfile "$MUNGE_DIR/munged.pid" munged
}

cmd_stop() {
  [[ $EUID -eq 0 ]] || die "must run as root"
  if [[ ! -d $STATE_DIR ]]; then
    log "nothing to stop ($STATE_DIR does not exist)"
    return 0
  fi
  take_lock
  assert_ours stop
  stop_daemons
  write_mark "$(current_mode)"
  rm -f "$MODE_FILE"
  log "stopped"
}

cmd_status() {
  printf '%-16s %s\n' mark "$( [[ -f $MARK ]] && echo "$MARK" || echo "none: not started by this script")"
  if healthy verbose; then
    echo "status: up"
  else
    echo "status: DOWN or degraded"
    return 1
  fi
}

main() {
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in
    start) cmd_start "$@" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
