#!/usr/bin/env bash
# scripts/test.sh - THE test command of jobrelay (CI runs it through .ci/run).
#
#   bash scripts/test.sh [PYTEST ARGS...]
#
# 1. tests/infra/up.sh   real sshd job hosts, Slurm (2 clusters), atd, the SSH-free host (needs root)
# 2. a virtualenv with the project and its test extras (pip install -e '.[test]'), reused
#    while pyproject.toml is unchanged
# 3. ruff check, ruff format --check, mypy, pytest (extra arguments go to pytest)
# 4. tests/infra/down.sh on exit (trap), if step 1 started anything
# Every step runs even when an earlier one failed; the exit status is 1 if any failed.
# pytest's "no tests collected" (exit 5) is a failure too.
#
# Environment:
#   JOBRELAY_TEST_VENV        virtualenv dir (default: .venv in the repository)
#   JOBRELAY_TEST_KEEP_INFRA  1 = never run down.sh (keep the infra for development)
#   JOBRELAY_TEST_INFRA and the other knobs of tests/infra/up.sh
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
VENV=${JOBRELAY_TEST_VENV:-$ROOT/.venv}
ST=${JOBRELAY_TEST_INFRA:-/tmp/jobrelay-test-infra}
export JOBRELAY_TEST_INFRA=$ST
T0=$(date +%s)
FAILED=()
RESULTS=()

section() { printf '\n======== %s\n' "$*"; }
step() { # NAME CMD... : run, time, remember the outcome
  local name=$1 t rc; shift
  section "$name"
  t=$(date +%s%N)
  "$@"; rc=$?
  local ms=$((($(date +%s%N) - t) / 1000000))
  if [ $rc = 0 ]; then RESULTS+=("ok    $name (${ms} ms)")
  else RESULTS+=("FAIL  $name (rc $rc, ${ms} ms)"); FAILED+=("$name"); fi
  return $rc
}
records() { # what up.sh has recorded as started by it: "name:pid" lines
  local f; for f in "$ST"/pids/*.pid; do [ -e "$f" ] && echo "$(basename "$f" .pid):$(cat "$f")"; done
}

infra_down() {
  section "infra down (tests/infra/down.sh)"
  bash tests/infra/down.sh || echo "down.sh exited $?"
}
finish() {
  local rc=$?
  if [ "${STARTED:-0}" = 1 ] && [ "${JOBRELAY_TEST_KEEP_INFRA:-0}" != 1 ]; then infra_down; fi
  section "summary ($(($(date +%s) - T0)) s)"
  printf '  %s\n' "${RESULTS[@]}"
  if [ ${#FAILED[@]} -gt 0 ] || [ "$rc" != 0 ]; then echo "RESULT: FAILED (${FAILED[*]})"; exit 1; fi
  echo "RESULT: passed"
}
trap finish EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ 1. infrastructure
STARTED=0
if [ "$(id -u)" = 0 ]; then
  before=$(records)
  step "infra up (tests/infra/up.sh)" bash tests/infra/up.sh
  # down.sh at exit only if this run started something (a developer's running infra stays)
  [ "$(records)" = "$before" ] || STARTED=1
else
  section "infra up: skipped (not root); infrastructure tests skip locally, fail under CI=true"
fi

# ------------------------------------------------------------ 2. virtualenv
venv() {
  local stamp=$VENV/.jobrelay-installed want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV" || return 1; fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]' || return 1
    echo "$want" >"$stamp"
  else
    echo "reusing $VENV (pyproject.toml unchanged)"
  fi
  "$VENV/bin/python" --version
}
if ! step "virtualenv ($VENV)" venv; then
  echo "cannot run the checks without the virtualenv"; exit 1
fi
B=$VENV/bin

# ------------------------------------------------------------ 3. checks
DIRS=()
for d in src tests bench; do [ -d "$d" ] && DIRS+=("$d"); done
step "ruff check ${DIRS[*]}" "$B/ruff" check "${DIRS[@]}"
step "ruff format --check ${DIRS[*]}" "$B/ruff" format --check "${DIRS[@]}"
step "mypy" "$B/mypy"
pytest_step() {
  "$B/python" -m pytest "$@"; local rc=$?
  [ $rc = 5 ] && echo "pytest collected no tests: that is a failure"
  return $rc
}
step "pytest $*" pytest_step "$@"
