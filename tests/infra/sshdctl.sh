#!/usr/bin/env bash
# sshdctl.sh stop|start HOST - for failure tests: stop or (re)start one job host's sshd
# (HOST: host1 host2 host2b hostH). Keeps up.sh's records consistent, so down.sh still
# stops exactly what is ours. A stop refuses an sshd that up.sh did not start.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/infra/lib.sh
. "$HERE/lib.sh"
[ $# = 2 ] || { log "usage: $0 stop|start host1|host2|host2b|hostH"; exit 2; }
cmd=$1 h=$2
host_ip "$h" >/dev/null || { log "unknown host $h"; exit 2; }
d=$(sshd_dir "$h")
[ -r "$d/sshd_config" ] || { log "no $d/sshd_config: run tests/infra/up.sh first"; exit 1; }
case $cmd in
stop)
  if ours "sshd-$h"; then stop_recorded "sshd-$h"; rm -f "$d/sshd.pid"
  elif pidfile_alive "$d/sshd.pid" sshd; then log "sshd/$h (pid $(cat "$d/sshd.pid")) was not started by us"; exit 1
  else status "sshd/$h" "not running"; unrecord "sshd-$h"; fi ;;
start)
  start_sshd "$h"
  # wait until it accepts connections: a test starting it next wants to connect
  wait_for 5 bash -c "exec 3<>/dev/tcp/$(host_ip "$h")/$SSH_PORT" || { log "sshd/$h not accepting"; exit 1; } ;;
*) log "usage: $0 stop|start HOST"; exit 2 ;;
esac
