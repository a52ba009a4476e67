"""The mutations and crossovers added with innovation ids: each one's own contract and hard cases."""

import numpy as np
import pytest
import torch

from genomes import INPUT, Genome, InnovationCounter, Node, SearchSpace, decode, zoo
from genomes.innovation import local_allocator
from operators import CROSSOVERS, MUTATIONS, OPERATORS

SEQUENCE = (2, 24)


def space_for(shape=SEQUENCE, **options):
    settings = {"widths": (2, 32), "max_nodes": 12, "max_parameters": 200_000, **options}
    return SearchSpace(shape, 5, **settings)


def chain(*nodes: Node) -> Genome:
    return Genome(tuple(nodes), nodes[-1].id)


def conv(node_id, inputs=None, width=8, **params):
    inputs = (node_id - 1,) if inputs is None else inputs
    return Node(node_id, "conv", {"width": width, "kernel": 3, **params}, "relu", inputs=inputs)


def applied(operator_name, parents, seed=0, space=None, **keywords):
    variation = OPERATORS[operator_name](parents, np.random.default_rng(seed), space or space_for(), **keywords)
    assert variation.applied, variation.reason
    return variation.genome


# -- remove_edge -------------------------------------------------------------------------------


def test_remove_edge_keeps_every_node_live():
    genome = Genome((conv(1), conv(2), Node(3, "identity", merge="add", inputs=(1, 2, INPUT))), 3)

    for seed in range(20):
        child = applied("remove_edge", [genome], seed)
        assert child.live_ids() == {1, 2, 3}
        assert len(child.edges()) == len(genome.edges()) - 1


def test_remove_edge_never_cuts_only_path():
    # Node 1 reaches the output only through 1 -> 2, so that edge must stay.
    genome = Genome((conv(1), Node(2, "identity", merge="add", inputs=(1, INPUT))), 2)

    for seed in range(10):
        child = applied("remove_edge", [genome], seed)
        assert child.node(2).inputs == (1,)


def test_remove_edge_without_spare_edge_does_not_apply():
    variation = MUTATIONS["remove_edge"]([chain(conv(1), conv(2))], np.random.default_rng(0), space_for())

    assert not variation.applied
    assert "disconnecting" in variation.reason


# -- kernel, stride, dilation, groups, merge --------------------------------------------------


def test_change_kernel_picks_other_allowed_kernel():
    space = space_for(kernel_sizes=(1, 3, 5))

    for seed in range(10):
        params = applied("change_kernel", [chain(conv(1))], seed, space).node(1).resolved_params()
        assert params["kernel"] in (1, 5)
        assert params["padding"] == params["kernel"] // 2


def test_change_stride_rejects_shapes_that_vanish():
    # Four stride-2 convolutions on a length-4 sequence cannot all fit: the child must still be valid.
    space = space_for((2, 4), strides=(1, 2))
    genome = chain(*(conv(i) for i in range(1, 5)))

    for seed in range(10):
        variation = MUTATIONS["change_stride"]([genome], np.random.default_rng(seed), space)
        if variation.applied:
            assert space.violation(variation.genome) is None


def test_change_dilation_groups_keeps_divisibility():
    space = space_for(groups=(1, 2, 3, 4), dilations=(1, 2))
    genome = chain(conv(1, width=8), conv(2, width=6))

    for seed in range(30):
        child = applied("change_dilation_groups", [genome], seed, space)
        for node in child.nodes:
            params = node.resolved_params()
            assert params["width"] % params["groups"] == 0
        assert space.violation(child) is None


def test_swap_merge_flips_add_and_concat():
    genome = Genome((conv(1), conv(2, inputs=(INPUT,)), Node(3, "identity", merge="add", inputs=(1, 2))), 3)

    child = applied("swap_merge", [genome])
    back = applied("swap_merge", [child])

    assert child.node(3).merge == "concat"
    assert back.node(3).merge == "add"


# -- duplicate_block and insert_identity --------------------------------------------------------


def test_duplicate_block_adds_copies_with_new_ids():
    genome = chain(conv(1), conv(2), conv(3))
    counter = InnovationCounter(100)

    child = applied("duplicate_block", [genome], 3, new_id=counter)

    added = set(child.ids) - set(genome.ids)
    assert added
    assert min(added) >= 100
    assert len(child.topological_order()) == len(child)


def test_insert_identity_preserves_function():
    space = space_for((2, 12, 12), activations=("relu", "identity"))
    genome = zoo.build_seed("small_cnn", space.input_shape, space.num_classes)
    batch = torch.randn(4, *space.input_shape)

    for seed in range(10):
        child = applied("insert_identity", [genome], seed, space)
        new_id = (set(child.ids) - set(genome.ids)).pop()
        torch.manual_seed(0)
        parent_net = decode(genome, space.input_shape, space.num_classes).eval()
        child_net = decode(child, space.input_shape, space.num_classes).eval()
        # Give both networks the parent's weights; the inserted node keeps its identity start.
        state = {key: value for key, value in parent_net.state_dict().items()}
        missing = child_net.load_state_dict(state, strict=False).missing_keys
        assert all(key.startswith(f"cells.{new_id}.") for key in missing)
        with torch.no_grad():
            assert torch.allclose(child_net(batch), parent_net(batch), atol=1e-5)


