"""Slicing each reading's own JSON out of a batch, byte for byte."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.rawjson import NotAnObject, array_items

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(st.lists(_json, max_size=6), st.dictionaries(st.text(), _json, max_size=3),
       st.sampled_from(["", " ", "\n  "]))
def test_items_round_trip(items: list[object], others: dict[str, object], ws: str) -> None:
    others.pop("readings", None)
    body = {**others, "readings": items}
    text = json.dumps(body, ensure_ascii=False, indent=len(ws) or None).encode()
    sliced = array_items(text)
    assert [json.loads(s) for s in sliced] == items
    for piece in sliced:
        assert piece in text  # exact bytes of the original


def test_exact_bytes_with_odd_spacing_and_unicode() -> None:
    payload = '{ "v":1 , "readings" : [ {"a": "ü" } ,\n{"b":[1, 2]}] }'.encode()
    assert array_items(payload) == ['{"a": "ü" }'.encode(), b'{"b":[1, 2]}']


def test_last_key_wins() -> None:
    assert array_items(b'{"readings":[1],"readings":[2,3]}') == [b"2", b"3"]


@pytest.mark.parametrize(
    "payload", [b"", b"[]", b"{}", b'{"readings": 5}', b'{"readings": [1,', b"\xff\xfe",
                b'{"x": 1} trailing', b'{"readings":[1] '],
)
def test_not_sliceable(payload: bytes) -> None:
    with pytest.raises(NotAnObject):
        array_items(payload)
