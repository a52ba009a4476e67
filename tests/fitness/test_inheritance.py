import pytest
import torch

from fitness.evaluate import evaluate
from fitness.inheritance import (
    WeightsFormatError,
    bytes_to_state,
    inherit_weights,
    state_to_bytes,
)
from fitness.training import seeded_torch
from genomes import INPUT, Genome, Node, decode

SMOKE = {"steps": 60, "batch_size": 32, "learning_rate": 1e-2}
SHAPE = (1, 8, 8)


def _parent() -> Genome:
    return Genome(
        (
            Node(1, "conv", {"width": 8, "kernel": 3, "padding": 1}, "identity", inputs=(INPUT,)),
            Node(2, "batchnorm", {}, "relu", inputs=(1,)),
            Node(3, "conv", {"width": 8, "kernel": 3, "padding": 1}, "relu", inputs=(2,)),
        ),
        output=3,
    )


def _child() -> Genome:
    # Node 3 changes width, so nodes 1 and 2 are shared unchanged and node 3 is not.
    parent = _parent()
    return parent.with_node(parent.node(3).replace(params={"width": 12, "kernel": 3, "padding": 1}))


def _trained_parent():
    record = evaluate(_parent(), "digits", SMOKE, seed=0, keep_weights=True)
    assert record.status == "ok", record.error
    return record


def test_kept_weights_round_trip():
    record = _trained_parent()
    state = bytes_to_state(record.weights)

    with seeded_torch(0, torch.device("cpu")):
        model = decode(_parent(), SHAPE, 10)
    model.load_state_dict(state)

    assert state_to_bytes(model) == record.weights
    assert "weights" in record.to_dict()
    assert "weights" not in evaluate(_parent(), "digits", SMOKE, seed=0).to_dict()


def test_child_inherits_unchanged_nodes_only():
    parent_state = bytes_to_state(_trained_parent().weights)
    with seeded_torch(5, torch.device("cpu")):
        model = decode(_child(), SHAPE, 10)
    fresh = {name: tensor.clone() for name, tensor in model.state_dict().items()}

    inherited = inherit_weights(model, _child(), _parent(), parent_state)
    state = model.state_dict()

    assert inherited == [1, 2]
    assert torch.equal(state["cells.1.operation.weight"], parent_state["cells.1.operation.weight"])
    assert torch.equal(state["cells.2.operation.running_mean"], parent_state["cells.2.operation.running_mean"])
    assert torch.equal(state["cells.3.operation.weight"], fresh["cells.3.operation.weight"])
    assert torch.equal(state["head.classifier.weight"], fresh["head.classifier.weight"])


def test_same_definition_new_input_width_not_inherited():
    parent = _parent()
    # Node 1 widens, so node 3 keeps its definition but its input has 16 channels.
    wider = parent.with_node(parent.node(1).replace(params={"width": 16, "kernel": 3, "padding": 1}))
    parent_state = bytes_to_state(_trained_parent().weights)
    with seeded_torch(0, torch.device("cpu")):
        model = decode(wider, SHAPE, 10)

    inherited = inherit_weights(model, wider, parent, parent_state)

    assert inherited == []


def test_evaluate_with_inheritance_is_deterministic():
    parent = _trained_parent()
    inherit = {"genome": _parent().to_dict(), "weights": parent.weights}

    first = evaluate(_child(), "digits", SMOKE, seed=3, inherit=inherit)
    second = evaluate(_child(), "digits", SMOKE, seed=3, inherit=inherit)
    scratch = evaluate(_child(), "digits", SMOKE, seed=3)

    assert first.status == "ok", first.error
    assert first.metrics["inherited_nodes"] == [1, 2]
    assert first.objectives == second.objectives
    assert "inherited_nodes" not in scratch.metrics
    assert first.metrics["gradient_norms_init"] != scratch.metrics["gradient_norms_init"]


@pytest.mark.parametrize(
    "inherit, match",
    [
        ({"genome": None}, "exactly the keys 'genome' and 'weights'"),
        ({"genome": {}, "weights": "abc"}, "expected the .npz bytes"),
        ({"genome": "PARENT", "weights": b"not a zip archive"}, "not a readable .npz archive"),
    ],
)
def test_bad_inherit_argument_fails_with_reason(inherit, match):
    if inherit.get("genome") == "PARENT":
        inherit = {**inherit, "genome": _parent().to_dict()}

    record = evaluate(_child(), "digits", SMOKE, seed=0, inherit=inherit)

    assert record.status == "failed"
    assert match in record.error
