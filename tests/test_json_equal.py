"""`canonical.json_equal` is the plan's fast stand-in for comparing fingerprints: it must agree
with them on every pair, including the values Python calls equal and JSON does not."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from palsync.canonical import fingerprint, json_equal

leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, 1.0, 1.5]),
    st.text(max_size=3),
)
value = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=6,
)
flat = st.dictionaries(st.sampled_from(["/a", "/b", "/layers/llm/model"]), value, max_size=3)


# a loaded CI machine must not turn slow example generation into a failure
RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@RELAXED
@given(flat, flat)
def test_json_equal_agrees_with_fingerprints(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert json_equal(a, b) == (fingerprint(a) == fingerprint(b))


@RELAXED
@given(flat)
def test_json_equal_agrees_with_fingerprints_on_near_copies(a: dict[str, Any]) -> None:
    swapped = {
        k: (1 if v is True else 1.0 if v == 1 and v is not True else v) for k, v in a.items()
    }
    assert json_equal(swapped, a) == (fingerprint(swapped) == fingerprint(a))


def test_values_python_calls_equal_are_not_json_equal() -> None:
    assert not json_equal({"/a": True}, {"/a": 1})
    assert not json_equal({"/a": 1.0}, {"/a": 1})
    assert not json_equal({"/a": [True]}, {"/a": [1]})
    assert json_equal({"/a": {"x": 1, "y": 2}}, {"/a": {"y": 2, "x": 1}})
