"""Input checks shared by every public function of stnlib.

One helper, :func:`check_tensor`, validates a tensor against a shape written with named dimensions
(``"N 2 3"``, ``"N C H W"``, ``"... 2"``) and binds the names across arguments through a :class:`Dims` record,
so that mismatched batch sizes are reported with both arguments named. Its sibling :func:`check_size` does the
same for size tuples such as ``size=(N, C, H, W)``. Messages say what was expected, what was received, and how
to fix the usual mistake.
"""

from __future__ import annotations

import numbers
import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast

import torch
from torch import Tensor

__all__ = [
    "Dims",
    "check_choice",
    "check_device",
    "check_int",
    "check_labels",
    "check_same_device",
    "check_size",
    "check_tensor",
    "mps_available",
]


@dataclass
class Dims:
    """Named dimension sizes bound while checking several tensors, with the argument that bound each."""

    sizes: dict[str, int] = field(default_factory=dict)
    bound_by: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> int:
        return self.sizes[name]

    def bind(self, name: str, size: int, argument: str) -> None:
        if name in self.sizes and self.sizes[name] != size:
            raise ValueError(
                f"{argument} and {self.bound_by[name]} disagree on {name}: {self.bound_by[name]} has "
                f"{name}={self.sizes[name]}, {argument} has {name}={size}."
                + (" Pass the same number of items in every batch argument." if name == "N" else "")
            )
        self.sizes.setdefault(name, size)
        self.bound_by.setdefault(name, argument)


def _format_shape(spec: list[str]) -> str:
    return "(" + ", ".join(spec) + ")"


def _shape_matches(spec: list[str], shape: tuple[int, ...]) -> bool:
    if spec[:1] == ["..."]:
        fixed = spec[1:]
        tail = shape[len(shape) - len(fixed) :] if fixed else ()
        return len(shape) >= len(fixed) and _shape_matches(fixed, tail)
    return len(shape) == len(spec) and all(
        not s.isdigit() or int(s) == g for s, g in zip(spec, shape, strict=True)
    )


def _shape_hint(name: str, spec: list[str], shape: tuple[int, ...]) -> str:
    if spec[:1] == ["..."]:
        if spec[-1] == "2" and shape and shape[-1] != 2:
            return f" — the last dimension of {name} holds (x, y) coordinates and must have size 2"
        return ""
    if len(shape) == len(spec) - 1 and spec[:2] == ["N", "C"]:
        # (N, H, W) and (C, H, W) look alike: name both fixes rather than guess.
        return (
            f" — for one image add a batch dimension with {name}[None]; for a batch of single-channel images "
            f"add the channel dimension with {name}[:, None]"
        )
    if len(shape) == len(spec) - 1 and spec[0] == "N":
        return f" — add a batch dimension with {name}[None]"
    if spec and spec[-1] == "2" and len(shape) == len(spec) and shape[-1] != 2:
        return f" — the last dimension of {name} holds (x, y) coordinates and must have size 2"
    fixes = []
    if len(shape) == len(spec) + 1 and shape[0] == 1:
        fixes.append(f"remove the extra leading dimension with {name}[0]")
    if spec == ["N", "C", "H", "W"] and len(shape) == 5:
        fixes.append("volumes (N, C, D, H, W) are not supported here: slice them into 2-D images")
    return " — " + "; ".join(fixes) if fixes else ""


