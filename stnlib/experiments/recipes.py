"""Training recipes: how each budget trains each family of the paper's models.

A :class:`Recipe` holds everything :func:`stnlib.train.fit` needs besides the model and the data — its
:meth:`Recipe.train_config` is the run's :class:`~stnlib.train.TrainConfig` — and the amount of data, which
comes from the named :class:`~stnlib.budget.Budget` (``smoke``, ``cpu``, ``gpu``, ``paper``).

The paper trains with SGD at lr 0.01 for 150k iterations of batch 256, dividing the rate by 10 every 50k
(appendix). The course cannot afford that, so every budget uses the same short recipe instead:

* **AdamW with a one-cycle schedule** (warm up for 30 % of the steps, then anneal to almost zero): it reaches a
  low error in a few thousand steps, where the paper's step schedule would still be at its first learning rate.
* **The localization network's learning rate depends on the data, not on the budget:** the full rate on
  distorted MNIST (R, RTS, P, E), measured better than a tenth at every run length tried; a tenth of it (the
  paper's choice for SVHN) on cluttered MNIST and addition, where the full rate swung the window away. Ten times
  the rate collapses the transformer even on RTS.
* **MNIST addition trains 16 times the budget's epochs, at peak lr 3e-3 for every family:** a sum is right only
  when both digits are, so the error stays at chance long after single digits are read.
* **Label smoothing 0.1 under the long budgets on distorted MNIST** (``gpu``, ``paper``): in 38 epochs the
  networks fit their training digits almost perfectly, and softer targets lowered the RTS test error in each of
  three seeds.
* **No input normalisation:** digits stay in [0, 1] with a zero background, the value the samplers pad with, so
  a transformer that zooms out shows background, not a frame.

The measurements behind each choice, the variants tried and not adopted, and the run-time estimate for a Colab
GPU are in benchmarks/README.md ("The localization network's learning rate", "Cluttered MNIST and MNIST
addition", "The ``paper`` budget on RTS", "Spatial transformer overhead per training step").

Example:
    >>> r = recipe_for("ST-CNN-Aff", "RTS", "paper")
    >>> r.optimizer, r.schedule, r.localization_lr_multiplier, r.label_smoothing, r.steps
    ('adamw', 'onecycle', 1.0, 0.1, 7448)
    >>> r = recipe_for("ST-CNN-Aff", "RTS", "cpu")
    >>> r.localization_lr_multiplier, r.label_smoothing
    (1.0, 0.0)
    >>> recipe_for("ST-CNN", "TC", "cpu").localization_lr_multiplier
    0.1
    >>> r = recipe_for("2xST-FCN", "ADD", "cpu")
    >>> r.epochs, r.steps, r.lr
    (64, 5056, 0.003)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from stnlib.budget import Budget, get_budget, training_steps
from stnlib.experiments.paper import EXPERIMENT_GROUPS, canonical_model
from stnlib.train.config import TrainConfig

__all__ = ["Family", "Recipe", "family_of", "recipe_for"]

Family = Literal["fcn", "cnn"]

# Peak learning rates of the one-cycle schedule per family (AdamW).
_LR: dict[Family, float] = {"fcn": 1e-3, "cnn": 3e-3}
_WEIGHT_DECAY = 1e-2  # AdamW's default; fit never decays biases (the localization head's identity bias stays)
# The localization networks' rate, relative to the classifier's, per group of the paper's experiments (measured).
_LOCALIZATION_LR_MULTIPLIER: dict[str, float] = {"distorted": 1.0, "cluttered": 0.1, "addition": 0.1}
# The long budgets on distorted MNIST smooth their labels: softer targets stop the networks fitting their
# training digits so hard (measured on RTS).
_LONG_BUDGETS = ("gpu", "paper")
_LONG_TABLE1_LABEL_SMOOTHING = 0.1
# MNIST addition: a sum is right only once both digits are read, which takes far longer than reading one digit.
_ADDITION_EPOCH_FACTOR = 16
_ADDITION_LR = 3e-3  # every family; the FCNs' usual 1e-3 stayed near chance there (benchmarks/README.md)


@dataclass(frozen=True)
class Recipe:
    """How one experiment is trained.

    Attributes:
        budget: the budget's name.
        family: ``"fcn"`` (fully connected classifiers) or ``"cnn"`` (convolutional ones).
        optimizer: ``"adamw"`` or ``"sgd"``.
        lr: the peak learning rate.
        schedule: ``"onecycle"``, ``"paper"`` or ``"none"`` (see :mod:`stnlib.train.loop`).
        localization_lr_multiplier: the localization networks train at ``lr * multiplier``.
        weight_decay: decoupled weight decay (never applied to biases).
        label_smoothing: the cross-entropy's label smoothing (0: none); the test error is unaffected by it.
        epochs: passes over ``train_samples``.
        batch_size: digits per step.
        train_samples: training digits per epoch.
        test_samples: test digits the error is measured on.
    """

    budget: str
    family: Family
    optimizer: str
    lr: float
    schedule: str
    localization_lr_multiplier: float
    weight_decay: float
    label_smoothing: float
    epochs: int
    batch_size: int
    train_samples: int
    test_samples: int

    @property
    def steps(self) -> int:
        """Optimisation steps of the whole run."""
        return training_steps(self.epochs, self.train_samples, self.batch_size)

    def train_config(self, **settings: Any) -> TrainConfig:
        """The :class:`~stnlib.train.TrainConfig` of this recipe for :func:`stnlib.train.fit`; ``settings`` add
        what the recipe leaves open (``seed``, ``precision``, ``compile``).

        Example:
            >>> recipe_for("CNN", "RTS", "cpu").train_config(seed=3).lr
            0.003
        """
        return TrainConfig(
            epochs=self.epochs,
            optimizer=self.optimizer,
            lr=self.lr,
            schedule=self.schedule,
            localization_lr_multiplier=self.localization_lr_multiplier,
            weight_decay=self.weight_decay,
            label_smoothing=self.label_smoothing,
        ).replace(**settings)

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for the JSON result of an experiment."""
        return {**asdict(self), "steps": self.steps}


