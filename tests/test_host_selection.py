"""Host selection: order/random, bad hosts skipped for bad_host_ttl, memory shared via a file."""

from __future__ import annotations

import json
import random
from pathlib import Path

from jobrelay.platforms import Platform, Selection, TransportKind
from jobrelay.platforms.selection import HostPicker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def platform(selection: Selection = Selection.ORDER, ttl: float = 60.0) -> Platform:
    return Platform(
        name="hpc",
        hosts=("a", "b", "c"),
        selection=selection,
        transport=TransportKind.SSH,
        bad_host_ttl=ttl,
    )


def test_order_is_config_order(tmp_path: Path) -> None:
    assert HostPicker(platform(), tmp_path / "hosts.json").candidates() == ["a", "b", "c"]


def test_random_is_a_shuffle_of_all_hosts(tmp_path: Path) -> None:
    seen = set()
    for seed in range(40):
        picker = HostPicker(
            platform(Selection.RANDOM), tmp_path / "hosts.json", rng=random.Random(seed)
        )
        got = picker.candidates()
        assert sorted(got) == ["a", "b", "c"]
        seen.add(tuple(got))
    assert len(seen) > 1  # 40 seeds all giving one order would mean no shuffle at all


def test_bad_host_skipped_until_ttl_then_back(tmp_path: Path) -> None:
    clock = Clock()
    picker = HostPicker(platform(ttl=60), tmp_path / "hosts.json", clock=clock)
    picker.mark_bad("a", "ssh exit 255")
    assert picker.candidates() == ["b", "c"]
    clock.now += 59
    assert picker.candidates() == ["b", "c"]
    clock.now += 1
    assert picker.candidates() == ["a", "b", "c"]


def test_mark_good_forgets(tmp_path: Path) -> None:
    picker = HostPicker(platform(), tmp_path / "hosts.json")
    picker.mark_bad("b", "timeout")
    assert picker.candidates() == ["a", "c"]
    picker.mark_good("b")
    assert picker.candidates() == ["a", "b", "c"]


def test_all_bad_gives_all_oldest_mark_first(tmp_path: Path) -> None:
    clock = Clock()
    picker = HostPicker(platform(), tmp_path / "hosts.json", clock=clock)
    for host in ("b", "c", "a"):
        picker.mark_bad(host, "down")
        clock.now += 1
    assert picker.candidates() == ["b", "c", "a"]


def test_memory_is_shared_through_the_file(tmp_path: Path) -> None:
    state = tmp_path / "state" / "hosts.json"  # parent made on first write
    HostPicker(platform(), state).mark_bad("a", "ssh: connect to host a: Connection refused")
    other_run = HostPicker(platform(), state)
    assert other_run.candidates() == ["b", "c"]
    data = json.loads(state.read_text())
    assert data["version"] == 1
    assert data["hosts"]["a"]["reason"].startswith("ssh: connect")
    # another platform listing the same host skips it too
    other = Platform(name="o", hosts=("a", "z"), transport=TransportKind.SSH)
    assert HostPicker(other, state).candidates() == ["z"]


def test_damaged_file_remembers_nothing(tmp_path: Path) -> None:
    state = tmp_path / "hosts.json"
    state.write_text("{not json")
    picker = HostPicker(platform(), state)
    assert picker.candidates() == ["a", "b", "c"]
    picker.mark_bad("c", "x")  # and the next write repairs it
    assert picker.candidates() == ["a", "b"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".hosts.json.")] == []
