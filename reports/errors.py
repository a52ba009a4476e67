"""Exceptions raised by the report functions."""

from __future__ import annotations


class ReportError(ValueError):
    """A report could not be made from the database as requested (unknown campaign or objective)."""
