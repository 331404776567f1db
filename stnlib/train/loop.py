"""Training and evaluation loops: :func:`fit` and :func:`evaluate`.

:func:`fit` trains any classifier (an ``nn.Module`` mapping a batch ``x`` to logits ``(N, classes)``) on any
iterable of ``(x, y)`` batches — a :class:`stnlib.data.DistortedMNIST`, a ``DataLoader``, a list of tensor pairs —
on any device, and returns a :class:`~stnlib.train.history.History`. With ``checkpoint_dir`` it saves a checkpoint
after every epoch and ``resume=True`` continues exactly where a run stopped: same weights, same optimiser and
schedule state, same random numbers, so a resumed run ends with the same weights as one that never stopped.

Recipes (``schedule``):

* ``"onecycle"`` (default) — AdamW with :class:`~torch.optim.lr_scheduler.OneCycleLR`: warm up to ``lr`` in the
  first 30 % of the steps, then anneal to almost zero. Converges in few epochs: the fast default.
* ``"paper"`` — the paper's recipe: SGD (momentum 0.9, our choice: the paper does not state one) at ``lr=0.01``,
  divided by 10 after 50k and again after 100k of its 150k iterations. Runs here are shorter, so the two decays
  happen at the same *fractions* of the run: after 1/3 and 2/3 of all steps.
* ``"none"`` — a constant learning rate.

The localization networks inside the model train at ``lr * localization_lr_multiplier`` (the paper used 1/10 for
SVHN); which parameters those are, :func:`stnlib.models.localization_parameter_names` decides.
Biases and other one-dimensional parameters get no weight decay: decay would pull the localization net's
identity bias towards θ = 0, a transform that samples every output pixel from the centre of the input.
"""

from __future__ import annotations

import functools
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stnlib._validation import Dims, check_choice, check_labels, check_path
from stnlib.models import localization_parameter_names
from stnlib.train import checkpoint as ckpt
from stnlib.train.config import (
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    check_number,
    default_weight_decay,
    record_differences,
)
from stnlib.train.device import (
    Precision,
    autocast_context,
    check_precision,
    effective_precision,
    make_grad_scaler,
    move_to_device,
    resolve_device,
    seed_everything,
)
from stnlib.train.history import History

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "Callback",
    "LossFn",
    "TrainConfig",
    "evaluate",
    "fit",
    "make_optimizer",
    "make_scheduler",
    "optimizer_param_groups",
]

LossFn = Callable[[Tensor, Tensor], Tensor]
Callback = Callable[[int, nn.Module, History], Any]
"""``callback(epoch, model, history)``, called after every epoch (``epoch`` counts from 1)."""

_SGD_MOMENTUM = 0.9
_PAPER_DECAY_FRACTIONS = (1 / 3, 2 / 3)  # the paper: x0.1 after 50k and 100k of 150k iterations
_POSTFIX_INTERVAL_S = 0.5  # how often the progress bar reads the running loss (each read syncs a GPU)


# ---------------------------------------------------------------------------------------------------------------
# Optimiser and schedule


