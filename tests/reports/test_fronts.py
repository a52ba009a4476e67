"""The pairwise objective matrix and the front of every generation."""

from __future__ import annotations

import pytest

from reports import ReportError
from reports.fronts import front_movement_figure, pairwise_front_figure


def test_pairwise_matrix_shape(store):
    figure = pairwise_front_figure(store, 1, ["accuracy", "flops", "params"])

    assert len(figure.axes) == 9
    off_diagonal = figure.axes[1]
    assert len(off_diagonal.collections) == 2
    assert len(off_diagonal.collections[1].get_offsets()) == 4


def test_front_movement_one_line_per_generation(store):
    figure = front_movement_figure(store, 1)

    lines = figure.axes[0].get_lines()
    assert len(lines) == 2
    # Of the last front (5, 2, 4, 6), member 2 is dominated by 5 in accuracy and flops.
    assert list(lines[1].get_xdata()) == [2.5e4, 5.0e6, 2.0e8]


def test_front_movement_without_generations(store):
    figure = front_movement_figure(store, 2)

    assert "no committed front" in figure.axes[0].texts[0].get_text()


def test_unknown_objective_in_matrix(store):
    with pytest.raises(ReportError, match=r"unknown objective\(s\) \['speed'\]"):
        pairwise_front_figure(store, 1, ["accuracy", "speed"])
