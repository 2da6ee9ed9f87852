"""The status file reader: survives anything, round-trips what the writer wrote."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobrelay.status import keys
from jobrelay.status.facts import Message
from jobrelay.status.reader import (
    MAX_PROBLEMS,
    append_lines,
    escape_value,
    format_line,
    parse_status,
    read_status_file,
    unescape_value,
)


def test_full_file_settles_last_value_wins_and_messages_accumulate() -> None:
    data = (
        b"JOB_STATUS_VERSION=1\n"
        b"JOB_RUNNER_NAME=slurm\n"
        b"JOB_RUNNER_ID=1234;rjtest\n"
        b"JOB_SUBMIT_TIME=2026-11-25T01:00:00Z\n"
        b"JOB_PID=4321\n"
        b"JOB_HOST=node1\n"
        b"JOB_START_TIME=2026-11-25T01:00:05Z\n"
        b"JOB_MESSAGE=2026-11-25T01:00:06Z|WARNING|late input\n"
        b"JOB_MESSAGE=2026-11-25T01:00:07Z|INFO|a|b\\nc\\\\n\n"
        b"JOB_RUNNER_ID=1235;rjtest\n"
        b"JOB_EXIT=failed\n"
        b"JOB_EXIT_CODE=143\n"
        b"JOB_EXIT_SIGNAL=TERM\n"
        b"JOB_EXIT_TIME=2026-11-25T01:01:00Z\n"
        b"JOB_EXIT_BY=agent\n"
        b"JOB_RUNNER_FORGOT=2026-11-25T01:02:00Z\n"
    )
    facts = parse_status(data)
    assert facts.problems == ()
    assert facts.exists and facts.started and facts.finished
    assert facts.runner_name == "slurm"
    assert facts.runner_id == "1235;rjtest"
    assert facts.submit_time == "2026-11-25T01:00:00Z"
    assert (facts.pid, facts.host) == (4321, "node1")
    assert facts.messages == (
        Message("2026-11-25T01:00:06Z", "WARNING", "late input"),
        Message("2026-11-25T01:00:07Z", "INFO", "a|b\nc\\n"),
    )
    assert (facts.exit, facts.exit_code, facts.exit_signal) == ("failed", 143, "TERM")
    assert facts.exit_time == "2026-11-25T01:01:00Z"
    assert facts.exit_by == "agent"
    assert facts.runner_forgot == "2026-11-25T01:02:00Z"


def test_garbage_unknown_keys_bad_ints_and_bad_bytes_are_reported_not_fatal() -> None:
    data = (
        b"JOB_PID=12\n"
        b"this is not a status line\n"
        b"JOB_FUTURE_KEY=whatever\n"
        b"JOB_PID=twelve\n"
        b"JOB_EXIT_CODE=1e3\n"
        b"JOB_HOST=n\xff\xfede\n"
        b"JOB_EXIT=maybe\n"
        b"JOB_MESSAGE=no severity here\n"
        b"JOB_MESSAGE=t|LOUD|x\n"
        b"\n"
        b"JOB_STATUS_VERSION=9\n"
        b"JOB_START_TIME=a\\qb\n"
    )
    facts = parse_status(data)
    assert facts.pid == 12  # the bad later value did not replace the good one
    assert facts.exit_code is None
    assert facts.exit is None
    assert facts.host == "n\ufffd\ufffdde"
    assert facts.messages == ()
    assert facts.start_time == "a\\qb"
    text = "\n".join(facts.problems)
    for expected in (
        "line 2: not KEY=VALUE",
        "line 3: unknown key JOB_FUTURE_KEY",
        "line 4: JOB_PID is not an integer",
        "line 5: JOB_EXIT_CODE is not an integer",
        "line 6: not UTF-8",
        "line 7: JOB_EXIT is 'maybe'",
        "line 8: JOB_MESSAGE is not TIME|SEVERITY|TEXT",
        "line 9: JOB_MESSAGE is not TIME|SEVERITY|TEXT",
        "line 11: format version '9'",
        "line 12: stray backslash",
    ):
        assert expected in text, expected
    assert len(facts.problems) == 10  # the blank line 10 is not a problem


def test_known_keys_take_the_same_checks_in_a_clean_file() -> None:
    """The reader's quick path for plain text keys (a clean UTF-8 file) must not
    skip what the careful path checks."""
    data = (
        b"JOB_HOST\n"  # a known key with no "=": not a line
        b"JOB_RUNNER_ID=12;c\n"
        b"JOB_HOST=first\\nsecond\n"  # escaped newline in a value
        b"JOB_EXIT_SIGNAL=a\\qb\n"  # stray backslash
        b"JOB_HOST =spaced\n"  # not a key
        b"JOB_EXIT_TIME=caf\xc3\xa9\n"  # UTF-8, not damage
    )
    facts = parse_status(data)
    assert facts.host == "first\nsecond" and facts.runner_id == "12;c"
    assert facts.exit_signal == "a\\qb" and facts.exit_time == "caf\u00e9"
    text = "\n".join(facts.problems)
    assert "line 1: not KEY=VALUE" in text
    assert "line 4: stray backslash" in text
    assert "line 5: not KEY=VALUE" in text
    assert len(facts.problems) == 3


def test_cut_last_line_accepted_only_when_it_parses() -> None:
    facts = parse_status(b"JOB_PID=5\nJOB_EXIT=succeeded")
    assert facts.exit == "succeeded"
    assert facts.problems == ("line 2: last line has no newline (accepted, it parses)",)
    facts = parse_status(b"JOB_PID=5\nJOB_EXIT=succ")
    assert facts.exit is None
    assert facts.problems == ("line 2: last line has no newline and does not parse (ignored)",)
    facts = parse_status(b"JOB_PID=5\nJOB_EX")
    assert facts.pid == 5 and facts.exit is None
    assert len(facts.problems) == 1


def test_problem_list_is_capped() -> None:
    facts = parse_status(b"garbage\n" * 1000)
    assert len(facts.problems) == MAX_PROBLEMS + 1
    assert facts.problems[-1] == f"{1000 - MAX_PROBLEMS} more problems not listed"


def test_missing_file_and_missing_dir(tmp_path: Path) -> None:
    assert read_status_file(str(tmp_path / "job.status")).exists is False
    assert read_status_file(str(tmp_path / "nodir" / "job.status")).exists is False
    (tmp_path / "file").write_text("x")
    assert read_status_file(str(tmp_path / "file" / "job.status")).exists is False


def test_unreadable_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "job.status"
    path.write_text("JOB_PID=1\n")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            # root reads anything: make it unreadable another way, a directory
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)
            path.unlink()
            path.mkdir()
        facts = read_status_file(str(path))
    finally:
        if path.is_file():
            path.chmod(0o600)
    assert facts.exists is True
    assert facts.pid is None
    assert len(facts.problems) == 1 and facts.problems[0].startswith("cannot read")


def test_huge_file_reads_head_and_tail_and_reports_the_gap(tmp_path: Path) -> None:
    path = tmp_path / "job.status"
    message = "JOB_MESSAGE=2026-11-25T01:00:00Z|DEBUG|" + "x" * 200 + "\n"
    with path.open("w") as handle:
        handle.write("JOB_RUNNER_NAME=background\nJOB_RUNNER_ID=1:2\n")
        for _ in range(50_000):  # ~12 MB of messages
            handle.write(message)
        handle.write("JOB_EXIT=succeeded\nJOB_EXIT_CODE=0\n")
    size = path.stat().st_size
    facts = read_status_file(str(path), head_bytes=4096, tail_bytes=64 * 1024)
    assert facts.runner_name == "background" and facts.runner_id == "1:2"
    assert (facts.exit, facts.exit_code) == ("succeeded", 0)
    gap = [p for p in facts.problems if "skipped" in p]
    assert len(gap) == 1 and f"file is {size} bytes" in gap[0]
    assert all("not KEY=VALUE" not in p for p in facts.problems)  # cuts fall between lines
    assert 0 < len(facts.messages) < 50_000
    # the defaults also bound a 12 MB file
    facts = read_status_file(str(path))
    assert facts.exit == "succeeded" and any("skipped" in p for p in facts.problems)


def test_format_line_escapes_and_refuses_bad_keys() -> None:
    assert format_line("JOB_HOST", "a\\b\nc") == "JOB_HOST=a\\\\b\\nc\n"
    with pytest.raises(ValueError):
        format_line("job host", "x")
    with pytest.raises(ValueError):
        format_line("JOB=X", "x")


def test_concurrent_appenders_do_not_interleave(tmp_path: Path) -> None:
    path = str(tmp_path / "job.status")
    text = "y" * 3000 + "\nwith newline|and bar"

    def write(severity: str) -> None:
        for _ in range(200):
            append_lines(path, [(keys.MESSAGE, f"2026-11-25T01:00:00Z|{severity}|{text}")])

    threads = [threading.Thread(target=write, args=(s,)) for s in ("INFO", "ERROR", "DEBUG")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    facts = read_status_file(path)
    assert facts.problems == ()
    assert len(facts.messages) == 600
    assert all(m.text == text for m in facts.messages)


# -- generated files ---------------------------------------------------------
KNOWN_TEXT_KEYS = [
    keys.RUNNER_NAME,
    keys.RUNNER_ID,
    keys.SUBMIT_TIME,
    keys.HOST,
    keys.START_TIME,
    keys.EXIT_SIGNAL,
    keys.EXIT_TIME,
    keys.RUNNER_FORGOT,
]
FIELD_OF = {
    keys.RUNNER_NAME: "runner_name",
    keys.RUNNER_ID: "runner_id",
    keys.SUBMIT_TIME: "submit_time",
    keys.HOST: "host",
    keys.START_TIME: "start_time",
    keys.EXIT_SIGNAL: "exit_signal",
    keys.EXIT_TIME: "exit_time",
    keys.RUNNER_FORGOT: "runner_forgot",
}
# Text as the writer may get it: anything but NUL and lone surrogates.
values = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
entries = st.one_of(
    st.tuples(st.sampled_from(KNOWN_TEXT_KEYS), values),
    st.tuples(st.just(keys.PID), st.integers(0, 2**31).map(str)),
    st.tuples(st.just(keys.EXIT_CODE), st.integers(-255, 255).map(str)),
    st.tuples(st.just(keys.EXIT), st.sampled_from(["succeeded", "failed"])),
    st.tuples(
        st.just(keys.MESSAGE),
        st.tuples(st.sampled_from(keys.SEVERITIES), values).map(
            lambda sv: f"2026-11-25T01:00:00Z|{sv[0]}|{sv[1]}"
        ),
    ),
)


RUN_END_KEYS = (
    keys.EXIT,
    keys.EXIT_CODE,
    keys.EXIT_SIGNAL,
    keys.EXIT_TIME,
    keys.EXIT_BY,
    keys.RUNNER_FORGOT,
)


def test_a_start_after_an_exit_is_a_restart_that_clears_the_first_runs_end() -> None:
    # Slurm requeue/preemption: the wrapper records TERM, then the job runs again.
    data = (
        b"JOB_STATUS_VERSION=1\n"
        b"JOB_RUNNER_NAME=slurm\n"
        b"JOB_RUNNER_ID=77\n"
        b"JOB_PID=100\nJOB_HOST=n1\nJOB_START_TIME=2026-11-25T01:00:05Z\n"
        b"JOB_EXIT=failed\nJOB_EXIT_CODE=143\nJOB_EXIT_SIGNAL=TERM\n"
        b"JOB_EXIT_TIME=2026-11-25T01:00:09Z\n"
        b"JOB_RUNNER_FORGOT=2026-11-25T01:00:10Z\n"
        b"JOB_PID=200\nJOB_HOST=n2\nJOB_START_TIME=2026-11-25T01:01:00Z\n"
    )
    again = parse_status(data)
    assert again.problems == ()
    assert again.restarts == 1 and again.started and not again.finished
    assert (again.exit_code, again.exit_signal, again.exit_time) == (None, None, None)
    assert again.runner_forgot is None
    assert (again.pid, again.host, again.start_time) == (200, "n2", "2026-11-25T01:01:00Z")
    assert again.runner_id == "77"  # requeue keeps the id
    ended = parse_status(data + b"JOB_EXIT=succeeded\nJOB_EXIT_CODE=0\n")
    assert (ended.exit, ended.exit_code, ended.exit_signal, ended.restarts) == (
        "succeeded",
        0,
        None,
        1,
    )
    # a start with no exit before it (the wrapper's own single start) is not a restart
    assert parse_status(b"JOB_PID=1\nJOB_START_TIME=x\nJOB_PID=1\n").restarts == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash(data: bytes) -> None:
    facts = parse_status(data)
    assert facts.exists
    assert len(facts.problems) <= MAX_PROBLEMS + 1


@settings(max_examples=200, deadline=None)
@given(st.lists(entries, max_size=30))
def test_valid_lines_round_trip(pairs: list[tuple[str, str]]) -> None:
    data = "".join(format_line(k, v) for k, v in pairs).encode("utf-8")
    facts = parse_status(data)
    assert facts.problems == ()
    expected_messages = []
    last: dict[str, str] = {}
    restarts = 0
    for key, value in pairs:
        if key == keys.MESSAGE:
            time_, severity, text = value.split("|", 2)
            expected_messages.append(Message(time_, severity, text))
        else:
            if key in (keys.PID, keys.START_TIME) and keys.EXIT in last:
                # a start after an exit is a new run: the earlier run's end is cleared
                restarts += 1
                for gone in RUN_END_KEYS:
                    last.pop(gone, None)
            last[key] = value
    assert facts.restarts == restarts
    assert list(facts.messages) == expected_messages
    for key, field_name in FIELD_OF.items():
        assert getattr(facts, field_name) == last.get(key)
    assert facts.pid == (int(last[keys.PID]) if keys.PID in last else None)
    assert facts.exit_code == (int(last[keys.EXIT_CODE]) if keys.EXIT_CODE in last else None)
    assert facts.exit == last.get(keys.EXIT)


@settings(max_examples=200, deadline=None)
@given(st.lists(entries, min_size=1, max_size=20), st.data())
def test_truncated_files_never_crash_and_keep_whole_lines(
    pairs: list[tuple[str, str]], data: st.DataObject
) -> None:
    whole = "".join(format_line(k, v) for k, v in pairs).encode("utf-8")
    cut = data.draw(st.integers(0, len(whole)))
    facts = parse_status(whole[:cut])
    complete = whole[:cut].count(b"\n")
    # every whole line before the cut is read: the messages among them are there
    whole_lines = whole[:cut].split(b"\n")[:complete]
    n_messages = sum(1 for line in whole_lines if line.startswith(b"JOB_MESSAGE="))
    assert n_messages <= len(facts.messages) <= n_messages + 1
    assert len(facts.problems) <= 2  # at most the cut line (and its bad UTF-8)


@settings(max_examples=200, deadline=None)
@given(values)
def test_escape_round_trips(value: str) -> None:
    escaped = escape_value(value)
    assert "\n" not in escaped
    assert unescape_value(escaped) == (value, True)


@settings(max_examples=50, deadline=None)
@given(st.lists(entries, max_size=10), st.binary(max_size=300))
def test_files_on_disk_with_garbage_appended_never_crash(
    tmp_path_factory: pytest.TempPathFactory, pairs: list[tuple[str, str]], junk: bytes
) -> None:
    path = tmp_path_factory.mktemp("gen") / "job.status"
    append_lines(str(path), pairs)
    with path.open("ab") as handle:
        handle.write(junk)
    facts = read_status_file(str(path))
    assert facts.exists
    msgs = [v for k, v in pairs if k == keys.MESSAGE]
    assert len(facts.messages) >= len(msgs)  # junk may add, never remove, messages
