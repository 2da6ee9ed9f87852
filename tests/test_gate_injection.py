"""Injection battery against the forced-command gate.

Every case below is a command a client could send over a gate-restricted
key. Each one must be refused: exit code 1, ``jobrelay-gate: refused: …``
on stderr, a log line with the reason, and nothing executed. "Nothing
executed" is checked with canaries: the gate is pointed at stand-in rsync
and python programs that only write a marker file, and shell payloads
would create ``<canary>/pwned``. ``test_canaries_fire_when_allowed`` shows
the canaries do fire for an allowed command, so their silence means
something. The gate runs with ``--allow-agent`` (its most permissive
setting) unless a case says otherwise.

NUL cannot be tested here: an environment variable cannot hold one
(``split_command`` refuses it anyway; see test_gate_allowed.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List

import pytest
from gate_harness import AGENT_NAME, Sandbox, make_sandbox, run_gate

R = "rsync --server -logDtpre.iLsfxCIvu"  # what rsync's client sends for a push
S = "rsync --server --sender -logDtpre.iLsfxCIvu"  # ... and for a pull


@dataclass(frozen=True)
class Case:
    name: str
    command: str  # {c} = canary dir, {root} = run root, {out} = outside dir, {agent}
    reason: str  # a fragment the refusal must contain
    allow_agent: bool = True


CASES: List[Case] = [
    # --- shell metacharacters, in every position
    Case("semicolon-after-path", R + " . d; touch {c}/pwned", "';'"),
    Case("semicolon-glued-to-option", R + ";touch {c}/pwned . d", "';'"),
    Case("semicolon-first", "; touch {c}/pwned", "';'"),
    Case("pipe", S + " . jobs | touch {c}/pwned", "'|'"),
    Case("and-and", R + " . d && touch {c}/pwned", "'&'"),
    Case("or-or", "true || touch {c}/pwned", "'|'"),
    Case("background-ampersand", "touch {c}/pwned & " + R + " . d", "'&'"),
    Case("dollar-paren-path", R + " . $(touch {c}/pwned)", "'$'"),
    Case("dollar-paren-double-quoted", R + ' . "$(touch {c}/pwned)"', "'$'"),
    Case("dollar-paren-as-command", "$(touch {c}/pwned)", "'$'"),
    Case("backticks-path", R + " . `touch {c}/pwned`", "'`'"),
    Case("backticks-double-quoted", R + ' . "`touch {c}/pwned`"', "'`'"),
    Case("variable-expansion", R + " . $HOME/.ssh", "'$'"),
    Case("redirect-out", R + " . d > {c}/pwned", "'>'"),
    Case("redirect-append-option", R + ">>{c}/pwned . d", "'>'"),
    Case("redirect-in", R + " . d < /etc/passwd", "'<'"),
    Case("subshell", "(touch {c}/pwned)", "'('"),
    Case("newline", R + " . d\ntouch {c}/pwned", "newline"),
    Case("carriage-return", R + " . d\rtouch {c}/pwned", "carriage return"),
    Case("comment", R + " . d #tail", "comment"),
    Case("unbalanced-quote", R + " . 'd", "cannot parse"),
    # --- '..', absolute paths, symlinks out of the run root
    Case("dotdot-push", R + " . ../outside", "'..'"),
    Case("dotdot-middle", R + " . jobs/../../outside/secret", "'..'"),
    Case("dotdot-pull", S + " . ..", "'..'"),
    Case("dotdot-escaped-quoted", R + " . 'jobs/../..'", "'..'"),
    Case("absolute-outside-push", R + " . /etc", "outside the run root"),
    Case("absolute-outside-pull", S + " . /etc/passwd", "outside the run root"),
    Case("absolute-sibling-prefix", R + " . {root}-evil/x", "outside the run root"),
    Case("tilde-home-outside", S + " . ~/.ssh", "outside the run root"),
    Case("symlink-out-push", R + " . link_out/x", "resolves outside"),
    Case("symlink-out-pull", S + " . link_out/", "resolves outside"),
    Case("symlink-out-dangling", R + " . dangling_out", "resolves outside"),
    Case("partial-dir-dotdot", R + " --partial-dir ../p . d", "'..'"),
    Case("temp-dir-root", R + " --temp-dir=/ . d", "outside the run root"),
    Case("backup-dir-outside", R + " --backup-dir /tmp . d", "outside the run root"),
    Case("link-dest-outside", R + " --link-dest=/etc . d", "outside the run root"),
    Case("compare-dest-dotdot", R + " --compare-dest ../.. . d", "'..'"),
    Case("copy-dest-symlink-out", R + " --copy-dest link_out . d", "resolves outside"),
    Case("partial-dir-symlink-out", R + " --partial-dir=link_out/p . d", "resolves outside"),
    # --- option injection
    Case("rsh-long", R + " --rsh=sh . d", "--rsh runs a program"),
    Case("rsh-short-separate", "rsync --server -e sh . d", "'-e'"),
    Case("rsh-short-glued", "rsync --server -esh . d", "'-esh'"),
    Case("rsh-in-cluster", "rsync --server -vlogDtpresh . d", "not allowed"),
    Case("rsync-path", R + " --rsync-path=touch\\ {c}/pwned . d", "--rsync-path"),
    Case("daemon", "rsync --daemon", "'rsync --server' must come first"),
    Case("daemon-after-server", R + " --daemon . d", "--daemon"),
    Case("config", R + " --config=/etc/rsyncd.conf . d", "--config"),
    Case("files-from-file", S + " --files-from=/etc/passwd . jobs", "--files-from"),
    Case("files-from-separate", S + " --files-from /etc/passwd . jobs", "--files-from"),
    Case("log-file", R + " --log-file={c}/pwned . d", "--log-file"),
    Case("log-file-format", R + " --log-file-format=%f . d", "--log-file-format"),
    Case("remote-option-short", R + " -M--rsh=sh . d", "'-M--rsh=sh'"),
    Case("remote-option-long", R + " --remote-option=--rsh=sh . d", "--remote-option"),
    Case("secluded-args-short", "rsync --server -slogDtpre.iLsfxCIvu", "not allowed"),
    Case("secluded-args-long", R + " --secluded-args . d", "--secluded-args"),
    Case("copy-links", "rsync --server --sender -logDtprLe.iLsfxCIvu . jobs", "not allowed"),
    Case("keep-dirlinks", "rsync --server -logDtprKe.iLsfxCIvu . d", "not allowed"),
    Case("copy-unsafe-links", S + " --copy-unsafe-links . jobs", "--copy-unsafe-links"),
    Case("write-devices", R + " --write-devices . d", "--write-devices"),
    Case("copy-devices", S + " --copy-devices . jobs", "--copy-devices"),
    Case("write-batch", R + " --only-write-batch={c}/pwned . d", "--only-write-batch"),
    Case("read-batch", R + " --read-batch=/etc/passwd . d", "--read-batch"),
    Case("second-server", R + " --server . d", "--server only"),
    Case("sender-late", R + " --sender . jobs", "--sender only"),
    Case("confine-root-override", R + " --confine-root=/ . d", "--confine-root"),
    Case("debug", R + " --debug=ALL . d", "--debug"),
    Case("flag-with-value", R + " --recursive=yes . d", "takes no value"),
    Case("unknown-long", R + " --no-such-option . d", "not allowed"),
    Case("suffix-with-slash", R + " -b --suffix=/../../x . d", "--suffix"),
    Case("value-swallows-dot", R + " --timeout . /etc", "before '.'"),
    Case("path-is-option", R + " . --rsh=sh", "looks like an option"),
    Case("path-is-short-option", R + " . -e", "looks like an option"),
    Case("wildcard", S + " . jobs/*", "wildcards"),
    Case("no-dot", R + " d", "before '.'"),
    Case("no-path", R + " .", "names no path"),
    Case("rsync-alone", "rsync", "must come first"),
    Case("rsync-absolute-path", "/usr/bin/rsync --server -logDtpre.iLsfxCIvu . d", "not allowed"),
    # --- overlong arguments
    Case("overlong-path", R + " . " + "a" * 5000, "limit 4096"),
    Case("overlong-option", R + " --timeout=" + "9" * 5000 + " . d", "limit 4096"),
    Case("overlong-command", R + " . " + " ".join(["p"] * 40000), "limit 65536"),
    # --- other programs
    Case("empty", "", "empty command"),
    Case("blank", "   ", "empty command"),
    Case("true", "true", "'true' is not allowed"),
    Case("id", "id", "'id' is not allowed"),
    Case("cat-passwd", "cat /etc/passwd", "'cat' is not allowed"),
    Case("sh-c", "sh -c 'touch {c}/pwned'", "'sh' is not allowed"),
    Case("bash-c", "bash -c 'touch {c}/pwned'", "'bash' is not allowed"),
    Case("env-touch", "env touch {c}/pwned", "'env' is not allowed"),
    Case("scp", "scp -t .", "'scp' is not allowed"),
    Case("sftp-server", "/usr/lib/openssh/sftp-server", "not allowed"),
    Case("python-c", 'python3 -c \'open("{c}/pwned", "w")\'', "'-c'"),
    Case("python-S-c", 'python3 -S -c \'open("{c}/pwned", "w")\'', "'-c'"),
    Case("python-m", "python3 -m http.server", "'-m'"),
    Case("python-alone", "python3", "without the agent path"),
    # --- the agent form, outside what the gate allows
    Case("agent-without-allow-agent", "python3 -S {agent}", "without --allow-agent", False),
    Case("agent-outside-root", "python3 -S {out}/" + AGENT_NAME, "outside the run root"),
    Case("agent-dotdot", "python3 -S {root}/.jobrelay/../../outside/" + AGENT_NAME, "'..'"),
    Case("agent-symlink-out", "python3 -S {root}/.jobrelay/agent-9.9.9.pyz", "resolves outside"),
    Case("agent-extra-args", "python3 -S {agent} --confine /", "no arguments"),
    Case("agent-extra-arg-injection", "python3 -S {agent} -c x", "no arguments"),
    Case("agent-serve-then-more", "python3 -S {agent} --serve -c x", "no arguments"),
    Case("agent-more-then-serve", "python3 -S {agent} --confine / --serve", "no arguments"),
    Case("agent-serve-twice", "python3 -S {agent} --serve --serve", "no arguments"),
    Case("agent-serve-glued", "python3 -S {agent} --serve=1", "no arguments"),
    Case("agent-wrong-name", "python3 -S {root}/.jobrelay/evil.py", "agent-<version>.pyz"),
    Case("agent-wrong-dir", "python3 -S {root}/jobs/" + AGENT_NAME, "agent-<version>.pyz"),
    Case("agent-relative", "python3 -S .jobrelay/" + AGENT_NAME, "must be absolute"),
    Case("agent-not-installed", "python3 -S {root}/.jobrelay/agent-7.0.pyz", "not installed"),
    Case("agent-then-command", "python3 -S {agent}; touch {c}/pwned", "';'"),
    Case("agent-other-interpreter", "perl {agent}", "'perl' is not allowed"),
]


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    return make_sandbox(tmp_path)


def _fill(box: Sandbox, text: str) -> str:
    return text.format(c=box.canary, root=box.root, out=box.outside, agent=box.agent)


def test_case_names_are_unique() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_refused(box: Sandbox, case: Case) -> None:
    command = _fill(box, case.command)
    extra = ["--allow-agent"] if case.allow_agent else []
    result = run_gate(box, command, extra)
    assert result.returncode == 1, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("jobrelay-gate: refused: "), result.stderr
    assert case.reason in first, first
    assert result.stdout == ""
    log = box.log.read_text().splitlines()
    assert len(log) == 1 and "refused: " in log[0] and case.reason in log[0]
    assert "192.0.2.7" in log[0]  # the SSH client is recorded
    assert box.executed() == [], f"executed: {box.executed()}"
    assert not box.pwned.exists()


def test_no_command_is_refused(box: Sandbox) -> None:
    result = run_gate(box, None, ["--allow-agent"])
    assert result.returncode == 1
    assert "refused: no command given" in result.stderr
    assert "refused" in box.log.read_text()
    assert box.executed() == []


def test_misconfigured_gate_refuses(box: Sandbox) -> None:
    result = run_gate(box, R + " . d", ["--run-root", str(box.base / "missing")])
    assert result.returncode == 1
    assert "refused: gate misconfigured" in result.stderr
    assert box.executed() == []


def test_canaries_fire_when_allowed(box: Sandbox) -> None:
    """The control: an allowed command does reach the stand-in programs."""
    pushed = run_gate(box, R + " . jobs/j1/", ["--allow-agent"])
    assert pushed.returncode == 0, pushed.stderr
    assert box.rsync_marker.read_text().splitlines() == [
        "--server",
        "-logDtpre.iLsfxCIvu",
        f"--confine-root={box.root.resolve()}",
        "--drop-D",
        "--",
        ".",
        "jobs/j1/",
    ]
    agent = run_gate(box, f"python3 -S {box.agent}", ["--allow-agent"])
    assert agent.returncode == 0, agent.stderr
    assert box.python_marker.read_text().splitlines() == [
        "-S",
        str(box.agent.resolve()),
        "--confine",
        str(box.root.resolve()),
    ]
    # a session: the one word the gate lets through after the agent path
    served = run_gate(box, f"python3 -S {box.agent} --serve", ["--allow-agent"])
    assert served.returncode == 0, served.stderr
    assert box.python_marker.read_text().splitlines() == [
        "-S",
        str(box.agent.resolve()),
        "--confine",
        str(box.root.resolve()),
        "--serve",
    ]
    assert "allowed rsync" in box.log.read_text()
