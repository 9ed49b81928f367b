"""The re-ranker's model file: a linear model over the declared features, as JSON.

::

    {"version": "linear-v1", "features": ["u_log_count", ...], "weights": [0.8, ...],
     "bias": -1.2, "meta": {"trained_on": "...", ...}}

Features are matched by name against :data:`features.FEATURE_NAMES`: a feature the model does
not name gets weight 0 and a model feature the code no longer computes is ignored, so a model
file survives feature additions. ``scorers/models/default.json`` is the shipped model; when it
is absent the hand-set :data:`HAND_WEIGHTS` are used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from features.registry import FEATURE_NAMES
from schemas.errors import InvalidData

__all__ = ["DEFAULT_MODEL_PATH", "HAND_WEIGHTS", "LinearModel", "default_model"]

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "models" / "default.json"

HAND_WEIGHTS: dict[str, float] = {
    "u_log_count": 1.0,
    "u_share": 2.0,
    "u_new": -1.5,
    "u_in_last_order": 0.5,
    "u_overdue_orders_abs": -0.3,
    "u_pos_match": 0.5,
    "cooc": 4.0,
    "aisle_aff": 1.0,
    "search_match": 3.0,
    "search_pending": 2.0,
    "g_pop": 1.0,
}
"""Sensible weights before any training: habit first, then basket context and searches."""


@dataclass(frozen=True)
class LinearModel:
    """``score = bias + sum(weight[f] * x[f])`` over named features."""

    version: str
    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_weights(
        cls,
        weights: Mapping[str, float],
        bias: float = 0.0,
        version: str = "linear-hand",
        meta: dict[str, Any] | None = None,
    ) -> LinearModel:
        """Build from a ``{feature: weight}`` mapping.

        >>> LinearModel.from_weights({"cooc": 2.0}).weight_of("cooc")
        2.0
        """
        names = tuple(weights)
        return cls(
            version, names, tuple(float(weights[n]) for n in names), float(bias), dict(meta or {})
        )

    def weight_of(self, name: str) -> float:
        """The weight of one feature (0 when the model does not name it)."""
        try:
            return self.weights[self.features.index(name)]
        except ValueError:
            return 0.0

    def vector(self, names: Sequence[str] = FEATURE_NAMES) -> np.ndarray:
        """Weights aligned with ``names`` (missing features get 0), as float64.

        >>> LinearModel.from_weights({"g_pop": 1.5, "gone": 9.0}).vector(["cooc", "g_pop"])
        array([0. , 1.5])
        """
        lookup = dict(zip(self.features, self.weights, strict=True))
        return np.array([lookup.get(n, 0.0) for n in names], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the model file."""
        return {
            "version": self.version,
            "features": list(self.features),
            "weights": [round(w, 6) for w in self.weights],
            "bias": round(self.bias, 6),
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, obj: Any, where: str = "model") -> LinearModel:
        """Validate and build from the JSON object; :class:`InvalidData` saying what is wrong.

        ``features`` must be a list of distinct names, at least one of them a declared feature;
        ``weights`` a list of as many finite numbers; ``bias`` a finite number.

        >>> LinearModel.from_dict({"version": "v", "features": ["cooc"], "weights": ["nan"]})
        Traceback (most recent call last):
        ...
        schemas.errors.InvalidData: model: weights must be a list of finite numbers
        """
        if not isinstance(obj, dict):
            raise InvalidData(f"{where}: not a linear model file (not a JSON object)")
        try:
            names, weights, version = obj["features"], obj["weights"], obj["version"]
        except KeyError as exc:
            raise InvalidData(f"{where}: not a linear model file (no {exc})") from exc
        bias, meta = obj.get("bias", 0.0), obj.get("meta", {})
        if type(names) is not list or not all(type(n) is str for n in names):
            raise InvalidData(f"{where}: features must be a list of feature names")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise InvalidData(f"{where}: features named more than once: {', '.join(dup)}")
        if type(weights) is not list or not all(_is_finite_number(w) for w in weights):
            raise InvalidData(f"{where}: weights must be a list of finite numbers")
        if len(names) != len(weights):
            raise InvalidData(f"{where}: {len(names)} features but {len(weights)} weights")
        if not _is_finite_number(bias):
            raise InvalidData(f"{where}: bias must be a finite number")
        if not set(names) & set(FEATURE_NAMES):
            raise InvalidData(f"{where}: names none of the features the scorer computes")
        if type(version) is not str or not isinstance(meta, dict):
            raise InvalidData(f"{where}: version must be a string and meta an object")
        return cls(version, tuple(names), tuple(float(w) for w in weights), float(bias), dict(meta))

    def save(self, path: Path) -> None:
        """Write the model file (pretty JSON, a few KB)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        """Read a model file; :class:`InvalidData` when missing or malformed."""
        try:
            obj = orjson.loads(Path(path).read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise InvalidData(f"cannot read model file {path}: {exc}") from exc
        return cls.from_dict(obj, str(path))


def _is_finite_number(x: object) -> bool:
    """An int or float (not a bool, not a numeric string) that is finite."""
    if type(x) not in (int, float):
        return False
    try:
        return math.isfinite(x)  # type: ignore[arg-type]
    except OverflowError:  # an int beyond float range
        return False


def default_model() -> LinearModel:
    """The shipped model (``scorers/models/default.json``), else :data:`HAND_WEIGHTS`."""
    if DEFAULT_MODEL_PATH.exists():
        return LinearModel.load(DEFAULT_MODEL_PATH)
    return LinearModel.from_weights(HAND_WEIGHTS, bias=0.0, version="linear-hand")