def test_insert_identity_flat_uses_linear_eye():
    space = space_for((12,), activations=("identity", "relu"), operations=("linear", "identity"))
    genome = chain(Node(1, "linear", {"width": 6}, "relu"))
    seen = set()
    for seed in range(20):
        child = applied("insert_identity", [genome], seed, space)
        new = child.node((set(child.ids) - {1}).pop())
        seen.add(new.op)
        if new.op == "linear":
            assert new.resolved_params()["identity_init"] == 1
    assert seen == {"linear", "identity"}


# -- innovation ids -----------------------------------------------------------------------------


def test_independent_insertions_get_distinct_ids():
    space = space_for()
    counter = InnovationCounter()
    first = counter.renumber(chain(conv(1), conv(2)))
    second = counter.renumber(chain(conv(1), conv(2)))

    child_a = applied("insert_node", [first], 1, space, new_id=counter)
    child_b = applied("insert_node", [second], 2, space, new_id=counter)

    new_a = set(child_a.ids) - set(first.ids)
    new_b = set(child_b.ids) - set(second.ids)
    assert new_a and new_b
    assert not new_a & new_b
    assert not (new_a | new_b) & (set(first.ids) | set(second.ids))


def test_renumbered_seeds_share_no_id():
    counter = InnovationCounter()
    seeds = [counter.renumber(zoo.build_seed(name, SEQUENCE, 5)) for name in ("mnist1d_cnn", "small_cnn", "resnet")]
    ids = [nid for genome in seeds for nid in genome.ids]

    assert len(ids) == len(set(ids))
    assert counter.next_id == len(ids) + 1


def test_canonical_hash_ignores_renumbering():
    genome = zoo.build_seed("densenet", SEQUENCE, 5)

    assert InnovationCounter(500).renumber(genome).canonical_hash() == genome.canonical_hash()


def test_default_allocator_continues_after_parents():
    allocate = local_allocator(chain(conv(1), conv(7, inputs=(1,))), chain(conv(1), conv(3)))

    assert [allocate(), allocate()] == [8, 9]


@pytest.mark.parametrize("start", [0, -3, True, 1.5])
def test_counter_rejects_bad_start(start):
    with pytest.raises(ValueError, match="innovation counter start"):
        InnovationCounter(start)


# -- crossovers ---------------------------------------------------------------------------------


def test_aligned_crossover_takes_matching_genes_from_both():
    fitter = chain(conv(1, width=4), conv(2, width=4), conv(5, inputs=(2,), width=4))
    other = chain(conv(1, width=16), conv(2, width=16), conv(9, inputs=(2,), width=16))
    widths = set()
    for seed in range(20):
        child = applied("aligned_crossover", [fitter, other], seed)
        assert set(child.ids) == {1, 2, 5}
        assert child.node(5).resolved_params()["width"] == 4
        widths.update(child.node(n).resolved_params()["width"] for n in (1, 2))
    assert widths == {4, 16}


def test_aligned_crossover_without_shared_ids_does_not_apply():
    variation = CROSSOVERS["aligned_crossover"]([chain(conv(1)), chain(conv(2, inputs=(INPUT,)))],
                                                np.random.default_rng(0), space_for())

    assert not variation.applied
    assert "share no innovation id" in variation.reason


def test_aligned_crossover_avoids_cycles():
    # Parents wire nodes 1 and 2 in opposite directions; a child must still be acyclic.
    fitter = Genome((conv(1, inputs=(INPUT,)), conv(2, inputs=(1,))), 2)
    other = Genome((conv(2, inputs=(INPUT,)), conv(1, inputs=(2,))), 1)

    for seed in range(20):
        child = applied("aligned_crossover", [fitter, other], seed)
        assert len(child.topological_order()) == len(child)


def test_subgraph_crossover_inserts_block_from_second_parent():
    first = chain(conv(1, width=4), conv(2, width=4), conv(3, width=4))
    second = Genome(tuple(Node(i, "sepconv", {"width": 6}, "tanh", inputs=(i - 1 if i > 11 else INPUT,))
                          for i in range(11, 14)), 13)
    counter = InnovationCounter(50)

    for seed in range(20):
        child = applied("subgraph_crossover", [first, second], seed, new_id=counter)
        ops = {node.op for node in child.nodes}
        assert "sepconv" in ops
        assert len(child.topological_order()) == len(child)
        assert len(set(child.ids)) == len(child)
