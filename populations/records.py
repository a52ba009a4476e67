"""Validation of the records that the engine hands to the store, and their conversion to rows.

Every function here is pure: it checks one kind of record and returns the row to insert,
or raises StoreError naming the record and the field at fault. Nothing touches the
database, so a rejected generation fails before its transaction begins.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson

from .errors import StoreError
from .schema import (
    CAMPAIGN_STATUSES,
    DIRECTIONS,
    EVALUATION_STATUSES,
    OBJECTIVE_NAME_PATTERN,
    RESERVED_NAMES,
)


@dataclass(frozen=True)
class Objective:
    """An objective column of `evaluations`, with its direction and unit when declared."""

    name: str
    direction: str | None
    unit: str | None


def utc_now() -> str:
    """Return the current time as an ISO 8601 string in UTC, with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def plain_json_value(value: Any) -> Any:
    # numpy scalars and arrays have tolist(); everything else is not JSON data.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _all_finite(value: Any) -> bool:
    """Return whether value contains no NaN or infinity, looking inside dicts, lists and tuples."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return all(_all_finite(item) for item in value)
    if hasattr(value, "tolist"):
        return _all_finite(value.tolist())
    return True


# Dataclasses, dates and times, and subclasses of str, int, dict and list go to the default
# function, as they do with the json module: plain_json_value rejects the first two, and
# the json module then encodes the subclasses. orjson would otherwise write them itself.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS


def fast_json(value: Any) -> str | None:
    """Encode value as compact JSON text with orjson, or return None to leave it to the json module.

    orjson is about 20 times faster than ``json.dumps`` on an evaluation's metrics, and its
    text reads back to the same values. It writes NaN and infinity as null, so a text with a
    null is checked for them, and it rejects keys that are not strings and integers beyond
    64 bits. In those cases the caller's ``json.dumps`` decides: it keeps or rejects NaN as
    the caller requests, and writes other keys as strings.

    NOTE: orjson still writes Enum members (as their values) and UUIDs (as text), which the
    json module rejects, and it does not look for NaN inside an Enum's value.
    """
    try:
        data = orjson.dumps(value, default=plain_json_value, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None
    if b"null" in data and not _all_finite(value):
        return None
    return data.decode()


def encode_json(value: Any, field: str) -> str:
    """Encode value as compact JSON text, or raise StoreError naming the field.

    NaN and infinity are rejected because they are not valid JSON, and SQLite's
    json_each() cannot read them.
    """
    text = fast_json(value)
    if text is not None:
        return text
    try:
        return json.dumps(value, allow_nan=False, default=plain_json_value)
    except (TypeError, ValueError) as error:
        raise StoreError(f"{field} cannot be stored as JSON: {error}") from error


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    return value


class EncodedJSON(str):
    """Metrics text made once by encode_metrics, which the Store then writes as it is.

    An evaluation's metrics are written twice: staged when the evaluation finishes and
    committed with its generation. Their loss curve makes them about 2 KB of floats, whose
    encoding took about 30 microseconds each time with the json module. Only this type is trusted to be valid JSON
    text; a plain ``str`` in place of the metrics dict is still rejected.
    """


def encode_metrics(metrics: Mapping[str, Any]) -> EncodedJSON | None:
    """Encode metrics for staging and committing, or return None if a value is not finite.

    For finite metrics the text is the same in Python's JSON dialect, which staging uses,
    and in strict JSON, which the committed row needs. Metrics with NaN or infinity keep
    being encoded on each write (staged with the NaN, committed with null).
    """
    text = fast_json(dict(metrics))
    if text is not None:
        return EncodedJSON(text)
    try:
        return EncodedJSON(json.dumps(dict(metrics), allow_nan=False, default=plain_json_value))
    except (TypeError, ValueError):
        return None


def _encode_metrics(metrics: Mapping[str, Any], index: int) -> str:
    """Encode an evaluation's metrics as JSON text, with non-finite numbers as null.

    Most metrics are finite, so the plain encoding is tried first. Only when it fails is
    the whole structure walked to replace NaN and infinity, which gives the same values.
    """
    text = fast_json(dict(metrics))
    if text is not None:
        return text
    try:
        return json.dumps(dict(metrics), allow_nan=False, default=plain_json_value)
    except (TypeError, ValueError):
        return encode_json(_finite_or_none(dict(metrics)), f"evaluation record {index}: metrics")


def validate_campaign_status(status: str) -> str:
    """Return status if it is a campaign status, else raise StoreError listing the valid ones."""
    if status not in CAMPAIGN_STATUSES:
        raise StoreError(
            f"invalid campaign status {status!r}. Use one of {', '.join(CAMPAIGN_STATUSES)}"
        )
    return status


def validate_objective_name(name: Any) -> str:
    """Return name if it can be an objective column, else raise StoreError saying why."""
    if not isinstance(name, str) or not OBJECTIVE_NAME_PATTERN.fullmatch(name):
        raise StoreError(
            f"invalid objective name {name!r}. Use lowercase letters, digits and "
            "underscores, starting with a letter, at most 63 characters"
        )
    if name in RESERVED_NAMES:
        raise StoreError(
            f"invalid objective name {name!r}: it is already a column of evaluations "
            "or of its views. Choose another name."
        )
    return name


def validate_direction(direction: str) -> str:
    """Return direction if it is 'maximize' or 'minimize', else raise StoreError."""
    if direction not in DIRECTIONS:
        raise StoreError(f"invalid objective direction {direction!r}. Use one of {', '.join(DIRECTIONS)}")
    return direction


def _require_keys(record: Any, keys: Iterable[str], kind: str, index: int) -> None:
    if not isinstance(record, Mapping):
        raise StoreError(f"{kind} record {index} is a {type(record).__name__}, expected a dict")
    missing = [key for key in keys if key not in record]
    if missing:
        raise StoreError(f"{kind} record {index} is missing {', '.join(missing)}")


def require_int(value: Any, field: str) -> int:
    # bool is an int subclass, but True as an id is always a mistake. numpy integers
    # pass through operator.index().
    if not isinstance(value, bool):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise StoreError(f"{field} must be an integer, got {value!r}")


def _require_text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise StoreError(f"{field} must be a non-empty string, got {value!r}")
    return value


def require_mapping(value: Any, field: str) -> dict:
    """Return value as a dict, or raise StoreError if it is not a mapping."""
    if not isinstance(value, Mapping):
        raise StoreError(f"{field} must be a dict, got {type(value).__name__}")
    return dict(value)


def optional_number(value: Any, field: str) -> float | None:
    """Return value as a float (None for None, NaN and infinity), or raise StoreError."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise StoreError(f"{field} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise StoreError(f"{field} must be a number, got {value!r}") from error
    # SQLite would store NaN as NULL anyway; infinity is no measurement either.
    return number if math.isfinite(number) else None


