"""Transformation families: what a spatial transformer's localization network predicts and how it becomes a grid.

Each family (affine, attention, projective, thin plate spline) is described once, by a :class:`TransformFamily`
record in the registry :data:`TRANSFORM_FAMILIES`; every part of stnlib that depends on the family — the
localization network's head (:func:`num_params`, :func:`identity_params`, :func:`params_from_head`), the spatial
transformer (:func:`param_shape`, :func:`transform_grid`) and the plots of :mod:`stnlib.viz` — reads that record.
A new family is one :func:`register_transform_family` call away (in the spirit of torchvision's kernel registry):

    >>> def translation_grid(params, size, *, align_corners, control_points, torch_affine):
    ...     theta = torch.eye(2, 3).repeat(params.shape[0], 1, 1)
    ...     theta[:, :, 2] = params
    ...     return F.affine_grid(theta, list(size), align_corners=align_corners)
    >>> family = TransformFamily(
    ...     name="translation", title="translation only", num_params=lambda k: 2, shape="N 2",
    ...     identity=lambda k: torch.zeros(2), grid=translation_grid)
    >>> register_transform_family(family)  # doctest: +ELLIPSIS
    TransformFamily(name='translation', ...)
    >>> num_params("translation")
    2
    >>> del TRANSFORM_FAMILIES["translation"]  # the registry is ordinary, visible state: undo the example

Parameter shapes of the built-in families (what a localization network returns):

=============  ================  ===========================================================
family         shape             identity
=============  ================  ===========================================================
``affine``     ``(N, 2, 3)``     ``[[1, 0, 0], [0, 1, 0]]`` (eq. 1)
``attention``  ``(N, 3)``        ``(s, t_x, t_y) = (1, 0, 0)`` (eq. 2)
``projective`` ``(N, 8)``        zeros (the 8 free entries of the homography minus the identity)
``tps``        ``(N, K*K, 2)``   the ``K x K`` control points themselves
=============  ================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from stnlib import geometry
from stnlib._validation import Dims, check_choice, check_size, check_tensor

__all__ = [
    "TRANSFORMS",
    "TRANSFORM_FAMILIES",
    "TransformFamily",
    "identity_params",
    "num_params",
    "param_shape",
    "params_from_head",
    "register_transform_family",
    "transform_family",
    "transform_grid",
]


class GridFunction(Protocol):
    """``grid(params, size, *, align_corners, control_points, torch_affine) -> (N, H_out, W_out, 2)``."""

    def __call__(
        self,
        params: Tensor,
        size: Sequence[int],
        *,
        align_corners: bool,
        control_points: Tensor | None,
        torch_affine: bool,
    ) -> Tensor: ...


def _flat(raw: Tensor, control_points: Tensor | None) -> Tensor:
    return raw


@dataclass(frozen=True)
class TransformFamily:
    """Everything stnlib needs to know about one transformation family.

    Attributes:
        name: the key the family is chosen by (``transform="affine"``).
        title: how plots and tables name it.
        num_params: ``K -> P``, how many numbers the regression head outputs (``K``: the TPS control grid's side;
            families without control points ignore it).
        shape: the parameters' named shape for :func:`stnlib._validation.check_tensor`, with ``P`` for "any
            number of control points" (e.g. ``"N 2 3"``, ``"N P 2"``).
        identity: ``K -> (P,)``, the head's output that means "do nothing" (its last layer's initial bias).
        grid: the grid generator, see :class:`GridFunction`.
        params_from_head: ``(raw: (N, P), control_points) -> params``, the head's flat output in the family's shape.
        uses_control_points: whether the family has TPS-style control points (a ``(K*K, 2)`` buffer).
        straight_lines: whether the family maps lines to lines (then a region's outline needs only its corners).
    """

    name: str
    title: str
    num_params: Callable[[int], int]
    shape: str
    identity: Callable[[int], Tensor]
    grid: GridFunction
    params_from_head: Callable[[Tensor, Tensor | None], Tensor] = _flat
    uses_control_points: bool = False
    straight_lines: bool = True

    def param_shape(self, tps_grid_size: int = 4) -> str:
        """The named shape of this family's parameters for a ``K x K`` control grid."""
        return self.shape.replace(" P ", f" {tps_grid_size**2} ") if self.uses_control_points else self.shape


TRANSFORM_FAMILIES: dict[str, TransformFamily] = {}
"""The registry: family name → :class:`TransformFamily`. Add to it with :func:`register_transform_family`."""


def register_transform_family(family: TransformFamily, *, replace: bool = False) -> TransformFamily:
    """Add ``family`` to :data:`TRANSFORM_FAMILIES` (``replace=True`` to redefine an existing name); returns it."""
    if not isinstance(family, TransformFamily):
        raise TypeError(f"family must be a TransformFamily; got {type(family).__name__}")
    if family.name in TRANSFORM_FAMILIES and not replace:
        raise ValueError(
            f"a transform family called {family.name!r} is already registered; pass replace=True to redefine it"
        )
    TRANSFORM_FAMILIES[family.name] = family
    return family


def _check_grid_size(tps_grid_size: object) -> int:
    if not isinstance(tps_grid_size, int) or isinstance(tps_grid_size, bool) or tps_grid_size < 2:
        raise ValueError(f"tps_grid_size must be an int >= 2 (a K x K control grid); got {tps_grid_size!r}")
    return tps_grid_size


def transform_family(transform: str) -> TransformFamily:
    """The registered family called ``transform``, or a clear error listing the registered ones."""
    return TRANSFORM_FAMILIES[check_choice(transform, "transform", tuple(TRANSFORM_FAMILIES))]


def num_params(transform: str, tps_grid_size: int = 4) -> int:
    """Number of numbers the regression head outputs for a family (affine 6, attention 3, projective 8, TPS 2K²)."""
    family = transform_family(transform)
    return family.num_params(_check_grid_size(tps_grid_size))


def identity_params(transform: str, tps_grid_size: int = 4) -> Tensor:
    """The regression head's output that means "do nothing", flat: the bias its last layer starts with.

    Example:
        >>> identity_params("attention")
        tensor([1., 0., 0.])
    """
    family = transform_family(transform)
    return family.identity(_check_grid_size(tps_grid_size))


def param_shape(transform: str, tps_grid_size: int = 4) -> str:
    """The named shape of a family's parameters, as :func:`stnlib._validation.check_tensor` reads it.

    Example:
        >>> param_shape("tps", 4)
        'N 16 2'
    """
    family = transform_family(transform)
    return family.param_shape(_check_grid_size(tps_grid_size))


def params_from_head(raw: Tensor, transform: str, control_points: Tensor | None = None) -> Tensor:
    """Reshape a regression head's flat output ``raw: (N, P)`` into the family's parameter shape.

    For ``"tps"`` the head's output holds offsets of ``control_points: (K*K, 2)``, which are added here.
    """
    family = transform_family(transform)
    columns = check_tensor(raw, "raw", "N P")["P"]
    if family.uses_control_points:
        if control_points is None:
            raise ValueError(f"control_points are needed to turn {family.name} offsets into target points")
        points = check_tensor(control_points, "control_points", "P 2")["P"]
        if columns != 2 * points:
            raise ValueError(
                f"raw must hold an (x, y) offset for each of the {points} control points, {2 * points} columns; "
                f"got {columns} (a head built for another tps_grid_size?)"
            )
    elif columns != family.num_params(4):  # families without control points have one size for every K
        raise ValueError(
            f"raw must have {family.num_params(4)} columns for the {family.name!r} family; got {columns}"
        )
    return family.params_from_head(raw, control_points)


def transform_grid(
    params: Tensor,
    transform: str,
    size: Sequence[int],
    *,
    align_corners: bool = False,
    control_points: Tensor | None = None,
    torch_affine: bool = True,
) -> Tensor:
    """The sampling grid of one transformation family: where each output pixel reads the input.

    Args:
        params: the family's parameters (``(N, 2, 3)``, ``(N, 3)``, ``(N, 8)`` or ``(N, K*K, 2)`` target points).
        transform: a registered family: ``"affine"`` (eq. 1), ``"attention"`` (eq. 2), ``"projective"``, ``"tps"``.
        size: the output's ``(N, C, H_out, W_out)``.
        align_corners: the normalised-coordinate convention (see :mod:`stnlib.geometry.coords`).
        control_points: ``(K*K, 2)`` TPS source points; ``None`` uses the geometry module's default grid.
        torch_affine: build affine and attention grids with ``F.affine_grid`` (fast) instead of
            :func:`stnlib.geometry.affine_grid` (the course's reference; the same numbers).

    Returns:
        ``grid: (N, H_out, W_out, 2)`` with normalised (x, y) in the last dimension.
    """
    family = transform_family(transform)
    # Shapes only: this runs every forward pass, so finite checks stay in the reference grid generators.
    dims = check_tensor(params, "params", family.shape, Dims())
    check_size(size, "size", "N C H_out W_out", dims)
    return family.grid(
        params,
        list(size),
        align_corners=align_corners,
        control_points=control_points,
        torch_affine=torch_affine,
    )


# --- the built-in families -------------------------------------------------------------------------------------


def _theta_grid(theta: Tensor, size: Sequence[int], align_corners: bool, torch_affine: bool) -> Tensor:
    if torch_affine:
        return F.affine_grid(theta, list(size), align_corners=align_corners)
    return geometry.affine_grid(theta, size, align_corners=align_corners)


def _affine_grid(
    params: Tensor,
    size: Sequence[int],
    *,
    align_corners: bool,
    control_points: Tensor | None,
    torch_affine: bool,
) -> Tensor:
    return _theta_grid(params, size, align_corners, torch_affine)


def _attention_grid(
    params: Tensor,
    size: Sequence[int],
    *,
    align_corners: bool,
    control_points: Tensor | None,
    torch_affine: bool,
) -> Tensor:
    return _theta_grid(geometry.attention_theta(params), size, align_corners, torch_affine)


def _projective_grid(
    params: Tensor,
    size: Sequence[int],
    *,
    align_corners: bool,
    control_points: Tensor | None,
    torch_affine: bool,
) -> Tensor:
    return geometry.projective_grid(params, size, align_corners=align_corners)


def _tps_grid(
    params: Tensor,
    size: Sequence[int],
    *,
    align_corners: bool,
    control_points: Tensor | None,
    torch_affine: bool,
) -> Tensor:
    return geometry.tps_grid(params, size, control_points=control_points, align_corners=align_corners)


def _tps_params_from_head(raw: Tensor, control_points: Tensor | None) -> Tensor:
    assert control_points is not None  # params_from_head checks it for every family with control points
    return control_points + raw.view(raw.shape[0], -1, 2)


for _family in (
    TransformFamily(
        name="affine",
        title="affine",
        num_params=lambda k: 6,
        shape="N 2 3",
        identity=lambda k: torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
        grid=_affine_grid,
        params_from_head=lambda raw, points: raw.view(raw.shape[0], 2, 3),
    ),
    TransformFamily(
        name="attention",
        title="attention (scale + translation)",
        num_params=lambda k: 3,
        shape="N 3",
        identity=lambda k: torch.tensor([1.0, 0.0, 0.0]),
        grid=_attention_grid,
    ),
    TransformFamily(
        name="projective",
        title="projective",
        num_params=lambda k: 8,
        shape="N 8",
        identity=lambda k: torch.zeros(8),  # the geometry module's parameters are offsets from the identity
        grid=_projective_grid,
    ),
    TransformFamily(
        name="tps",
        title="thin plate spline",
        num_params=lambda k: 2 * k * k,
        shape="N P 2",
        identity=lambda k: torch.zeros(2 * k * k),  # zero offsets of the control points
        grid=_tps_grid,
        params_from_head=_tps_params_from_head,
        uses_control_points=True,
        straight_lines=False,
    ),
):
    register_transform_family(_family)

TRANSFORMS: tuple[str, ...] = tuple(TRANSFORM_FAMILIES)
"""The built-in transformation families (the registry may hold more: :data:`TRANSFORM_FAMILIES`)."""