def optimizer_param_groups(
    model: nn.Module, lr: float, *, weight_decay: float = 0.0, localization_lr_multiplier: float = 1.0
) -> list[dict[str, Any]]:
    """Parameter groups for a torch optimiser: localization nets at ``lr * multiplier``, no decay on biases.

    Returns:
        Up to four groups named ``"main"``, ``"main/no_decay"``, ``"localization"`` and
        ``"localization/no_decay"``, each with ``params``, ``lr`` and ``weight_decay``; empty groups are left
        out and every trainable parameter appears exactly once.

    Example:
        >>> groups = optimizer_param_groups(nn.Linear(3, 2), lr=0.1, weight_decay=0.01)
        >>> [(g["name"], len(g["params"]), g["weight_decay"]) for g in groups]
        [('main', 1, 0.01), ('main/no_decay', 1, 0.0)]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    check_number(lr, "lr")
    check_number(weight_decay, "weight_decay", allow_zero=True)
    check_number(localization_lr_multiplier, "localization_lr_multiplier", allow_zero=True)
    localization = localization_parameter_names(model)
    groups: dict[str, dict[str, Any]] = {}
    for parameter_name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        part = "localization" if parameter_name in localization else "main"
        decay = p.ndim >= 2  # weights of linear and conv layers; biases and norm scales are 1-D
        name = part if decay else f"{part}/no_decay"
        group = groups.setdefault(
            name,
            {
                "name": name,
                "params": [],
                "lr": float(lr) * (localization_lr_multiplier if part == "localization" else 1.0),
                "weight_decay": float(weight_decay) if decay else 0.0,
            },
        )
        group["params"].append(p)
    order = ("main", "main/no_decay", "localization", "localization/no_decay")
    return [groups[n] for n in order if n in groups]


def make_optimizer(
    model: nn.Module,
    name: Literal["adamw", "sgd"] = "adamw",
    lr: float = 3e-3,
    *,
    weight_decay: float | None = None,
    localization_lr_multiplier: float = 1.0,
) -> torch.optim.Optimizer:
    """AdamW or SGD (momentum 0.9) over :func:`optimizer_param_groups`.

    ``weight_decay=None`` means 0.01 for AdamW (PyTorch's default) and 0 for SGD.
    """
    name = check_choice(name, "name", OPTIMIZERS, " (the optimizer)", ignore_case=True)
    decay = default_weight_decay(name) if weight_decay is None else weight_decay
    groups = optimizer_param_groups(
        model, lr, weight_decay=decay, localization_lr_multiplier=localization_lr_multiplier
    )
    if not groups:
        raise ValueError("the model has no trainable parameters (all have requires_grad=False)")
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=_SGD_MOMENTUM)
    return torch.optim.AdamW(groups, lr=lr)


def make_scheduler(
    optimizer: torch.optim.Optimizer, schedule: Literal["onecycle", "paper", "none"], total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule of a run of ``total_steps`` optimiser steps, to be stepped after every batch.

    ``"onecycle"``: :class:`~torch.optim.lr_scheduler.OneCycleLR` peaking at each group's current ``lr``.
    ``"paper"``: :class:`~torch.optim.lr_scheduler.MultiStepLR` dividing by 10 after 1/3 and 2/3 of the steps
    (the paper's 50k and 100k of 150k iterations, scaled to this run). ``"none"``: ``None``.
    """
    schedule = check_choice(schedule, "schedule", SCHEDULES, ignore_case=True)
    check_number(total_steps, "total_steps", integer=True)
    if schedule == "onecycle":
        defaults = optimizer.defaults
        cycle_momentum = "betas" in defaults or defaults.get("momentum", 0) > 0
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[g["lr"] for g in optimizer.param_groups],
            total_steps=total_steps,
            cycle_momentum=cycle_momentum,
        )
    if schedule == "paper":
        milestones = sorted({max(1, round(f * total_steps)) for f in _PAPER_DECAY_FRACTIONS})
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    return None


# ---------------------------------------------------------------------------------------------------------------
# Batches and metrics


def _unpack(batch: object, data_name: str) -> tuple[Any, Tensor]:
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        got = f"a {type(batch).__name__}" + (
            f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""
        )
        raise TypeError(
            f"{data_name} must yield (x, y) pairs of tensors; got {got}. "
            "A Dataset must be wrapped in a DataLoader to yield batches."
        )
    return batch[0], batch[1]


def _check_first_batch(x: object, y: object, data_name: str) -> None:
    """Targets are a tensor with one entry per sample of ``x`` (class indices ``(N,)`` for a classifier)."""
    if not isinstance(y, Tensor) or y.ndim == 0:
        got = type(y).__name__ if not isinstance(y, Tensor) else "a 0-d tensor"
        raise TypeError(f"the targets y yielded by {data_name} must be a tensor of shape (N,); got {got}")
    if isinstance(x, Tensor):
        dims = Dims()
        dims.bind("N", int(x.shape[0]) if x.ndim else 0, f"x (the inputs yielded by {data_name})")
        dims.bind("N", int(y.shape[0]), f"y (the targets yielded by {data_name})")
        if x.ndim == 4 and not x.is_floating_point():
            raise TypeError(
                f"the images x yielded by {data_name} must be floating point; got {x.dtype}. Convert them with "
                "x.float() (and divide by 255 if they hold 0–255 pixel values)."
            )


