"""Locate each reading's own JSON text inside a batch payload, byte for byte.

A reading rejected inside an otherwise good batch is dead-lettered alone with its raw JSON. The
standard library decoder's `raw_decode` reports where each value ends, which is all we need to
slice the top-level object; this runs only for batches that have a rejection.
"""

from __future__ import annotations

import json

_DECODER = json.JSONDecoder()
_WS = " \t\n\r"


class NotAnObject(ValueError):
    """The payload is not a JSON object (or not JSON at all)."""


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _expect(text: str, pos: int, char: str) -> int:
    pos = _skip(text, pos)
    if pos >= len(text) or text[pos] != char:
        raise NotAnObject(f"expected {char!r} at offset {pos}")
    return pos + 1


def array_items(payload: bytes, key: str = "readings") -> list[bytes]:
    """The raw bytes of each element of the top-level object's `key` array (the last one if the
    key repeats, as JSON parsers keep the last). Raises NotAnObject for anything else."""
    try:
        text = payload.decode("utf-8")
        pos = _expect(text, 0, "{")
        items: list[bytes] | None = None
        pos = _skip(text, pos)
        if pos < len(text) and text[pos] == "}":
            raise NotAnObject(f"no {key!r} array")
        while True:
            name, pos = _DECODER.raw_decode(text, _skip(text, pos))
            pos = _expect(text, pos, ":")
            pos = _skip(text, pos)
            if name == key and pos < len(text) and text[pos] == "[":
                items, pos = _array(text, pos + 1)
            else:
                _, pos = _DECODER.raw_decode(text, pos)
            pos = _skip(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            _expect(text, pos, "}")
            break
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotAnObject(str(exc)) from None
    if items is None:
        raise NotAnObject(f"no {key!r} array")
    return items


def _array(text: str, pos: int) -> tuple[list[bytes], int]:
    items: list[bytes] = []
    pos = _skip(text, pos)
    if pos < len(text) and text[pos] == "]":
        return items, pos + 1
    while True:
        start = _skip(text, pos)
        _, end = _DECODER.raw_decode(text, start)
        items.append(text[start:end].encode("utf-8"))
        pos = _skip(text, end)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        return items, _expect(text, pos, "]")
