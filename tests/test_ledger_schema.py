"""The ledger's file: its schema version and migrations, its own id, and files
that are not ledgers (see src/jobrelay/ledger/schema.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jobrelay.ledger import SCHEMA_VERSION, JobSpec, JobUpdate, Ledger, SchemaError


def spec(run: str, name: str) -> JobSpec:
    return JobSpec(run, name, platform="p", install_target="p", runner="slurm", script_path="/j.sh")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ledger.db"


@pytest.fixture
def ledger(path: Path):  # type: ignore[no-untyped-def]
    with Ledger.open(path) as opened:
        yield opened


def test_each_ledger_has_its_own_id_and_job_dirs(tmp_path: Path) -> None:
    """Two ledgers (two homes, two machines) using one run name never share a job dir."""
    with Ledger.open(tmp_path / "a.db") as a, Ledger.open(tmp_path / "b.db") as b:
        (ja,) = a.create_jobs([spec("r", "job.sh")])
        (jb,) = b.create_jobs([spec("r", "job.sh")])
        assert a.ledger_id != b.ledger_id and len(a.ledger_id) == 32
        assert (ja.id, ja.submit_num) == (jb.id, jb.submit_num)  # same numbers ...
        assert ja.job_dir != jb.job_dir  # ... different dirs
        assert a.identity(ja) == f"{a.ledger_id}/{ja.id}/1" != b.identity(jb)
    with Ledger.open(tmp_path / "a.db") as again:
        assert again.ledger_id == a.ledger_id  # made once, kept


def test_a_version_1_ledger_gets_an_id_when_opened(tmp_path: Path) -> None:
    import sqlite3

    from jobrelay.ledger.schema import _V1

    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    conn.executescript(_V1)
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.commit()
    conn.close()
    with Ledger.open(path) as ledger:
        assert len(ledger.ledger_id) == 32
        (job,) = ledger.create_jobs([spec("r", "x")])
        assert job.job_dir.startswith(f"r/jobs/{ledger.ledger_id[:16]}-")


def test_version_3_keeps_the_jobs_own_times_and_output_path(ledger: Ledger) -> None:
    from dataclasses import replace

    (job,) = ledger.create_jobs([replace(spec("r", "x"), output="/tmp/out/x.1")])
    assert (job.output, job.start_time, job.exit_time, job.ecflow_told) == (
        "/tmp/out/x.1",
        None,
        None,
        False,
    )
    ledger.apply(
        [
            JobUpdate(
                job_id=job.id,
                start_time="2026-12-03T06:00:00Z",
                exit_time="2026-12-03T06:01:00Z",
                ecflow_told=True,
            )
        ]
    )
    again = ledger.get(job.id)
    assert (again.start_time, again.exit_time, again.ecflow_told) == (
        "2026-12-03T06:00:00Z",
        "2026-12-03T06:01:00Z",
        True,
    )


def test_wal_mode_and_busy_timeout(path: Path) -> None:
    Ledger.open(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_newer_schema_is_refused_clearly(path: Path) -> None:
    Ledger.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(SchemaError, match=rf"schema version {SCHEMA_VERSION + 1}, newer .*upgrade"):
        Ledger.open(path)


def test_other_sqlite_file_is_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaError, match="not a jobrelay ledger"):
        Ledger.open(path)


def test_garbage_file_is_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite at all\n" * 200)
    with pytest.raises(SchemaError, match="not a usable ledger"):
        Ledger.open(path)


# -- several processes at once --------------------------------------------------------
