#!/usr/bin/env bash
# slurmctl.sh stop|start CLUSTER - for failure tests: stop or (re)start one cluster's
# slurmctld (CLUSTER: rjtest rjtest2); its slurmd keeps running.
# slurmctl.sh start-slurmd CLUSTER - (re)start its slurmd (after a test killed it). Keeps up.sh's records
# consistent, so down.sh still stops exactly what is ours. While a controller is down,
# Slurm client commands hang ~9 s before failing: run them under a timeout.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/infra/lib.sh
. "$HERE/lib.sh"
[ $# = 2 ] || { log "usage: $0 stop|start rjtest|rjtest2"; exit 2; }
cmd=$1 c=$2
ctld_port "$c" >/dev/null || { log "unknown cluster $c"; exit 2; }
sd=$(slurm_dir "$c")
[ -r "$sd/slurm.conf" ] || { log "no $sd/slurm.conf: run tests/infra/up.sh first"; exit 1; }
case $cmd in
stop)
  if ours "slurmctld-$c"; then stop_recorded "slurmctld-$c"; rm -f "$sd/slurmctld.pid"
  elif pidfile_alive "$sd/slurmctld.pid" slurmctld; then
    log "slurmctld/$c (pid $(cat "$sd/slurmctld.pid")) was not started by us"; exit 1
  else status "slurmctld/$c" "not running"; unrecord "slurmctld-$c"; fi ;;
start)
  start_slurm_daemon "$c" slurmctld
  wait_for 30 node_up "$c" || { log "cluster $c: node not up after start: $(sl "$c" sinfo 2>&1)"; exit 1; } ;;
start-slurmd)
  start_slurm_daemon "$c" slurmd
  wait_for 60 node_up "$c" || { log "cluster $c: node not up after slurmd start: $(sl "$c" sinfo 2>&1)"; exit 1; } ;;
*) log "usage: $0 stop|start CLUSTER"; exit 2 ;;
esac
