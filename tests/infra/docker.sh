#!/usr/bin/env bash
# Bring up (or down) a private Docker engine and a local Python image for nemorun's docker tests.
#
#   tests/infra/docker.sh start    # idempotent; installs docker.io (and debootstrap) if missing
#   tests/infra/docker.sh status   # exit 0 if the engine answers and the test image exists
#   tests/infra/docker.sh stop     # stops the engine this script started
#
# Run as root (Debian 12, no systemd needed: dockerd is started directly).
#
# Ownership: once the engine runs, this script writes $NEMORUN_DOCKER_DIR/mark (a token, the
# dockerd pid, the socket, the data root). start and stop act only on an engine that mark (or
# its data root) shows this script started; any other makes them refuse, exit 3, touching
# nothing. The tests read the same mark and use only that engine, by its socket
# (tests/conftest.py); they never use the default socket or $DOCKER_HOST.
#
# The engine: Debian's dockerd with its own socket (unix:///run/nemorun-docker/docker.sock),
# data root under $NEMORUN_DOCKER_DIR (default /var/tmp/nemorun-docker), no bridge and no
# iptables rules (containers run with --network=none or host). It does not touch a system
# Docker on /var/run/docker.sock. Point a client at it with the line `start` prints:
#
#   export DOCKER_HOST=unix:///run/nemorun-docker/docker.sock
#
# The tests find it by its mark (see Ownership above), never through $DOCKER_HOST.
#
# The image: there is no registry access here, so `start` builds nemorun-test-python:1 (Debian
# bookworm, minbase, with python3) with debootstrap and `docker import`, once; the root file
# system's tarball is kept in the state directory, so a fresh data root re-imports it in seconds.
#
# Environment knobs:
#   NEMORUN_DOCKER_DIR      state directory (default /var/tmp/nemorun-docker)
#   NEMORUN_DOCKER_TIMEOUT  seconds to wait for the engine to answer (default 60)
#   NEMORUN_DEBIAN_MIRROR   mirror for debootstrap (default: the first of apt's sources, else
#                           http://deb.debian.org/debian)
set -euo pipefail

export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

STATE_DIR=${NEMORUN_DOCKER_DIR:-/var/tmp/nemorun-docker}
TIMEOUT=${NEMORUN_DOCKER_TIMEOUT:-60}

readonly RUN_DIR=/run/nemorun-docker
readonly SOCKET=$RUN_DIR/docker.sock
readonly HOST=unix://$SOCKET
readonly IMAGE=nemorun-test-python:1
readonly SUITE=bookworm

DATA_DIR=$STATE_DIR/data
LOG_DIR=$STATE_DIR/log
PID_FILE=$RUN_DIR/dockerd.pid
ROOTFS_TAR=$STATE_DIR/nemorun-test-python-1.tar
MARK=$STATE_DIR/mark   # written once the engine runs: what proves the engine is ours

# The engine and the client we call: Debian's, whatever else is first on PATH.
DOCKERD=/usr/sbin/dockerd
CLIENT=(env DOCKER_HOST="$HOST" docker)

log() { printf '[docker.sh] %s\n' "$*" >&2; }

die() {
  printf '[docker.sh] ERROR: %s\n' "$*" >&2
  if [[ -f $LOG_DIR/dockerd.log ]]; then
    printf '\n----- last lines of %s -----\n' "$LOG_DIR/dockerd.log" >&2
    tail -n 15 "$LOG_DIR/dockerd.log" >&2 || true
  fi
  exit 1
}

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; }

# refuse ACTION REASON: leave an engine this script did not start alone (exit 3).
refuse() {
  printf '[docker.sh] refusing to %s: %s. This script starts and stops only the engine it\n' \
    "$1" "$2" >&2
  printf '[docker.sh] started itself (described by %s); it leaves this one alone.\n' "$MARK" >&2
  exit 3
}

