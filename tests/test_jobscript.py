"""Job file assembly: hostile names and values reach the job exactly; bash -n passes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from job_dirs import make_job

from jobrelay.jobscript.assemble import JobSpec, assemble, write_job_files
from jobrelay.jobscript.quoting import bash_quote
from jobrelay.status.reader import read_status_file

HOSTILE = [
    "plain",
    "with space",
    'it\'s "quoted"',
    "semi;colon && rm -rf /tmp/nothing",
    "$(touch /tmp/jobrelay-pwned) `touch /tmp/jobrelay-pwned` ${HOME}",
    "new\nline\n#!/bin/sh\nexit 9",
    "tab\tcr\rbell\x07esc\x1b",
    "back\\slash\\n\\x41 and $'quoted'",
    "unicode é ✓ 日本",
    "-starts-with-dash",
    "",
    "'",
    "!history !! and * glob ? [x]",
]

DUMP_ENV = (
    "import json, os, sys\n"
    "names = ['JOBRELAY_JOB_NAME', 'JOBRELAY_JOB_REF', 'JOBRELAY_JOB_DIR']\n"
    "names += sorted(n for n in os.environ if n.startswith('T_'))\n"
    "json.dump({n: os.environ[n] for n in names}, sys.stdout)\n"
)


def run(job_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(job_dir / "job")], capture_output=True, text=True, timeout=120, check=False
    )


def test_hostile_names_and_env_values_reach_the_job_exactly(tmp_path: Path) -> None:
    env = {f"T_{i}": value for i, value in enumerate(HOSTILE)}
    for i, name in enumerate(HOSTILE):
        job_dir = make_job(
            tmp_path,
            f"#!{sys.executable}\n{DUMP_ENV}",
            name=name,
            ref=name or "ref",
            env=env,
            dirname=f"job{i}",
        )
        assert subprocess.run(["bash", "-n", str(job_dir / "job")], check=False).returncode == 0
        result = run(job_dir)
        assert result.returncode == 0, result.stderr
        seen = json.loads(result.stdout)
        assert seen.pop("JOBRELAY_JOB_NAME") == name
        assert seen.pop("JOBRELAY_JOB_REF") == (name or "ref")
        assert seen.pop("JOBRELAY_JOB_DIR") == str(job_dir)
        assert seen == env
        facts = read_status_file(str(job_dir / "job.status"))
        assert (facts.exit, facts.exit_code) == ("succeeded", 0)
    assert not Path("/tmp/jobrelay-pwned").exists()


def test_job_dir_with_hostile_characters(tmp_path: Path) -> None:
    job_dir = make_job(tmp_path, "pwd > where\n", dirname="d i r;$(x)\n'q'")
    assert run(job_dir).returncode == 0
    assert (job_dir / "where").read_text() == f"{job_dir}\n"


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))
def test_bash_quote_round_trips_any_text(text: str) -> None:
    quoted = bash_quote(text)
    assert "\n" not in quoted
    out = subprocess.run(
        ["bash", "-c", f"printf %s {quoted}"], capture_output=True, timeout=60, check=False
    )
    assert out.stdout == text.encode("utf-8")


def test_header_comes_right_after_the_shebang(tmp_path: Path) -> None:
    spec = JobSpec("r", "n", str(tmp_path), ["#SBATCH --time=0:01:00", "#SBATCH -o x"], {})
    lines = assemble(spec).splitlines()
    assert lines[:3] == ["#!/bin/bash", "#SBATCH --time=0:01:00", "#SBATCH -o x"]
    assert lines[-1] == "jobrelay_main"


@pytest.mark.parametrize(
    "spec",
    [
        JobSpec("r", "n", "relative/dir"),
        JobSpec("r", "n", "/abs", ["#SBATCH -o x\necho injected"]),
        JobSpec("r", "n", "/abs", (), {"BAD NAME": "x"}),
        JobSpec("r", "n", "/abs", (), {"1X": "x"}),
        JobSpec("r", "n", "/abs", (), {"JOBRELAY_JOB_DIR": "/elsewhere"}),
        JobSpec("r", "n", "/abs", (), {"UID": "0"}),
        JobSpec("r", "n", "/abs", (), {"X": "nul\0byte"}),
        JobSpec("r", "nul\0name", "/abs"),
    ],
)
def test_specs_that_would_break_the_script_are_refused(spec: JobSpec) -> None:
    with pytest.raises(ValueError):
        assemble(spec)


def test_write_job_files_modes_and_no_temp_left(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_job_files(str(tmp_path), "#!/bin/bash\necho job\n", "echo script\n")
    finally:
        os.umask(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job", "job.script"]
    for name in ("job", "job.script"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o700
    assert (tmp_path / "job.script").read_text() == "echo script\n"
    # rewriting replaces the file whole
    write_job_files(str(tmp_path), "#!/bin/bash\necho new\n", "echo new script\n")
    assert (tmp_path / "job").read_text() == "#!/bin/bash\necho new\n"


def test_wrapper_text_loads_from_a_zipapp(tmp_path: Path) -> None:
    src = Path(__file__).resolve().parent.parent / "src"
    archive = tmp_path / "jobrelay.pyz"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in (src / "jobrelay").rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(src).as_posix())
        zf.writestr(
            "__main__.py",
            "from jobrelay.jobscript.assemble import JobSpec, assemble\n"
            "import sys\nsys.stdout.write(assemble(JobSpec('r', 'n', '/tmp/x')))\n",
        )
    out = subprocess.run(
        [sys.executable, str(archive)], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "jobrelay_message()" in out.stdout and out.stdout.endswith("jobrelay_main\n")
