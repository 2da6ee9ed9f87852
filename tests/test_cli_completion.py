"""Shell completion, run by the shells themselves: bash's completion function
called as bash calls it (COMP_WORDS, COMP_CWORD), and the zsh script loaded
by zsh (compinit + bashcompinit) registering it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cli_harness import Cli, local_cli
from conftest import require_that


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = local_cli(tmp_path, '[platforms.hpc-one]\nrun_root = "/tmp/x"\n')
    # `jobrelay` on PATH as the completion script calls it: the harness's python -m
    bindir = tmp_path / "bin"
    bindir.mkdir()
    argv = " ".join(f"'{a}'" for a in cli.argv())
    (bindir / "jobrelay").write_text(f'#!/bin/sh\nexec {argv} "$@"\n')
    (bindir / "jobrelay").chmod(0o755)
    cli.bindir = bindir  # type: ignore[attr-defined]
    return cli


def complete(cli: Cli, line: str) -> list[str]:
    """What bash offers for ``line`` (the cursor at its end)."""
    require_that(shutil.which("bash") is not None, "bash is not installed")
    script = cli.run("completion", "bash").stdout
    words = line.split(" ")
    env = cli.env()
    env["PATH"] = f"{cli.bindir}:{env['PATH']}"  # type: ignore[attr-defined]
    words_array = " ".join(f"'{w}'" for w in words)
    program = (
        f"{script}\nCOMP_WORDS=({words_array}); COMP_CWORD={len(words) - 1}; "
        'COMP_LINE="${COMP_WORDS[*]}"; _jobrelay; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    proc = subprocess.run(["bash", "-c", program], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return [w for w in proc.stdout.splitlines() if w]


def test_bash_completes_commands_options_platforms_and_jobs(cli: Cli, tmp_path: Path) -> None:
    assert {"submit", "show", "watch", "completion"} <= set(complete(cli, "jobrelay "))
    assert "__complete" not in complete(cli, "jobrelay ")
    assert complete(cli, "jobrelay wa") == ["wait", "watch"]
    assert set(complete(cli, "jobrelay wait --")) == {
        "--help", "--run", "--timeout", "--json", "--config",
    }  # fmt: skip
    assert complete(cli, "jobrelay submit --platform hpc") == ["hpc-one"]
    assert complete(cli, "jobrelay list --state su") == [
        "submitting", "submitted", "succeeded", "submit-failed",
    ]  # fmt: skip

    job = tmp_path / "job.sh"
    job.write_text("#!/bin/sh\ntrue\n")
    cli.run("submit", str(job), "--run", "night", "--name", "post")
    assert complete(cli, "jobrelay show night/") == ["night/1"]
    assert complete(cli, "jobrelay kill po") == ["post"]
    assert complete(cli, "jobrelay wait --run ni") == ["night"]
    assert complete(cli, "jobrelay --config x l") == ["list", "logs"]


def test_zsh_loads_the_script(cli: Cli) -> None:
    require_that(shutil.which("zsh") is not None, "zsh is not installed (tests/infra/up.sh)")
    script = cli.run("completion", "zsh").stdout
    program = f"autoload -U compinit && compinit -u -D\n{script}\nprint -r -- ${{_comps[jobrelay]}}"
    proc = subprocess.run(
        ["zsh", "-f", "-c", program], env=cli.env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "_bash_complete -F _jobrelay", proc.stdout