def family_of(model: str) -> Family:
    """``"fcn"`` for FCN, ST-FCN-* and 2xST-FCN; ``"cnn"`` for CNN and ST-CNN-*.

    Example:
        >>> family_of("2xST-FCN"), family_of("ST-CNN-TPS")
        ('fcn', 'cnn')
    """
    canonical_model(model, argument="model")
    return "fcn" if "FCN" in model.upper() else "cnn"


def _is_long_table1(dataset: str, budget: Budget) -> bool:
    """A long budget (``gpu``, ``paper`` or their ``with_epochs`` variants) on distorted MNIST (R, RTS, P, E)."""
    return budget.base_name in _LONG_BUDGETS and dataset.upper() in EXPERIMENT_GROUPS["distorted"].datasets


def _group_of(dataset: str) -> str:
    """The name of the paper's group of experiments that ``dataset`` belongs to."""
    key = dataset.upper()
    for name, group in EXPERIMENT_GROUPS.items():
        if key in group.datasets:
            return name
    known = ", ".join(d for group in EXPERIMENT_GROUPS.values() for d in group.datasets)
    raise ValueError(f"unknown dataset {dataset!r}; choose one of {known}")


def _is_addition(dataset: str) -> bool:
    return dataset.upper() in EXPERIMENT_GROUPS["addition"].datasets


def recipe_for(model: str, dataset: str, budget: Budget | str | None = None) -> Recipe:
    """The training recipe of ``model`` on ``dataset`` under a budget.

    Args:
        model: an experiment's model name (``"ST-CNN-Aff"``); only its family matters.
        dataset: the dataset key (``"RTS"``); it decides the localization networks' rate (x1 on distorted MNIST,
            x0.1 on TC and ADD), label smoothing under the long budgets (distorted MNIST only), and
            MNIST addition (``"ADD"``) trains ``_ADDITION_EPOCH_FACTOR`` (16) times the budget's epochs at lr 3e-3.
        budget: a :class:`~stnlib.budget.Budget`, a budget's name, or ``None`` for
            :func:`stnlib.budget.get_budget` (``$STNLIB_BUDGET``, else ``gpu`` with CUDA and ``cpu`` without).

    Returns:
        The :class:`Recipe`.
    """
    if not isinstance(dataset, str):
        raise TypeError(f"dataset must be a dataset key such as 'RTS'; got {type(dataset).__name__}")
    chosen = budget if isinstance(budget, Budget) else get_budget(budget)
    family = family_of(model)
    addition = _is_addition(dataset)
    long_table1 = _is_long_table1(dataset, chosen)
    return Recipe(
        budget=chosen.name,
        family=family,
        optimizer="adamw",
        lr=_ADDITION_LR if addition else _LR[family],
        schedule="onecycle",
        localization_lr_multiplier=_LOCALIZATION_LR_MULTIPLIER[_group_of(dataset)],
        weight_decay=_WEIGHT_DECAY,
        label_smoothing=_LONG_TABLE1_LABEL_SMOOTHING if long_table1 else 0.0,
        epochs=chosen.epochs * _ADDITION_EPOCH_FACTOR if addition else chosen.epochs,
        batch_size=chosen.batch_size,
        train_samples=chosen.train_samples,
        test_samples=chosen.test_samples,
    )
