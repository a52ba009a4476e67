"""Lineage tables, family trees and operator statistics on a small known family."""

from __future__ import annotations

import math

import pytest

from populations import Store
from populations.queries import family, fronts, individual_values, lineage_steps
from reports import ReportError
from reports.lineage import family_tree_figure, lineage_table
from reports.operators import operator_figure, operator_generations, operator_statistics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def family_store(family_db):
    with Store(family_db, readonly=True) as store:
        yield store


def test_ancestry_steps(family_store):
    table = lineage_table(family_store, 5)

    assert list(table["depth"]) == [1, 2, 2, 3]
    assert list(zip(table["child_id"], table["parent_id"])) == [(5, 4), (4, 2), (4, 3), (3, 1)]
    assert list(table["operator"]) == ["add_skip", "one_point_crossover", "one_point_crossover", "change_width"]
    assert list(table["generation"]) == [2, 0, 1, 0]
    assert table["change_accuracy"].round(6).tolist() == [0.15, 0.05, -0.05, 0.2]
    assert table["change_flops"].tolist() == [0.0, -2000.0, 1200.0, -200.0]
    assert table["accuracy"].tolist() == [0.65, 0.60, 0.70, 0.50]


def test_ancestry_depth_limit(family_store):
    table = lineage_table(family_store, 5, depth=2)

    assert table["depth"].max() == 2
    assert len(table) == 3


def test_descendants(family_store):
    table = lineage_table(family_store, 1, descendants=True)

    assert list(zip(table["depth"], table["child_id"])) == [(1, 3), (2, 4), (3, 5)]
    assert list(table["generation"]) == [1, 2, 3]


def test_seed_has_no_ancestors(family_store):
    table = lineage_table(family_store, 1)

    assert table.empty
    assert "change_accuracy" in table.columns


@pytest.mark.parametrize("individual_id, depth, message", [
    (99, None, "individual id 99 not found .* Ids there: 1 to 5"),
    (5, 0, "depth 0 is invalid"),
])
def test_lineage_errors(family_store, individual_id, depth, message):
    with pytest.raises(ReportError, match=message):
        lineage_table(family_store, individual_id, depth)


def test_family_walks_from_several_starts(family_store):
    links = family(family_store, [5, 3])

    assert len(links) == 4
    depth_of = {(c, p): d for d, c, p in zip(links["depth"], links["child_id"], links["parent_id"])}
    assert depth_of[(3, 1)] == 1
    assert depth_of[(5, 4)] == 1
    assert depth_of[(4, 2)] == 2


def test_family_of_nobody_is_empty(family_store):
    assert family(family_store, []).empty


def test_individual_values_skips_unknown_ids(family_store):
    values = individual_values(family_store, [2, 5, 77])

    assert list(values["individual_id"]) == [2, 5]
    assert list(values["accuracy"]) == [0.60, 0.80]


def test_fronts_of_every_generation(family_store):
    history = fronts(family_store, 1)

    assert sorted(history["generation"].unique()) == [0, 1, 2, 3]
    assert list(history[history["generation"] == 3]["individual_id"]) == [3, 5]


def test_lineage_steps_mark_front_entries(family_store):
    steps = lineage_steps(family_store, 1).set_index(["child_id", "parent_id"])

    assert steps.loc[(3, 1), "in_front"] == 1
    assert steps.loc[(4, 3), "in_front"] == 0
    assert steps.loc[(5, 4), "child_accuracy"] == 0.80
    assert steps.loc[(5, 4), "parent_accuracy"] == 0.65


def test_operator_statistics(family_store):
    table = operator_statistics(family_store, 1).set_index("operator")

    assert list(table.index) == ["add_skip", "change_width", "one_point_crossover"]
    assert table.loc["one_point_crossover", "applications"] == 1
    assert table.loc["one_point_crossover", "links"] == 2
    assert table.loc["one_point_crossover", "dominated_parent"] == 0.5
    assert table.loc["one_point_crossover", "entered_front"] == 0.0
    assert table.loc["change_width", "dominated_parent"] == 1.0
    assert table.loc["add_skip", "dominated_parent"] == 1.0
    assert table.loc["add_skip", "entered_front"] == 1.0
    assert math.isclose(table.loc["add_skip", "mean_change_accuracy"], 0.15)
    assert table.loc["add_skip", "mean_change_flops"] == 0.0


def test_operator_generations(family_store):
    table = operator_generations(family_store, 1)

    assert list(zip(table["generation"], table["operator"])) == [
        (1, "change_width"), (2, "one_point_crossover"), (3, "add_skip"),
    ]


def test_operator_statistics_without_lineage(store):
    table = operator_statistics(store, 1)

    assert table.empty
    assert "mean_change_accuracy" in table.columns


def test_pictures_render(family_store, tmp_path):
    tree = family_tree_figure(family_store, [5], title="ancestors of 5")
    operators = operator_figure(family_store, 1)

    for name, figure in (("tree.png", tree), ("operators.png", operators)):
        figure.savefig(tmp_path / name)
        assert (tmp_path / name).read_bytes().startswith(PNG_SIGNATURE)
    tree_axes = tree.axes[0]
    assert len(tree_axes.collections[0].get_segments()) == 4
