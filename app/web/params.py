"""Query-string filters read leniently: a bad value is reported and left out, never a 500."""

from __future__ import annotations

from collections.abc import Callable, Mapping


def read_params(args: Mapping[str, str],
                readers: Mapping[str, Callable[[str], object]]) -> tuple[dict, dict[str, str]]:
    """Each non-empty parameter through its reader, and a message for each one whose reader
    raised ValueError (left out). Empty values mean "any": what an untouched field sends."""
    values: dict[str, object] = {}
    errors: dict[str, str] = {}
    for name, read in readers.items():
        raw = (args.get(name) or "").strip()
        if raw:
            try:
                values[name] = read(raw)
            except ValueError as problem:
                errors[name] = str(problem)
    return values, errors
