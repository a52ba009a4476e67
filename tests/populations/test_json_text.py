"""The orjson fast path of the store's JSON encoding gives the values the json module gives."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from populations import StoreError
from populations.records import encode_json, encode_metrics, fast_json, plain_json_value

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.floats(width=32, allow_nan=False).map(np.float32), st.integers(-1000, 1000).map(np.int64),
)
keys = st.one_of(st.text(max_size=6), st.integers(-5, 5))
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4),
                               st.tuples(children, children)),
    max_leaves=20,
)


@dataclasses.dataclass
class Point:
    x: float


def same_values(first, second) -> bool:
    """Compare decoded JSON values, with NaN equal to NaN."""
    return json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


@settings(max_examples=400, deadline=None)
@given(values)
def test_fast_json_matches_json_module(value):
    text = fast_json(value)
    try:
        reference = json.dumps(value, default=plain_json_value)
    except (TypeError, ValueError):
        assert text is None
        return
    if text is None:
        return
    assert same_values(json.loads(text), json.loads(reference))
    # Only finite values take the fast path, since orjson would write NaN as null.
    assert "NaN" not in reference
    assert "Infinity" not in reference


@pytest.mark.parametrize("value", [
    {"loss": math.nan, "note": None},
    [None, -math.inf],
    {"a": {"b": [1, np.float64(math.nan)]}},
    {1: 2},
    2**64,
    {"n": np.float32("inf"), "x": None},
    {"point": Point(math.nan)},
    {"at": datetime.datetime(2026, 12, 5)},
])
def test_orjson_differences_use_json_module(value):
    assert fast_json(value) is None


def test_types_json_rejects_stay_rejected():
    with pytest.raises(StoreError, match="Point is not JSON-serialisable"):
        encode_json({"point": Point(math.nan)}, "metrics")
    assert encode_metrics({"at": datetime.date(2026, 12, 5)}) is None


def test_strict_rejects_nan_beside_null():
    with pytest.raises(StoreError, match="state cannot be stored as JSON"):
        encode_json({"error": None, "loss": math.nan}, "state")
    assert encode_metrics({"error": None, "loss": math.inf}) is None
    assert json.loads(encode_metrics({"error": None, "loss": 1.5})) == {"error": None, "loss": 1.5}


def test_non_string_keys():
    assert json.loads(encode_json({1: "a", None: 2.5}, "members")) == {"1": "a", "null": 2.5}


def test_staged_nan_beside_encoded_metrics(store, campaign_id):
    metrics = {"params": 3, "loss_curve": [[1, 0.5]]}
    record = {"status": "diverged", "objectives": {"accuracy": math.nan}, "metrics": encode_metrics(metrics),
              "error": None}
    store.stage_evaluations(campaign_id, 0, [(1, "hash-1", record)])

    staged = store.staged_evaluations(campaign_id, 0)[(1, "hash-1")]

    assert list(staged) == list(record)
    assert math.isnan(staged["objectives"]["accuracy"])
    assert staged["metrics"] == metrics
    assert staged["error"] is None
