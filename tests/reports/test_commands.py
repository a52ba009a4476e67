"""The analysis commands against databases written by real campaigns (smoke and cut-down mnist1d)."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import xml.etree.ElementTree as ElementTree

import pytest
import torch
from click.testing import CliRunner

from evo.cli import main
from genomes import Genome, decode
from populations import Store

DATABASES = ["smoke_db", "mnist1d_db"]


def invoke(*args):
    return CliRunner().invoke(main, ["--quiet", *map(str, args)])


def _front_ids(path):
    with Store(path, readonly=True) as store:
        return [int(i) for i in store.front(1)["individual_id"]]


def _last_individual(path):
    with Store(path, readonly=True) as store:
        return int(store.individuals()["id"].max())


@pytest.mark.parametrize("database", DATABASES)
def test_front_json(database, request):
    path = request.getfixturevalue(database)

    result = invoke("front", path, "--format", "json")

    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert sorted(row["individual_id"] for row in rows) == sorted(_front_ids(path))


@pytest.mark.parametrize("database", DATABASES)
def test_lineage_of_last_individual(database, request, tmp_path):
    path = request.getfixturevalue(database)
    individual = _last_individual(path)

    result = invoke("lineage", path, individual, "--format", "json", "--out", tmp_path / "tree.png")

    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)
    assert steps, "a child of the last generation has at least one parent"
    assert steps[0]["child_id"] == individual
    assert {"operator", "change_accuracy", "change_flops"} <= set(steps[0])
    assert (tmp_path / "tree.png").read_bytes().startswith(b"\x89PNG")


def test_lineage_descendants_of_seed(smoke_db):
    result = invoke("lineage", smoke_db, 1, "--descendants", "--depth", 1, "--format", "csv")

    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("depth,child_id,parent_id,operator,generation")
    assert all(line.startswith("1,") for line in lines[1:])
    assert all(",1," in line for line in lines[1:])


@pytest.mark.parametrize("args, message", [
    (("lineage", "{db}", 9999), "individual id 9999 not found"),
    (("lineage", "{db}", 1, "--depth", 0), "Invalid value for '--depth'"),
    (("export", "{db}", 9999, "--out", "x.py"), "individual id 9999 not found"),
    (("genome", "draw", "nonsense", "--out", "x.svg"), "neither a genome .json file nor DB:ID"),
    (("motifs", "missing.sqlite"), "not found"),
])
def test_command_errors(smoke_db, tmp_path, args, message):
    result = CliRunner().invoke(main, [str(a).format(db=smoke_db) for a in args])

    assert result.exit_code in (1, 2)
    assert message in result.output


@pytest.mark.parametrize("database", DATABASES)
def test_motifs_json(database, request):
    path = request.getfixturevalue(database)

    result = invoke("motifs", path, "--format", "json", "--top", 5)

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["front_members"] == len(_front_ids(path))
    assert len(report["motifs"]) <= 5
    assert all(0 <= motif["p_adjusted"] <= 1 for motif in report["motifs"])
    assert {rule["feature"] for rule in report["rules"]} & {"depth", "width", "skip_density"}


@pytest.mark.parametrize("database", DATABASES)
def test_export_py_matches_decoded(database, request, tmp_path):
    path = request.getfixturevalue(database)
    individual = _front_ids(path)[0]
    out = tmp_path / "exported.py"

    result = invoke("export", path, individual, "--format", "py", "--out", out)

    assert result.exit_code == 0, result.output
    spec = importlib.util.spec_from_file_location("exported", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exported = module.load_network()
    with Store(path, readonly=True) as store:
        genome = Genome.from_json(json.dumps(store.genome(individual)))
    reference = decode(genome, module.INPUT_SHAPE, module.NUM_CLASSES)
    reference.load_state_dict(exported.state_dict())
    batch = torch.randn(4, *module.INPUT_SHAPE)
    with torch.no_grad():
        assert torch.allclose(exported(batch), reference.eval()(batch), atol=1e-6, rtol=0)


@pytest.mark.parametrize("fmt, suffix", [("torchscript", "pt"), ("onnx", "onnx")])
def test_export_binary_formats(smoke_db, tmp_path, fmt, suffix):
    if fmt == "onnx":
        pytest.importorskip("onnx", reason="the onnx extra is not installed")
    out = tmp_path / f"net.{suffix}"

    result = invoke("export", smoke_db, _front_ids(smoke_db)[0], "--format", fmt, "--out", out)

    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0


@pytest.mark.parametrize("database", DATABASES)
def test_genome_draw_from_database(database, request, tmp_path):
    path = request.getfixturevalue(database)
    individual = _front_ids(path)[0]
    out = tmp_path / "genome.svg"

    result = invoke("genome", "draw", f"{path}:{individual}", "--out", out)

    assert result.exit_code == 0, result.output
    root = ElementTree.fromstring(out.read_text(encoding="utf-8"))
    texts = [element.text for element in root.iter("{http://www.w3.org/2000/svg}text")]
    assert f"individual {individual}" in texts
    assert "0: input" in texts
    assert any(text.startswith("head: ") for text in texts)


def test_genome_draw_from_json_file(smoke_db, tmp_path):
    with Store(smoke_db, readonly=True) as store:
        (tmp_path / "genome.json").write_text(json.dumps(store.genome(1)), encoding="utf-8")

    result = invoke("genome", "draw", tmp_path / "genome.json", "--task", "digits", "--out", tmp_path / "g.svg")

    assert result.exit_code == 0, result.output
    assert "8x8" in (tmp_path / "g.svg").read_text(encoding="utf-8")


@pytest.mark.parametrize("database", DATABASES)
def test_report_html(database, request, tmp_path):
    path = request.getfixturevalue(database)
    out = tmp_path / "report.html"

    result = invoke("report", path, "--out", out)

    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    for section in ("summary", "config", "fronts", "hypervolume", "best", "lineage", "operators", "motifs", "rules"):
        assert f'<section id="{section}">' in text
    assert "data:image/svg+xml;base64," in text


def test_export_uses_stored_weights(smoke_db, tmp_path):
    from fitness import task_shapes
    from fitness.inheritance import state_to_bytes
    from populations.weights import save_weights

    copy = tmp_path / "with-weights.sqlite"
    with Store(smoke_db, readonly=True) as source:
        target = sqlite3.connect(copy)
        source.db.conn.backup(target)
        target.close()
    individual = _front_ids(copy)[0]
    shape, classes = task_shapes("digits")
    with Store(copy) as store:
        genome = Genome.from_json(json.dumps(store.genome(individual)))
        torch.manual_seed(123)
        trained = decode(genome, shape, classes).eval()
        with store.db.conn:
            save_weights(store.db, individual, "any-hash", state_to_bytes(trained))
    out = tmp_path / "trained.py"

    result = invoke("export", copy, individual, "--out", out)

    assert result.exit_code == 0, result.output
    assert "trained weights stored in the database" in result.output
    spec = importlib.util.spec_from_file_location("trained", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    batch = torch.randn(3, *shape)
    with torch.no_grad():
        assert torch.allclose(module.load_network()(batch), trained(batch), atol=1e-6, rtol=0)


def test_operators_statistics_of_family(family_db):
    result = invoke("operators", family_db, "--format", "json")

    assert result.exit_code == 0, result.output
    rows = {row["operator"]: row for row in json.loads(result.output)}
    assert set(rows) == {"change_width", "one_point_crossover", "add_skip"}
    crossover = rows["one_point_crossover"]
    assert (crossover["applications"], crossover["links"]) == (1, 2)
    assert crossover["dominated_parent"] == 0.5, "child 4 dominates parent 2 but not parent 3"
    assert crossover["entered_front"] == 0.0
    assert rows["change_width"]["dominated_parent"] == 1.0
    assert rows["add_skip"]["entered_front"] == 1.0
    assert rows["add_skip"]["mean_change_accuracy"] == pytest.approx(0.15)


def test_operators_by_generation(smoke_db):
    result = invoke("operators", smoke_db, "--by-generation", "--format", "csv")

    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "generation,operator,applications,dominated_parent"
    applications = sum(int(line.split(",")[2]) for line in lines[1:])
    with Store(smoke_db, readonly=True) as store:
        individuals = store.individuals()
    assert applications == int((individuals["origin"] != "seed").sum()), "every child made by one operator"
    assert {int(line.split(",")[0]) for line in lines[1:]} <= set(individuals["generation"])


def test_operators_probabilities_need_adaptive_selection(family_db):
    result = CliRunner().invoke(main, ["operators", str(family_db), "--probabilities"])

    assert result.exit_code == 1
    assert "adaptive operator selection" in result.output


def test_front_of_generation_without_scored_members(tmp_path):
    path = tmp_path / "timeouts.db"
    genome = {"format": 1, "output": 1, "head": "flatten",
              "nodes": [{"id": 1, "op": "linear", "params": {"width": 4}, "activation": "relu",
                         "merge": "add", "inputs": [0]}]}
    with Store(path) as store:
        campaign = store.create_campaign("slow", {"search": {"objectives": ["accuracy", "flops"]}}, seed=0)
        store.commit_generation(
            campaign, 0,
            individuals=[{"id": i, "genome": genome, "genome_hash": f"h{i}", "generation": 0, "origin": "seed"}
                         for i in (1, 2)],
            lineage=[],
            evaluations=[{"individual_id": i, "status": "timeout", "objectives": {}, "task_key": "digits",
                          "error": "evaluation timed out after 1 s"} for i in (1, 2)],
            members=[1, 2], front=[], hypervolume=0.0, state={},
        )

    result = CliRunner().invoke(main, ["front", str(path)])

    assert result.exit_code == 1
    assert "the front of generation 0 of campaign 'slow' is empty" in result.output
    assert "2 timeout" in result.output
