"""Issue 12 §7: fuzzing with hypothesis of what reads outside input.

- the status-file reader (status/reader.py) reports problems, never raises,
  and what it reads crosses the wire unchanged (facts_dict -> facts_from_wire);
- the protocol decoder (engine/protocol.py: decode_reply_line, parse_request)
  raises ProtocolError and nothing else, and decodes what the engine encodes;
- the platform config loader (platforms/config.py) raises ConfigError and
  nothing else, for any bytes on disk and any TOML document shape.

Examples are bounded (max_examples) so the suite stays quick.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobrelay.engine.protocol import (
    JobReply,
    ProtocolError,
    decode_reply_line,
    parse_request,
)
from jobrelay.platforms.config import _READERS, load_config, parse_document
from jobrelay.platforms.errors import ConfigError
from jobrelay.status import keys
from jobrelay.status.facts import StatusFacts, facts_dict, facts_from_wire
from jobrelay.status.reader import read_status_file

FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
STATUS_KEYS = [
    v for k, v in vars(keys).items() if k.isupper() and isinstance(v, str) and v.startswith("JOB_")
]

# -- the status-file reader ----------------------------------------------------
hostile = st.text(
    alphabet=st.sampled_from([*string.printable, "\\", "|", "=", "é", "\x00", "\udcff"]),
    max_size=40,
)
value = st.one_of(
    hostile,
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["succeeded", "failed", "TERM", "KILL", "2026-12-03T07:00:00Z", ""]),
    st.builds(lambda t, s, m: f"{t}|{s}|{m}", hostile, st.sampled_from(keys.SEVERITIES), hostile),
)
line = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(STATUS_KEYS), value),
    hostile,
)


def to_bytes(lines: list[str], junk: bytes) -> bytes:
    text = "\n".join(lines)
    return text.encode("utf-8", "surrogateescape") + junk


@FUZZ
@given(
    st.lists(line, max_size=40),
    st.binary(max_size=60),
    st.lists(line, max_size=5),
    st.integers(16, 4096),
    st.integers(16, 4096),
)
def test_status_reader_reports_never_raises_and_its_facts_cross_the_wire(
    tmp_path_factory: Any, lines: list[str], junk: bytes, added: list[str], head: int, tail: int
) -> None:
    path = tmp_path_factory.mktemp("s") / "job.status"
    path.write_bytes(to_bytes(lines, junk))
    extra = to_bytes(added, b"") + (b"\n" if added else b"")
    facts = read_status_file(str(path), added=extra, head_bytes=head, tail_bytes=tail)
    assert isinstance(facts, StatusFacts) and facts.exists
    assert all(isinstance(p, str) for p in facts.problems)
    # what the agent reads is what the controller gets
    wire = json.loads(json.dumps(facts_dict(facts)))
    assert facts_from_wire(wire) == facts


# -- the protocol decoder --------------------------------------------------------
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
REPLY_KEYS = ["v", "job", "dir", "verb", "status", "runner", "error", "end", "count", "stamp"]
REQUEST_KEYS = ["v", "verb", "run_root", "jobs", "runner_options"]


def objects(names: list[str], nested: dict[str, Any]) -> st.SearchStrategy[str]:
    """JSON objects with plausible keys (v mostly right) and any values."""
    known = st.fixed_dictionaries(
        {"v": st.sampled_from([1, 1, 1, 0, "1", 1.0, True])},
        optional={n: nested.get(n, json_value) for n in names if n != "v"},
    )
    return st.one_of(known, json_value).map(lambda d: json.dumps(d))


facts_json = st.dictionaries(
    st.sampled_from([*StatusFacts.__dataclass_fields__, "junk"]), json_value, max_size=8
)
runner_json = st.fixed_dictionaries(
    {}, optional={"state": st.sampled_from(["running", "gone", "x", 3]), "exit_code": json_value}
)
reply_lines = st.one_of(
    st.text(max_size=60),
    objects(REPLY_KEYS, {"status": facts_json, "runner": runner_json, "end": st.booleans()}),
    st.integers(1, 5000).map(lambda n: "[" * n + "]" * n),  # deep nesting
    st.integers(1, 5000).map(
        lambda n: '{"v":1,"job":"x","dir":"d","verb":"poll","status":' * 1 + "[" * n
    ),
)


@FUZZ
@given(reply_lines)
def test_reply_decoder_raises_only_protocol_error(text: str) -> None:
    try:
        decoded = decode_reply_line(text)
    except ProtocolError:
        return
    assert decoded is not None


job_items = st.fixed_dictionaries(
    {"job": st.one_of(st.text(max_size=8), json_value)},
    optional={n: json_value for n in ("dir", "env", "directives", "runner_id", "identity", "seen")},
)
request_texts = st.one_of(
    st.text(max_size=60),
    objects(
        REQUEST_KEYS,
        {
            "jobs": st.lists(job_items, max_size=4),
            "verb": st.sampled_from(["submit", "poll", "kill", "nope"]),
        },
    ),
    st.integers(1, 5000).map(lambda n: '{"v":1,"verb":"poll","run_root":"r","jobs":' + "[" * n),
)


@FUZZ
@given(request_texts)
def test_request_parser_raises_only_protocol_error(text: str) -> None:
    try:
        request = parse_request(text)
    except ProtocolError:
        return
    assert all(isinstance(job.job, str) for job in request.jobs)


@FUZZ
@given(
    st.builds(
        StatusFacts,
        pid=st.none() | st.integers(),
        exit_code=st.none() | st.integers(),
        exit_signal=st.none() | st.text(max_size=5),
        identity=st.none() | st.text(max_size=9),
    ),
    st.text(max_size=10),
    st.booleans(),
)
def test_a_reply_the_engine_encodes_is_decoded_unchanged(
    facts: StatusFacts, error: str, verified: bool
) -> None:
    reply = JobReply(
        job="r/1",
        dir="r/jobs/x",
        verb="kill",
        status=facts,
        error=error or None,
        kill_verified=verified,
    )
    assert decode_reply_line(reply.to_json()) == reply


# -- the platform config loader ------------------------------------------------------
toml_value = st.recursive(
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(max_size=12)
    | st.sampled_from(["ssh", "ssh-free", "local", "slurm", "~/x", "/abs", "host1", "order"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
table = st.dictionaries(st.sampled_from([*_READERS, "nope"]), toml_value, max_size=6)
document = st.fixed_dictionaries(
    {},
    optional={
        "platforms": st.one_of(st.dictionaries(st.text(max_size=6), table, max_size=3), toml_value),
        "extra": toml_value,
    },
)


@FUZZ
@given(document)
def test_config_document_raises_only_config_error(doc: dict[str, Any]) -> None:
    try:
        platforms = parse_document(doc, "fuzz.toml")
    except ConfigError as exc:
        assert exc.file == "fuzz.toml"
        return
    assert "localhost" in platforms or doc.get("platforms")


def toml_text(value: Any) -> str:
    """A TOML rendering (inline) of a value hypothesis made."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_text(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_text(v)}" for k, v in value.items()) + "}"


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=200),
        st.dictionaries(st.text(max_size=6), table, max_size=3).map(
            lambda ts: "".join(
                f"[platforms.{json.dumps(n)}]\n"
                + "".join(f"{k} = {toml_text(v)}\n" for k, v in t.items())
                for n, t in ts.items()
            ).encode("utf-8", "surrogatepass")
        ),
    )
)
def test_config_file_raises_only_config_error(tmp_path_factory: Any, data: bytes) -> None:
    path: Path = tmp_path_factory.mktemp("c") / "platforms.toml"
    path.write_bytes(data)
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