def _check_targets(logits: Tensor, y: Tensor, loss_fn: LossFn, data_name: str) -> None:
    """With a cross-entropy loss and logits ``(N, C)``, targets ``(N,)`` must be class indices in ``[0, C)``.

    Called on the first batch only: the range check reads the targets (one synchronisation on a GPU).
    """
    if getattr(loss_fn, "func", loss_fn) is F.cross_entropy and logits.ndim == 2 and y.ndim == 1:
        check_labels(y, f"the targets y yielded by {data_name}", num_classes=logits.shape[1])


def _check_data(data: object, name: str) -> None:
    if not isinstance(data, Iterable) or isinstance(data, (Tensor, str)):
        raise TypeError(
            f"{name} must be an iterable of (x, y) batches, such as a DataLoader, a DistortedMNIST or a list "
            f"of tensor pairs; got {type(data).__name__}"
        )


def _logits(output: object) -> Tensor:
    """A model may return its logits, or a tuple whose first element is the logits (e.g. ``(logits, theta)``)."""
    if isinstance(output, (tuple, list)) and output:
        output = output[0]
    if not isinstance(output, Tensor):
        raise TypeError(f"the model must return a tensor of logits (N, classes); got {type(output).__name__}")
    return output


def _is_classification(logits: Tensor, y: Tensor) -> bool:
    return logits.ndim == 2 and y.ndim == 1 and not y.is_floating_point()


class _RunningMetrics:
    """Per-batch losses and hits (prediction == target) kept as device tensors, reduced (one sync) when read.

    A batch costs two small kernels (argmax, ==) and no additions or syncs, which matters on a GPU where a small
    model's step takes about a millisecond; the hits of an epoch take one byte a sample.
    """

    def __init__(self) -> None:
        self.losses: list[Tensor] = []
        self.sizes: list[int] = []
        self.hits: list[Tensor] = []
        self.count = 0
        self.classification = True

    def add(self, loss: Tensor, logits: Tensor, y: Tensor) -> None:
        n = int(y.shape[0])
        self.losses.append(loss.detach())
        self.sizes.append(n)
        self.count += n
        if self.classification and _is_classification(logits, y):
            self.hits.append(logits.argmax(dim=1) == y)  # argmax carries no autograd graph
        else:
            self.classification = False

    def loss(self) -> float:
        """The mean loss per sample so far (batches weighted by their size)."""
        if not self.count:
            return math.nan
        losses = torch.stack(self.losses).to(torch.float64)
        sizes = torch.tensor(self.sizes, dtype=torch.float64, device=losses.device)
        return float((losses * sizes).sum().item()) / self.count

    def accuracy(self) -> float:
        """The fraction of correct predictions so far; NaN if the targets are not class indices."""
        if not (self.count and self.classification):
            return math.nan
        return int(torch.cat(self.hits).sum().item()) / self.count


