# lib.sh - shared by up.sh, down.sh, sshdctl.sh and slurmctl.sh (sourced, not run).
#
# Ownership rule: a daemon counts as "ours" only if up.sh (or a ctl script)
# recorded it in $PIDS/NAME.{pid,comm,start}. The start time (field 22 of
# /proc/PID/stat) pairs the pid with one process: pids wrap (pid_max 32768).
# Anything else that is running is used, never stopped.

ST=${JOBRELAY_TEST_INFRA:-/tmp/jobrelay-test-infra}
PIDS=$ST/pids
TEST_USERS="rjhost1 rjhost2 rjhost3"

# Ports: env knobs > the previous run's $ST/ports.env > the project's defaults.
# Env knobs let a second set-up coexist; up.sh saves what it used in ports.env.
if [ -r "$ST/ports.env" ]; then
  # shellcheck disable=SC1091
  . "$ST/ports.env"
fi
SSH_PORT=${JOBRELAY_TEST_SSH_PORT:-${SSH_PORT:-2222}}
SLURM_PORT_BASE=${JOBRELAY_TEST_SLURM_PORT_BASE:-${SLURM_PORT_BASE:-6817}}
DB_PORT=${JOBRELAY_TEST_DB_PORT:-${DB_PORT:-3307}}
DBD_PORT=$((SLURM_PORT_BASE + 2))

# host name -> "user ip"; hostH is the SSH-free host (its sshd lives in a mount namespace)
host_user() { case $1 in host1) echo rjhost1;; host2|host2b) echo rjhost2;; hostH) echo rjhost3;; *) return 1;; esac; }
host_ip()   { case $1 in host1) echo 127.0.0.2;; host2) echo 127.0.0.3;; host2b) echo 127.0.0.4;; hostH) echo 127.0.0.5;; *) return 1;; esac; }
SSH_HOSTS="host1 host2 host2b"

# cluster -> ctld port, slurmd port, node name
ctld_port()   { case $1 in rjtest) echo "$SLURM_PORT_BASE";; rjtest2) echo $((SLURM_PORT_BASE + 10));; *) return 1;; esac; }
slurmd_port() { case $1 in rjtest) echo $((SLURM_PORT_BASE + 1));; rjtest2) echo $((SLURM_PORT_BASE + 11));; *) return 1;; esac; }
node_name()   { case $1 in rjtest) echo localhost;; rjtest2) echo localhost2;; *) return 1;; esac; }
CLUSTERS="rjtest rjtest2"
SSHFREE_CLUSTER=rjtest2
SSHFREE_RUN=/home/rjhost3/jobrelay-run
SF=$ST/sshfree
NSF=$SF/mntns

log()    { printf '%s\n' "$*" >&2; }
status() { printf '  %-18s %s\n' "$1" "$2"; }

