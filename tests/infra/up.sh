#!/usr/bin/env bash
# up.sh - bring up jobrelay's REAL test infrastructure on a Debian 12 box (root, no systemd).
# Idempotent: a second run checks and reuses what is up (a fast no-op).
#
#   * Debian packages (apt-get, only the missing ones; policy-rc.d stops postinst from
#     starting services)
#   * users rjhost1..3, private homes (mode 700: job hosts share no filesystem)
#   * one key-only sshd per job host, port $JOBRELAY_TEST_SSH_PORT (2222):
#       host1  = rjhost1@127.0.0.2   host2 = rjhost2@127.0.0.3   host2b = rjhost2@127.0.0.4
#     (host2/host2b: two host names, one account = one install target). Keys, client config
#     and known_hosts live in the state dir; ~/.ssh is never touched. LogLevel VERBOSE, one
#     log per host (tests count sessions in it).
#   * munge, MariaDB + slurmdbd, Slurm clusters rjtest (node localhost) and rjtest2 (node
#     localhost2), 16 CPUs claimed each, real sacct; /etc/slurm/slurm.conf -> rjtest's conf
#   * atd with a high load limit
#   * the SSH-free job host hostH (rjhost3@127.0.0.5): a persistent mount namespace in which
#     /home/rjhost3/jobrelay-run is a private bind mount; rjtest2's slurmd and hostH's sshd
#     run inside it. hostH's only key has a forced command (the "gate").
#   * $JOBRELAY_TEST_INFRA/env.json describing the components that came up (tests/conftest.py)
#
# down.sh stops only what this script started (records in $JOBRELAY_TEST_INFRA/pids);
# a component found running that we did not start is used and never stopped.
#
# Environment:
#   JOBRELAY_TEST_INFRA            state dir (default /tmp/jobrelay-test-infra)
#   JOBRELAY_TEST_SSH_PORT         sshd port of every job host (default 2222)
#   JOBRELAY_TEST_SLURM_PORT_BASE  slurmctld rjtest = BASE, its slurmd BASE+1, slurmdbd BASE+2,
#                                  rjtest2 ctld BASE+10, slurmd BASE+11 (default 6817)
#   JOBRELAY_TEST_DB_PORT          MariaDB port on 127.0.0.1 (default 3307)
#     (ports are sticky: a run without these variables reuses the previous run's ports,
#      saved in $JOBRELAY_TEST_INFRA/ports.env; down.sh --purge forgets them)
#   JOBRELAY_TEST_GATE_COMMAND     forced command of hostH's key (authorized_keys command="...").
#                                  Default: jobrelay's own gate, rsync only (no --allow-agent):
#                                  /usr/bin/python3 -S $JOBRELAY_TEST_INFRA/sshfree/gate/jobrelay-gate.pyz
#                                    --run-root /home/rjhost3/jobrelay-run
#                                    --log $JOBRELAY_TEST_INFRA/sshfree/gate-log/gate.log
#                                  (the zipapp is rebuilt from src/jobrelay/gate on every run and
#                                  replaced only when its bytes changed: the build is deterministic)
# Exit status: 0 when every component came up; 1 otherwise (env.json then lists the ones that did).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/infra/lib.sh
. "$HERE/lib.sh"
REPO=$(cd "$HERE/../.." && pwd)
GATE_PYZ=$SF/gate/jobrelay-gate.pyz
GATE_LOG=$SF/gate-log/gate.log
GATE_COMMAND=${JOBRELAY_TEST_GATE_COMMAND:-/usr/bin/python3 -S $GATE_PYZ --run-root $SSHFREE_RUN --log $GATE_LOG}
T0=$(date +%s%N)

