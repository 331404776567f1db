"""Where and how precisely to train: device choice, seeding, mixed precision and batch copies.

Everything here is device-agnostic: the same calls work on a CUDA GPU (Colab), an Apple GPU (MPS) and a CPU.

* :func:`select_device` — CUDA, then MPS, then CPU, or the device you ask for (with a clear error if it is absent).
* :func:`seed_everything` — seeds Python, NumPy and torch (CPU, CUDA, MPS) and returns a seeded generator.
* :func:`autocast_context` and :func:`make_grad_scaler` — ``"fp32"``, ``"bf16"`` or ``"fp16"``. ``bf16`` autocast
  runs on CUDA and on the CPU (so the mixed-precision code path is tested without a GPU); ``fp16`` needs CUDA and
  a :class:`torch.amp.GradScaler`. Elsewhere the scaler exists but is disabled, so the training step is the same
  code on every device.
* :func:`move_to_device` — copies a batch (a tensor or nested tuples, lists, dicts of tensors) with
  ``non_blocking=True`` only when the target is CUDA; :func:`loader_options` says when a
  :class:`torch.utils.data.DataLoader` should pin its memory.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import warnings
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import numpy as np
import torch

from stnlib._validation import check_device, mps_available

__all__ = [
    "PRECISIONS",
    "Precision",
    "autocast_context",
    "check_precision",
    "describe_hardware",
    "effective_precision",
    "loader_options",
    "make_grad_scaler",
    "move_to_device",
    "seed_everything",
    "select_device",
]

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "fp16")
"""The numeric precisions :func:`stnlib.train.fit` accepts."""

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
_T = TypeVar("_T")


_mps_available = mps_available  # module attribute: tests replace it to pretend MPS is absent


def select_device(preferred: str | torch.device | None = None) -> torch.device:
    """Return the device to train on: ``preferred`` if given, else CUDA, then MPS, then CPU.

    Args:
        preferred: ``None`` to choose automatically, or a device such as ``"cuda"``, ``"cuda:1"``, ``"mps"``,
            ``"cpu"`` or a :class:`torch.device`.

    Returns:
        The chosen :class:`torch.device`.

    Raises:
        TypeError: ``preferred`` is neither a string, a device nor ``None``.
        ValueError: ``preferred`` names an unknown device, or one this machine does not have (the message says
            how to get one, or to pass ``None`` for the best available).

    Example:
        >>> select_device("cpu")
        device(type='cpu')
    """
    if preferred is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = _device(preferred, "preferred")
    if device.type == "mps" and not _mps_available():
        raise ValueError("preferred='mps' was asked for but Apple's MPS backend is not available here.")
    if device.type not in ("cpu", "cuda", "mps"):
        warnings.warn(f"device {str(device)!r} is not one the course tests (cuda, mps, cpu)", stacklevel=2)
    return device


def _device(device: object, name: str = "device", *, present: bool = True) -> torch.device:
    checked = check_device(device, name, present=present)
    assert checked is not None
    return checked


def resolve_device(device: object, name: str = "device") -> torch.device:
    """``device`` checked by :func:`stnlib._validation.check_device` (errors name ``name``); ``None``: the best one."""
    return select_device() if device is None else _device(device, name)


def seed_everything(seed: int, *, deterministic: bool = False) -> torch.Generator:
    """Seed every random number generator a training run uses and return a seeded CPU generator.

    What it does:

    * ``random.seed(seed)``, ``numpy.random.seed(seed)`` (the legacy global NumPy generator) and
      ``torch.manual_seed(seed)``, which seeds the CPU generator and those of every CUDA and MPS device.
    * Returns a new ``torch.Generator`` seeded with ``seed``: pass it to a ``DataLoader(generator=...)`` or
      ``torch.randperm(..., generator=...)`` to give data order its own stream.

    With that, a run on the CPU repeats bit for bit in the same environment (same torch build, same number of
    threads: ``torch.get_num_threads()`` can change the order of parallel float reductions). GPU runs repeat only
    up to non-deterministic kernels, notably the backward pass of ``grid_sample`` on CUDA (atomic adds).

    Args:
        seed: a non-negative int.
        deterministic: also make GPU kernels deterministic: ``torch.use_deterministic_algorithms(True,
            warn_only=True)`` (warns where an op has no deterministic version, such as ``grid_sample``'s CUDA
            backward), ``torch.backends.cudnn.deterministic = True``, ``torch.backends.cudnn.benchmark = False``
            and ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` if unset. These are process-wide settings and slow training
            down, so the default leaves them as they are.

    Returns:
        A CPU ``torch.Generator`` seeded with ``seed``.

    Raises:
        TypeError: ``seed`` is not an int.
        ValueError: ``seed`` is negative.

    Example:
        >>> g = seed_everything(0)
        >>> a = torch.rand(2)
        >>> _ = seed_everything(0)
        >>> torch.equal(a, torch.rand(2))
        True
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int; got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative; got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 — seeds the global generator (32-bit seeds only)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)


def check_precision(precision: object) -> Precision:
    """Return ``precision`` if it is ``"fp32"``, ``"bf16"`` or ``"fp16"``, else raise a ``ValueError``."""
    if precision not in PRECISIONS:
        hint = (
            " (use 'bf16' for bfloat16 or 'fp16' for float16)" if precision in ("bfloat16", "float16") else ""
        )
        raise ValueError(
            f"precision must be one of {', '.join(map(repr, PRECISIONS))}; got {precision!r}{hint}"
        )
    return precision


def effective_precision(device: torch.device, precision: Precision) -> Precision:
    """The precision that will actually run on ``device``: ``fp16`` and ``bf16`` fall back to ``fp32`` with a warning
    where the device cannot use them: ``fp16`` needs CUDA (for loss scaling with a GradScaler); ``bf16`` needs
    the CPU, MPS or a CUDA GPU with bfloat16 support (Ampere or newer).
    """
    device, precision = _device(device), check_precision(precision)
    if precision == "fp16" and device.type != "cuda":
        warnings.warn(
            f"precision='fp16' needs a CUDA GPU (the course scales fp16 losses only there); training on the "
            f"{device.type} in fp32 instead. Use precision='bf16' for mixed precision on the CPU.",
            stacklevel=3,
        )
        return "fp32"
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        warnings.warn(
            "this GPU does not support bfloat16; training in fp32 instead (use precision='fp16' on older GPUs)",
            stacklevel=3,
        )
        return "fp32"
    return precision


def autocast_context(
    device: str | torch.device, precision: Precision = "fp32"
) -> contextlib.AbstractContextManager[Any]:
    """A context manager that runs the forward pass in ``precision`` on ``device``.

    ``"fp32"`` returns a no-op context; ``"bf16"`` and ``"fp16"`` return :class:`torch.autocast` with that dtype
    (matrix products and convolutions run in 16 bits, losses and reductions stay in float32). Use it around the
    forward pass and the loss only, not around ``backward()``.

    Args:
        device: the device the model runs on.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``.

    Example:
        >>> with autocast_context("cpu", "bf16"):
        ...     y = torch.nn.Linear(4, 2)(torch.ones(1, 4))
        >>> y.dtype
        torch.bfloat16
    """
    device = _device(device)
    precision = check_precision(precision)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[precision])


def make_grad_scaler(device: str | torch.device, precision: Precision = "fp32") -> torch.amp.GradScaler:
    """A :class:`torch.amp.GradScaler`, enabled only for ``fp16`` on CUDA.

    float16 gradients underflow without loss scaling; bfloat16 and float32 have float32's range and need none.
    A disabled scaler passes through: ``scaler.scale(loss)`` is ``loss``, ``scaler.step(opt)`` is ``opt.step()``,
    so a training step written with a scaler is the same code on every device and precision.
    """
    device = _device(device)
    enabled = check_precision(precision) == "fp16" and device.type == "cuda"
    # The scaler's own device only matters when enabled; "cpu" keeps a disabled one free of CUDA warnings.
    return torch.amp.GradScaler(device.type if enabled else "cpu", enabled=enabled)


def loader_options(device: str | torch.device) -> dict[str, bool]:
    """Keyword arguments for a :class:`~torch.utils.data.DataLoader` feeding ``device``.

    Pinned (page-locked) host memory lets a copy to a CUDA GPU run asynchronously; on other devices pinning only
    costs memory, so it is asked for only with CUDA.

    Example:
        >>> loader_options("cpu")
        {'pin_memory': False}
    """
    return {"pin_memory": _device(device, present=False).type == "cuda"}


def move_to_device(batch: _T, device: str | torch.device) -> _T:
    """Copy a batch to ``device``: a tensor, or tuples, lists and dicts of tensors (other values pass through).

    Tensors already on ``device`` are returned as they are (no copy). Copies to CUDA are ``non_blocking`` so that
    they overlap with computation when the source is pinned (see :func:`loader_options`); to any other device
    they are ordinary blocking copies, since ``non_blocking`` has no benefit there.

    Example:
        >>> x, y = move_to_device((torch.zeros(2, 1), torch.tensor([0, 1])), "cpu")
        >>> x.device, y.dtype
        (device(type='cpu'), torch.int64)
    """
    device = _device(device, present=False)  # an absent GPU: torch's own error when a tensor moves
    return _move(batch, device, non_blocking=device.type == "cuda")


def _move(value: Any, device: torch.device, non_blocking: bool) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=non_blocking)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple keeps its type
        return type(value)(*(_move(v, device, non_blocking) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(_move(v, device, non_blocking) for v in value)
    if isinstance(value, Mapping):
        return {k: _move(v, device, non_blocking) for k, v in value.items()}
    return value


def _cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def describe_hardware(device: str | torch.device) -> str:
    """One line naming the hardware a run used: the GPU's name, or the CPU's model and torch's thread count.

    Args:
        device: the device trained on, e.g. ``"cpu"`` or ``"cuda"``.

    Example:
        >>> "thread" in describe_hardware("cpu")
        True
    """
    device = resolve_device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    if device.type == "mps":
        return f"Apple GPU (MPS) on {platform.machine()}"
    threads = torch.get_num_threads()
    return f"{_cpu_name()}, {threads} thread{'' if threads == 1 else 's'}"
