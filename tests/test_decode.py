"""jsonio.parse reads a line with orjson where that gives json's value, else with json (its value and its
words for a problem): for any bytes, the Item is the one json alone gives."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from infusion_coder.formats import jsonio


def _by_json(data: bytes) -> jsonio.Item:
    """What parse gave before orjson: json's decoder on the UTF-8 text."""
    saved = jsonio._FEW_BRACKETS
    jsonio._FEW_BRACKETS = 0  # no line takes the orjson path
    try:
        return jsonio.parse(data, "line 1")
    finally:
        jsonio._FEW_BRACKETS = saved


def _same(a: object, b: object) -> bool:
    """Equal values of the same types all the way down (1 and 1.0 differ; NaN never comes back)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    if isinstance(a, float):
        return repr(a) == repr(b)  # -0.0 and 0.0 too
    return a == b


_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)
_ODD = st.sampled_from(
    [
        b'{"a": NaN}',
        b"[1e400]",
        b'{"a": "\\ud800"}',
        b'{"a": 1,}',
        b"\xef\xbb\xbf{}",
        b'{"a": "\xed\xa0\x80"}',
        b'{"a": 123456789012345678901234567890}',
        b'{"a": 18446744073709551615}',
        b"[" * 300 + b"]" * 300,
        b"[" * 3000 + b"]" * 3000,
        b'{"a": 1}\x00',
        b'{"a": "\x01"}',
        b"  {}  ",
        b"-0",
        b"[-0.0, 1E2, 5e-324, 1e-400]",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        _VALUES.map(lambda v: json.dumps(v).encode()),
        _VALUES.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
        _ODD,
        st.binary(max_size=40),
    )
)
def test_parse_gives_what_json_gives(data: bytes) -> None:
    fast, slow = jsonio.parse(data, "line 1"), _by_json(data)
    assert fast.problem == slow.problem
    assert fast.where == slow.where
    assert _same(fast.value, slow.value)
