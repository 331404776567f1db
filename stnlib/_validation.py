"""Input checks shared by every public function of stnlib.

One helper, :func:`check_tensor`, validates a tensor against a shape written with named dimensions
(``"N 2 3"``, ``"N C H W"``) and binds the names across arguments through a :class:`Dims` record, so that
mismatched batch sizes are reported with both arguments named. Messages say what was expected, what was
received, and how to fix the usual mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["Dims", "check_same_device", "check_tensor"]


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
                f"{name}={self.sizes[name]}, {argument} has {name}={size}. "
                + ("Pass the same number of items in every batch argument." if name == "N" else "")
            )
        self.sizes.setdefault(name, size)
        self.bound_by.setdefault(name, argument)


def _format_shape(spec: list[str]) -> str:
    return "(" + ", ".join(spec) + ")"


def _shape_hint(name: str, spec: list[str], shape: tuple[int, ...]) -> str:
    if len(shape) == len(spec) - 1 and spec[0] == "N":
        return f" — add a batch dimension with {name}[None]"
    if spec and spec[-1] == "2" and len(shape) == len(spec) and shape[-1] != 2:
        return f" — the last dimension of {name} holds (x, y) coordinates and must have size 2"
    if len(shape) == len(spec) + 1 and shape[0] == 1:
        return f" — remove the extra leading dimension with {name}[0]"
    return ""


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
            (``"N 2 3"``, ``"N C H W"``). A name already bound in ``dims`` must match.
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
            + ("Did a function forget to return its result?" if x is None else "Convert it with torch.as_tensor(...).")
        )
    got = tuple(x.shape)
    if len(got) != len(spec) or any(s.isdigit() and int(s) != g for s, g in zip(spec, got)):
        raise ValueError(
            f"{name} must have shape {_format_shape(spec)}; got {got}{_shape_hint(name, spec, got)}"
        )
    for s, g in zip(spec, got):
        if not s.isdigit():
            dims.bind(s, g, name)
    if floating and not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (float32 or float64); got {x.dtype}. "
            f"Convert it with {name}.float()"
            + (" and divide by 255 if it holds 0–255 pixel values." if not x.is_complex() else ".")
        )
    if not allow_empty and "N" in spec and got[spec.index("N")] == 0:
        raise ValueError(f"{name} has an empty batch (N=0); pass at least one item.")
    if finite and x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(
            f"{name} contains NaN or infinite values. In a spatial transformer this usually means the "
            "localization network diverged: lower its learning rate or check its initialisation."
        )
    return dims


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
