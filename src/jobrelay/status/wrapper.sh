# jobrelay job wrapper (status file format 1, see docs/status-file.md).
#
# Pure bash: no python, and no external command on the normal path (the
# clock is printf's %(...)T, the host is $HOSTNAME). The assembled job file
# exports JOBRELAY_JOB_DIR (and the job's environment), inlines this text,
# then calls jobrelay_main.
#
# Names starting "jobrelay__" are private to the wrapper.

# jobrelay_message SEVERITY TEXT...
#   Record a message in the job's status file, e.g.
#       jobrelay_message WARNING "input is late, using yesterday's"
#   SEVERITY is one of DEBUG INFO WARNING ERROR CRITICAL; TEXT may hold any
#   characters (newlines too). The line goes in one append, so messages from
#   concurrent processes of the job do not interleave. Exported to the
#   user's bash script (export -f); other languages append the same line
#   themselves (docs/status-file.md).
jobrelay_message() {
    local severity=${1-} text now
    case $severity in
        DEBUG | INFO | WARNING | ERROR | CRITICAL) ;;
        *)
            printf 'jobrelay_message: severity must be one of DEBUG INFO WARNING ERROR CRITICAL, not %q\n' \
                "$severity" >&2
            return 2
            ;;
    esac
    shift
    text="$*"
    text=${text//\\/\\\\}
    text=${text//$'\n'/\\n}
    TZ=UTC printf -v now '%(%Y-%m-%dT%H:%M:%SZ)T' -1
    printf 'JOB_MESSAGE=%s|%s|%s\n' "$now" "$severity" "$text" >>"$JOBRELAY_JOB_DIR/job.status"
}
export -f jobrelay_message

# Append "KEY=VALUE" lines (arguments alternate key, value) in one write.
jobrelay__append() {
    local lines="" value
    while (($# >= 2)); do
        value=${2//\\/\\\\}
        value=${value//$'\n'/\\n}
        lines+="$1=$value"$'\n'
        shift 2
    done
    printf '%s' "$lines" >>"$jobrelay__status"
}

# Append the exit record, retrying while the file cannot be written (a full
# disk, a quota): the job's end is the one thing a later look cannot learn
# again. Meanwhile the job still runs for its runner, so it reads `running`,
# never ended with a made-up exit. Gives up after JOBRELAY_STATUS_RETRY
# seconds (default 600).
jobrelay__append_exit() {
    local pause=1 until=$((SECONDS + ${JOBRELAY_STATUS_RETRY:-600}))
    until jobrelay__append "$@" 2>/dev/null; do
        # no job dir: nothing to wait for (it was removed, the poll says so)
        ((SECONDS < until)) && [[ -d $JOBRELAY_JOB_DIR ]] || return 1
        sleep "$pause"
        ((pause < 30)) && pause=$((pause * 2))
    done
}

jobrelay__now() {
    TZ=UTC printf -v jobrelay__time '%(%Y-%m-%dT%H:%M:%SZ)T' -1
}

# Record the exit once. $1: the exit status to report; $2: signal name or "".
jobrelay__record_exit() {
    local code=$1 signal=$2 outcome=succeeded
    [[ -n $jobrelay__recorded ]] && return 0
    jobrelay__recorded=1
    if [[ -n $signal ]] || ((code != 0)); then
        outcome=failed
    fi
    jobrelay__now
    if [[ -n $signal ]]; then
        jobrelay__append_exit JOB_EXIT "$outcome" JOB_EXIT_CODE "$code" JOB_EXIT_SIGNAL "$signal" \
            JOB_EXIT_TIME "$jobrelay__time"
    else
        jobrelay__append_exit JOB_EXIT "$outcome" JOB_EXIT_CODE "$code" JOB_EXIT_TIME "$jobrelay__time"
    fi
    jobrelay__exit_code=$code
}

# Trap handler for TERM INT HUP XCPU USR1 USR2: forward to the user's group.
jobrelay__on_signal() {
    local sig=$1
    jobrelay__interrupted=1
    case $sig in
        USR1 | USR2)
            # Often a warning (e.g. Slurm --signal): the script may live on.
            jobrelay__soft_signal=$sig
            ;;
        *)
            [[ -z $jobrelay__signal ]] && jobrelay__signal=$sig
            ;;
    esac
    [[ -n $jobrelay__child ]] || return 0 # not started yet: main sees the signal
    if [[ $sig == XCPU ]]; then
        # Over the time limit: the watchdog follows up with KILL after the grace.
        kill -s TERM -- "-$jobrelay__child" 2>/dev/null
    else
        kill -s "$sig" -- "-$jobrelay__child" 2>/dev/null
    fi
}

# EXIT trap: the wrapper itself failed before recording an exit.
jobrelay__on_exit() {
    local code=$?
    ((code == 0)) && code=1
    if [[ -z $jobrelay__recorded ]]; then
        jobrelay__record_exit "$code" "$jobrelay__signal"
    fi
    [[ -n $jobrelay__watchdog ]] && kill -s KILL -- "-$jobrelay__watchdog" 2>/dev/null
}

# submit -o PATH: the job's stdout and stderr go to PATH from here on, written
# as the job runs (as Slurm's --output), its directory created if missing.
jobrelay__open_output() {
    local path=$1 dir=""
    [[ $path == */* ]] && dir=${path%/*}
    if [[ -n $dir && ! -d $dir ]] && ! mkdir -p -- "$dir" 2>/dev/null; then
        jobrelay__output_failed "cannot create the output directory $dir"
        return 1
    fi
    # a failed redirection of exec only prints: open the file first to see
    if ! { : >"$path"; } 2>/dev/null; then
        jobrelay__output_failed "cannot write the output file $path"
        return 1
    fi
    exec >>"$path" 2>&1
}

jobrelay__output_failed() {
    jobrelay__now
    jobrelay__append JOB_MESSAGE "$jobrelay__time|ERROR|jobrelay: $1"
    printf 'jobrelay: %s\n' "$1" >&2
}

jobrelay__start_watchdog() {
    local limit=$1 grace=${JOBRELAY_TIME_LIMIT_GRACE:-10} wrapper=$$
    [[ $limit =~ ^[0-9]+$ ]] || {
        jobrelay__append JOB_MESSAGE "$jobrelay__time|WARNING|JOBRELAY_TIME_LIMIT is not a number of seconds: $limit (ignored)"
        return 0
    }
    [[ $grace =~ ^[0-9]+$ ]] || grace=10
    set -m # own process group, so ending it also ends its sleep
    (
        trap - TERM INT HUP XCPU USR1 USR2 EXIT
        exec </dev/null >/dev/null 2>&1
        sleep "$limit"
        kill -s XCPU "$wrapper"
        sleep "$grace"
        kill -s KILL -- "-$jobrelay__child"
    ) &
    jobrelay__watchdog=$!
    set +m
}

jobrelay_main() {
    jobrelay__status="$JOBRELAY_JOB_DIR/job.status"
    jobrelay__recorded="" jobrelay__signal="" jobrelay__soft_signal="" jobrelay__child=""
    jobrelay__watchdog="" jobrelay__interrupted="" jobrelay__exit_code=""
    local sig rc first=""
    trap jobrelay__on_exit EXIT
    for sig in TERM INT HUP XCPU USR1 USR2; do
        # shellcheck disable=SC2064 # expand $sig now
        trap "jobrelay__on_signal $sig" "$sig"
    done
    if ! cd -- "$JOBRELAY_JOB_DIR"; then
        printf 'jobrelay: cannot enter job dir %q\n' "$JOBRELAY_JOB_DIR" >&2
        exit 1 # jobrelay__on_exit records it, if the status file can be written at all
    fi
    jobrelay__now
    jobrelay__append JOB_PID "$$" JOB_HOST "${HOSTNAME-}" JOB_START_TIME "$jobrelay__time"
    if [[ -n $jobrelay__signal ]]; then
        jobrelay__exit_on_early_signal
    fi
    if [[ -n ${JOBRELAY_OUTPUT-} ]]; then
        jobrelay__open_output "$JOBRELAY_OUTPUT" || exit 1
    fi
    if [[ ! -r job.script ]]; then
        printf 'jobrelay: no readable job.script in %q\n' "$JOBRELAY_JOB_DIR" >&2
        exit 1
    fi
    IFS= read -r -n 2 first <job.script
    set -m # the user's script gets its own process group
    if [[ $first == '#!' ]]; then
        ./job.script &
    else
        bash ./job.script &
    fi
    jobrelay__child=$!
    set +m
    # After the child: the watchdog's copy of the shell must know its group.
    [[ -n ${JOBRELAY_TIME_LIMIT-} ]] && jobrelay__start_watchdog "$JOBRELAY_TIME_LIMIT"
    # A signal between "&" and the assignment found no child: forward it now.
    [[ -n $jobrelay__signal ]] && jobrelay__on_signal "$jobrelay__signal"
    while :; do
        jobrelay__interrupted=""
        wait "$jobrelay__child"
        rc=$?
        # wait returns early when a trapped signal arrives; a second wait on a
        # child that has ended returns its remembered status.
        [[ -n $jobrelay__interrupted ]] || break
    done
    if ((rc < 0 || rc > 255)); then
        # bash 5.2 loses the status of a child that ends while a trap runs: the
        # next wait returns -1. The signal we forwarded most likely ended it.
        jobrelay__now
        jobrelay__append JOB_MESSAGE \
            "$jobrelay__time|WARNING|jobrelay: bash lost the exit status of the job's script (wait returned $rc)"
        if [[ -n $jobrelay__signal ]]; then
            rc=$((128 + $(kill -l "$jobrelay__signal")))
        else
            rc=255
        fi
    fi
    local signal=$jobrelay__signal
    if [[ -z $signal ]] && ((rc > 128)); then
        # 128+N: killed by signal N, or the script ran "exit 128+N": bash cannot tell.
        signal=$(kill -l "$((rc - 128))" 2>/dev/null) || signal=""
    fi
    if [[ -z $signal && -n $jobrelay__soft_signal ]] && ((rc != 0)); then
        signal=$jobrelay__soft_signal
    fi
    if [[ -n $jobrelay__signal ]] && ((rc == 0)); then
        # The script caught the signal and ended "well": still a failure.
        rc=$((128 + $(kill -l "$jobrelay__signal")))
    fi
    jobrelay__record_exit "$rc" "$signal"
    exit "$rc"
}

jobrelay__exit_on_early_signal() {
    local rc=$((128 + $(kill -l "$jobrelay__signal")))
    jobrelay__record_exit "$rc" "$jobrelay__signal"
    exit "$rc"
}
