"""inside_root: the path confinement the gate (and the agent) rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobrelay.gate.paths import PathRefused, ResolvedPath, inside_root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "run"
    (r / "jobs" / "j1").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (r / "out").symlink_to(tmp_path / "outside")
    (r / "in").symlink_to(r / "jobs")
    (r / "loop").symlink_to(r / "loop")
    (tmp_path / "run-evil").mkdir()
    (tmp_path / "alias").symlink_to(r)
    return r


@pytest.mark.parametrize(
    "rel, relative",
    [
        (".", "."),
        ("jobs/j1", "jobs/j1"),
        ("jobs/j1/", "jobs/j1"),
        ("jobs/new/deeper", "jobs/new/deeper"),
        ("./jobs//j1", "jobs/j1"),
        ("in/j1", "in/j1"),  # a symlink that stays inside is fine
    ],
)
def test_inside(root: Path, rel: str, relative: str) -> None:
    found = inside_root(str(root), rel)
    assert isinstance(found, ResolvedPath), found
    assert found.relative == relative
    assert found.path.startswith(str(root.resolve()))


def test_absolute_inside_under_either_spelling(root: Path) -> None:
    alias = root.parent / "alias"
    for given_root, path in (
        (root, f"{root}/jobs/j1"),
        (alias, f"{alias}/jobs"),
        (alias, f"{root}/jobs"),
    ):
        found = inside_root(str(given_root), path)
        assert isinstance(found, ResolvedPath), (given_root, path, found)


@pytest.mark.parametrize(
    "rel, reason",
    [
        ("", "empty"),
        ("..", "'..'"),
        ("jobs/../..", "'..'"),
        ("jobs/..", "'..'"),
        ("/etc/passwd", "outside"),
        ("out", "resolves outside"),
        ("out/new/file", "resolves outside"),
        ("loop/x", "symlink loop"),
        ("a\0b", "NUL"),
    ],
)
def test_refused(root: Path, rel: str, reason: str) -> None:
    found = inside_root(str(root), rel)
    assert isinstance(found, PathRefused)
    assert reason in found.reason


def test_sibling_with_root_as_prefix_is_outside(root: Path) -> None:
    found = inside_root(str(root), f"{root}-evil/x")
    assert isinstance(found, PathRefused)


def test_absolute_refused_when_not_allowed(root: Path) -> None:
    found = inside_root(str(root), f"{root}/jobs", allow_absolute=False)
    assert isinstance(found, PathRefused)