def check_tensor(
    x: object,
    name: str,
    shape: str,
    dims: Dims | None = None,
    *,
    floating: bool = True,
    finite: bool = False,
    allow_empty: bool = False,
) -> Dims:
    """Check that ``x`` is a tensor of the given named shape and return the bound dimensions.

    Args:
        x: the value to check.
        name: the argument's name, used in messages (``"theta"``).
        shape: space-separated dimensions; integers must match exactly, names bind to sizes
            (``"N 2 3"``, ``"N C H W"``). A name already bound in ``dims`` must match. A leading ``...``
            accepts any number of leading dimensions (``"... 2"``: any tensor of (x, y) points).
        dims: the record shared between the arguments of one call; a new one is made if omitted.
        floating: require a floating-point dtype.
        finite: reject NaN and infinite values.
        allow_empty: accept a zero-sized batch dimension ``N``.

    Returns:
        The :class:`Dims` record with this tensor's dimensions bound.

    Raises:
        TypeError: ``x`` is not a tensor, or not floating point when required.
        ValueError: wrong rank or size, mismatch with another argument, empty batch, NaN or inf.

    Example:
        >>> dims = check_tensor(torch.zeros(4, 2, 3), "theta", "N 2 3")
        >>> dims["N"]
        4
    """
    dims = Dims() if dims is None else dims
    spec = shape.split()
    if not isinstance(x, Tensor):
        kind = "None" if x is None else type(x).__name__
        raise TypeError(
            f"{name} must be a torch.Tensor of shape {_format_shape(spec)}; got {kind}. "
            + (
                "Did a function forget to return its result?"
                if x is None
                else "Convert it with torch.as_tensor(...)."
            )
        )
    got = tuple(x.shape)
    if not _shape_matches(spec, got):
        raise ValueError(
            f"{name} must have shape {_format_shape(spec)}; got {got}{_shape_hint(name, spec, got)}"
        )
    named = spec[1:] if spec[:1] == ["..."] else spec
    for s, g in zip(named, got[len(got) - len(named) :], strict=True):
        if not s.isdigit():
            dims.bind(s, g, name)
    if floating and not x.is_floating_point():
        looks_like_image = spec[-2:] == ["H", "W"]
        raise TypeError(
            f"{name} must be a floating-point tensor (float32 or float64); got {x.dtype}. "
            f"Convert it with {name}.float()"
            + (" and divide by 255 if it holds 0–255 pixel values." if looks_like_image else ".")
        )
    if not allow_empty and "N" in spec and got[spec.index("N")] == 0:
        raise ValueError(f"{name} has an empty batch (N=0); pass at least one item.")
    # One reduction first: a finite sum proves every element finite; only a non-finite sum (NaN, inf, or an
    # overflow of large finite values) needs the element-wise look.
    if finite and x.numel() and not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
        raise ValueError(
            f"{name} contains NaN or infinite values. In a spatial transformer this usually means the "
            "localization network diverged: lower its learning rate or check its initialisation."
        )
    return dims


def _size_hint(name: str, spec: list[str], got: tuple[object, ...]) -> str:
    if len(spec) == 4 and spec[0] == "N" and len(got) == 2:
        return (
            f" — {name} is the full output size (N, C, H, W) as in torch's F.affine_grid, "
            "e.g. (theta.shape[0], C, H, W) or image.shape"
        )
    if len(spec) == 2 and len(got) > 2:
        return " — pass only the two spatial sizes, e.g. image.shape[-2:]"
    return ""


def check_size(size: object, name: str, shape: str = "N C H W", dims: Dims | None = None) -> tuple[int, ...]:
    """Check a size tuple such as ``size=(N, C, H, W)`` and bind its named entries in ``dims``.

    Args:
        size: a ``torch.Size``, tuple or list of positive integers.
        name: the argument's name, used in messages (``"size"``).
        shape: space-separated names of the entries; each binds in ``dims`` like in :func:`check_tensor`,
            so ``N`` must agree with the batch size of the tensors checked with the same record.
        dims: the record shared between the arguments of one call; a new one is made if omitted.

    Returns:
        The entries as a tuple of python ints.

    Raises:
        TypeError: ``size`` is a tensor or not a sequence of integers.
        ValueError: wrong length, an entry below 1, or a mismatch with another argument.

    Example:
        >>> check_size(torch.Size([4, 1, 28, 28]), "size")
        (4, 1, 28, 28)
    """
    dims = Dims() if dims is None else dims
    spec = shape.split()
    if isinstance(size, Tensor) or not isinstance(size, Sequence) or isinstance(size, str):
        kind = f"a tensor of shape {tuple(size.shape)}" if isinstance(size, Tensor) else type(size).__name__
        raise TypeError(
            f"{name} must be a tuple or torch.Size {_format_shape(spec)}; got {kind}. "
            + ("Pass image.shape rather than the image itself." if isinstance(size, Tensor) else "")
        )
    try:
        entries = tuple(operator.index(v) for v in size)
    except TypeError:
        raise TypeError(f"{name} must hold integers {_format_shape(spec)}; got {tuple(size)}") from None
    if len(entries) != len(spec):
        raise ValueError(
            f"{name} must have {len(spec)} entries {_format_shape(spec)}; got {entries}"
            + _size_hint(name, spec, entries)
        )
    for label, value in zip(spec, entries, strict=True):
        if value < 1:
            what = "an empty batch (N=0); pass at least one item" if label == "N" else f"{label}={value}"
            raise ValueError(
                f"{name} {_format_shape(spec)} = {entries} has {what}; every entry must be >= 1."
            )
        dims.bind(label, value, name)
    return entries


