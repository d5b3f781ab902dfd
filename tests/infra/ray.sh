#!/usr/bin/env bash
# Start (or stop) a private, single-node Ray head with the Jobs API for nemorun's ray tests.
#
#   tests/infra/ray.sh start          # prints RAY_ADDRESS=http://127.0.0.1:PORT and RAY_STATE=DIR
#   tests/infra/ray.sh status DIR     # exit 0 if the head DIR describes answers
#   tests/infra/ray.sh stop DIR       # stops the head this script started in DIR
#
# Ready means the Jobs API takes a job (a probe, `true`, submission id nemorun-ready-probe): it
# answers /api/version before its job agent is up.
#
# The head: `ray start --head --block --num-cpus 2 --include-dashboard true` on 127.0.0.1 only,
# every port it listens on chosen free on loopback, its temp dir a fresh private DIR (short: Ray's
# socket paths must fit 107 bytes), usage stats off. It runs in a session of its own (setsid), so
# every Ray process it starts (GCS, raylet, dashboard, workers, jobs) is in one process group.
#
# Ownership: start writes DIR/mark (a token, the process group, the addresses). stop and status act
# only on the head a mark describes, and stop only on that process group (after checking that
# its leader is still our `ray start`) and on the jobs' entry points, which run in sessions of
# their own in working directories inside DIR: any other Ray on this host is never touched (no
# `ray stop`, which stops every Ray of the user). Without a mark, or with a mark that does not match,
# stop refuses, exit 3.
#
# The `python3` the jobs run is the one beside `ray` (first on the head's PATH), as on a cluster
# whose nodes run Ray from their own Python.
#
# Environment knobs:
#   NEMORUN_RAY          the ray executable (default: `ray` beside python3 on PATH)
#   NEMORUN_RAY_TIMEOUT  seconds to wait for the Jobs API to take a job (default 120)
set -euo pipefail

RAY=${NEMORUN_RAY:-$(command -v ray || true)}
TIMEOUT=${NEMORUN_RAY_TIMEOUT:-120}

log() { printf '[ray.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit "${2:-1}"; }
refuse() { log "refusing to $1: $2; it leaves this Ray alone."; exit 3; }

mark_get() { sed -n "s/^$1=//p" "$2/mark" | head -n 1; }

# free_ports N: N distinct free TCP ports on 127.0.0.1, one per line.
free_ports() {
  "$PYTHON" - "$1" <<'EOF'
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print("\n".join(str(s.getsockname()[1]) for s in held))
EOF
}

answers() {  # answers URL: the Jobs API at URL answers /api/version
  "$PYTHON" - "$1" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1] + "/api/version", timeout=5) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

jobs_ready() {  # jobs_ready URL: the Jobs API at URL takes a job (its agent is up)
  "$PYTHON" - "$1" <<'EOF'
import json, sys, urllib.error, urllib.request
body = json.dumps({"entrypoint": "true", "submission_id": "nemorun-ready-probe"}).encode()
request = urllib.request.Request(
    sys.argv[1] + "/api/jobs/", body, {"Content-Type": "application/json"}, method="POST"
)
try:
    with urllib.request.urlopen(request, timeout=10) as r:
        sys.exit(0 if r.status == 200 else 1)
except urllib.error.HTTPError as e:
    sys.exit(0 if b"already exists" in e.read() else 1)  # a probe an earlier try sent
except Exception:
    sys.exit(1)
EOF
}

start() {
  [[ -n $RAY && -x $RAY ]] || die "no ray executable (pip install 'nemorun[ray]', or set NEMORUN_RAY)"
  local attempt
  for attempt in 1 2 3; do
    start_once && return 0
    log "attempt $attempt: ray start exited before the Jobs API took a job"
  done
  die "the Ray head did not start (3 attempts)"
}