# elapsed T0: seconds since T0 (an $EPOCHREALTIME value), one decimal.
elapsed() {
  local now=${EPOCHREALTIME//[.,]/} t0=${1//[.,]/} d
  d=$(((now - t0) / 100000))
  echo "$((d / 10)).$((d % 10))"
}

# pid_alive PID COMM: PID runs, is not a zombie, and is called COMM (PIDs wrap here, and PID 1
# reaps orphans late: a pid file alone proves nothing).
pid_alive() {
  local pid=$1 comm=$2 stat
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# The pid of our dockerd, if it runs.
dockerd_pid() {
  local pid
  [[ -r $PID_FILE ]] || return 1
  pid=$(tr -dc '0-9' <"$PID_FILE")
  pid_alive "$pid" dockerd || return 1
  echo "$pid"
}

# The data root of the engine answering on our socket (empty if none answers).
engine_root() { "${CLIENT[@]}" info --format '{{.DockerRootDir}}' 2>/dev/null || true; }

engine_answers() { "${CLIENT[@]}" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
image_exists() { "${CLIENT[@]}" image inspect "$IMAGE" >/dev/null 2>&1; }

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  log "installing $* from apt"
  if [[ -z ${APT_UPDATED:-} ]]; then
    apt-get update -q >>"$LOG_DIR/apt.log" 2>&1 || die "apt-get update failed (see $LOG_DIR/apt.log)"
    APT_UPDATED=1
  fi
  apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "$@" \
    >>"$LOG_DIR/apt.log" 2>&1 || die "apt-get install $* failed (see $LOG_DIR/apt.log)"
}

ensure_docker() {
  [[ -x $DOCKERD ]] && command -v docker >/dev/null 2>&1 && command -v containerd >/dev/null 2>&1 &&
    return 0
  apt_install docker.io
}

# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------

# start_dockerd DRIVER: start dockerd with a storage driver; true once it answers.
start_dockerd() {
  local driver=$1 pid deadline
  rm -f "$PID_FILE"
  log "starting dockerd (storage driver $driver)"
  # A clean environment and its own session; no stdio or lock fd of ours, so nothing waits
  # for it. dockerd starts and manages its own containerd under the exec root.
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 setsid "$DOCKERD" \
    --host "$HOST" \
    --data-root "$DATA_DIR" \
    --exec-root "$RUN_DIR/exec" \
    --pidfile "$PID_FILE" \
    --storage-driver "$driver" \
    --bridge=none --iptables=false --ip-masq=false \
    </dev/null >>"$LOG_DIR/dockerd.log" 2>&1 9>&- &
  pid=$!
  deadline=$((SECONDS + TIMEOUT))
  until engine_answers; do
    if ! kill -0 "$pid" 2>/dev/null || [[ $(cat "/proc/$pid/stat" 2>/dev/null) == *") Z"* ]]; then
      log "dockerd exited during start-up (driver $driver)"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      kill -TERM "$pid" 2>/dev/null || true
      die "timed out after ${TIMEOUT}s waiting for dockerd to answer on $SOCKET"
    fi
    sleep 0.1
  done
}

stop_dockerd() {
  local pid i
  pid=$(dockerd_pid) || { rm -f "$PID_FILE"; return 0; }
  log "stopping dockerd (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    pid_alive "$pid" dockerd || break
    sleep 0.1
  done
  if pid_alive "$pid" dockerd; then
    log "dockerd (pid $pid) ignored SIGTERM for 20 s: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$PID_FILE"
}

# ---------------------------------------------------------------------------------------------
# The test image
# ---------------------------------------------------------------------------------------------

debian_mirror() {
  if [[ -n ${NEMORUN_DEBIAN_MIRROR:-} ]]; then
    echo "$NEMORUN_DEBIAN_MIRROR"
    return
  fi
  local uri
  uri=$(sed -n 's/^URIs:[[:space:]]*\(http[^[:space:]]*\/debian\)\/*$/\1/p' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
  if [[ -z $uri ]]; then
    uri=$(sed -n 's/^deb[[:space:]]\+\(http[^[:space:]]*\/debian\)\/*[[:space:]].*/\1/p' \
      /etc/apt/sources.list 2>/dev/null | head -n 1)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

build_rootfs_tar() {
  local dir=$STATE_DIR/rootfs mirror t0=$EPOCHREALTIME
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  mirror=$(debian_mirror)
  log "building the root file system of $IMAGE with debootstrap ($SUITE, $mirror)"
  rm -rf "$dir"
  debootstrap --variant=minbase --include=python3 "$SUITE" "$dir" "$mirror" \
    >"$LOG_DIR/debootstrap.log" 2>&1 ||
    die "debootstrap failed (see $LOG_DIR/debootstrap.log)"
  # Smaller and reproducible enough for a test image: no package caches or lists.
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" -c . >"$ROOTFS_TAR.tmp" || die "cannot pack $dir"
  mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  rm -rf "$dir"
  log "root file system built in $(elapsed "$t0") s"
}

ensure_image() {
  image_exists && return 0
  [[ -s $ROOTFS_TAR ]] || build_rootfs_tar
  log "importing $IMAGE"
  "${CLIENT[@]}" import --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' \
    - "$IMAGE" <"$ROOTFS_TAR" >/dev/null || die "docker import failed"
  "${CLIENT[@]}" run --rm --network=none "$IMAGE" python3 -c 'import sys; print(sys.version)' \
    >/dev/null || die "the image $IMAGE does not run python3"
}

# ---------------------------------------------------------------------------------------------
# Ownership: the mark
# ---------------------------------------------------------------------------------------------

# mark_get KEY: the value of KEY in the mark (empty if there is none).
mark_get() {
  [[ -r $MARK ]] || return 0
  sed -n "s/^$1=//p" "$MARK" | head -n 1
}

# assert_ours ACTION: refuse ACTION if a dockerd runs under our pid file or an engine answers
# on our socket that this script did not start from this state directory: ours is the pid the
# mark names, or (an engine started before marks existed) an engine whose data root is ours.
assert_ours() {
  local action=$1 pid root
  pid=$(dockerd_pid) || pid=
  root=$(engine_root)
  [[ -z $pid && -z $root ]] && return 0
  [[ -n $pid && -f $MARK && $(mark_get dockerd_pid) == "$pid" ]] && return 0
  [[ $root == "$DATA_DIR" ]] && return 0
  refuse "$action" "the engine on $SOCKET (dockerd pid ${pid:-unknown}, data root ${root:-unknown}) was not started by this script from $STATE_DIR"
}

# write_mark: record the engine this script runs (atomically; no pid once stopped).
write_mark() {
  local token pid
  token=$(mark_get token)
  [[ -n $token ]] || token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  pid=$(dockerd_pid) || pid=
  cat >"$MARK.tmp" <<EOF
# Written by tests/infra/docker.sh: it started this dockerd. The script and the tests use,
# restart and stop an engine only while this file describes it.
token=$token
dockerd_pid=$pid
host=$HOST
data_root=$DATA_DIR
image=$IMAGE
EOF
  mv "$MARK.tmp" "$MARK"
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

take_lock() {
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/lock"
  flock -w 900 9 || die "could not lock $STATE_DIR/lock"
}

cmd_start() {
  local t0=$EPOCHREALTIME driver
  [[ $EUID -eq 0 ]] || die "must run as root"
  take_lock
  assert_ours start
  mkdir -p "$DATA_DIR" "$LOG_DIR" "$RUN_DIR"
  chmod 711 "$RUN_DIR"
  ensure_docker
  if dockerd_pid >/dev/null && engine_answers; then
    log "dockerd already runs"
  else
    stop_dockerd
    # A socket left by a dead engine would make the new one fail to listen.
    rm -f "$SOCKET"
    driver=overlay2
    [[ -s $STATE_DIR/driver ]] && driver=$(cat "$STATE_DIR/driver")
    if ! start_dockerd "$driver"; then
      [[ $driver == vfs ]] && die "dockerd failed to start"
      log "falling back to the vfs storage driver"
      driver=vfs
      start_dockerd vfs || die "dockerd failed to start"
    fi
    echo "$driver" >"$STATE_DIR/driver"
  fi
  write_mark
  ensure_image
  log "engine and image ready in $(elapsed "$t0") s"
  echo "export DOCKER_HOST=$HOST"
}

cmd_stop() {
  [[ $EUID -eq 0 ]] || die "must run as root"
  if [[ ! -d $STATE_DIR ]]; then
    log "nothing to stop ($STATE_DIR does not exist)"
    return 0
  fi
  take_lock
  assert_ours stop
  stop_dockerd
  rm -f "$SOCKET"
  write_mark
  log "stopped"
}

cmd_status() {
  local pid ok=0 version
  if pid=$(dockerd_pid); then
    printf '%-10s %s\n' dockerd "running (pid $pid)"
  else
    printf '%-10s %s\n' dockerd "NOT running"
    ok=1
  fi
  if version=$("${CLIENT[@]}" version --format '{{.Server.Version}}' 2>/dev/null); then
    printf '%-10s %s\n' engine "answers on $HOST (version $version)"
  else
    printf '%-10s %s\n' engine "NOT answering on $HOST"
    ok=1
  fi
  if [[ $ok == 0 ]] && image_exists; then
    printf '%-10s %s\n' image "$IMAGE present"
  else
    printf '%-10s %s\n' image "$IMAGE missing"
    ok=1
  fi
  if [[ $ok == 0 ]]; then
    echo "status: up"
    echo "export DOCKER_HOST=$HOST"
  else
    echo "status: DOWN or incomplete (start with: tests/infra/docker.sh start)"
  fi
  return "$ok"
}

main() {
  local cmd=${1:-}
  (($#)) && shift
  (($# == 0)) || {
    usage >&2
    exit 2
  }
  case $cmd in
    start) cmd_start ;;
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
