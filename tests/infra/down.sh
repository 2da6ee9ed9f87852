#!/usr/bin/env bash
# down.sh - undo tests/infra/up.sh: stop ONLY the processes it recorded in
# $JOBRELAY_TEST_INFRA/pids (pid + comm + start time must still match).
# Order: the test users' Slurm and at jobs are cancelled first, then the SSH-free
# host (its sshd, rjtest2's slurmd, the mount namespace), then everything else.
# Daemons that were running before up.sh (e.g. a system atd or munged) are left alone.
# Idempotent.  --purge: also delete the state dir (keys, databases, logs).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/infra/lib.sh
. "$HERE/lib.sh"
PURGE=0; [ "${1:-}" = --purge ] && PURGE=1
echo "down.sh: state $ST"
[ -d "$ST" ] || { echo "down.sh: nothing to do"; exit 0; }

# Tests read env.json to decide what is up: it goes first.
rm -f "$ST/env.json"

# ------------------------------------------------------------ 1. jobs of the test users
if [ -r "$(slurm_conf rjtest)" ] && pidfile_alive "$(slurm_dir rjtest)/slurmctld.pid" slurmctld; then
  for c in $CLUSTERS; do
    pidfile_alive "$(slurm_dir "$c")/slurmctld.pid" slurmctld || continue
    for u in $TEST_USERS; do sl "$c" scancel -M "$c" -u "$u" 2>/dev/null; done
    left() { [ -z "$(sl "$c" squeue -M "$c" -h -u "${TEST_USERS// /,}" -o %i 2>/dev/null | grep -v '^CLUSTER')" ]; }
    if wait_for 30 left; then status "jobs/$c" "none left"
    else status "jobs/$c" "WARNING still listed: $(sl "$c" squeue -M "$c" -h -u "${TEST_USERS// /,}" 2>&1 | xargs)"; fi
  done
fi
if command -v atq >/dev/null 2>&1; then   # atq/atrm work on the spool, atd or not
  # atq as root: "id<TAB>date queue user"; a job already running (queue "=") cannot be removed
  ids=$(atq 2>/dev/null | awk -v users=" $TEST_USERS " 'index(users, " " $NF " ") && $(NF-1) != "=" {print $1}' | xargs)
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    atrm $ids 2>/dev/null; status at-jobs "removed: $ids"
  fi
fi

# ------------------------------------------------------------ 2. the SSH-free host
stop_recorded sshd-hostH
stop_recorded "slurmd-$SSHFREE_CLUSTER"
if ns_up; then
  if [ -f "$ST/sshfree.ns-ours" ]; then
    nsid=$(ns_id); inside=""
    for d in /proc/[0-9]*; do   # report, never kill: what is left is not ours (e.g. a job's orphan)
      [ "$(stat -L -c %i "$d/ns/mnt" 2>/dev/null)" = "$nsid" ] || continue
      [ "$(awk '{print $3}' "$d/stat" 2>/dev/null)" = Z ] && continue
      inside="$inside ${d#/proc/}:$(cat "$d/comm" 2>/dev/null)"
    done
    [ -z "$inside" ] || status mntns "WARNING still inside (the namespace lives until they exit):$inside"
    umount "$NSF" && status mntns "unmounted mnt:[$nsid]"
    rm -f "$ST/sshfree.ns-ours" "$NSF"
  else
    status mntns "mounted but not created by up.sh: left alone"
  fi
fi
if [ -f "$ST/sshfree.selfbind" ]; then umount "$SF" 2>/dev/null; rm -f "$ST/sshfree.selfbind"; fi

# ------------------------------------------------------------ 3. everything else, dependents first
for h in $SSH_HOSTS; do stop_recorded "sshd-$h"; done
for c in $CLUSTERS; do stop_recorded "slurmd-$c"; done
for c in $CLUSTERS; do stop_recorded "slurmctld-$c"; done
stop_recorded slurmdbd
stop_recorded mariadbd
stop_recorded atd
stop_recorded munged
if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$(slurm_conf rjtest)" ]; then
  rm -f /etc/slurm/slurm.conf; status slurm.conf "removed the link to our conf"
fi

# anything still recorded (e.g. from a newer up.sh) is reported, not guessed at
for f in "$PIDS"/*.pid; do [ -e "$f" ] && stop_recorded "$(basename "$f" .pid)"; done

if [ $PURGE = 1 ]; then
  if ns_up; then status purge "namespace still mounted on $NSF: not deleting $ST"
  else rm -rf "$ST"; status purge "removed $ST"; fi
fi
echo "down.sh: done"
