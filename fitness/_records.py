"""Helpers shared by the frozen, JSON-able value types of this package."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any


def check_keys(
    data: Mapping[str, Any], cls: type, error_class: type[Exception]
) -> None:
    """Raise error_class if data is not a mapping or has a key that is not a field of cls.

    The message names the unknown key, suggests the closest field name and lists the
    valid ones.
    """
    if not isinstance(data, Mapping):
        raise error_class(
            f"{cls.__name__} expects a mapping of field names to values, "
            f"got {type(data).__name__}"
        )
    fields = [field.name for field in dataclasses.fields(cls)]
    for key in data:
        if key in fields:
            continue
        close = difflib.get_close_matches(str(key), fields, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise error_class(
            f"unknown {cls.__name__} field {key!r}.{hint} "
            f"Valid fields: {', '.join(fields)}."
        )


def is_integer(value: Any) -> bool:
    """Return whether value is an int and not a bool (bool is a subclass of int)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """Return whether value is an int or a float and not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
