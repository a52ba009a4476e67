"""Adaptive operator selection by adaptive pursuit.

Method: D. Thierens, "An adaptive pursuit strategy for allocating operator probabilities",
GECCO 2005. Each operator ``i`` has a quality estimate ``q_i`` and a probability ``p_i``.
After a generation, every operator that made children moves its quality towards its mean
reward ``r_i`` (``q_i += alpha * (r_i - q_i)``). Then the operator with the best quality
pursues ``p_max = 1 - (K - 1) * p_min`` and every other one pursues ``p_min``
(``p_i += beta * (target_i - p_i)``). The probabilities always sum to 1 and never fall below
the floor ``p_min``, so no operator dies.

Reward of a child: 1 when it Pareto-dominates at least one of its parents or belongs to the
front of the survivors of its generation, else 0. Children whose evaluation failed get 0.

Mutations and crossovers form two groups with their own probabilities, because
``[search] crossover_rate`` already decides between the two groups.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

import fitness

log = logging.getLogger(__name__)

# Step sizes of adaptive pursuit: alpha for the quality estimates, beta for the probabilities.
QUALITY_RATE = 0.3
PURSUIT_RATE = 0.3


@dataclass
class AdaptivePursuit:
    """Probabilities and quality estimates of one group of operators, keyed by operator name."""

    names: tuple[str, ...]
    floor: float
    probabilities: dict[str, float] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError("adaptive pursuit needs at least one operator")
        if self.floor < 0 or (len(self.names) > 1 and self.floor * len(self.names) >= 1):
            raise ValueError(f"operator_floor = {self.floor} times {len(self.names)} operators must be in [0, 1)")
        given = {name: float(value) for name, value in self.probabilities.items() if name in self.names}
        self.quality = {name: float(self.quality.get(name, 0.0)) for name in self.names}
        # Stored probabilities of the same operators are kept bit for bit, so a resume continues
        # exactly. Priors from another campaign (other operators, other floor) are rescaled.
        valid = (len(given) == len(self.names) and abs(sum(given.values()) - 1.0) < 1e-9
                 and min(given.values()) >= self.floor - 1e-12)
        self.probabilities = given if valid else {name: given.get(name, 1.0 / len(self.names)) for name in self.names}
        if not valid:
            self._normalise()

    @property
    def ceiling(self) -> float:
        """The probability that the best operator pursues: p_max = 1 - (K - 1) * p_min."""
        return 1.0 - (len(self.names) - 1) * self.floor

    def _normalise(self) -> None:
        """Rescale to a sum of 1 with every probability at least the floor."""
        raised = {name: max(value, 0.0) for name, value in self.probabilities.items()}
        total = sum(raised.values())
        if total <= 0:
            raised = {name: 1.0 for name in self.names}
            total = float(len(self.names))
        spare = 1.0 - self.floor * len(self.names)
        self.probabilities = {name: self.floor + spare * value / total for name, value in raised.items()}

    def pick(self, rng: np.random.Generator) -> str:
        """Draw one operator name with the current probabilities (one uniform draw from rng)."""
        cumulative = np.cumsum([self.probabilities[name] for name in self.names])
        index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        return self.names[min(index, len(self.names) - 1)]

    def update(self, rewards: Mapping[str, Sequence[float]]) -> None:
        """Apply one adaptive-pursuit step from the rewards of each operator's children."""
        for name, values in rewards.items():
            if name in self.quality and len(values):
                self.quality[name] += QUALITY_RATE * (float(np.mean(values)) - self.quality[name])
        if len(self.names) == 1:
            return
        # Ties go to the operator listed first, so the step does not depend on dict order.
        best = max(self.names, key=lambda name: (self.quality[name], -self.names.index(name)))
        for name in self.names:
            target = self.ceiling if name == best else self.floor
            self.probabilities[name] += PURSUIT_RATE * (target - self.probabilities[name])

    def to_state(self) -> dict[str, Any]:
        return {"probabilities": dict(self.probabilities), "quality": dict(self.quality)}


class OperatorSelection:
    """Adaptive pursuit over the mutations and over the crossovers of a campaign."""

    def __init__(self, mutations: Sequence[str], crossovers: Sequence[str], floor: float,
                 state: Mapping[str, Any] | None = None):
        state = state or {}
        self.groups: dict[str, AdaptivePursuit] = {}
        for group, names in (("mutation", mutations), ("crossover", crossovers)):
            if names:
                stored = state.get(group) or {}
                self.groups[group] = AdaptivePursuit(tuple(names), floor, dict(stored.get("probabilities") or {}),
                                                     dict(stored.get("quality") or {}))

    def pick(self, group: str, rng: np.random.Generator) -> str:
        return self.groups[group].pick(rng)

    def probabilities(self) -> dict[str, dict[str, float]]:
        return {group: dict(pursuit.probabilities) for group, pursuit in self.groups.items()}

    def to_state(self) -> dict[str, Any]:
        return {group: pursuit.to_state() for group, pursuit in self.groups.items()}

    def update(self, rewards: Mapping[str, Sequence[float]]) -> None:
        """Update every group from rewards keyed by operator name."""
        for pursuit in self.groups.values():
            pursuit.update({name: values for name, values in rewards.items() if name in pursuit.names})


def dominates(better: Mapping[str, float], worse: Mapping[str, float], names: Sequence[str]) -> bool:
    """Return whether ``better`` Pareto-dominates ``worse`` on ``names``. A missing value never dominates."""
    strictly = False
    for name in names:
        if name not in better or name not in worse:
            return False
        sign = 1.0 if fitness.OBJECTIVES[name].maximize else -1.0
        a, b = sign * better[name], sign * worse[name]
        if not (np.isfinite(a) and np.isfinite(b)) or a < b:
            return False
        strictly = strictly or a > b
    return strictly


def child_rewards(children: Iterable[Any], parent_objectives: Mapping[int, Mapping[str, float]],
                  front: Iterable[int], names: Sequence[str]) -> dict[str, list[float]]:
    """Reward (0 or 1) of each varied child, grouped by its operator name.

    ``children`` are the engine's Individuals; seeds have no operator credit and are left out.
    """
    front_ids = set(front)
    rewards: dict[str, list[float]] = {}
    for child in children:
        if child.origin == "seed" or child.operator is None:
            continue
        ok = child.record.get("status") in ("ok", "cached")
        better = ok and (child.id in front_ids or any(
            dominates(child.objectives, parent_objectives.get(parent, {}), names) for parent in child.parents))
        rewards.setdefault(child.operator, []).append(1.0 if better else 0.0)
    return rewards
