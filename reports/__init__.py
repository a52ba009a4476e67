"""Analysis and pictures of a population database, read-only.

API::

    plot_front(store, campaign_id, out_path, *, x="flops", y="accuracy") -> Path
    plot_hypervolume(store, campaign_id, out_path) -> Path
    front_figure(store, campaign_id, *, x="flops", y="accuracy") -> matplotlib Figure
    hypervolume_figure(store, campaign_id) -> matplotlib Figure
    write_report(db_path, out, *, campaign=None, x="flops", y="accuracy") -> list[Path]

store is a populations.Store (read-only is enough). Errors are ReportError (a
ValueError) for an unknown campaign or objective.
"""

from .errors import ReportError
from .plots import front_figure, hypervolume_figure, plot_front, plot_hypervolume
from .report import write_report

__all__ = [
    "ReportError",
    "front_figure",
    "hypervolume_figure",
    "plot_front",
    "plot_hypervolume",
    "write_report",
]