def check_same_device(a: Tensor, a_name: str, b: Tensor, b_name: str) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` live on the same device and have the same dtype."""
    if a.device != b.device:
        raise ValueError(
            f"{a_name} is on {a.device} but {b_name} is on {b.device}; move one of them, "
            f"e.g. {b_name} = {b_name}.to({a_name}.device)."
        )
    if a.dtype != b.dtype:
        raise TypeError(
            f"{a_name} has dtype {a.dtype} but {b_name} has dtype {b.dtype}; convert one of them, "
            f"e.g. {b_name} = {b_name}.to({a_name}.dtype)."
        )


_Choice = TypeVar("_Choice", bound=str)


def check_choice(
    value: object, name: str, choices: Sequence[_Choice], hint: str = "", *, ignore_case: bool = False
) -> _Choice:
    """Return ``value`` if it is one of ``choices`` (lower-cased first with ``ignore_case``), else raise a
    ``ValueError`` listing them, followed by ``hint``.

    Example:
        >>> check_choice("AdamW", "optimizer", ("adamw", "sgd"), ignore_case=True)
        'adamw'
    """
    chosen = value.lower() if ignore_case and isinstance(value, str) else value
    if not isinstance(chosen, str) or chosen not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.{hint}")
    return cast(_Choice, chosen)  # one of choices, as just tested


def check_path(value: object, name: str) -> Path:
    """Return ``value`` as a :class:`~pathlib.Path` if it is a ``str`` or path-like, else raise a ``TypeError``
    naming ``name``.

    Example:
        >>> check_path("runs/demo", "run_dir")
        PosixPath('runs/demo')
    """
    if isinstance(value, (str, os.PathLike)):
        return Path(value)
    raise TypeError(
        f"{name} must be a path, a str or pathlib.Path such as 'runs/demo'; got {type(value).__name__} {value!r}"
    )


def check_int(value: object, name: str, minimum: int = 1, what: str = "") -> int:
    """Return ``value`` if it is an int (not a bool) of at least ``minimum``, else raise naming ``name``
    (``what`` says what the number counts, e.g. ``"pixels"``).

    Example:
        >>> check_int(3, "canvas")
        3
    """
    counts = f" (a positive number of {what})" if what and minimum == 1 else (f" ({what})" if what else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}{counts}; got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}{counts}; got {value}")
    return int(value)


def check_labels(labels: object, name: str, num_classes: int | None = None, dims: Dims | None = None) -> Dims:
    """Check class labels ``(N,)``: an integer tensor, and with ``num_classes`` every value in ``[0, num_classes)``.

    The range check reads the values (one reduction, and on a GPU one synchronisation): call it once per batch
    source, not per step.

    Raises:
        TypeError: ``labels`` is not a tensor, or not of an integer dtype.
        ValueError: wrong shape, a batch mismatch with another argument, or a label out of range.

    Example:
        >>> check_labels(torch.tensor([0, 9, 3]), "labels", num_classes=10)["N"]
        3
    """
    dims = check_tensor(labels, name, "N", dims, floating=False)
    assert isinstance(labels, Tensor)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(
            f"{name} must hold integer class indices (torch.long); got {labels.dtype}. "
            "Convert them with .long()."
        )
    if num_classes is not None and labels.numel():
        low, high = (int(v) for v in torch.stack(torch.aminmax(labels)).tolist())
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"{name} must be class indices in [0, {num_classes - 1}] for {num_classes} classes; "
                f"got values from {low} to {high}. Check that the labels belong to this model's task."
            )
    return dims


def mps_available() -> bool:
    """Whether Apple's MPS backend is usable here (older torch builds have no ``torch.backends.mps``)."""
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def _devices_here() -> str:
    names = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if mps_available():
        names.append("mps")
    return ", ".join(names)


def check_device(
    device: object, name: str = "device", *, allow_none: bool = False, present: bool = True
) -> torch.device | None:
    """Return ``device`` (a name such as ``"cuda:0"`` or a ``torch.device``) if this machine has it
    (``None`` too with ``allow_none``: the caller's default; any device torch knows with ``present=False``).

    Raises:
        TypeError: ``device`` is neither a string nor a ``torch.device``.
        ValueError: torch does not know the name (``"gpu"``), or this machine lacks the device (``"cuda:7"``);
            the message lists the devices it has.

    Example:
        >>> check_device("cpu")
        device(type='cpu')
    """
    if (isinstance(device, torch.device) and device.type == "cpu") or (device is None and allow_none):
        return device
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"{name} must be a device name such as 'cuda' or 'cpu', a torch.device, or None; "
            f"got {type(device).__name__} {device!r}"
        )
    also = "" if name == "device" else " (device=None in fit, evaluate and the experiments)"
    auto = f"pass {name}=None{also} to use the best device this machine has ({_devices_here()})"
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"{name}={device!r} is not a device torch knows; use 'cuda', 'cuda:0', 'mps' or 'cpu', or {auto}."
        ) from None
    if not present:
        return chosen
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{name}={str(chosen)!r} was asked for but CUDA is not available here "
                f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); on Colab choose "
                f"Runtime > Change runtime type > GPU, or {auto}."
            )
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise ValueError(
                f"{name}={str(chosen)!r} was asked for but this machine has {torch.cuda.device_count()} "
                f"CUDA device(s); {auto}."
            )
    elif chosen.type == "mps":
        if not mps_available():
            raise ValueError(
                f"{name}='mps' was asked for but Apple's MPS backend is not available here; {auto}."
            )
    return chosen
