"""Values written in messages as a user typed them in a campaign's TOML file."""

from __future__ import annotations

import json
import math
import os
import shlex
from collections.abc import Mapping
from typing import Any


def resume_command(db: str | os.PathLike[str], campaign: str | None = None) -> str:
    """Return the ``evo resume`` command for a database, quoted so that it can be pasted into a shell."""
    command = f"evo resume {shlex.quote(str(db))}"
    return command if campaign is None else f"{command} --campaign {shlex.quote(campaign)}"


def toml_value(value: Any) -> str:
    """Return `value` written as TOML: true, "text", [1, 2], { key = value }.

    Messages about a config key show its value this way, so `inherit_weights = True` reads
    `inherit_weights = true`, as in the file. A value TOML cannot hold (None, an object)
    falls back to its Python repr.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"
    return repr(value)
