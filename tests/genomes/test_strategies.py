"""The shared random-genome strategy: valid output, and the hard cases it must be able to draw."""

import pytest
import strategies
from hypothesis import Phase, find, given, settings

from genomes import Genome, infer_shapes


def merge_inputs(genome: Genome, input_shape):
    plan = infer_shapes(genome, input_shape, 10)
    return [node_input for node_plan in plan.nodes.values() for node_input in node_plan.inputs]


@settings(max_examples=200, deadline=None)
@given(strategies.genomes((1, 40)))
def test_drawn_genomes_fit_input(genome):
    plan = infer_shapes(genome, (1, 40), 10)

    assert genome.validate() is genome
    assert plan.order


@settings(max_examples=100, deadline=None)
@given(strategies.genomes((3, 10, 10), min_nodes=2, max_nodes=4))
def test_node_count_bounds(genome):
    assert 2 <= len(genome) <= 4
    assert genome.ids == tuple(range(1, len(genome) + 1))


def hard_case(input_shape, description, condition):
    return pytest.param(input_shape, description, condition, id=description)


@pytest.mark.parametrize(
    "input_shape, description, condition",
    [
        hard_case((1, 40), "dead node", lambda g, shape: len(g.live_ids()) < len(g)),
        hard_case((1, 40), "add with projection",
                  lambda g, shape: any(p.project_to is not None for p in merge_inputs(g, shape))),
        hard_case((1, 40), "resampled sequence",
                  lambda g, shape: any(p.resample_to is not None for p in merge_inputs(g, shape))),
        hard_case((2, 9, 9), "resampled image",
                  lambda g, shape: any(p.resample_to is not None for p in merge_inputs(g, shape))),
        hard_case((1, 40), "flattened mixed ranks",
                  lambda g, shape: any(p.flatten for p in merge_inputs(g, shape))),
        hard_case((1, 40), "multi-input concat",
                  lambda g, shape: any(n.merge == "concat" and len(n.inputs) > 1 for n in g.nodes)),
        hard_case((1, 40), "all six operations", lambda g, shape: len({n.op for n in g.nodes}) == 6),
    ],
)
def test_strategy_draws_hard_case(input_shape, description, condition):
    # Generation only: shrinking the example found would cost seconds and prove nothing more.
    found = find(strategies.genomes(input_shape, max_nodes=8), lambda g: condition(g, input_shape),
                 settings=settings(max_examples=2000, database=None, phases=[Phase.generate]))

    assert condition(found, input_shape), description
