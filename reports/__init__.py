"""Analysis and pictures of a population database, read-only.

API::

    plot_front(store, campaign_id, out_path, *, x="flops", y="accuracy") -> Path
    plot_hypervolume(store, campaign_id, out_path) -> Path
    front_figure(store, campaign_id, *, x="flops", y="accuracy") -> matplotlib Figure
    hypervolume_figure(store, campaign_id) -> matplotlib Figure
    write_report(db_path, out, *, campaign=None, x="flops", y="accuracy") -> list[Path]

Analysis modules, each documented in its own file::

    reports.fronts     pairwise_front_figure, front_movement_figure
    reports.lineage    lineage_table, family_tree_figure
    reports.operators  operator_statistics, operator_generations, operator_figure
    reports.motifs     mine_motifs, campaign_motifs, campaign_design_rules, ecdf_figure
    reports.drawing    genome_svg, write_genome_svg
    reports.export     build_network, export_network (py, torchscript, onnx)

store is a populations.Store (read-only is enough). Errors are ReportError (a
ValueError) for an unknown campaign, objective or individual.
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
