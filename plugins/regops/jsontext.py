"""JSON written as it is encoded: large documents are never one string in memory."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

# Containers this deep are laid out a member per line; deeper ones are one line each. A run of
# 100,000 results would otherwise be built as one string (or, indented, as a list of millions of
# pieces) before a byte is written.
_EXPANDED_LEVELS = 4


class JSONStream:
    """A JSON array whose members are made each time it is iterated (as it is written): a large
    run's results and exports are never whole in memory. `length`, when known, makes len() and
    truth work; without it they raise rather than guess."""

    def __init__(self, members: Callable[[], Iterable[Any]], length: int | None = None) -> None:
        self._members = members
        self._length = length

    def __iter__(self) -> Iterator[Any]:
        return iter(self._members())

    def __len__(self) -> int:
        if self._length is None:
            raise TypeError("this JSONStream was made without its length")
        return self._length


def _encode_default(value: Any) -> Any:
    # A stream inside a container written on one line is written there whole.
    return list(value) if isinstance(value, JSONStream) else str(value)


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
    elif isinstance(value, JSONStream) or (level < expand and isinstance(value, (list, tuple))):
        # A stream is written a member at a time at any depth: that is what it is for.
        inner = "\n" + " " * (level + 1)
        empty = True
        for member in value:
            yield ("[" if empty else ",") + inner
            empty = False
            yield from json_chunks(member, level + 1, sort_keys=sort_keys, expand=expand)
        end = "[]" if empty else "\n" + " " * level + "]"
        yield end + ("\n" if level == 0 else "")
    else:
        yield json.dumps(value, default=_encode_default, sort_keys=sort_keys) + ("\n" if level == 0 else "")