# start_once: one head, in a new private directory; 1 (cleaned up) when `ray start` gives up, as
# it does on a loaded host (its raylet must register within a fixed 30 s).
start_once() {
  local bin dir ports gcs dash pid started
  bin=$(dirname "$RAY")
  PYTHON=$bin/python3
  [[ -x $PYTHON ]] || PYTHON=$(command -v python3)
  dir=$(mktemp -d /tmp/nrray.XXXXXX)
  chmod 700 "$dir"
  mapfile -t ports < <(free_ports 9)
  gcs=${ports[0]}
  dash=${ports[1]}
  log "starting a Ray head in $dir (GCS 127.0.0.1:$gcs, Jobs API 127.0.0.1:$dash)"
  PATH=$bin:$PATH RAY_USAGE_STATS_ENABLED=0 setsid "$RAY" start --head --block \
    --num-cpus 2 --num-gpus 0 --include-dashboard true \
    --dashboard-host 127.0.0.1 --node-ip-address 127.0.0.1 --port "$gcs" \
    --dashboard-port "$dash" --ray-client-server-port "${ports[2]}" \
    --node-manager-port "${ports[3]}" --object-manager-port "${ports[4]}" \
    --dashboard-agent-listen-port "${ports[5]}" --dashboard-agent-grpc-port "${ports[6]}" \
    --runtime-env-agent-port "${ports[7]}" --metrics-export-port "${ports[8]}" \
    --temp-dir "$dir/t" --disable-usage-stats \
    >"$dir/ray.log" 2>&1 </dev/null &
  pid=$!
  {
    echo "token=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    echo "pgid=$pid"
    echo "ray=$RAY"
    echo "address=http://127.0.0.1:$dash"
    echo "gcs=127.0.0.1:$gcs"
  } >"$dir/mark.tmp"
  mv "$dir/mark.tmp" "$dir/mark"
  started=$SECONDS
  until answers "http://127.0.0.1:$dash" && jobs_ready "http://127.0.0.1:$dash"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      grep -E '^[A-Za-z]*(Error|Exception)' "$dir/ray.log" | tail -n 3 >&2 || true
      stop "$dir"
      return 1
    fi
    if ((SECONDS - started >= TIMEOUT)); then
      stop "$dir" || true
      die "the Jobs API did not take a job in ${TIMEOUT} s"
    fi
    sleep 1
  done
  log "ready after $((SECONDS - started)) s"
  echo "RAY_ADDRESS=http://127.0.0.1:$dash"
  echo "RAY_STATE=$dir"
}

# ours DIR: the mark exists and its process group's leader is the `ray start` it describes.
ours() {
  local dir=$1 pgid
  [[ -f $dir/mark ]] || refuse "stop the Ray in $dir" "there is no mark $dir/mark"
  pgid=$(mark_get pgid "$dir")
  [[ $pgid =~ ^[0-9]+$ ]] || refuse "stop the Ray in $dir" "the mark has no process group"
  if [[ -r /proc/$pgid/cmdline ]]; then
    tr '\0' ' ' </proc/"$pgid"/cmdline | grep -qF -- "--temp-dir $dir/t" ||
      refuse "stop process group $pgid" "its leader is not the ray start of $dir"
  fi
}

# members DIR PGID: the pids of the head's process group, and of every process whose working
# directory is inside DIR (a job's entry point: Ray starts it in a session of its own, in the
# job's working directory under DIR/t). DIR is private to this head, so no other process has it.
members() {
  local dir=$1 pgid=$2 pid cwd stat fields
  for pid in /proc/[0-9]*; do
    pid=${pid#/proc/}
    [[ $pid == "$$" ]] && continue
    { stat=$(<"/proc/$pid/stat"); } 2>/dev/null || continue
    read -ra fields <<<"${stat##*) }" # state ppid pgrp …, after the command's name
    if [[ ${fields[2]:-} == "$pgid" ]]; then
      echo "$pid"
      continue
    fi
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || continue
    [[ $cwd == "$dir"/* ]] && echo "$pid"
  done
}

stop() {
  local dir=${1:?usage: ray.sh stop DIR} pgid pids
  ours "$dir"
  pgid=$(mark_get pgid "$dir")
  mapfile -t pids < <(members "$dir" "$pgid")
  if ((${#pids[@]})); then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 10); do
      mapfile -t pids < <(members "$dir" "$pgid")
      ((${#pids[@]})) || break
      sleep 0.5
    done
    if ((${#pids[@]})); then
      kill -KILL "${pids[@]}" 2>/dev/null || true
      sleep 1
    fi
  fi
  rm -rf -- "$dir"
  log "stopped the Ray head of $dir"
}

status() {
  local dir=${1:?usage: ray.sh status DIR}
  PYTHON=$(command -v python3)
  [[ -f $dir/mark ]] || exit 1
  answers "$(mark_get address "$dir")"
}

case ${1:-} in
  start) start ;;
  stop) stop "${2:-}" ;;
  status) status "${2:-}" ;;
  *) die "usage: ray.sh start | status DIR | stop DIR" 2 ;;
esac
