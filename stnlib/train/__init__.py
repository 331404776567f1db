"""Device-agnostic training for the course: :func:`fit`, :func:`evaluate`, checkpoints and resume.

* :mod:`stnlib.train.loop` — :func:`fit` and :func:`evaluate`, optimiser and schedule recipes.
* :mod:`stnlib.train.config` — :class:`TrainConfig`, every setting of a run, validated once.
* :mod:`stnlib.train.history` — :class:`History`, the per-epoch metrics of a run.
* :mod:`stnlib.train.checkpoint` — atomic checkpoints that load with ``weights_only=True``.
* :mod:`stnlib.train.device` — device choice, seeding, mixed precision, batch copies.

Example:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    >>> batches = [(torch.randn(8, 1, 2, 2), torch.randint(0, 2, (8,))) for _ in range(4)]
    >>> history = fit(model, batches, epochs=2, device="cpu", progress=False)
    >>> len(history), sorted(history.last)[:3]
    (2, ['epoch', 'epoch_time', 'lr'])
"""

from stnlib.train.checkpoint import (
    atomic_save,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    rng_state,
    set_rng_state,
)
from stnlib.train.config import TrainConfig
from stnlib.train.device import (
    PRECISIONS,
    Precision,
    autocast_context,
    loader_options,
    make_grad_scaler,
    move_to_device,
    seed_everything,
    select_device,
)
from stnlib.train.history import History
from stnlib.train.loop import (
    OPTIMIZERS,
    SCHEDULES,
    Callback,
    evaluate,
    fit,
    make_optimizer,
    make_scheduler,
    optimizer_param_groups,
)

__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "SCHEDULES",
    "Callback",
    "History",
    "Precision",
    "TrainConfig",
    "atomic_save",
    "autocast_context",
    "evaluate",
    "fit",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "loader_options",
    "make_grad_scaler",
    "make_optimizer",
    "make_scheduler",
    "move_to_device",
    "optimizer_param_groups",
    "rng_state",
    "seed_everything",
    "select_device",
    "set_rng_state",
]