pid_start() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }
pid_alive() { # PID COMM : running with that comm (a zombie counts as gone: init reaps slowly here)
  [ -n "$1" ] && [ -r "/proc/$1/comm" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] \
    && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
pidfile_alive() { # PIDFILE COMM
  local p; [ -s "$1" ] || return 1; p=$(cat "$1" 2>/dev/null) || return 1; pid_alive "$p" "$2"
}
record() { # NAME PID COMM : mark the process as started by us
  mkdir -p "$PIDS"
  echo "$2" >"$PIDS/$1.pid"; echo "$3" >"$PIDS/$1.comm"; pid_start "$2" >"$PIDS/$1.start"
}
unrecord() { rm -f "$PIDS/$1.pid" "$PIDS/$1.comm" "$PIDS/$1.start"; }
ours() { # NAME [PID] : the recorded process is alive (and is PID, when given)
  local p c s; [ -s "$PIDS/$1.pid" ] || return 1
  p=$(cat "$PIDS/$1.pid"); c=$(cat "$PIDS/$1.comm" 2>/dev/null); s=$(cat "$PIDS/$1.start" 2>/dev/null)
  [ -z "${2:-}" ] || [ "$2" = "$p" ] || return 1
  pid_alive "$p" "$c" && { [ -z "$s" ] || [ "$(pid_start "$p")" = "$s" ]; }
}
stop_recorded() { # NAME : TERM the recorded process, wait, KILL after 15 s; drop the record
  local n=$1 p c
  if ours "$n"; then
    p=$(cat "$PIDS/$n.pid"); c=$(cat "$PIDS/$n.comm")
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 150); do pid_alive "$p" "$c" || break; sleep 0.1; done
    if pid_alive "$p" "$c"; then kill -KILL "$p" 2>/dev/null || true; fi
    status "$n" "stopped pid $p"
  elif [ -f "$PIDS/$n.pid" ]; then
    status "$n" "recorded pid $(cat "$PIDS/$n.pid") no longer running"
  fi
  unrecord "$n"
}
wait_for() { # SECONDS CMD... : poll every 0.1 s
  local end=$(($(date +%s) + $1)); shift
  until "$@" >/dev/null 2>&1; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.1; done
}
port_holder() { ss -ltnpH "sport = :$1" 2>/dev/null | head -3; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# ------------------------------------------------------------ mount namespace of the SSH-free host
ns_of()   { stat -L -c %i "/proc/$1/ns/mnt" 2>/dev/null || echo none; }
ns_up()   { [ "$(findmnt -n -o FSTYPE "$NSF" 2>/dev/null)" = nsfs ]; }
ns_id()   { stat -c %i "$NSF" 2>/dev/null; }
nsx()     { nsenter --mount="$NSF" -- "$@"; }

# ------------------------------------------------------------ sshd
sshd_dir() { if [ "$1" = hostH ]; then echo "$SF/sshd"; else echo "$ST/ssh/$1"; fi; }
start_sshd() { # HOST : start the recorded-config sshd of HOST (hostH inside the namespace)
  local h=$1 d ip; d=$(sshd_dir "$h"); ip=$(host_ip "$h")
  if pidfile_alive "$d/sshd.pid" sshd; then
    status "sshd/$h" "already running pid $(cat "$d/sshd.pid")"; return 0
  fi
  if [ -n "$(ss -ltnH "src $ip:$SSH_PORT" 2>/dev/null)" ]; then
    log "sshd/$h: $ip:$SSH_PORT is taken by a process we did not start: $(ss -ltnpH "src $ip:$SSH_PORT")"
    return 1
  fi
  mkdir -p /run/sshd && chmod 755 /run/sshd   # sshd: "Missing privilege separation directory"
  rm -f "$d/sshd.pid"
  if [ "$h" = hostH ]; then
    ns_up || { log "sshd/hostH: namespace $NSF is not mounted"; return 1; }
    nsx /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log"
  else
    /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log"
  fi
  wait_for 5 pidfile_alive "$d/sshd.pid" sshd || { log "sshd/$h did not start; see $d/sshd.log"; return 1; }
  record "sshd-$h" "$(cat "$d/sshd.pid")" sshd
  status "sshd/$h" "started pid $(cat "$d/sshd.pid") on $ip:$SSH_PORT"
}

# ------------------------------------------------------------ slurm
slurm_dir() { echo "$ST/slurm-$1"; }
slurm_conf() { echo "$(slurm_dir "$1")/slurm.conf"; }
# Slurm client commands hang ~9 s when the controller is down: always under a timeout.
sl() { local c=$1; shift; SLURM_CONF=$(slurm_conf "$c") timeout 10 "$@"; }
node_up() { # CLUSTER
  local st; st=$(sl "$1" sinfo -h -n "$(node_name "$1")" -o %T 2>/dev/null)
  case "$st" in idle|mixed|allocated|completing) return 0;; esac; return 1
}
start_slurm_daemon() { # CLUSTER slurmctld|slurmd
  local c=$1 d=$2 sd port; sd=$(slurm_dir "$c")
  if pidfile_alive "$sd/$d.pid" "$d"; then status "$d/$c" "already running pid $(cat "$sd/$d.pid")"; return 0; fi
  if [ "$d" = slurmctld ]; then port=$(ctld_port "$c"); else port=$(slurmd_port "$c"); fi
  if [ -n "$(ss -ltnH "sport = :$port" 2>/dev/null)" ]; then
    log "$d/$c: port $port is taken by a process we did not start: $(port_holder "$port")"; return 1
  fi
  rm -f "$sd/$d.pid"
  if [ "$d" = slurmctld ]; then
    slurmctld -f "$sd/slurm.conf"
  elif [ "$c" = "$SSHFREE_CLUSTER" ]; then
    # the SSH-free host's jobs run in its mount namespace: they inherit it from slurmd
    ns_up || { log "slurmd/$c: namespace $NSF is not mounted"; return 1; }
    nsx slurmd -f "$sd/slurm.conf" -N "$(node_name "$c")"
  else
    slurmd -f "$sd/slurm.conf" -N "$(node_name "$c")"
  fi
  wait_for 10 pidfile_alive "$sd/$d.pid" "$d" || { log "$d/$c failed; see $sd/log/$d.log"; return 1; }
  record "$d-$c" "$(cat "$sd/$d.pid")" "$d"
  status "$d/$c" "started pid $(cat "$sd/$d.pid") (port $port)"
}
