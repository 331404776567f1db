"""Training recipes: how each budget trains each family of the paper's models.

A :class:`Recipe` holds everything :func:`stnlib.train.fit` needs besides the model and the data: optimiser,
learning rate, schedule, the localization networks' learning-rate multiplier, and the amount of training, which
comes from the named :class:`~stnlib.budget.Budget` (``smoke``, ``cpu``, ``gpu``, ``paper``).

The paper trains with SGD at lr 0.01 for 150k iterations of batch 256, dividing the rate by 10 every 50k
(appendix). The course cannot afford that, so every budget uses the same short recipe instead:

* **AdamW with a one-cycle schedule** (warm up for 30 % of the steps, then anneal to almost zero): it reaches a
  low error in a few thousand steps, where the paper's step schedule would still be at its first learning rate.
* **The localization network's learning rate depends on the data, not on the budget.** On distorted MNIST
  (R, RTS, P, E) it trains at the full rate (``localization_lr_multiplier=1``): measured better than a tenth at
  every length tried (benchmarks/README.md, "The localization network's learning rate"; ``cpu``, 316 steps:
  ST-CNN-Aff 4.88 against 6.50 % on RTS and 8.02 against 9.06 % on R, ST-FCN-Aff 25.4 against 48.2 % on RTS;
  ``paper``: 0.64 against 0.84 % on RTS, below). On translated cluttered MNIST and MNIST addition it trains at a
  tenth of the rate (x0.1, the paper's choice for SVHN): there the transformer starts far from a useful window and
  the full rate swung it away (``cpu`` budget, TC ST-CNN: 24.8 % test error at x1 against 18.6 % at x0.1). Ten
  times the rate collapses the transformer even on RTS (Lesson 05, ``benchmarks/bench_rotation.py``).
* **MNIST addition trains 16 times the budget's epochs, at peak lr 3e-3 for every family.** A predicted sum is
  right only when both digits are read correctly, so the error stays at chance (about 90 %, always guessing 9)
  long after the network has started to read single digits. Measured at the ``cpu`` budget (seed 0, 10,000
  pairs per epoch): 16 epochs at the FCNs' usual lr 1e-3 left FCN and 2xST-FCN at 88.8 and 87.7 %; 64 epochs at
  3e-3 (the recipe: 4 x 16) bring the 2xST-FCN to 43.6 % (seed 1: 54.2 %; seed 0 with two threads
  instead of one: 63.0 %) against the FCN's 80.4 % (81.4 %).
  The FCN models on addition are cheap (about 4 minutes of one CPU core for the 2xST-FCN at ``cpu``); the
  ``gpu`` and ``paper`` budgets become 62,720 and 119,168 steps of 256 pairs, still fewer than the paper's 150k.
* **Label smoothing 0.1 under the long budgets on distorted MNIST** (``gpu``, ``paper``; R, RTS, P, E; no
  smoothing elsewhere). In 38 epochs the networks fit their training digits almost perfectly (final training
  loss about 0.01); softer targets (90 % on the true class, the rest shared out) keep them from growing ever
  more confident on digits they already classify, and on RTS that lowered the test error in each of three seeds
  (below).
* **No input normalisation.** Digits stay in [0, 1] with a zero background, the value the samplers pad with, so
  a transformer that zooms out shows background, not a frame.

``paper`` budget: 38 epochs of the 50k training digits at batch 256 are 7,448 steps, within 1/20 of the paper's
150k iterations; the recipe aims at the paper's ST-CNN error on RTS (0.5 %, at most 0.6 %). **Measured, and not
quite reached** (ST-CNN-Aff on RTS, on a CPU; benchmarks/README.md, "The paper budget on RTS"): the recipe
(localization x1, label smoothing 0.1), trained in bfloat16 mixed precision, 0.61, 0.59 and 0.67 % test error
(seeds 0, 1, 2; mean 0.62 %). Without label smoothing: 0.70, 0.64 and 0.69 % in float32 (mean 0.68 %), and
0.65 and 0.63 % (seeds 0, 1) in bfloat16, so mixed precision does not change the result. Seed 0 run again on a
CPU with other bfloat16 kernels gave 0.68 %: single runs differ by as much as seeds do, and the four runs of the
recipe average 0.64 %. Variants tried and not adopted (seed 0): localization x0.1 0.84 %, the paper's CNN
figure rather than its ST-CNN's; Lesson 05's setting (classifier lr 1e-3, localization x3) 0.80 %; ten times the
weight decay 0.77 %, none 0.72 %; dropout 0.5 before the classifier's last layer 0.75 %; all 60k MNIST training
digits instead of the 50k training split 0.65 %; label smoothing 0.2 0.71 % (0.68 % with 0.1 on the same
machine); an exponential moving average of the weights over the last 1,000 steps 0.67–0.68 % (longer averages
worse); a wider classifier (CNN channels 48 and 96 instead of 32 and 64, 1.5 times the time) 0.62 and 0.63 %
(seeds 0, 1; the recipe's mean is 0.64 %), no gain beyond the run-to-run spread; batch 512 for the same 7,448
steps (76 epochs, twice the digits and the time) 0.64 and 0.56 % (seeds 0, 1; mean 0.60 %), lower than batch 256
in both seeds but by less than the run-to-run spread: the first variant to run with more seeds on a GPU.

Expected time per experiment on a Colab T4 — an **estimate**, not a measurement (no GPU was available when this
was written). ``python -m benchmarks.bench_stn_overhead`` counts 102 MFLOP per digit for an ST-CNN-Aff training
step on RTS (convolutions and matrix products, forward and backward, ``torch.utils.flop_counter``) and measured
one core of the course's build machine sustaining about 31 GFLOP/s on it. A ``paper`` run is 7,448 steps x 256 =
1.9M digits, 1.9e14 FLOP: about 1.7 hours on that core. Assuming a T4 sustains 2–4 TFLOP/s on these small
convolutions (25–50 % of its 8.1 TFLOP/s fp32 peak, i.e. 65–130x that core), that is 50–100 s of GPU compute,
plus data generation, kernel launches and evaluation: **about 2–4 minutes per experiment**, so one Table-1
column (8 models) with 3 seeds takes roughly 1–2 hours. A ``gpu`` run (20 epochs) takes about half as long.
``--precision fp16`` lets the T4's tensor cores do the convolutions and should shorten this further (not measured;
on a CPU with AMX bfloat16 units a training step ran 2.6 times as fast, on one with AVX-512 bfloat16 1.7 times,
and the test error stayed where it was).
Counted the same way, per digit: the ST-CNNs on the 28x28 variants (R, P, E) cost about a fifth of that (18
MFLOP), the CNN on 60x60 cluttered digits (TC) 2.6 times as much (269 MFLOP), the TC ST-CNN, which classifies a
30x30 output, half (54 MFLOP); the FCN models cost a few MFLOP and are bound by kernel launches, not arithmetic.

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

import functools
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch.nn.functional as F

from stnlib.budget import Budget, get_budget, training_steps
from stnlib.experiments.paper import EXPERIMENT_GROUPS

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

    def fit_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`stnlib.train.fit` this recipe sets."""
        return {
            "epochs": self.epochs,
            "optimizer": self.optimizer,
            "lr": self.lr,
            "schedule": self.schedule,
            "localization_lr_multiplier": self.localization_lr_multiplier,
            "weight_decay": self.weight_decay,
            "loss_fn": functools.partial(F.cross_entropy, label_smoothing=self.label_smoothing),
        }

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for the JSON result of an experiment."""
        return {**asdict(self), "steps": self.steps}


def family_of(model: str) -> Family:
    """``"fcn"`` for FCN, ST-FCN-* and 2xST-FCN; ``"cnn"`` for CNN and ST-CNN-*.

    Example:
        >>> family_of("2xST-FCN"), family_of("ST-CNN-TPS")
        ('fcn', 'cnn')
    """
    if not isinstance(model, str):
        raise TypeError(f"model must be a model name such as 'ST-CNN-Aff'; got {type(model).__name__}")
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
