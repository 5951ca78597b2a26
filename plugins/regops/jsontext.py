"""JSON written as it is encoded: large documents are never one string in memory."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

# Containers this deep are laid out a member per line; deeper ones are one line each. A run of
# 100,000 results would otherwise be built as one string (or, indented, as a list of millions of
# pieces) before a byte is written.
_EXPANDED_LEVELS = 4


def _json_key(key: Any) -> str:
    # As the json module writes keys: strings as they are, numbers, booleans and None as JSON.
    if isinstance(key, str):
        return json.dumps(key)
    return json.dumps(json.dumps(key) if key is None or isinstance(key, (bool, int, float)) else str(key))


def json_chunks(
    value: Any, level: int = 0, *, sort_keys: bool = False, expand: int = _EXPANDED_LEVELS
) -> Iterator[str]:
    """`value` as JSON text, in pieces: a member per line down to `expand` levels, each piece
    encoded by the standard library's C encoder."""
    if level < expand and isinstance(value, Mapping) and value:
        inner = "\n" + " " * (level + 1)
        members = sorted(value.items()) if sort_keys else value.items()
        for index, (key, member) in enumerate(members):
            yield ("{" if index == 0 else ",") + inner + _json_key(key) + ": "
            yield from json_chunks(member, level + 1, sort_keys=sort_keys, expand=expand)
        yield "\n" + " " * level + "}" + ("\n" if level == 0 else "")
    elif level < expand and isinstance(value, (list, tuple)) and value:
        inner = "\n" + " " * (level + 1)
        for index, member in enumerate(value):
            yield ("[" if index == 0 else ",") + inner
            yield from json_chunks(member, level + 1, sort_keys=sort_keys, expand=expand)
        yield "\n" + " " * level + "]" + ("\n" if level == 0 else "")
    else:
        yield json.dumps(value, default=str, sort_keys=sort_keys) + ("\n" if level == 0 else "")
