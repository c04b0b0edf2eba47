"""Property test at the door: whatever a client sends, ingest answers 4xx or 200, never 500; a refusal writes nothing.

Real PVS6 answers (the seed and, where present, the public fixtures) are mutated field by field with junk a
broken PVS6, a corrupted spool or a stranger holding the secret could send (integers of 400 digits, times
outside the calendar, wrong hashes, duplicate keys, trailing gzip bytes), mixed with random JSON, and posted
signed to the ingest function under functions-framework's real app, the same way test_ingest_http does.
A 5xx would make the Pi retry the same batch forever, so it is the failure this test hunts.

``PVS6_FUZZ_EXAMPLES`` sets the example count (100 in the suite; thousands for a real hunt, with
``PVS6_FUZZ_RANDOM=1`` for a fresh seed each run); the figures of a run (inputs, refused, accepted, 5xx) are
printed at the end of the session.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import os
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is a dev dependency for property tests")
from functions_framework import create_app  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pvs6_cloud.runtime import Runtime, set_runtime  # noqa: E402
from pvs6_parse import ParseError, parse_payload  # noqa: E402
from tests.support.cloud import envelope, local_config, signed  # noqa: E402
from tests.support.pvs6_fixtures import FIXTURES  # noqa: E402

MAIN = Path(__file__).resolve().parents[1] / "cloud" / "main.py"
SEED = Path(__file__).resolve().parent / "data" / "seed_devicelist.json"
EXAMPLES = int(os.environ.get("PVS6_FUZZ_EXAMPLES", "100"))
TALLY: Counter[str] = Counter({"crashes (5xx)": 0})


def _source_for(name: str) -> str:
    return "varserver" if name.startswith("vars_") else "dl_cgi"


def _bases() -> list[tuple[str, Any]]:
    """(source, payload) of every real answer on hand: the seed always, the public fixtures when beside us."""
    bases = [("dl_cgi", json.loads(SEED.read_text(encoding="utf-8")))]
    if FIXTURES.is_dir():
        for path in sorted(FIXTURES.glob("*.json")):
            bases.append((_source_for(path.name), json.loads(path.read_text(encoding="utf-8"))))
    return bases


def _parses(source: str, payload: Any) -> bool:
    try:
        parse_payload(payload, source=source, site="home", captured_at=datetime(2025, 1, 1, tzinfo=UTC))
    except ParseError:
        return False
    return True


BASES = _bases()
GOOD_BASES = [(source, payload) for source, payload in BASES if _parses(source, payload)]


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place inside a JSON value a mutation can land (object keys and list positions)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*prefix, index)
            yield from _paths(child, (*prefix, index))


PATHS = [list(_paths(payload)) or [()] for _source, payload in BASES]
LEAVES = [[p for p in paths if p and not isinstance(_at(payload, p), dict | list)] or paths
          for paths, (_source, payload) in zip(PATHS, BASES, strict=True)]

odd_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**1024, 10**4000]),  # bare JSON integers no float holds
    st.sampled_from([10**400, 2**63, -1, 0]),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["nan", "inf", "", "9" * 400, "1e400", "2025,09,12,21,12,99999999999999999999",
                     "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "99999999999999999999",
                     "2025,13,12,21,12,42", "working", "error", "Inverter", "Power Meter", "PVS"]),
)
json_values = st.recursive(
    odd_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=10), children, max_size=4)),
    max_leaves=12,
)


@st.composite
def mutated_answer(draw: st.DrawFn) -> tuple[str, Any]:
    """A real answer with a few values replaced by junk, or a few keys dropped."""
    index = draw(st.integers(0, len(BASES) - 1))
    source, payload = BASES[index]
    payload = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 6))):
        # Half the time one value the parser reads (a device field) gets an odd scalar; else anything anywhere.
        leaf = draw(st.booleans())
        path = draw(st.sampled_from(LEAVES[index] if leaf else PATHS[index]))
        if not path:
            return source, draw(json_values)
        parent: Any = payload
        try:
            for step in path[:-1]:
                parent = parent[step]
            if leaf:
                parent[path[-1]] = draw(odd_scalars)
            elif draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced this branch
    return source, payload


_plausible_times = st.datetimes(min_value=datetime(2009, 6, 1), max_value=datetime(2027, 1, 1),
                                timezones=st.just(UTC)).map(datetime.isoformat)
captured_times = st.one_of(
    _plausible_times,
    _plausible_times,
    _plausible_times,
    st.sampled_from(["0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
                     "2009-12-31T23:59:59Z", "2025-09-12T21:11:15", "yesterday", ""]),
    json_values,
)


@st.composite
def wild_snapshot(draw: st.DrawFn) -> dict[str, Any]:
    """One envelope item where anything may be wrong: the payload, its hash, its time, its source, a field."""
    if draw(st.booleans()):
        source, payload = draw(st.sampled_from(["dl_cgi", "varserver", "other"])), draw(json_values)
    else:
        source, payload = draw(mutated_answer())
    digest = hashlib.sha256(json.dumps(payload).encode()).hexdigest()
    digest = draw(st.sampled_from([digest, digest.upper(), "0" * 64, "not hex"]))
    item: dict[str, Any] = {"captured_at": draw(captured_times), "source": source, "sha256": digest,
                            "payload": payload}
    if draw(st.booleans()):
        del item[draw(st.sampled_from(sorted(item)))]
    return item


@st.composite
def answer_snapshot(draw: st.DrawFn, mutate: bool = True) -> dict[str, Any]:
    """A real answer, rightly hashed and plausibly dated, so it reaches the parser; ``mutate`` spoils its fields."""
    source, payload = draw(mutated_answer()) if mutate else draw(st.sampled_from(GOOD_BASES))
    at = draw(st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2026, 1, 1), timezones=st.just(UTC)))
    return {"captured_at": at.isoformat(), "source": source,
            "sha256": hashlib.sha256(json.dumps(payload).encode()).hexdigest(), "payload": payload}


# How a request goes wrong. Each mode spoils one layer, so deeper layers are reached often enough to matter;
# "mixed" puts untouched answers beside spoiled ones, as a Pi whose spool holds one bad reading would send them.
MODES = ["clean", "fields", "fields", "mixed", "mixed", "items", "envelope", "gzip", "random"]


@st.composite
def request_body(draw: st.DrawFn) -> tuple[bytes, list[bool] | None]:
    """(gzip body, for each snapshot whether it is an untouched real answer; None when it is no envelope)."""
    mode = draw(st.sampled_from(MODES))
    if mode == "random":
        return gzip.compress(json.dumps(draw(json_values)).encode()), None  # not an envelope at all
    if mode == "clean":
        tagged = [(item, True) for item in draw(st.lists(answer_snapshot(mutate=False), max_size=3))]
    elif mode == "mixed":
        tagged = draw(st.lists(st.one_of(answer_snapshot(mutate=False).map(lambda i: (i, True)),
                                         answer_snapshot().map(lambda i: (i, False)),
                                         wild_snapshot().map(lambda i: (i, False))), min_size=2, max_size=4))
    elif mode == "items":
        tagged = [(item, False) for item in draw(st.lists(wild_snapshot(), min_size=1, max_size=3))]
    else:
        tagged = [(item, False) for item in draw(st.lists(answer_snapshot(), min_size=1, max_size=3))]
    items = [item for item, _good in tagged]
    body = envelope(items, status=draw(st.dictionaries(st.text(max_size=6), json_values, max_size=3)))
    good = [g for _item, g in tagged]
    if mode == "envelope":
        body["schema"] = draw(st.sampled_from([1, True, 1.0, 2, "1", None]))
        good = [False] * len(items)
    text = json.dumps(body)
    if mode == "envelope" and draw(st.booleans()):
        text = text.replace('"schema": ', '"schema": 1, "schema": ', 1)  # a repeated key
    compressed = gzip.compress(text.encode())
    if mode == "gzip":
        compressed = draw(st.sampled_from([compressed + b"junk", compressed + gzip.compress(b"{}"),
                                           compressed[: len(compressed) // 2]]))
        good = [False] * len(items)
    return compressed, good


def _written(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and change time: a refused request must change none."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def door(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Path]]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        set_runtime(Runtime(local_config(root)))
        app = create_app(target="ingest", source=str(MAIN), signature_type="http")
        yield app.test_client(), root
        set_runtime(None)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if TALLY["inputs"] and reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\ningest fuzz: " + ", ".join(f"{key} {TALLY[key]}" for key in sorted(TALLY)))


def _post(http: Any, compressed: bytes) -> Any:
    body, headers = signed(None, raw=compressed)
    reply = http.post("/", data=body, headers=headers)
    TALLY["requests"] += 1
    if reply.status_code >= 500:
        TALLY["crashes (5xx)"] += 1
    assert reply.status_code in (200, 400, 413), (reply.status_code, reply.get_data(as_text=True)[:300])
    return reply


def _acknowledged(reply: Any, items: list[dict[str, Any]]) -> None:
    """A 200 names every snapshot sent as stored or already stored, each once."""
    answer = reply.get_json()
    assert set(answer["accepted"]) | set(answer["duplicates"]) == {item["sha256"] for item in items}
    assert len(answer["accepted"]) == len(set(answer["accepted"]))  # one row per reading, however often sent


@pytest.mark.timeout(120 + EXAMPLES)  # a hunt of 3000 took 12 min on 2 busy cores: each reading grows the state
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not os.environ.get("PVS6_FUZZ_RANDOM"),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(case=request_body())
def test_the_door_never_answers_500_and_a_refusal_writes_nothing(
        door: tuple[Any, Path], case: tuple[bytes, list[bool] | None]) -> None:
    """No 5xx; a refusal writes nothing; a refused batch split as the edge splits it lets every good answer in."""
    http, root = door
    compressed, good = case
    before = _written(root)
    reply = _post(http, compressed)
    TALLY["inputs"] += 1
    if good is not None and all(good):
        assert reply.status_code == 200, reply.get_json()
    if reply.status_code != 200:
        TALLY["refused"] += 1
        assert _written(root) == before
        assert reply.get_json()["error"]
    else:
        TALLY["accepted"] += 1
    if reply.status_code == 200:
        _acknowledged(reply, json.loads(zlib.decompressobj(31).decompress(compressed))["snapshots"])
        return
    if good is None or len(good) < 2 or not any(good):
        return
    items = json.loads(gzip.decompress(compressed))["snapshots"]
    # The edge answers a refused batch by splitting it until the bad item is alone: each alone, as it would
    # arrive last, every untouched answer must be stored and the spoiled ones refused or stored, never a 5xx.
    TALLY["refused batches split"] += 1
    for item, item_good in zip(items, good, strict=True):
        alone = _post(http, gzip.compress(json.dumps(envelope([item])).encode()))
        if item_good:
            assert alone.status_code == 200, alone.get_json()
            TALLY["good answers of a refused batch stored"] += 1
        if alone.status_code == 200:
            _acknowledged(alone, [item])


def test_a_clean_batch_is_accepted(door: tuple[Any, Path]) -> None:
    """The property test's oracle for clean batches, pinned once: untouched real answers are stored."""
    http, _root = door
    items = [{"captured_at": (datetime(2025, 6, 1, 12, tzinfo=UTC) + timedelta(minutes=5 * i)).isoformat(),
              "source": source, "sha256": hashlib.sha256(json.dumps(payload).encode()).hexdigest(),
              "payload": payload} for i, (source, payload) in enumerate(GOOD_BASES[:3])]
    body, headers = signed(envelope(items))
    reply = http.post("/", data=body, headers=headers)
    assert reply.status_code == 200, reply.get_json()
    _acknowledged(reply, items)
