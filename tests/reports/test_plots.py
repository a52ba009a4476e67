"""Front and hypervolume pictures."""

from __future__ import annotations

import pytest

from reports import ReportError, front_figure, hypervolume_figure, plot_front, plot_hypervolume
from reports.plots import nondominated_order

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plot_front_writes_png(store, tmp_path):
    path = plot_front(store, 1, tmp_path / "pictures" / "front.png")

    assert path == tmp_path / "pictures" / "front.png"
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_plot_hypervolume_writes_png(store, tmp_path):
    path = plot_hypervolume(store, 1, tmp_path / "hypervolume.png")

    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_front_figure_axes(store):
    axes = front_figure(store, 1).axes[0]

    assert axes.get_xscale() == "log"
    assert axes.get_yscale() == "linear"
    assert axes.get_xlabel() == "flops (FLOPs)"
    assert axes.get_ylabel() == "accuracy (fraction)"
    assert "front of generation 1 (4)" in [text.get_text() for text in axes.get_legend().get_texts()]


def test_front_staircase_skips_dominated(store):
    axes = front_figure(store, 1).axes[0]

    (staircase,) = axes.get_lines()

    # Front member 2 (0.70 at 3e5) is on the stored front, but member 5 (0.72 at
    # 2.5e4) is better in both plotted objectives, so the staircase leaves 2 out.
    assert list(staircase.get_xdata()) == [2.5e4, 5.0e6, 2.0e8]
    assert list(staircase.get_ydata()) == [0.72, 0.80, 0.90]
    assert staircase.get_drawstyle() == "steps-post"


def test_linear_axis_for_narrow_range(store):
    axes = front_figure(store, 1, x="accuracy", y="flops").axes[0]

    assert axes.get_xscale() == "linear"
    assert axes.get_yscale() == "log"
    assert axes.get_lines()[0].get_drawstyle() == "steps-pre"


@pytest.mark.parametrize("campaign_id", [2, 3])
def test_unscored_campaign_draws_message(store, campaign_id):
    axes = front_figure(store, campaign_id).axes[0]

    assert not axes.collections
    assert "no individual has both objectives" in axes.texts[0].get_text()


def test_hypervolume_without_generations(store):
    axes = hypervolume_figure(store, 2).axes[0]

    assert "no generation with a hypervolume" in axes.texts[0].get_text()


def test_hypervolume_points(store):
    (line,) = hypervolume_figure(store, 1).axes[0].get_lines()

    assert list(line.get_xdata()) == [0, 1]
    assert list(line.get_ydata()) == pytest.approx([0.3, 0.5])


def test_unknown_campaign_or_objective(store):
    with pytest.raises(ReportError, match="campaign id 9 not found .* Campaign ids there: 1, 2, 3"):
        front_figure(store, 9)
    with pytest.raises(ReportError, match="unknown objective 'energy'"):
        front_figure(store, 1, x="energy")


@pytest.mark.parametrize(
    ("x_maximize", "y_maximize", "expected"),
    [
        (False, True, [0, 2, 3]),
        (False, False, [0, 1]),
        (True, True, [3]),
        (True, False, [1, 2, 3]),
    ],
)
def test_nondominated_order(x_maximize, y_maximize, expected):
    xs = [1.0, 2.0, 3.0, 4.0, 4.0]
    ys = [1.0, 0.5, 2.0, 3.0, 3.0]

    assert nondominated_order(xs, ys, x_maximize=x_maximize, y_maximize=y_maximize) == expected
