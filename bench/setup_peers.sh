#!/usr/bin/env bash
# Install the peers into their own virtualenvs under /opt/jobrelay-bench (world-readable:
# the test host's users run `cylc jobs-*` from there over ssh). Idempotent.
#   cylc-flow: the newest that /usr/bin/python3 (what the host users get) installs;
#   8.7.0 needs Python 3.12, so on Debian 12 (3.11) that is 8.5.x/8.6.x.
#   troika: 0.2.7.
set -euo pipefail
BASE=${JOBRELAY_BENCH_PEERS:-/opt/jobrelay-bench}
PY=/usr/bin/python3
mkdir -p "$BASE"
chmod 755 "$BASE"
if [ ! -x "$BASE/cylc-venv/bin/cylc" ]; then
  "$PY" -m venv "$BASE/cylc-venv"
  "$BASE/cylc-venv/bin/pip" install -q --disable-pip-version-check "cylc-flow<8.7"
fi
if [ ! -x "$BASE/troika-venv/bin/troika" ]; then
  "$PY" -m venv "$BASE/troika-venv"
  "$BASE/troika-venv/bin/pip" install -q --disable-pip-version-check "troika==0.2.7"
fi
chmod -R a+rX "$BASE"