def int_list(values: Iterable[Any], field: str) -> list[int]:
    """Return values as a list of ints, or raise StoreError naming the field."""
    if isinstance(values, (str, bytes, Mapping)):
        raise StoreError(f"{field} must be a list of individual ids, got {values!r}")
    return [require_int(value, f"{field}[{position}]") for position, value in enumerate(values)]


def individual_row(record: Mapping[str, Any], campaign_id: int, created_at: str, index: int) -> dict:
    """Convert one individual record (id, genome, genome_hash, generation, origin) to a row.

    The genome may be a dict or JSON text. JSON text is stored as given after checking
    that it parses, so a genome keeps the exact text its codec wrote.
    """
    _require_keys(record, ("id", "genome", "genome_hash", "generation", "origin"), "individual", index)
    genome = record["genome"]
    if isinstance(genome, str):
        try:
            json.loads(genome)
        except ValueError as error:
            raise StoreError(f"individual record {index}: genome is not valid JSON: {error}") from error
        genome_text = genome
    else:
        genome_text = encode_json(genome, f"individual record {index}: genome")
    return {
        "id": require_int(record["id"], f"individual record {index}: id"),
        "campaign_id": campaign_id,
        "genome": genome_text,
        "genome_hash": _require_text(record["genome_hash"], f"individual record {index}: genome_hash"),
        "generation": require_int(record["generation"], f"individual record {index}: generation"),
        "origin": _require_text(record["origin"], f"individual record {index}: origin"),
        "created_at": created_at,
    }