# Ports moved since the last run (env knobs): slurmdbd and MariaDB do not follow a conf
# change by themselves, so stop what we started and bring everything up on the new ports.
if [ -r "$ST/ports.env" ] && ls "$PIDS"/*.pid >/dev/null 2>&1 \
   && [ "$(cat "$ST/ports.env")" != "$(printf 'SSH_PORT=%s\nSLURM_PORT_BASE=%s\nDB_PORT=%s' "$SSH_PORT" "$SLURM_PORT_BASE" "$DB_PORT")" ]; then
  echo "up.sh: ports changed ($(tr '\n' ' ' <"$ST/ports.env")): down.sh first"
  JOBRELAY_TEST_SSH_PORT= JOBRELAY_TEST_SLURM_PORT_BASE= JOBRELAY_TEST_DB_PORT= bash "$HERE/down.sh"
fi
mkdir -p "$ST" "$PIDS"
chmod 755 "$ST"          # test users read their authorized_keys below it
chmod 700 "$PIDS"
printf 'SSH_PORT=%s\nSLURM_PORT_BASE=%s\nDB_PORT=%s\n' "$SSH_PORT" "$SLURM_PORT_BASE" "$DB_PORT" >"$ST/ports.env"
UP=$ST/up; rm -rf "$UP"; mkdir -p "$UP"      # one marker file per verified component
echo "up.sh: state $ST (ssh port $SSH_PORT, slurm ports from $SLURM_PORT_BASE, db port $DB_PORT)"

# ============================================================ packages
PKGS="openssh-server openssh-client rsync at munge slurmctld slurmd slurm-client slurm-wlm-torque
mariadb-server mariadb-client slurmdbd iproute2 procps util-linux python3 python3-venv
ecflow-server ecflow-client
tmux zsh"  # ecflow: tests/test_ecflow_real.py; tmux, zsh: the CLI terminal and completion tests
# shellcheck disable=SC2086
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $PKGS 2>/dev/null | awk '$2 == "ii" {print $1}' || true)
missing=""
for p in $PKGS; do echo "$installed" | grep -qx "$p" || missing="$missing $p"; done
missing=${missing# }
if [ -n "$missing" ]; then
  t=$(date +%s%N)
  # policy-rc.d exit 101 = "action forbidden": postinst scripts start nothing (sshd on :22...)
  added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; added_policy=1
  fi
  trap '[ "$added_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -qq >"$ST/apt.log" 2>&1 || { cat "$ST/apt.log" >&2; exit 1; }
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >>"$ST/apt.log" 2>&1 \
    || { cat "$ST/apt.log" >&2; exit 1; }
  [ "$added_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  trap - EXIT
  status apt "installed $missing in $(ms_since "$t") ms"
else
  status apt "all packages present"
fi

# Each component runs in a subshell: a failure is reported and the others still come up.
FAILED=""
component() { # NAME FUNCTION
  local t rc=0; t=$(date +%s%N); echo "== $1"
  # not "( ... ) || rc=$?": bash ignores set -e inside a subshell whose status is tested
  set +e; (set -euo pipefail; "$2"); rc=$?; set -e
  if [ $rc = 0 ]; then touch "$UP/$1"; status "$1" "ok ($(ms_since "$t") ms)"
  else FAILED="$FAILED $1"; status "$1" "FAILED (rc $rc)"; fi
}
is_up() { [ -e "$UP/$1" ]; }

# ============================================================ users
users() {
  local u
  for u in $TEST_USERS; do
    id -u "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
    # useradd leaves '!' (locked); with UsePAM no sshd refuses locked accounts. '*' = no password.
    [ "$(getent shadow "$u" | cut -d: -f2)" = '*' ] || usermod -p '*' "$u"
    [ -d "/home/$u" ] || install -d -o "$u" -g "$u" "/home/$u"
    chmod 700 "/home/$u"
  done
}

# ============================================================ sshd per job host
write_sshd_config() { # HOST DIR AUTHKEYS_PATTERN -> DIR/sshd_config (returns 10 when it changed)
  local h=$1 d=$2 ak=$3
  cat >"$d/sshd_config.new" <<EOF
# generated by jobrelay tests/infra/up.sh
Port $SSH_PORT
ListenAddress $(host_ip "$h")
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
AllowUsers $(host_user "$h")
PermitRootLogin no
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# keys live under the state dir in /tmp (world-writable), which StrictModes rejects
StrictModes no
AuthorizedKeysFile $ak
Subsystem sftp /usr/lib/openssh/sftp-server
MaxStartups 400:30:800
MaxSessions 500
PrintMotd no
X11Forwarding no
AcceptEnv LANG LC_*
# every session finds this infra's clusters, whatever /etc/slurm/slurm.conf points to
SetEnv SLURM_CONF=$(slurm_conf rjtest)
LogLevel VERBOSE
EOF
  # the config test needs it too, not only the start ("Missing privilege separation directory")
  mkdir -p /run/sshd && chmod 755 /run/sshd
  /usr/sbin/sshd -t -f "$d/sshd_config.new" || return 1
  if cmp -s "$d/sshd_config.new" "$d/sshd_config"; then rm -f "$d/sshd_config.new"; return 0; fi
  mv "$d/sshd_config.new" "$d/sshd_config"; return 10
}
ssh_hosts() {
  local S=$ST/ssh AK=$ST/authkeys h d u rc
  install -d -m 700 "$S"
  install -d -m 755 "$AK"
  [ -f "$S/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C jobrelay-test -f "$S/id_ed25519"
  for u in rjhost1 rjhost2; do
    cp "$S/id_ed25519.pub" "$AK/$u.new"; chmod 644 "$AK/$u.new"; mv "$AK/$u.new" "$AK/$u"
  done
  : >"$S/known_hosts.new"
  for h in $SSH_HOSTS; do
    d=$S/$h; install -d -m 700 "$d"
    [ -f "$d/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$d/ssh_host_ed25519_key"
    echo "[$(host_ip "$h")]:$SSH_PORT $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")" >>"$S/known_hosts.new"
    write_sshd_config "$h" "$d" "$AK/%u" && rc=0 || rc=$?
    if [ $rc = 10 ] && pidfile_alive "$d/sshd.pid" sshd; then
      kill -HUP "$(cat "$d/sshd.pid")"; sleep 0.5; status "sshd/$h" "config changed: HUP"
    elif [ $rc != 0 ] && [ $rc != 10 ]; then return $rc; fi
    start_sshd "$h"
  done
  mv "$S/known_hosts.new" "$S/known_hosts"
  {
    echo "# generated by jobrelay tests/infra/up.sh: ssh -F $S/config host1"
    for h in $SSH_HOSTS; do
      printf 'Host %s\n  HostName %s\n  User %s\n\n' "$h" "$(host_ip "$h")" "$(host_user "$h")"
    done
    cat <<EOF
Host *
  Port $SSH_PORT
  IdentityFile $S/id_ed25519
  IdentitiesOnly yes
  BatchMode yes
  StrictHostKeyChecking yes
  UserKnownHostsFile $S/known_hosts
  GlobalKnownHostsFile /dev/null
  ConnectTimeout 5
  ServerAliveInterval 5
  ServerAliveCountMax 2
  LogLevel ERROR
EOF
  } >"$S/config.new"
  mv "$S/config.new" "$S/config"
  # prove it: login as the right user with the right home (wait: a HUPed sshd re-listens)
  for h in $SSH_HOSTS; do probe_ssh "$S/config" "$h" & done   # in parallel: ~200 ms each
  rc=0; for h in $SSH_HOSTS; do wait -n || rc=1; done
  return $rc
}
probe_ssh() { # CONFIG HOST : logs in as the host's user with its home (retries: a HUPed sshd re-listens)
  local want out i; want="$(host_user "$2"):/home/$(host_user "$2")"
  for i in 1 2 3 4 5 6 7 8 9 10; do
    out=$(ssh -F "$1" "$2" 'echo "$(id -un):$HOME"' 2>&1) && [ "$out" = "$want" ] && return 0
    sleep 0.5
  done
  log "ssh $2: got '$out', want '$want'"; return 1
}

# ============================================================ munge
munge_up() {
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  fi
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then status munged "already running (in use)"; return 0; fi
  install -d -m 755 -o munge -g munge /run/munge
  runuser -u munge -- /usr/sbin/munged --force   # --force: a killed munged leaves a stale socket
  wait_for 5 sh -c 'munge -n | unmunge' || { log "munged did not come up"; return 1; }
  record munged "$(cat /run/munge/munged.pid)" munged
  status munged "started pid $(cat /run/munge/munged.pid)"
}

# ============================================================ MariaDB + slurmdbd
slurmdbd_up() {
  local MD=$ST/mariadb D=$ST/slurmdbd c
  install -d -o mysql -g mysql "$MD" "$MD/run"
  [ -d "$MD/data/mysql" ] || mariadb-install-db --user=mysql --datadir="$MD/data" --skip-test-db >"$MD/install.log" 2>&1
  if pidfile_alive "$MD/run/mariadb.pid" mariadbd; then status mariadbd "already running pid $(cat "$MD/run/mariadb.pid")"
  else
    [ -z "$(ss -ltnH "sport = :$DB_PORT")" ] || { log "db port $DB_PORT taken: $(port_holder "$DB_PORT")"; return 1; }
    setsid -f mariadbd --user=mysql --datadir="$MD/data" --socket="$MD/run/mysql.sock" --port="$DB_PORT" \
      --bind-address=127.0.0.1 --pid-file="$MD/run/mariadb.pid" --log-error="$MD/run/mariadb.err" \
      --skip-log-bin --innodb-buffer-pool-size=32M </dev/null >/dev/null 2>&1
    wait_for 30 mariadb -S "$MD/run/mysql.sock" -e 'select 1' || { log "mariadb failed: $MD/run/mariadb.err"; return 1; }
    record mariadbd "$(cat "$MD/run/mariadb.pid")" mariadbd
    status mariadbd "started pid $(cat "$MD/run/mariadb.pid") on 127.0.0.1:$DB_PORT"
  fi
  mariadb -S "$MD/run/mysql.sock" -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'jobrelaytest';
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'jobrelaytest';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
  # slurmdbd reads slurmdbd.conf beside $SLURM_CONF; it must be 0600 and SlurmUser's.
  # sacctmgr needs a slurm.conf naming the slurmdbd: a stub one in the same dir.
  install -d -o slurm -g slurm "$D" "$D/log"
  printf '%s\n' ClusterName=rjtest SlurmctldHost=localhost AuthType=auth/munge \
    AccountingStorageType=accounting_storage/slurmdbd AccountingStorageHost=localhost \
    "AccountingStoragePort=$DBD_PORT" >"$D/slurm.conf"
  cat >"$D/slurmdbd.conf.new" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=slurm
PidFile=$D/log/slurmdbd.pid
LogFile=$D/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=jobrelaytest
StorageLoc=slurm_acct_db
EOF
  chown slurm:slurm "$D/slurmdbd.conf.new"; chmod 600 "$D/slurmdbd.conf.new"
  mv "$D/slurmdbd.conf.new" "$D/slurmdbd.conf"
  if pidfile_alive "$D/log/slurmdbd.pid" slurmdbd; then status slurmdbd "already running pid $(cat "$D/log/slurmdbd.pid")"
  else
    [ -z "$(ss -ltnH "sport = :$DBD_PORT")" ] || { log "slurmdbd port $DBD_PORT taken: $(port_holder "$DBD_PORT")"; return 1; }
    SLURM_CONF=$D/slurm.conf slurmdbd
    wait_for 10 pidfile_alive "$D/log/slurmdbd.pid" slurmdbd || { log "slurmdbd failed: $D/log/slurmdbd.log"; return 1; }
    record slurmdbd "$(cat "$D/log/slurmdbd.pid")" slurmdbd
    status slurmdbd "started pid $(cat "$D/log/slurmdbd.pid") on :$DBD_PORT"
  fi
  # clusters must be registered before their slurmctld starts (names are stored lower-case)
  local have="" i
  for i in $(seq 60); do
    have=$(SLURM_CONF=$D/slurm.conf timeout 5 sacctmgr -n -P list cluster format=cluster 2>/dev/null) && break
    have=""; sleep 0.25
  done
  [ -n "$have" ] || SLURM_CONF=$D/slurm.conf timeout 5 sacctmgr -n list cluster >/dev/null \
    || { log "slurmdbd not answering: $D/log/slurmdbd.log"; return 1; }
  for c in $CLUSTERS; do
    echo "$have" | grep -qx "$c" || SLURM_CONF=$D/slurm.conf timeout 10 sacctmgr -i add cluster "$c" >/dev/null
  done
}

# ============================================================ SSH-free host: namespace
sshfree_ns() {
  install -d -m 755 "$SF" "$SF/ak"
  install -d -m 700 "$SF/private"          # root only: rjhost3 in the root ns cannot reach H's files
  install -d -m 700 -o rjhost3 -g rjhost3 "$SF/private/run"
  install -d -m 755 "$SF/private/ak"
  [ -d "$SSHFREE_RUN" ] || install -d -m 700 -o rjhost3 -g rjhost3 "$SSHFREE_RUN"   # root-ns mount point: stays empty
  if ns_up; then status mntns "already there: mnt:[$(ns_id)]"
  else
    # unshare --mount=FILE bind-mounts the new namespace onto FILE, which fails on a shared
    # mount ("Invalid argument"): then make $SF a private mount first.
    if [ "$(findmnt -n -o PROPAGATION --target "$SF")" = shared ]; then
      mount --bind "$SF" "$SF"; mount --make-private "$SF"; touch "$ST/sshfree.selfbind"
    fi
    : >"$NSF"
    unshare --mount="$NSF" --propagation private true
    touch "$ST/sshfree.ns-ours"
    status mntns "created mnt:[$(ns_id)] on $NSF"
  fi
  bind_in_ns "$SF/private/run" "$SSHFREE_RUN"
  bind_in_ns "$SF/private/ak" "$SF/ak"
}
bind_in_ns() { # SRC DST : bind mount visible only inside the namespace
  local cur; cur=$(nsx findmnt -n -o SOURCE "$2" 2>/dev/null || true)
  if [ -z "$cur" ]; then nsx mount --bind "$1" "$2"
  elif [[ $cur != *"[$1]" ]]; then log "$2 inside the namespace is mounted from $cur, not $1"; return 1; fi
  if findmnt -n "$2" >/dev/null 2>&1; then log "$2 is a mount point in the root namespace too"; return 1; fi
}

# ============================================================ Slurm clusters
write_slurm_conf() { # CLUSTER -> returns 10 when the conf changed
  local c=$1 sd; sd=$(slurm_dir "$c")
  install -d "$sd" "$sd/d"; install -d -o slurm -g slurm "$sd/ctld" "$sd/log"
  cat >"$sd/slurm.conf.new" <<EOF
# generated by jobrelay tests/infra/up.sh
ClusterName=$c
SlurmctldHost=localhost
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MailProg=/bin/true
StateSaveLocation=$sd/ctld
SlurmdSpoolDir=$sd/d
SlurmctldPidFile=$sd/slurmctld.pid
SlurmdPidFile=$sd/slurmd.pid
SlurmctldLogFile=$sd/log/slurmctld.log
SlurmdLogFile=$sd/log/slurmd.log
SlurmctldPort=$(ctld_port "$c")
SlurmdPort=$(slurmd_port "$c")
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# the node claims 16 CPUs and 4 GB on a 2-core box: config_overrides keeps slurmd from
# replacing them with the real figures (or draining the node for them); the memory lets
# jobs ask for it (sbatch --mem, PSI/J's test_memory), unset it would be 1 MB
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=5
KillWait=2
InactiveLimit=0
NodeName=$(node_name "$c") NodeAddr=127.0.0.1 CPUs=16 Sockets=1 CoresPerSocket=16 ThreadsPerCore=1 RealMemory=4096 State=UNKNOWN
PartitionName=debug Nodes=$(node_name "$c") Default=YES MaxTime=INFINITE State=UP
EOF
  if cmp -s "$sd/slurm.conf.new" "$sd/slurm.conf"; then rm -f "$sd/slurm.conf.new"; return 0; fi
  mv "$sd/slurm.conf.new" "$sd/slurm.conf"; return 10
}
slurm_cluster() { # CLUSTER
  local c=$1 sd d rc=0; sd=$(slurm_dir "$c")
  write_slurm_conf "$c" || rc=$?
  [ $rc = 0 ] || [ $rc = 10 ] || return $rc
  for d in slurmctld slurmd; do
    if [ $rc = 10 ] && pidfile_alive "$sd/$d.pid" $d; then   # both daemons must re-read a changed conf
      if ours "$d-$c"; then stop_recorded "$d-$c"
      else log "$d/$c runs with an old conf and was not started by us: not restarting it"; return 1; fi
    fi
    # the SSH-free host's slurmd must live in the namespace: restart ours if it does not
    if [ $d = slurmd ] && [ "$c" = "$SSHFREE_CLUSTER" ] && pidfile_alive "$sd/slurmd.pid" slurmd \
       && [ "$(ns_of "$(cat "$sd/slurmd.pid")")" != "$(ns_id)" ]; then
      if ours "slurmd-$c"; then stop_recorded "slurmd-$c"
      else log "slurmd/$c runs outside the namespace and was not started by us"; return 1; fi
    fi
    start_slurm_daemon "$c" $d
  done
  wait_for 30 node_up "$c" || { log "node $(node_name "$c") not up: $(sl "$c" sinfo 2>&1)"; return 1; }
}
link_default_conf() { # /etc/slurm/slurm.conf -> rjtest's conf: every user's sbatch finds the test cluster
  local want cur pf; want=$(slurm_conf rjtest); cur=$(readlink /etc/slurm/slurm.conf 2>/dev/null || true)
  [ "$cur" = "$want" ] && return 0
  # another set-up's conf whose slurmctld still runs: leave it (its users would lose their
  # cluster); our sshds set SLURM_CONF and env.json names our conf, so our tests still work
  if [ -n "$cur" ] && [ -r "$cur" ]; then
    pf=$(sed -n 's/^SlurmctldPidFile=//p' "$cur" | head -1)
    if [ -n "$pf" ] && pidfile_alive "$pf" slurmctld; then
      status slurm.conf "WARNING /etc/slurm/slurm.conf -> $cur (running, not ours): left alone"; return 0
    fi
  fi
  if [ -e /etc/slurm/slurm.conf ] && [ ! -L /etc/slurm/slurm.conf ]; then
    mv /etc/slurm/slurm.conf "/etc/slurm/slurm.conf.before-jobrelay-test"   # a real file: keep a copy
  fi
  mkdir -p /etc/slurm; ln -sfn "$want" /etc/slurm/slurm.conf
  status slurm.conf "/etc/slurm/slurm.conf -> $want"
}
slurm() {
  slurm_cluster rjtest
  link_default_conf
  slurm_cluster rjtest2
  sl rjtest sacct -n -X -M rjtest,rjtest2 -S now-1minutes >/dev/null || { log "sacct does not work"; return 1; }
  sl rjtest squeue -M rjtest2 -h >/dev/null || { log "squeue -M rjtest2 does not work"; return 1; }
}

# ============================================================ SSH-free host: sshd with the gate key
gate_zipapp() { # build jobrelay's gate where rjhost3 (inside the namespace) can run it, never write it
  local built=$SF/gate/jobrelay-gate.pyz.built
  install -d -m 755 "$SF/gate"
  install -d -m 755 -o rjhost3 -g rjhost3 "$SF/gate-log"     # outside the run root: rsync cannot reach it
  PYTHONPATH=$REPO/src python3 -m jobrelay.zipapps gate "$built" >/dev/null
  if cmp -s "$built" "$GATE_PYZ"; then rm -f "$built"; status gate "unchanged $GATE_PYZ"
  else chmod 755 "$built"; mv "$built" "$GATE_PYZ"; status gate "built $GATE_PYZ ($(sha256sum "$GATE_PYZ" | cut -c1-12))"; fi
  # the gate as hostH's sshd runs it: a bare 'true' must be refused
  local said
  said=$(SSH_ORIGINAL_COMMAND=true nsx runuser -u rjhost3 -- /usr/bin/python3 -S "$GATE_PYZ" \
           --run-root "$SSHFREE_RUN" 2>&1 || true)
  case $said in *"jobrelay-gate: refused: 'true'"*) ;; *) log "gate check failed: $said"; return 1;; esac
}
sshfree_sshd() {
  local d=$SF/sshd rc=0
  gate_zipapp
  install -d -m 700 "$d"
  [ -f "$d/id_hostH" ] || ssh-keygen -q -t ed25519 -N '' -C jobrelay-test-hostH -f "$d/id_hostH"
  [ -f "$d/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C hostH -f "$d/ssh_host_ed25519_key"
  # authorized_keys sits on H's private filesystem: only an sshd inside the namespace finds it
  # sshd's option parser unescapes \" only (a lone backslash stays as it is)
  local cmd=${GATE_COMMAND//\"/\\\"}
  echo "command=\"$cmd\",restrict $(cat "$d/id_hostH.pub")" >"$SF/private/ak/rjhost3.new"
  chmod 644 "$SF/private/ak/rjhost3.new"; mv "$SF/private/ak/rjhost3.new" "$SF/private/ak/rjhost3"
  write_sshd_config hostH "$d" "$SF/ak/%u" || rc=$?
  if [ $rc = 10 ] && pidfile_alive "$d/sshd.pid" sshd; then
    kill -HUP "$(cat "$d/sshd.pid")"; sleep 0.5; status sshd/hostH "config changed: HUP"   # re-exec stays in the ns
  elif [ $rc != 0 ] && [ $rc != 10 ]; then return $rc; fi
  if pidfile_alive "$d/sshd.pid" sshd && [ "$(ns_of "$(cat "$d/sshd.pid")")" != "$(ns_id)" ]; then
    if ours sshd-hostH; then stop_recorded sshd-hostH
    else log "sshd/hostH runs outside the namespace and was not started by us"; return 1; fi
  fi
  start_sshd hostH
  echo "[$(host_ip hostH)]:$SSH_PORT $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")" >"$d/known_hosts"
  cat >"$d/config" <<EOF
# generated by jobrelay tests/infra/up.sh: rsync -e 'ssh -F $d/config' FILE hostH:DIR/
Host hostH
  HostName $(host_ip hostH)
  Port $SSH_PORT
  User rjhost3
  IdentityFile $d/id_hostH
  IdentitiesOnly yes
  BatchMode yes
  StrictHostKeyChecking yes
  UserKnownHostsFile $d/known_hosts
  GlobalKnownHostsFile /dev/null
  ConnectTimeout 5
  LogLevel ERROR
EOF
  # prove it: rsync can list the run root through the gate
  wait_for 5 rsync --list-only -e "ssh -F $d/config" hostH: \
    || { log "rsync to hostH failed: $(rsync --list-only -e "ssh -F $d/config" hostH: 2>&1)"; return 1; }
}
sshfree() {
  sshfree_sshd
  # the namespace really isolates: H's daemons are inside, the root ns sees no bind mount
  local ns sd; ns=$(ns_id); sd=$(slurm_dir "$SSHFREE_CLUSTER")
  [ "$(ns_of "$(cat "$SF/sshd/sshd.pid")")" = "$ns" ] || { log "sshd/hostH is not in mnt:[$ns]"; return 1; }
  [ "$(ns_of "$(cat "$sd/slurmd.pid")")" = "$ns" ] || { log "slurmd/$SSHFREE_CLUSTER is not in mnt:[$ns]"; return 1; }
  if findmnt -n "$SSHFREE_RUN" >/dev/null 2>&1; then log "$SSHFREE_RUN is mounted in the root ns"; return 1; fi
}

# ============================================================ atd
atd_up() {
  if pidfile_alive /run/atd.pid atd; then status atd "already running pid $(cat /run/atd.pid)"
  else
    /usr/sbin/atd -l 100 -b 1   # -l: default load limit 1.5 holds back `batch` jobs on a busy 2-core box
    wait_for 5 pidfile_alive /run/atd.pid atd || { log "atd did not start"; return 1; }
    record atd "$(cat /run/atd.pid)" atd
    status atd "started pid $(cat /run/atd.pid)"
  fi
  atq >/dev/null
}

component users users
component ssh ssh_hosts
component munge munge_up
is_up munge && component slurmdbd slurmdbd_up
is_up users && component mntns sshfree_ns
is_up slurmdbd && component slurm slurm
is_up mntns && is_up slurm && component sshfree sshfree
component at atd_up

# ============================================================ env.json (only what came up)
python3 - "$ST" "$UP" "$SSH_PORT" "$GATE_COMMAND" "${JOBRELAY_TEST_GATE_COMMAND:+custom}" <<'PY'
import json, os, sys
st, up, port, gate, custom = sys.argv[1:6]
ok = set(os.listdir(up))
def pid(path):
    try:
        return int(open(path).read().strip())
    except (OSError, ValueError):
        return None
hosts = {"host1": ("rjhost1", "127.0.0.2"), "host2": ("rjhost2", "127.0.0.3"),
         "host2b": ("rjhost2", "127.0.0.4")}
env = {"root": st, "ssh_port": int(port), "pids_dir": os.path.join(st, "pids")}
if "ssh" in ok:
    env["ssh_config"] = os.path.join(st, "ssh", "config")
    env["hosts"] = {h: {"user": u, "home": "/home/" + u, "ip": ip} for h, (u, ip) in hosts.items()}
    d = {h: os.path.join(st, "ssh", h) for h in hosts}
    env["sshd_pids"] = {h: pid(os.path.join(d[h], "sshd.pid")) for h in hosts}
    env["sshd_configs"] = {h: os.path.join(d[h], "sshd_config") for h in hosts}
    env["sshd_logs"] = {h: os.path.join(d[h], "sshd.log") for h in hosts}
    env["sshd_pidfiles"] = {h: os.path.join(d[h], "sshd.pid") for h in hosts}
clusters = ["rjtest", "rjtest2"]
if "slurm" in ok:
    sd = {c: os.path.join(st, "slurm-" + c) for c in clusters}
    env["slurm"] = {
        "conf": os.path.join(sd["rjtest"], "slurm.conf"),   # /etc/slurm/slurm.conf points here too
        "confs": {c: os.path.join(sd[c], "slurm.conf") for c in clusters},
        "clusters": clusters,
        "nodes": {"rjtest": "localhost", "rjtest2": "localhost2"},
        "ctld_pidfile": {c: os.path.join(sd[c], "slurmctld.pid") for c in clusters},
        "slurmd_pidfile": {c: os.path.join(sd[c], "slurmd.pid") for c in clusters},
        "logs": {c: os.path.join(sd[c], "log") for c in clusters},
        "sacct": True,
    }
if "at" in ok:
    env["at"] = True
if "sshfree" in ok:
    sf = os.path.join(st, "sshfree")
    env["sshfree"] = {
        "host": "hostH", "user": "rjhost3", "ip": "127.0.0.5",
        "ssh_config": os.path.join(sf, "sshd", "config"),
        "run_root": "/home/rjhost3/jobrelay-run",
        "mntns": os.path.join(sf, "mntns"),
        "mntns_id": os.stat(os.path.join(sf, "mntns")).st_ino,
        "cluster": "rjtest2",
        "gate_command": gate,
        # jobrelay's gate (the default): its zipapp and decision log; null with a custom gate
        "gate_zipapp": None if custom else os.path.join(sf, "gate", "jobrelay-gate.pyz"),
        "gate_log": None if custom else os.path.join(sf, "gate-log", "gate.log"),
        "sshd_pid": pid(os.path.join(sf, "sshd", "sshd.pid")),
        "sshd_pidfile": os.path.join(sf, "sshd", "sshd.pid"),
        "sshd_config": os.path.join(sf, "sshd", "sshd_config"),
        "sshd_log": os.path.join(sf, "sshd", "sshd.log"),
        "private_root": os.path.join(sf, "private", "run"),
    }
tmp = os.path.join(st, "env.json.new")
with open(tmp, "w") as f:
    json.dump(env, f, indent=1, sort_keys=True)
    f.write("\n")
os.chmod(tmp, 0o644)
os.replace(tmp, os.path.join(st, "env.json"))
PY

echo "up.sh: done in $(ms_since "$T0") ms; env: $ST/env.json"
if [ -n "$FAILED" ]; then log "up.sh: FAILED:$FAILED (env.json lists only what came up)"; exit 1; fi
