"""One training configuration: every setting of a :func:`~stnlib.train.fit` run, validated once.

A :class:`TrainConfig` holds what decides *how* a model is trained — the length of the run, the optimiser, the
learning rates and their schedule, label smoothing, precision and the seed — and nothing about *what* is trained
(the model, the data) or *where* it is saved. :func:`~stnlib.train.fit` builds one from its keyword arguments or
takes one ready-made (the experiments' recipes produce them: :meth:`stnlib.experiments.Recipe.train_config`); a
checkpoint stores it, and a resumed run must have the same one.

Example:
    >>> config = TrainConfig(epochs=4, lr=1e-3, localization_lr_multiplier=0.1)
    >>> config.optimizer, config.weight_decay, config.schedule
    ('adamw', 0.01, 'onecycle')
    >>> TrainConfig(epochs=4, schedule="paper").optimizer, TrainConfig(epochs=4, schedule="paper").lr
    ('sgd', 0.01)
    >>> config.replace(epochs=8).epochs
    8
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from stnlib._validation import check_choice
from stnlib.train.device import Precision, check_precision

__all__ = ["OPTIMIZERS", "SCHEDULES", "TrainConfig", "record_differences"]

OptimizerName = Literal["adamw", "sgd"]
ScheduleName = Literal["onecycle", "paper", "none"]
OPTIMIZERS: tuple[OptimizerName, ...] = ("adamw", "sgd")
SCHEDULES: tuple[ScheduleName, ...] = ("onecycle", "paper", "none")

_DEFAULT_LR = {
    ("adamw", "onecycle"): 3e-3,
    ("adamw", "paper"): 1e-3,
    ("adamw", "none"): 1e-3,
    ("sgd", ""): 0.01,
}
_DEFAULT_WEIGHT_DECAY = {"adamw": 1e-2, "sgd": 0.0}
# Settings that change how fast a run goes, not what it computes: a run may resume under other values.
_RESUMABLE_ACROSS = ("precision", "compile")


def check_number(value: object, name: str, *, integer: bool = False, allow_zero: bool = False) -> None:
    """Raise a ``ValueError`` naming ``name`` unless ``value`` is a positive number (or int; or ``>= 0``)."""
    kinds = (int,) if integer else (int, float)
    ok = (
        isinstance(value, kinds) and not isinstance(value, bool) and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        what = "an int" if integer else "a number"
        raise ValueError(f"{name} must be {what} {'>= 0' if allow_zero else '> 0'}; got {value!r}")


def default_weight_decay(optimizer: str) -> float:
    """0.01 for AdamW (PyTorch's default), 0 for SGD."""
    return _DEFAULT_WEIGHT_DECAY[check_choice(optimizer, "optimizer", OPTIMIZERS, ignore_case=True)]


@dataclass(frozen=True)
class TrainConfig:
    """How :func:`~stnlib.train.fit` trains (see :mod:`stnlib.train.loop` for the schedules).

    Attributes:
        epochs: the total number of epochs of the run (also when resuming).
        optimizer: ``"adamw"`` or ``"sgd"`` (momentum 0.9); ``None`` picks SGD for ``schedule="paper"`` and AdamW
            otherwise. The name of a ready-made optimiser's class when :func:`~stnlib.train.fit` was given one.
        lr: the (peak) learning rate; ``None`` picks 3e-3 for AdamW with OneCycle, 1e-3 for AdamW otherwise and
            0.01 (the paper's) for SGD.
        schedule: ``"onecycle"``, ``"paper"`` or ``"none"``; stepped every batch.
        localization_lr_multiplier: the localization networks train at ``lr * localization_lr_multiplier``.
        weight_decay: ``None`` means 0.01 for AdamW and 0 for SGD; never applied to biases.
        label_smoothing: the cross-entropy's label smoothing (0: none).
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` for the training steps.
        compile: train with ``torch.compile`` (falls back to eager mode where compiling fails).
        seed: seeds Python, NumPy and torch at the start of a fresh run.
        steps_per_epoch: batches per epoch, for data without ``len()`` (the schedules need it).

    ``None`` defaults are resolved when the config is made, so a config always says what ran.
    """

    epochs: int
    optimizer: str | None = None
    lr: float | None = None
    schedule: str = "onecycle"
    localization_lr_multiplier: float = 1.0
    weight_decay: float | None = None
    label_smoothing: float = 0.0
    precision: Precision = "fp32"
    compile: bool = False
    seed: int = 0
    steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        check_number(self.epochs, "epochs", integer=True)
        schedule = check_choice(self.schedule, "schedule", SCHEDULES, ignore_case=True)
        default_optimizer = "sgd" if schedule == "paper" else "adamw"
        optimizer = check_choice(
            self.optimizer or default_optimizer, "optimizer", OPTIMIZERS, ignore_case=True
        )
        lr = self.lr
        if lr is None:
            lr = _DEFAULT_LR.get((optimizer, schedule)) or _DEFAULT_LR[(optimizer, "")]
        check_number(lr, "lr")
        check_number(self.localization_lr_multiplier, "localization_lr_multiplier", allow_zero=True)
        weight_decay = _DEFAULT_WEIGHT_DECAY[optimizer] if self.weight_decay is None else self.weight_decay
        check_number(weight_decay, "weight_decay", allow_zero=True)
        if not (isinstance(self.label_smoothing, (int, float)) and 0 <= self.label_smoothing < 1):
            raise ValueError(f"label_smoothing must be a number in [0, 1); got {self.label_smoothing!r}")
        check_precision(self.precision)
        if not isinstance(self.compile, bool):
            raise TypeError(f"compile must be True or False; got {self.compile!r}")
        check_number(self.seed, "seed", integer=True, allow_zero=True)
        if self.steps_per_epoch is not None:
            check_number(self.steps_per_epoch, "steps_per_epoch", integer=True)
        for name, value in (
            ("schedule", schedule),
            ("optimizer", optimizer),
            ("lr", float(lr)),
            ("localization_lr_multiplier", float(self.localization_lr_multiplier)),
            ("weight_decay", float(weight_decay)),
            ("label_smoothing", float(self.label_smoothing)),
        ):
            object.__setattr__(self, name, value)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed (validated again)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"TrainConfig has no setting {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Plain values (what a checkpoint stores)."""
        return dataclasses.asdict(self)

    def record(self, optimizer: object = None) -> dict[str, Any]:
        """What a checkpoint stores of this config; with a ready-made ``optimizer``, its class instead of the
        optimiser settings it was built with (``lr`` and ``weight_decay`` are then its own business: ``None``)."""
        record = self.as_dict()
        if optimizer is not None:
            record.update(optimizer=type(optimizer).__name__, lr=None, weight_decay=None)
        return record


def record_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """How a checkpoint's stored config (``saved``) differs from the ``current`` run's in what decides its result.

    Both are :meth:`TrainConfig.record` dicts. Precision and compilation may change between sittings; the run's
    length matters only to a schedule laid out over the whole run. Settings a checkpoint predates count as their
    defaults.
    """
    ignored = set(_RESUMABLE_ACROSS)
    if current["schedule"] == "none":
        ignored |= {"epochs", "steps_per_epoch"}
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    return [
        f"{name}: checkpoint {saved.get(name, defaults[name])!r}, now {value!r}"
        for name, value in current.items()
        if name not in ignored and saved.get(name, defaults[name]) != value
    ]
