"""The paper's MNIST results and the experiments they define, read from ``paper_results.json``.

One file holds the numbers we compare against and which models the paper trains on which datasets, grouped as
the paper reports them: distorted MNIST (Table 1: R, RTS, P, E), translated cluttered MNIST (TC) and MNIST
addition (ADD). A group may add models of the course's own beside the paper's (``course_models``: Lesson 08's
transformer on a feature map, ``ST-CNN-FM``, on TC); they have no paper error. Both the runner (which experiments exist, the tables) and the recipes (which datasets are
Table 1's) read it from here, so the grouping is written down once.

Source: Jaderberg, Simonyan, Zisserman and Kavukcuoglu, "Spatial Transformer Networks", NeurIPS 2015
(arXiv:1506.02025), :data:`PAPER_SOURCE`.

Example:
    >>> EXPERIMENT_GROUPS["distorted"].datasets
    ('R', 'RTS', 'P', 'E')
    >>> paper_error("ST-CNN-Aff", "RTS"), paper_error("ST-CNN-Aff", "TC")
    (0.5, None)
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from stnlib.models.classifiers import model_name_key

__all__ = [
    "DATASETS",
    "EXPERIMENTS",
    "EXPERIMENT_GROUPS",
    "PAPER_SOURCE",
    "ExperimentGroup",
    "canonical_model",
    "paper_error",
    "paper_results",
]

_PAPER_FILE = Path(__file__).with_name("paper_results.json")


@cache
def _paper_file() -> dict[str, Any]:
    with _PAPER_FILE.open(encoding="utf-8") as f:
        return json.load(f)


@dataclass(frozen=True)
class ExperimentGroup:
    """Experiments the paper reports together: every model of ``models`` on every dataset of ``datasets``.

    Attributes:
        name: ``"distorted"``, ``"cluttered"`` or ``"addition"``.
        title: the heading of the group's table.
        datasets: dataset keys, in the paper's order.
        models: model names, in the paper's order.
        course_models: models the course adds to the group's experiments (not trained in the paper, so no paper
            error); ``ST-CNN-FM`` is a CNN with an attention transformer on its first feature map (Sec. 3.4).
    """

    name: str
    title: str
    datasets: tuple[str, ...]
    models: tuple[str, ...]
    course_models: tuple[str, ...] = ()


EXPERIMENT_GROUPS: dict[str, ExperimentGroup] = {
    name: ExperimentGroup(
        name,
        group["title"],
        tuple(group["datasets"]),
        tuple(group["models"]),
        tuple(group.get("course_models", ())),
    )
    for name, group in _paper_file()["groups"].items()
}
"""The paper's groups of MNIST experiments by name, in the paper's order."""

EXPERIMENTS: dict[str, tuple[str, ...]] = {
    dataset: group.models + group.course_models
    for group in EXPERIMENT_GROUPS.values()
    for dataset in group.datasets
}
"""The models of the experiments on each dataset, the paper's first, ``{"RTS": ("FCN", "CNN", ...), "TC": ...}``."""

DATASETS: tuple[str, ...] = tuple(EXPERIMENTS)
"""The datasets of the paper's MNIST experiments, in the paper's order: R, RTS, P, E, TC, ADD."""

PAPER_SOURCE: str = _paper_file()["source"]
"""The citation of the numbers in ``paper_results.json``."""


def paper_results() -> dict[str, dict[str, float]]:
    """The paper's test errors in percent, ``{dataset: {model: error}}``, a fresh copy on every call.

    Example:
        >>> paper_results()["RTS"]["ST-CNN-Aff"], paper_results()["ADD"]["2xST-FCN"]
        (0.5, 5.8)
    """
    return copy.deepcopy(_paper_file()["errors"])


def paper_error(model: str, dataset: str) -> float | None:
    """The paper's test error (%) of ``model`` on ``dataset``, or ``None`` if the paper has no such cell.

    Raises:
        ValueError: ``model`` or ``dataset`` is not a name of the experiments (:data:`EXPERIMENTS`).
    """
    canonical_model(model, argument="model")
    if not isinstance(dataset, str) or dataset not in EXPERIMENTS:
        raise ValueError(f"dataset must be one of {', '.join(EXPERIMENTS)}; got {dataset!r}")
    return _paper_file()["errors"].get(dataset, {}).get(model)


_ALL_MODELS: tuple[str, ...] = tuple(dict.fromkeys(m for models in EXPERIMENTS.values() for m in models))


def canonical_model(name: str, *, argument: str = "name") -> str:
    """The experiment's spelling of a model name (case, spaces and underscores do not matter).

    ``argument`` is the name of the caller's argument that held ``name``, for the error messages.

    Raises:
        ValueError: not a model of the paper's MNIST experiments; the message lists them.

    Example:
        >>> canonical_model("st cnn aff"), canonical_model("2xst_fcn")
        ('ST-CNN-Aff', '2xST-FCN')
    """
    if not isinstance(name, str):
        raise TypeError(f"{argument} must be a model name such as 'ST-CNN-Aff'; got {type(name).__name__}")
    found = {model_name_key(m): m for m in _ALL_MODELS}.get(model_name_key(name))
    if found is None:
        per_group = "; ".join(
            f"{', '.join(g.datasets)}: {', '.join(g.models + g.course_models)}"
            for g in EXPERIMENT_GROUPS.values()
        )
        raise ValueError(
            f"unknown model {name!r}; the paper's experiments have: {per_group} (argument {argument})"
        )
    return found