def evaluate(
    model: nn.Module,
    data: Iterable[Any],
    *,
    device: str | torch.device | None = None,
    loss_fn: LossFn = F.cross_entropy,
    precision: Precision = "fp32",
) -> dict[str, float]:
    """Mean loss, accuracy and error of ``model`` over all batches of ``data``, without gradients.

    Runs under :func:`torch.inference_mode` with the model in eval mode (dropout off, batch-norm statistics
    frozen); the model's previous mode is restored afterwards.

    Args:
        model: a classifier mapping ``x`` to logits ``(N, classes)`` (or a tuple whose first element they are).
        data: an iterable of ``(x, y)`` batches, ``y: (N,)`` class indices.
        device: where to evaluate; ``None`` uses the device of the model's parameters. A given device moves the
            model there (in place, like ``model.to``).
        loss_fn: ``loss_fn(logits, y)`` returning the batch's mean loss.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` autocast (see :func:`stnlib.train.autocast_context`).

    Returns:
        ``{"loss": ..., "accuracy": ..., "error": ...}``: the loss averaged over samples, the fraction of
        correct predictions in [0, 1] and ``1 - accuracy`` (the paper reports error in percent: multiply by
        100). Accuracy and error are NaN if the targets are not class indices.

    Example:
        >>> model = nn.Linear(2, 2)
        >>> with torch.no_grad():
        ...     _ = model.weight.copy_(torch.eye(2)), model.bias.zero_()
        >>> batch = (torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]]), torch.tensor([0, 1, 1]))
        >>> round(evaluate(model, [batch])["accuracy"], 4)
        0.6667
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    precision = check_precision(precision)
    _check_data(data, "data")
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    else:
        device = resolve_device(device)
        model.to(device)
    return _evaluate(model, model, data, device, loss_fn, effective_precision(device, precision), "data")


def _evaluate(
    model: nn.Module,
    forward: Callable[[Any], object],
    data: Iterable[Any],
    device: torch.device,
    loss_fn: LossFn,
    precision: Precision,
    data_name: str,
) -> dict[str, float]:
    was_training = model.training
    model.eval()
    metrics = _RunningMetrics()
    try:
        with torch.inference_mode():
            for i, batch in enumerate(data):
                x, y = _unpack(batch, data_name)
                if i == 0:
                    _check_first_batch(x, y, data_name)
                x, y = move_to_device((x, y), device)
                with autocast_context(device, precision):
                    logits = _logits(forward(x))
                    if i == 0:
                        _check_targets(logits, y, loss_fn, data_name)
                    loss = loss_fn(logits, y)
                metrics.add(loss, logits, y)
    finally:
        model.train(was_training)
    if metrics.count == 0:
        raise ValueError(f"{data_name} yielded no batches; nothing to evaluate")
    accuracy = metrics.accuracy()
    return {"loss": metrics.loss(), "accuracy": accuracy, "error": 1.0 - accuracy}


# ---------------------------------------------------------------------------------------------------------------
# torch.compile with a fallback


class _Forward:
    """The model's forward, compiled when asked; falls back to eager mode (with a warning) if compiling fails.

    ``torch.compile`` compiles lazily, so failures surface in the first forward or backward pass; :func:`fit`
    therefore retries its first training step eagerly when it fails.
    """

    def __init__(self, model: nn.Module, compile: bool) -> None:
        self.model = model
        self.function: Callable[[Any], object] = model
        self.compiled = False
        self.verified = not compile
        if compile:
            try:
                self.function = torch.compile(model)
                self.compiled = True
            except Exception as exc:
                self.fall_back(exc)

    def __call__(self, x: Any) -> object:
        return self.function(x)

    def fall_back(self, exc: BaseException) -> None:
        warnings.warn(
            f"torch.compile is not usable here ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "training without compiling (compile=False gives the same results, only slower on a GPU).",
            stacklevel=4,
        )
        self.function = self.model
        self.compiled = False
        self.verified = True


# ---------------------------------------------------------------------------------------------------------------
# Data state for exact resume


def _set_epoch(data: object, epoch: int) -> None:
    """Tell data (or a DataLoader's sampler) which epoch starts (0-based, as ``DistributedSampler.set_epoch``).

    :class:`stnlib.data.DistortedMNIST` draws epoch ``e``'s shuffle and distortions from ``(seed, e)``, so this
    is what makes a resumed run see the batches the uninterrupted run saw.
    """
    for obj in (data, getattr(data, "sampler", None), getattr(data, "batch_sampler", None)):
        set_epoch = getattr(obj, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)


def _generators(data: object) -> dict[str, torch.Generator]:
    """The private generators of a DataLoader and its sampler, which the global seed does not reach."""
    found: dict[str, torch.Generator] = {}
    for name, obj in (("loader", data), ("sampler", getattr(data, "sampler", None))):
        generator = getattr(obj, "generator", None)
        if isinstance(generator, torch.Generator) and all(generator is not g for g in found.values()):
            found[name] = generator
    return found


def _data_state(data: object) -> dict[str, Any]:
    state: dict[str, Any] = {"generators": {k: g.get_state() for k, g in _generators(data).items()}}
    state_dict = getattr(data, "state_dict", None)
    if callable(state_dict) and not isinstance(data, nn.Module):
        state["data"] = state_dict()
    return state


def _load_data_state(data: object, state: dict[str, Any]) -> None:
    generators = _generators(data)
    for name, generator_state in state.get("generators", {}).items():
        if name in generators:
            generators[name].set_state(generator_state)
    load_state_dict = getattr(data, "load_state_dict", None)
    if "data" in state and callable(load_state_dict):
        load_state_dict(state["data"])


# ---------------------------------------------------------------------------------------------------------------
# fit


def _steps_per_epoch(train_data: object, steps_per_epoch: int | None) -> int | None:
    if steps_per_epoch is not None:
        check_number(steps_per_epoch, "steps_per_epoch", integer=True)
        return steps_per_epoch
    try:
        n = len(train_data)  # type: ignore[arg-type]  # any data; the TypeError below means it has no len()
    except TypeError:
        return None
    if n == 0:
        raise ValueError("train_data is empty: it has no batches")
    return n


def _say(message: str) -> None:
    print(f"[stnlib.train] {message}", flush=True)


@dataclass
class _Run:
    """Everything one training run updates, and how to save and restore it."""

    model: nn.Module
    forward: _Forward
    train_data: Iterable[Any]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    scaler: torch.amp.GradScaler
    loss_fn: LossFn
    device: torch.device
    precision: Precision
    config: TrainConfig
    record: dict[str, Any]

    def state_dict(self, epoch: int, history: History) -> dict[str, Any]:
        return {
            "format_version": ckpt.FORMAT_VERSION,
            "epoch": epoch,
            "config": self.record,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict(),
            "history": history.state_dict(),
            "rng": ckpt.rng_state(),
            "data": _data_state(self.train_data),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"] and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        ckpt.set_rng_state(state["rng"])
        _load_data_state(self.train_data, state["data"])

    def save(self, directory: Path, epoch: int, history: History, keep_last: int) -> None:
        ckpt.atomic_save(self.state_dict(epoch, history), ckpt.checkpoint_path(directory, epoch))
        ckpt.prune_checkpoints(directory, keep_last)

    def step(self, x: Any, y: Tensor, first: bool = False) -> tuple[Tensor, Tensor]:
        """One optimisation step; returns the batch's logits and mean loss (``first``: check the targets)."""
        with autocast_context(self.device, self.precision):
            logits = _logits(self.forward(x))
            if first:
                _check_targets(logits, y, self.loss_fn, "train_data")
            loss = self.loss_fn(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)  # a disabled scaler just calls optimizer.step()
        self.scaler.update()
        return logits, loss

    def train_epoch(self, bar: Any) -> _RunningMetrics:
        self.model.train()
        metrics = _RunningMetrics()
        last_postfix = time.perf_counter()
        with warnings.catch_warnings():
            # A GradScaler that skips a step (inf gradients in fp16) makes the scheduler warn about its call
            # order; with loss scaling that is expected, not a misuse.
            warnings.filterwarnings(
                "ignore", message=".*lr_scheduler.step.*optimizer.step", category=UserWarning
            )
            for i, batch in enumerate(self.train_data):
                x, y = _unpack(batch, "train_data")
                if i == 0:
                    _check_first_batch(x, y, "train_data")
                x, y = move_to_device((x, y), self.device)
                logits, loss = (
                    self.step(x, y, i == 0) if self.forward.verified else self._first_compiled_step(x, y)
                )
                if self.scheduler is not None:
                    self.scheduler.step()
                metrics.add(loss, logits, y)
                if bar is not None:
                    bar.update()
                    if time.perf_counter() - last_postfix > _POSTFIX_INTERVAL_S:
                        last_postfix = time.perf_counter()
                        bar.set_postfix(
                            loss=f"{metrics.loss():.4f}", acc=f"{metrics.accuracy():.4f}", refresh=False
                        )
        if metrics.count == 0:
            raise ValueError("train_data yielded no batches in this epoch; is it an exhausted iterator?")
        return metrics

    def _first_compiled_step(self, x: Any, y: Tensor) -> tuple[Tensor, Tensor]:
        try:
            result = self.step(x, y, first=True)
        except Exception as exc:  # torch.compile fails lazily, in the first forward or backward pass
            self.forward.fall_back(exc)
            result = self.step(x, y, first=True)
        self.forward.verified = True
        return result

    def run_epoch(
        self, epoch: int, epochs: int, val_data: Iterable[Any] | None, bar: Any
    ) -> dict[str, float]:
        """Train one epoch (0-based ``epoch``), validate, and return the history row; ``bar`` may be None."""
        started = time.perf_counter()
        _set_epoch(self.train_data, epoch)
        if bar is not None:
            bar.reset(total=self.config.steps_per_epoch)
            bar.set_description(f"epoch {epoch + 1}/{epochs}", refresh=False)
        train = self.train_epoch(bar)
        row = {"train_loss": train.loss(), "train_acc": train.accuracy()}
        if val_data is not None:
            val = _evaluate(
                self.model, self.model, val_data, self.device, self.loss_fn, self.precision, "val_data"
            )
            row.update(val_loss=val["loss"], val_acc=val["accuracy"])
        if bar is not None:
            bar.set_postfix({k: f"{v:.4f}" for k, v in row.items()})
        row.update(lr=self.optimizer.param_groups[0]["lr"], epoch_time=time.perf_counter() - started)
        return row


def _progress_bar(progress: bool, total: int | None, desc: str) -> Any:
    """One bar for a whole run, restarted every epoch: a long run stays one line (one widget in Jupyter)."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="batch", dynamic_ncols=True, leave=True)


def _build_run(
    model: nn.Module,
    train_data: Iterable[Any],
    config: TrainConfig,
    *,
    optimizer: torch.optim.Optimizer | None,
    device: str | torch.device | None,
    loss_fn: LossFn,
) -> _Run:
    """Move the model, and build its optimiser (unless given), schedule and scaler for ``config``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    _check_data(train_data, "train_data")
    steps = _steps_per_epoch(train_data, config.steps_per_epoch)
    if config.schedule != "none" and steps is None:
        raise ValueError(
            f"schedule={config.schedule!r} needs the number of batches per epoch, but train_data has no len(); "
            "pass steps_per_epoch=... or schedule='none'"
        )
    config = config.replace(steps_per_epoch=steps)
    device = resolve_device(device)
    precision = effective_precision(device, config.precision)
    model.to(device)
    # TrainConfig's fields are typed as given (None: a default), but __post_init__ has resolved and validated
    # them: optimizer, lr and schedule are never None or unknown names here.
    opt = optimizer or make_optimizer(
        model,
        config.optimizer,  # type: ignore[arg-type]
        config.lr,  # type: ignore[arg-type]
        weight_decay=config.weight_decay,
        localization_lr_multiplier=config.localization_lr_multiplier,
    )
    return _Run(
        model=model,
        forward=_Forward(model, config.compile),
        train_data=train_data,
        optimizer=opt,
        scheduler=None if steps is None else make_scheduler(opt, config.schedule, config.epochs * steps),  # type: ignore[arg-type]
        scaler=make_grad_scaler(device, precision),
        loss_fn=loss_fn,
        device=device,
        precision=precision,
        config=config,
        record=config.record(optimizer),
    )


def _check_same_run(saved: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    """A resumed run must be the same run: its optimiser and schedule depend on its config."""
    differ = record_differences(saved, current)
    if differ:
        raise ValueError(
            f"cannot resume from {path}: it belongs to a run with other settings ({'; '.join(differ)}). "
            "Resume with the same arguments, or start a new run in another checkpoint_dir."
        )


def _config_from_arguments(
    config: TrainConfig | None, optimizer: object, loss_fn: LossFn | None, settings: dict[str, Any]
) -> TrainConfig:
    """The one config of a :func:`fit` call: ``config``, or one made from the keyword ``settings`` (not both)."""
    given = {k: v for k, v in settings.items() if v is not None}
    if isinstance(optimizer, torch.optim.Optimizer):
        clash = [k for k in ("lr", "weight_decay", "localization_lr_multiplier") if k in given]
        if clash:
            raise ValueError(
                f"{', '.join(clash)} cannot be combined with your own optimizer, which already has its learning "
                "rates and parameter groups; set them when you build it (see stnlib.train.optimizer_param_groups)."
            )
    elif optimizer is not None:
        given["optimizer"] = optimizer
    if config is not None:
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a stnlib.train.TrainConfig or None; got {type(config).__name__}")
        if given:
            raise ValueError(
                f"pass either config or the settings {', '.join(sorted(given))}, not both; "
                "change a config with config.replace(...)"
            )
    else:
        if "epochs" not in given:
            raise ValueError("fit needs epochs=... (the number of passes over train_data), or a config")
        config = TrainConfig(**given)
    if loss_fn is not None and config.label_smoothing:
        raise ValueError(
            "label_smoothing applies to the default loss; with your own loss_fn, smooth inside it"
        )
    return config


def fit(
    model: nn.Module,
    train_data: Iterable[Any],
    config: TrainConfig | None = None,
    *,
    val_data: Iterable[Any] | None = None,
    epochs: int | None = None,
    optimizer: Literal["adamw", "sgd"] | torch.optim.Optimizer | None = None,
    lr: float | None = None,
    schedule: Literal["onecycle", "paper", "none"] | None = None,
    localization_lr_multiplier: float | None = None,
    weight_decay: float | None = None,
    label_smoothing: float | None = None,
    precision: Precision | None = None,
    compile: bool | None = None,
    seed: int | None = None,
    steps_per_epoch: int | None = None,
    device: str | torch.device | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    keep_last: int = 2,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    loss_fn: LossFn | None = None,
) -> History:
    """Train ``model`` on ``train_data`` for ``epochs`` epochs and return the per-epoch :class:`History`.

    Args:
        model: a classifier mapping ``x`` to logits ``(N, classes)`` (or to a tuple whose first element they are,
            e.g. ``(logits, theta)``). It is moved to ``device`` in place.
        train_data: an iterable of ``(x, y)`` batches, iterated once per epoch: a
            :class:`stnlib.data.DistortedMNIST`, a ``DataLoader``, a list of tensor pairs.
        config: a :class:`TrainConfig` with every setting of the run (e.g. from an experiment's recipe);
            without one, the keyword settings below make it. Not both.
        val_data: batches evaluated after every epoch (``val_loss``, ``val_acc`` in the history).
        epochs, lr, schedule, localization_lr_multiplier, weight_decay, label_smoothing, precision, compile,
            seed, steps_per_epoch: the run's settings, as documented in :class:`TrainConfig` (``None``: its
            default); ``epochs`` is required. ``precision``: ``"bf16"`` runs on CUDA or the CPU, ``"fp16"`` on
            CUDA with a GradScaler; ``compile`` trains with ``torch.compile`` (validation runs eagerly).
            ``seed`` seeds Python, NumPy and torch at the start of a fresh run (:func:`seed_everything`); a
            resumed run restores the generator states of its checkpoint instead. Seed the model's
            initialisation yourself, before building it.
        optimizer: ``"adamw"``, ``"sgd"`` (momentum 0.9) or your own ``torch.optim.Optimizer`` (then leave
            ``lr``, ``weight_decay`` and ``localization_lr_multiplier`` unset: it has its own).
        device: ``None`` picks CUDA, then MPS, then CPU (:func:`stnlib.train.select_device`).
        checkpoint_dir: save a checkpoint after every epoch into this directory (on Colab, a Google Drive
            folder); only the newest ``keep_last`` are kept.
        resume: continue from the newest checkpoint in ``checkpoint_dir``. A run that already has ``epochs``
            epochs loads its final weights into ``model`` and returns its history without training; with no
            checkpoint it starts fresh and says so. Without ``resume``, a ``checkpoint_dir`` that already holds
            checkpoints is an error, so that no finished run is overwritten by accident.
        keep_last: how many checkpoints to keep.
        progress: show a progress bar (a widget in Jupyter, text in a terminal) with the epoch and its running
            loss and accuracy; one bar for the whole run, restarted every epoch, ending with the last epoch's
            metrics.
        callbacks: ``callback(epoch, model, history)`` functions called after every epoch (``epoch`` counts
            from 1), before the checkpoint is written; they may add metrics with ``history.log(...)``.
        loss_fn: ``loss_fn(logits, y)`` returning the batch's mean loss; ``None`` is ``F.cross_entropy`` with
            the config's label smoothing (it also suits models that return log-probabilities: a second
            log-softmax leaves them unchanged).

    Returns:
        The :class:`History` of all epochs of the run (including those before a resume).

    Raises:
        FileExistsError: ``checkpoint_dir`` holds checkpoints and ``resume`` is False.
        ValueError: a bad argument, or ``resume`` with settings that differ from the checkpoint's.

    Interrupting (Ctrl-C, or the stop button in Jupyter) ends training cleanly: the last completed epoch is
    saved if it was not yet, a message says how to resume, and the history so far is returned.

    Resuming reproduces an uninterrupted run exactly (same weights, bit for bit, on the same machine) when the
    data's randomness comes from the global generators (e.g. a shuffling ``DataLoader``), from a ``generator``
    of the ``DataLoader`` or its sampler, or from an object with ``state_dict()``/``load_state_dict()``, which
    the checkpoint saves. Data with ``set_epoch(epoch)`` (as ``DistributedSampler``) is told each epoch.
    Training stops with a warning when the loss becomes NaN or infinite.
    """
    check_number(keep_last, "keep_last", integer=True)
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs the checkpoint_dir of the run to continue")
    callbacks = tuple(callbacks)
    if not all(callable(cb) for cb in callbacks):
        raise TypeError(f"callbacks must be callables callback(epoch, model, history); got {callbacks!r}")
    if val_data is not None:
        _check_data(val_data, "val_data")
    settings = {
        "epochs": epochs,
        "lr": lr,
        "schedule": schedule,
        "localization_lr_multiplier": localization_lr_multiplier,
        "weight_decay": weight_decay,
        "label_smoothing": label_smoothing,
        "precision": precision,
        "compile": compile,
        "seed": seed,
        "steps_per_epoch": steps_per_epoch,
    }
    config = _config_from_arguments(config, optimizer, loss_fn, settings)
    if loss_fn is None:
        loss_fn = functools.partial(F.cross_entropy, label_smoothing=config.label_smoothing)
    run = _build_run(
        model,
        train_data,
        config,
        optimizer=optimizer if isinstance(optimizer, torch.optim.Optimizer) else None,
        device=device,
        loss_fn=loss_fn,
    )
    epochs = config.epochs
    seed_everything(config.seed)
    directory = None if checkpoint_dir is None else check_path(checkpoint_dir, "checkpoint_dir")
    history, start_epoch = _start(run, directory, resume)
    if start_epoch >= epochs:
        return history

    completed = saved = start_epoch
    bar = _progress_bar(progress, run.config.steps_per_epoch, f"epoch {start_epoch + 1}/{epochs}")
    try:
        for epoch in range(start_epoch, epochs):
            row = run.run_epoch(epoch, epochs, val_data, bar)
            history.append(epoch + 1, **row)
            completed = epoch + 1
            if not math.isfinite(row["train_loss"]):
                warnings.warn(
                    f"the training loss is {row['train_loss']} in epoch {completed}; stopping. The weights have "
                    "diverged: lower lr (or localization_lr_multiplier, e.g. 0.1) and check that the localization "
                    "net starts at the identity. This epoch is not checkpointed.",
                    stacklevel=2,
                )
                break
            for cb in callbacks:
                cb(completed, model, history)
            if directory is not None:
                run.save(directory, completed, history, keep_last)
                saved = completed
    except KeyboardInterrupt:
        if directory is not None and saved < completed:
            # Interrupted between the end of an epoch and its checkpoint: the weights are still those of that epoch.
            run.save(directory, completed, history, keep_last)
            saved = completed
        if bar is not None:
            bar.close()  # before the message, so that it does not land inside the bar's line
            bar = None
        _say(_interrupted_message(completed, epochs, saved, directory, len(history)))
    finally:
        if bar is not None:
            bar.close()
    return history


def _start(run: _Run, directory: Path | None, resume: bool) -> tuple[History, int]:
    """The history and completed epochs to start from: fresh, or restored from the newest checkpoint."""
    if directory is None:
        return History(), 0
    if not resume:
        existing = ckpt.list_checkpoints(directory)
        if existing:
            raise FileExistsError(
                f"{directory} already holds checkpoints of a run (newest: {existing[-1][1].name}). Pass resume=True "
                "to continue it, or choose another checkpoint_dir (or delete its epoch-*.pt files) to start over."
            )
        return History(), 0
    loaded = ckpt.load_latest_checkpoint(directory)
    if loaded is None:
        _say(f"no checkpoint in {directory}; starting a fresh run.")
        return History(), 0
    path, state = loaded
    history = History.from_state_dict(state["history"])
    epoch, epochs = int(state["epoch"]), run.config.epochs
    if epoch >= epochs:
        run.model.load_state_dict(state["model"])
        _say(f"training already finished: {path} holds epoch {epoch}; loaded its weights and history.")
        return history, epoch
    _check_same_run(state["config"], run.record, path)
    run.load_state_dict(state)
    _say(f"resuming from {path}: {epoch} of {epochs} epochs done.")
    return history, epoch


def _interrupted_message(
    completed: int, epochs: int, saved: int, directory: Path | None, recorded: int
) -> str:
    where = f"during epoch {completed + 1} of {epochs}" if completed < epochs else "after the last epoch"
    if directory is not None and saved:
        hint = (
            f"the checkpoint of epoch {saved} is in {directory}; run fit(..., resume=True) with the same arguments "
            "to continue from it."
        )
    else:
        hint = "nothing was saved; pass checkpoint_dir=... to be able to resume an interrupted run."
    return f"training interrupted {where}; the returned history has {recorded} epoch(s), and {hint}"