def lineage_rows(records: Iterable[Mapping[str, Any]]) -> list[dict]:
    """Convert lineage records (child_id, parent_id, operator) to rows.

    A child may name the same parent twice (a crossover of an individual with itself),
    which is one link, so exact duplicates collapse into one row. The same pair with
    two different operators is an error.
    """
    rows: dict[tuple[int, int], dict] = {}
    for index, record in enumerate(records):
        _require_keys(record, ("child_id", "parent_id", "operator"), "lineage", index)
        row = {
            "child_id": require_int(record["child_id"], f"lineage record {index}: child_id"),
            "parent_id": require_int(record["parent_id"], f"lineage record {index}: parent_id"),
            "operator": _require_text(record["operator"], f"lineage record {index}: operator"),
        }
        key = (row["child_id"], row["parent_id"])
        previous = rows.get(key)
        if previous is not None and previous["operator"] != row["operator"]:
            raise StoreError(
                f"lineage record {index}: child {key[0]} and parent {key[1]} are already "
                f"linked by operator {previous['operator']!r}, not {row['operator']!r}"
            )
        rows[key] = row
    return list(rows.values())


def _objective_values(record: Mapping[str, Any], index: int) -> dict[str, float | None]:
    objectives = record.get("objectives") or {}
    if not isinstance(objectives, Mapping):
        raise StoreError(f"evaluation record {index}: objectives must be a dict of name to number")
    values: dict[str, float | None] = {}
    for name, value in objectives.items():
        validate_objective_name(name)
        values[name] = optional_number(value, f"evaluation record {index}: objective {name}")
    return values


def evaluation_rows(records: Iterable[Mapping[str, Any]], created_at: str) -> tuple[list[dict], list[str]]:
    """Convert evaluation records to rows, and list the objective names they use.

    Every row gets the same keys: the fixed columns plus every objective named by any
    record of the batch. An objective that a record does not mention is NULL in that
    new row, which means "not measured". Rows already in the file are never touched.
    Non-finite numbers in metrics become null, because JSON has no NaN.
    """
    partial_rows = []
    objective_names: list[str] = []
    for index, record in enumerate(records):
        _require_keys(record, ("individual_id", "status"), "evaluation", index)
        status = record["status"]
        if status not in EVALUATION_STATUSES:
            raise StoreError(
                f"evaluation record {index}: invalid status {status!r}. "
                f"Use one of {', '.join(EVALUATION_STATUSES)}"
            )
        metrics = record.get("metrics") or {}
        if not isinstance(metrics, (Mapping, EncodedJSON)):
            raise StoreError(f"evaluation record {index}: metrics must be a dict")
        seconds = optional_number(record.get("seconds"), f"evaluation record {index}: seconds")
        error = record.get("error")
        task_key = record.get("task_key")
        values = _objective_values(record, index)
        for name in values:
            if name not in objective_names:
                objective_names.append(name)
        partial_rows.append(
            (
                {
                    "individual_id": require_int(
                        record["individual_id"], f"evaluation record {index}: individual_id"
                    ),
                    "status": status,
                    "metrics": metrics if isinstance(metrics, EncodedJSON) else _encode_metrics(metrics, index),
                    "error": None if error is None else str(error),
                    "seconds": seconds,
                    "task_key": None if task_key is None else str(task_key),
                    "created_at": created_at,
                },
                values,
            )
        )
    rows = [
        {**fixed, **{name: values.get(name) for name in objective_names}}
        for fixed, values in partial_rows
    ]
    return rows, objective_names
