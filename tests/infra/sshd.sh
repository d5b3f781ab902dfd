#!/usr/bin/env bash
# Start (or stop) a private sshd on a loopback port: the "login node" of the test Slurm for
# nemorun's remote-cluster tests.
#
#   tests/infra/sshd.sh start     # idempotent; prints NEMORUN_SSHD_DIR=DIR
#   tests/infra/sshd.sh stop      # stops the sshd this script started
#
# What start sets up (root only; openssh-server is installed with apt-get when missing):
# - a test user (NEMORUN_SSH_USER, default nemorun-ssh) with a home directory, unlocked for
#   key logins (`usermod -p '*'`), and a fresh ed25519 key of ours in its authorized_keys;
# - in DIR (NEMORUN_SSHD_DIR, default /tmp/nemorun-sshd): sshd_config (ListenAddress
#   127.0.0.1 only, a free port, keys only, LogLevel VERBOSE to DIR/sshd.log, so the tests can
#   count accepted connections), its own host key, its pid file, the client key (DIR/id), a
#   known_hosts for [127.0.0.1]:PORT, an ssh_config with Host nemorun-test, and DIR/mark.
#
# Ownership: DIR/mark holds a token and the sshd's pid; stop acts only on an sshd whose pid
# the mark names and whose command line names our config; any other sshd is never touched.
set -euo pipefail

DIR=${NEMORUN_SSHD_DIR:-/tmp/nemorun-sshd}
USER_NAME=${NEMORUN_SSH_USER:-nemorun-ssh}
MARK=$DIR/mark

log() { printf '[sshd.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit "${2:-1}"; }

mark_get() { sed -n "s/^$1=//p" "$MARK" 2>/dev/null | head -n 1; }

ours_running() {  # the sshd the mark names is alive and is ours
  local pid
  pid=$(mark_get pid)
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == sshd ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/sshd_config"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

install_sshd() {
  [[ -x /usr/sbin/sshd ]] && return 0
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends -o DPkg::Lock::Timeout=300 openssh-server; } >"$DIR/apt.log" 2>&1 ||
    die "openssh-server did not install (see $DIR/apt.log)"
}

make_user() {
  if ! id "$USER_NAME" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$USER_NAME"
  fi
  usermod -p '*' "$USER_NAME"  # "locked" accounts cannot log in, even with a key
  local home
  home=$(getent passwd "$USER_NAME" | cut -d: -f6)
  install -d -m 700 -o "$USER_NAME" -g "$USER_NAME" "$home/.ssh"
  install -m 600 -o "$USER_NAME" -g "$USER_NAME" "$DIR/id.pub" "$home/.ssh/authorized_keys"
}

start() {
  [[ $(id -u) == 0 ]] || die "start needs root (a test user and sshd)" 2
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  if [[ -e $MARK ]] && ours_running; then
    printf 'NEMORUN_SSHD_DIR=%s\n' "$DIR"
    return 0
  fi
  install_sshd
  mkdir -p /run/sshd
  local port
  port=$(free_port)
  rm -f "$DIR/host_key" "$DIR/host_key.pub" "$DIR/id" "$DIR/id.pub"
  ssh-keygen -q -t ed25519 -N '' -C nemorun-test-host -f "$DIR/host_key"
  ssh-keygen -q -t ed25519 -N '' -C nemorun-test-client -f "$DIR/id"
  make_user
  cat >"$DIR/sshd_config" <<EOF
# nemorun test sshd (tests/infra/sshd.sh): loopback only, keys only.
Port $port
ListenAddress 127.0.0.1
HostKey $DIR/host_key
PidFile $DIR/sshd.pid
AllowUsers $USER_NAME
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
PermitRootLogin no
MaxStartups 50:30:100
MaxSessions 50
LogLevel VERBOSE
EOF
  printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$DIR/host_key.pub")" >"$DIR/known_hosts"
  cat >"$DIR/ssh_config" <<EOF
Host nemorun-test
  HostName 127.0.0.1
  Port $port
  User $USER_NAME
  IdentityFile $DIR/id
  IdentitiesOnly yes
  UserKnownHostsFile $DIR/known_hosts
  StrictHostKeyChecking yes
EOF
  /usr/sbin/sshd -t -f "$DIR/sshd_config" || die "sshd refuses its config"
  : >"$DIR/sshd.log"
  /usr/sbin/sshd -D -E "$DIR/sshd.log" -f "$DIR/sshd_config" </dev/null >/dev/null 2>&1 &
  local pid=$!
  printf 'token=%s\npid=%s\nport=%s\nuser=%s\n' "$RANDOM$RANDOM" "$pid" "$port" "$USER_NAME" \
    >"$MARK.tmp"
  mv "$MARK.tmp" "$MARK"
  for _ in $(seq 50); do
    if ssh -F "$DIR/ssh_config" -o BatchMode=yes -o ConnectTimeout=5 nemorun-test true 2>/dev/null; then
      printf 'NEMORUN_SSHD_DIR=%s\n' "$DIR"
      return 0
    fi
    sleep 0.2
  done
  die "sshd did not take a login (see $DIR/sshd.log)"
}

stop() {
  [[ -e $MARK ]] || { log "no mark in $DIR: nothing of ours to stop"; exit 3; }
  if ours_running; then
    kill "$(mark_get pid)"
  fi
  rm -f "$MARK"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 start|stop" 2 ;;
esac
