"""Checkers for lesson 01, "Coordinates and affine transforms".

Each student function is compared with :mod:`stnlib.geometry` (and with ``F.affine_grid`` where PyTorch computes
the same thing), values and gradients:

* :func:`check_pixel_to_normalized` — pixel ``(x, y)`` points of an ``(H, W)`` image to normalised coordinates.
* :func:`check_transform_points` — apply ``theta: (N, 2, 3)`` to points (eq. 1); the reference is
  :func:`transform_points`, since stnlib's grid generator maps a whole lattice at once.
* :func:`check_make_theta` — ``theta`` from rotation, scale, shear and translation.
* :func:`check_compose_theta` — the ``theta`` of "first ``theta_b``, then ``theta_a``".
* :func:`check_invert_theta` — the inverse ``theta`` in closed form (PyTorch's matrix inverters switched off).

Example (in the lesson)::

    checks.lesson01.check_transform_points(transform_points)
    transform_points = checks.use_or_fallback(transform_points, checks.lesson01.transform_points)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import torch
import torch.nn.functional as F
from torch import Tensor

from stnlib._validation import check_same_device, check_tensor
from stnlib.checks._core import (
    Candidate,
    Case,
    Exercise,
    close_for_dtype,
    first_matching_message,
    near_identity_theta,
    reported_as,
)
from stnlib.geometry import (
    affine_theta,
    compose_affine,
    invert_affine,
    pixel_to_normalized,
)

__all__ = [
    "check_compose_theta",
    "check_invert_theta",
    "check_make_theta",
    "check_pixel_to_normalized",
    "check_transform_points",
    "transform_points",
]


# ------------------------------------------------------------------------------------------ references


def transform_points(theta: Tensor, points: Tensor) -> Tensor:
    """Map (x, y) points with affine ``theta`` through homogeneous coordinates: ``p' = θ (x, y, 1)ᵀ`` (eq. 1).

    Args:
        theta: ``(N, 2, 3)``.
        points: ``(N, P, 2)`` normalised ``(x, y)`` points, one set per batch item.

    Returns:
        ``(N, P, 2)``: the image of each point. For the pixel centres of an output image these are exactly the
        sampling positions of ``F.affine_grid`` (reshaped to a list).

    Example:
        >>> theta = torch.tensor([[[0.5, 0.0, 0.25], [0.0, 0.5, 0.0]]])
        >>> transform_points(theta, torch.tensor([[[1.0, -1.0]]]))
        tensor([[[ 0.7500, -0.5000]]])
    """
    dims = check_tensor(theta, "theta", "N 2 3")
    check_tensor(points, "points", "N P 2", dims)
    check_same_device(theta, "theta", points, "points")
    homogeneous = torch.cat([points, torch.ones_like(points[..., :1])], dim=-1)  # (N, P, 3)
    return homogeneous @ theta.transpose(1, 2)


@reported_as("the pixel centres of F.affine_grid")
def _pixel_to_normalized_by_torch(points: Tensor, size: tuple[int, int], align_corners: bool) -> Tensor:
    """PyTorch's convention, read off ``F.affine_grid``'s identity grid (the normalised pixel centres of an
    ``(H, W)`` image) and extended linearly between and beyond the centres. Needs ``H, W >= 2``."""
    height, width = size
    identity = torch.eye(2, 3, dtype=points.dtype, device=points.device)[None]
    centres = F.affine_grid(identity, [1, 1, height, width], align_corners=align_corners)[0]
    origin = centres[0, 0]  # (x, y) of pixel (col 0, row 0)
    per_pixel = torch.stack([centres[0, 1, 0] - centres[0, 0, 0], centres[1, 0, 1] - centres[0, 0, 1]])
    return origin + points * per_pixel


def _theta_from_parts(
    rotation: Tensor, scale: Tensor, shear: Tensor, order: str, sign: float = 1.0
) -> Tensor:
    """``R @ K @ S`` (or another ``order`` of the letters R, K, S) as ``(N, 2, 2)``: for the diagnoses."""
    cos, sin = rotation.cos(), sign * rotation.sin()
    one, zero = torch.ones_like(rotation), torch.zeros_like(rotation)
    parts = {
        "R": torch.stack([cos, -sin, sin, cos], dim=-1).view(-1, 2, 2),
        "K": torch.stack([one, shear, zero, one], dim=-1).view(-1, 2, 2),
        "S": torch.diag_embed(scale),
    }
    return parts[order[0]] @ parts[order[1]] @ parts[order[2]]


# ---------------------------------------------------------------------------------------------- helpers


def _random_parts(
    n: int, generator: torch.Generator, mirrors: bool = False
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Random float64 ``(rotation, scale, shear, translation)`` for ``n`` items: any angle, scales in
    [0.5, 1.5) (with ``mirrors``, ±[0.4, 1.4): a negative scale flips an axis, det A < 0), shears and shifts in
    [-0.5, 0.5)."""
    rotation = (torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi
    if mirrors:
        sign = torch.where(torch.rand(n, 2, generator=generator) < 0.5, -1.0, 1.0).to(torch.float64)
        scale = sign * (0.4 + torch.rand(n, 2, generator=generator, dtype=torch.float64))
    else:
        scale = 0.5 + torch.rand(n, 2, generator=generator, dtype=torch.float64)
    shear = torch.rand(n, generator=generator, dtype=torch.float64) - 0.5
    translation = torch.rand(n, 2, generator=generator, dtype=torch.float64) - 0.5
    return rotation, scale, shear, translation


def _pixel_lattice(height: int, width: int, dtype: torch.dtype) -> Tensor:
    """``(H, W, 2)`` pixel coordinates (col, row) of every pixel centre."""
    rows, cols = torch.meshgrid(
        torch.arange(height, dtype=dtype), torch.arange(width, dtype=dtype), indexing="ij"
    )
    return torch.stack([cols, rows], dim=-1)


# ---------------------------------------------------------------------------- exercise 1: coordinates


def _pixel_cases() -> list[Case]:
    g = torch.Generator().manual_seed(1)
    fractional = torch.rand(2, 7, 2, generator=g, dtype=torch.float64) * torch.tensor([4.0, 2.0]) - 0.5
    corners = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 1.0], [5.0, 1.0]])
    mnist = torch.tensor([[0.0, 0.0], [13.5, 13.5], [27.0, 27.0], [-0.5, 27.5]])
    cases = []
    for align_corners in (False, True):
        cases += [
            Case(f"the 16 pixel centres of a 4x4 image, align_corners={align_corners}",
                 (_pixel_lattice(4, 4, torch.float32), (4, 4), align_corners)),
            Case(f"fractional points on a non-square 3x5 image (H=3, W=5), float64, "
                 f"align_corners={align_corners}", (fractional, (3, 5), align_corners)),
            Case(f"corner pixels of a 2x6 image (H=2, W=6), align_corners={align_corners}",
                 (corners, (2, 6), align_corners)),
        ]  # fmt: skip
    cases.append(Case("centre, corners and outer edge of a 28x28 MNIST digit", (mnist, (28, 28), False)))
    return cases


def _diagnose_pixel(case: Case, actual: object, expected: object) -> str | None:
    points, (height, width), align_corners = case.args
    n = torch.tensor([width, height], dtype=points.dtype)
    return first_matching_message(
        actual,
        [
            (
                lambda: pixel_to_normalized(points, (height, width), not align_corners),
                f"this is the align_corners={not align_corners} convention; this case asks for "
                f"align_corners={align_corners}.",
            ),
            (
                lambda: pixel_to_normalized(points, (width, height), align_corners),
                "x and y use each other's image size: x (the column) runs along the width W and y (the row) "
                "along the height H, although size is given as (H, W).",
            ),
            (
                lambda: 2 * points / n - 1,
                "you computed 2 i / n - 1, which puts -1 at the *centre* of pixel 0 but +1 one pixel beyond "
                "the last centre: with align_corners=False the centre of pixel i sits half a pixel inside, "
                "at (2 i + 1) / n - 1.",
            ),
        ],
        close_for_dtype,
        expected=expected,
    )


check_pixel_to_normalized = Exercise(
    "pixel_to_normalized",
    pixel_to_normalized,
    _pixel_cases,
    torch_fn=_pixel_to_normalized_by_torch,
    grad_wrt=(0,),
    diagnose=_diagnose_pixel,
    hint="for an axis of n pixels, align_corners=True puts the centres of pixels 0 and n-1 at -1 and +1: "
    "x = 2 i / (n - 1) - 1; align_corners=False puts their outer edges there: x = (2 i + 1) / n - 1. "
    "Use W for x (points[..., 0]) and H for y (points[..., 1]).",
).checker(
    """Check ``pixel_to_normalized(points, size, align_corners)``.

    ``points: (..., 2)`` pixel coordinates ``(x, y) = (column, row)`` (pixel centres at integers), ``size =
    (H, W)``; returns normalised coordinates of the same shape. Compared with
    :func:`stnlib.geometry.pixel_to_normalized` and with the pixel centres of PyTorch's ``F.affine_grid``.
    """
)


# ------------------------------------------------------------------------- exercise 2: transform points


def _points_cases() -> list[Case]:
    g = torch.Generator().manual_seed(2)
    corners = torch.tensor([[[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]])
    zoom_and_turn = torch.tensor([[[0.4, -0.3, 0.25], [0.3, 0.4, -0.1]]])
    # The pixel centres of a 3x5 output (align_corners=False), listed row by row: where F.affine_grid starts.
    lattice = _pixel_lattice(3, 5, torch.float64)
    centres = pixel_to_normalized(lattice, (3, 5), False).reshape(1, 15, 2).expand(2, 15, 2).clone()
    return [
        Case("the four corners of the output; zoom in, turn and shift", (zoom_and_turn, corners)),
        Case("one point per item, batch of 3, float32",
             (near_identity_theta(3, g, torch.float32), torch.rand(3, 1, 2, generator=g) * 2 - 1)),
        Case("batch of 2, 6 points each, float64",
             (near_identity_theta(2, g, torch.float64), torch.rand(2, 6, 2, generator=g, dtype=torch.float64) * 2 - 1)),
        Case("the 15 pixel centres of a 3x5 output, as F.affine_grid uses them, float64",
             (near_identity_theta(2, g, torch.float64), centres)),
    ]  # fmt: skip


def _diagnose_points(case: Case, actual: object, expected: object) -> str | None:
    theta, points = case.args
    linear, offset = theta[:, :, :2], theta[:, :, 2]
    return first_matching_message(
        actual,
        [
            (
                lambda: points @ linear.transpose(1, 2),
                "the translation is missing: the 1 appended to each point is what picks up theta's last "
                "column (t_x, t_y).",
            ),
            (
                lambda: points @ linear + offset[:, None, :],
                "you multiplied by the transpose of A: with points as rows, p' = p Aᵀ + t, i.e. "
                "hom @ theta.transpose(1, 2).",
            ),
            (
                lambda: torch.cat([torch.ones_like(points[..., :1]), points], -1) @ theta.transpose(1, 2),
                "the 1 goes last: homogeneous coordinates are (x, y, 1), matching theta's columns "
                "(x-coefficient, y-coefficient, translation).",
            ),
        ],
        close_for_dtype,
        expected=expected,
    )


check_transform_points = Exercise(
    "transform_points",
    transform_points,
    _points_cases,
    grad_wrt=(0, 1),
    diagnose=_diagnose_points,
    hint="append a 1 to every point, hom = torch.cat([points, torch.ones_like(points[..., :1])], dim=-1), "
    "then p' = θ · hom for each point; with points stored as rows that is hom @ theta.transpose(1, 2).",
).checker(
    """Check ``transform_points(theta, points)``: ``theta: (N, 2, 3)``, ``points: (N, P, 2)`` -> ``(N, P, 2)``.

    Compared with :func:`transform_points` (which agrees with ``F.affine_grid`` on pixel centres, see the
    lesson's tests), on the values and on the gradients with respect to both arguments.
    """
)


# ----------------------------------------------------------------------------- exercise 3: make theta


def _theta_cases() -> list[Case]:
    g = torch.Generator().manual_seed(3)

    def params(n: int, dtype: torch.dtype) -> tuple[Tensor, ...]:
        return tuple(part.to(dtype) for part in _random_parts(n, g))

    def t(*values: object) -> Tensor:
        return torch.tensor(values, dtype=torch.float32)

    # General cases first: there every usual mistake changes the values (not only the gradients), so the
    # report's first failing case comes with a diagnosis.
    return [
        Case("rotation 30°, scale (0.8, 0.5), shear 0.3, translation (0.2, -0.1)",
             (t(math.pi / 6), t([0.8, 0.5]), t(0.3), t([0.2, -0.1]))),
        Case("batch of 3, everything at once, float32", params(3, torch.float32)),
        Case("batch of 4, everything at once, float64", params(4, torch.float64)),
        Case("identity", (t(0.0), t([1.0, 1.0]), t(0.0), t([0.0, 0.0]))),
        Case("zoom in by 2 on the upper right", (t(0.0), t([0.5, 0.5]), t(0.0), t([0.5, -0.5]))),
        Case("a quarter turn only", (t(math.pi / 2), t([1.0, 1.0]), t(0.0), t([0.0, 0.0]))),
        Case("shear and a non-uniform scale", (t(0.0), t([0.5, 2.0]), t(0.4), t([0.0, 0.0]))),
    ]  # fmt: skip


def _diagnose_theta(case: Case, actual: object, expected: object) -> str | None:
    rotation, scale, shear, translation = case.args
    offset = translation.unsqueeze(-1)

    def theta(order: str = "RKS", sign: float = 1.0) -> Tensor:
        return torch.cat([_theta_from_parts(rotation, scale, shear, order, sign), offset], dim=-1)

    def translation_through_linear() -> Tensor:
        linear = _theta_from_parts(rotation, scale, shear, "RKS")
        return torch.cat([linear, linear @ offset], dim=-1)

    candidates: list[Candidate] = [
        (
            functools.partial(theta, sign=-1.0),
            "the rotation turns the wrong way: R(α) = [[cos α, -sin α], [sin α, cos α]] (the minus sign is in "
            "the first row).",
        ),
        (
            translation_through_linear,
            "the translation went through A as well; θ = [A | t] adds t after the linear part, unchanged.",
        ),
    ]
    candidates += [
        (
            functools.partial(theta, order),
            f"the factors are multiplied in the order {' @ '.join(order)}; this lesson (and "
            "stnlib.geometry.affine_theta) uses A = R @ K @ S: scale first, then shear, then rotate.",
        )
        for order in ("RSK", "KRS", "KSR", "SRK", "SKR")
    ]
    return first_matching_message(actual, candidates, close_for_dtype, expected=expected)


check_make_theta = Exercise(
    "make_theta",
    affine_theta,
    _theta_cases,
    grad_wrt=(0, 1, 2, 3),
    diagnose=_diagnose_theta,
    hint="build R = [[cos, -sin], [sin, cos]], K = [[1, k], [0, 1]] and S = diag(s_x, s_y) per batch item "
    "with torch.stack(...).view(-1, 2, 2) and torch.diag_embed(scale), multiply A = R @ K @ S, then "
    "torch.cat([A, translation.unsqueeze(-1)], dim=-1). Do not use torch.tensor([...]) on the "
    "parameters: it cuts the gradient.",
).checker(
    """Check ``make_theta(rotation, scale, shear, translation)`` -> ``theta: (N, 2, 3)``.

    ``rotation: (N,)`` radians, ``scale: (N, 2)`` = ``(s_x, s_y)``, ``shear: (N,)``, ``translation: (N, 2)``;
    ``theta = [R(rotation) @ K(shear) @ diag(scale) | translation]``. Compared with
    :func:`stnlib.geometry.affine_theta`, including the gradients with respect to every parameter (a
    localization network learns through them).
    """
)


# ---------------------------------------------------------------------------- exercise 4: composition


def _compose_cases() -> list[Case]:
    g = torch.Generator().manual_seed(4)
    # Both with a translation and b with a linear part other than I, so that "reversed order" and "translations
    # added" give different wrong answers (with A_b = I they coincide and no diagnosis could tell them apart).
    turn = affine_theta(rotation=torch.tensor([math.pi / 2]), translation=(0.0, 0.25))
    zoom = affine_theta(scale=0.5, translation=(0.5, 0.0))
    return [
        Case("a shifted quarter turn after a shifted zoom (the order matters)", (turn, zoom)),
        Case("the same two, the other way round", (zoom, turn)),
        Case(
            "batch of 3, float32",
            (near_identity_theta(3, g, torch.float32), near_identity_theta(3, g, torch.float32)),
        ),
        Case(
            "batch of 2, float64",
            (near_identity_theta(2, g, torch.float64), near_identity_theta(2, g, torch.float64)),
        ),
    ]


def _diagnose_compose(case: Case, actual: object, expected: object) -> str | None:
    theta_a, theta_b = case.args
    return first_matching_message(
        actual,
        [
            (
                lambda: compose_affine(theta_b, theta_a),
                "the order is reversed: compose_theta(theta_a, theta_b) applies theta_b to a point first and "
                "theta_a second, so its matrix is H(a) @ H(b) (the first map stands on the right).",
            ),
            (
                lambda: torch.cat(
                    [theta_a[:, :, :2] @ theta_b[:, :, :2], theta_a[:, :, 2:] + theta_b[:, :, 2:]], dim=-1
                ),
                "the translations were simply added: theta_b's translation also passes through theta_a's "
                "linear part, t = A_a t_b + t_a. Multiplying the 3x3 homogeneous matrices does this for you.",
            ),
        ],
        close_for_dtype,
        expected=expected,
    )


check_compose_theta = Exercise(
    "compose_theta",
    compose_affine,
    _compose_cases,
    grad_wrt=(0, 1),
    diagnose=_diagnose_compose,
    hint="make both 3x3 with a row (0, 0, 1) (stnlib.geometry.to_homogeneous), multiply H(a) @ H(b), and keep "
    "the first two rows.",
).checker(
    """Check ``compose_theta(theta_a, theta_b)``: the ``(N, 2, 3)`` map ``p -> theta_a(theta_b(p))``.

    Compared with :func:`stnlib.geometry.compose_affine`, values and gradients.
    """
)


# ------------------------------------------------------------------------------ exercise 5: inversion

#: What the inversion exercise asks the student to do by hand: these find an inverse (or solve a system) for them.
#: Reports name each ``owner.__name__ + "." + attribute``: ``torch.linalg.inv``, ``Tensor.inverse``.
_MATRIX_INVERTERS: dict[Any, tuple[str, ...]] = {
    torch.linalg: ("inv", "inv_ex", "solve", "solve_ex", "pinv", "lstsq"),
    torch: ("inverse", "pinverse"),
    torch.Tensor: ("inverse", "pinverse"),
}


class ClosedFormExpected(Exception):
    """Raised, during the inversion check only, by PyTorch's matrix inverters: the exercise asks for the closed
    form. Its name and message are what the check's report shows, next to the student's line that called one."""


@contextmanager
def _closed_form_only() -> Iterator[None]:
    """Replace PyTorch's matrix inverters and solvers by functions that raise :class:`ClosedFormExpected`, for as
    long as the block runs (the student's function only: the reference and the diagnoses run outside it)."""

    def refuse(name: str) -> Callable[..., NoReturn]:
        def refused(*args: object, **kwargs: object) -> NoReturn:
            raise ClosedFormExpected(
                f"{name} inverts the matrix for you, but this exercise asks you to write the inverse yourself, "
                "in closed form: A⁻¹ = adj(A) / det(A) with det(A) = a d - b c, and t' = -A⁻¹ t. (Outside this "
                "exercise, torch.linalg.solve is the right tool.)"
            )

        return refused

    originals = [
        (owner, attribute, getattr(owner, attribute))
        for owner, attributes in _MATRIX_INVERTERS.items()
        for attribute in attributes
    ]
    try:
        for owner, attribute, _ in originals:
            setattr(owner, attribute, refuse(f"{owner.__name__}.{attribute}"))
        yield
    finally:
        for owner, attribute, original in originals:
            setattr(owner, attribute, original)


def _invert_cases() -> list[Case]:
    g = torch.Generator().manual_seed(5)

    def mixed(n: int, dtype: torch.dtype) -> Tensor:  # rotations, shears, scales and mirrors, all at once
        return affine_theta(*_random_parts(n, g, mirrors=True)).to(dtype)

    # R(90°) @ shear 0.5 @ diag(0.8, 1.5), written out so that a is exactly 0. Every usual mistake changes the
    # *values* of this first case (so the report's first failure comes with its diagnosis), and a determinant
    # without its "- b c" is 0 here.
    quarter_turn_sheared = torch.tensor([[[0.0, -1.5, 0.3], [0.8, 0.75, -0.2]]])
    almost_parallel = torch.tensor([[[0.5, 0.49, 0.1], [0.5, 0.51, -0.2]]], dtype=torch.float64)
    return [
        Case("a quarter turn after a shear and a non-uniform scale (a = 0)", (quarter_turn_sheared,)),
        Case("zoom in by 2 on the upper right", (affine_theta(scale=0.5, translation=(0.5, -0.5)),)),
        Case("a quarter turn with a shift",
             (affine_theta(rotation=torch.tensor([math.pi / 2]), translation=(0.2, 0.1)),)),
        Case("a shear with a non-uniform scale",
             (affine_theta(scale=(0.5, 2.0), shear=0.8, translation=(0.0, 0.3)),)),
        Case("a mirror: x flipped and turned (det A < 0)",
             (affine_theta(rotation=torch.tensor([0.4]), scale=(-0.8, 1.2), translation=(0.3, -0.1)),)),
        Case("nearly singular: columns almost parallel, det A = 0.01, float64", (almost_parallel,)),
        Case("batch of 4 rotations, shears and mirrors, float32", (mixed(4, torch.float32),)),
        Case("batch of 3 rotations, shears and mirrors, float64", (mixed(3, torch.float64),)),
        Case("batch of 3 near the identity, float64", (near_identity_theta(3, g, torch.float64),)),
    ]  # fmt: skip


def _with_inverse_parts(
    theta: Tensor, adjugate: Callable[[Tensor, Tensor, Tensor, Tensor], list[Tensor]], divide: bool = True
) -> Tensor:
    """``[M | -M t]`` with ``M = adjugate(a, b, c, d) / det(A)`` (``* det(A)`` if not ``divide``): the closed
    form with a mistake in the adjugate or the determinant, for the diagnoses."""
    a, b, c, d = theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1]
    det = (a * d - b * c)[:, None, None]
    adj = torch.stack(adjugate(a, b, c, d), dim=-1).view(-1, 2, 2)
    linear = adj / det if divide else adj * det
    return torch.cat([linear, -linear @ theta[:, :, 2:]], dim=-1)


_WRONG_ADJUGATE = (
    "the adjugate is not right: for A = [[a, b], [c, d]] it is adj(A) = [[d, -b], [-c, a]] — swap the two "
    "diagonal entries, put a minus sign on the two off-diagonal ones and leave them in their places. Check it: "
    "A @ adj(A) must be det(A) times the identity."
)


def _diagnose_invert(case: Case, actual: object, expected: object) -> str | None:
    (theta,) = case.args
    linear, offset = theta[:, :, :2], theta[:, :, 2:]
    transposed = linear.transpose(1, 2)

    def inverse() -> Tensor:  # built only when a candidate needs it (inside first_matching_message's guard)
        return torch.linalg.inv(linear.double()).to(theta.dtype)

    message = first_matching_message(
        actual,
        [
            (
                lambda: torch.cat([inverse(), inverse() @ offset], dim=-1),
                "the translation has the wrong sign: undoing p' = A p + t gives p = A⁻¹ (p' - t) = A⁻¹ p' - A⁻¹ t, "
                "so the new translation is -A⁻¹ t, with a minus.",
            ),
            (
                lambda: torch.cat([inverse(), -offset], dim=-1),
                "the linear part is right, but the translation is not just -t: undoing p' = A p + t gives "
                "p = A⁻¹ (p' - t) = A⁻¹ p' - A⁻¹ t, so the shift must pass through A⁻¹ as well: t' = -A⁻¹ t.",
            ),
            (
                lambda: torch.cat([inverse(), offset], dim=-1),
                "the translation must be undone too: the inverse of [A | t] is [A⁻¹ | -A⁻¹ t].",
            ),
            (
                lambda: torch.cat([transposed, -transposed @ offset], dim=-1),
                "you transposed A instead of inverting it. Aᵀ = A⁻¹ holds only when A's columns are orthonormal "
                "— a pure rotation (or a rotation with a mirror) — which is why it works there; with a scale or "
                "a shear use the closed form adj(A) / det(A).",
            ),
            (
                lambda: torch.cat([transposed, -offset], dim=-1),
                "you transposed A instead of inverting it (Aᵀ = A⁻¹ only for pure rotations; use adj(A) / "
                "det(A)), and the translation must pass through the inverse: t' = -A⁻¹ t, not -t.",
            ),
            (
                lambda: _with_inverse_parts(theta, lambda a, b, c, d: [d, -b, -c, a], divide=False),
                "the determinant is in the wrong place: you multiplied the adjugate by det(A); the inverse "
                "divides by it, A⁻¹ = adj(A) / det(A).",
            ),
            (lambda: _with_inverse_parts(theta, lambda a, b, c, d: [d, b, c, a]), _WRONG_ADJUGATE),
            (lambda: _with_inverse_parts(theta, lambda a, b, c, d: [-d, b, c, -a]), _WRONG_ADJUGATE),
            (lambda: _with_inverse_parts(theta, lambda a, b, c, d: [d, -c, -b, a]), _WRONG_ADJUGATE),
            (lambda: _with_inverse_parts(theta, lambda a, b, c, d: [a, -b, -c, d]), _WRONG_ADJUGATE),
            (
                lambda: torch.cat([1 / linear, -offset], dim=-1),
                "a matrix is not inverted element by element: 1 / A is not A⁻¹. Use adj(A) / det(A).",
            ),
        ],
        close_for_dtype,
        expected=expected,
    )
    if message is None and isinstance(actual, Tensor) and not bool(torch.isfinite(actual).all()):
        det = float(torch.linalg.det(linear.double()).abs().min())
        message = (
            "your result contains inf or NaN: that is what dividing by a determinant of 0 gives. Every θ in this "
            f"check is invertible (here |det A| ≥ {det:.3g}), so the number you divide by is not det(A) = a d - b c "
            "where it is 0 — check which entries you multiply (theta[:, 0, 0] is a, theta[:, 0, 1] is b, "
            "theta[:, 1, 0] is c, theta[:, 1, 1] is d)."
        )
    return message


def _closed_form(student_fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """The student's function, run with PyTorch's matrix inverters switched off (:func:`_closed_form_only`)."""

    def invert_theta(theta: Tensor) -> Tensor:
        with _closed_form_only():
            return student_fn(theta)

    return invert_theta


check_invert_theta = Exercise(
    "invert_theta",
    invert_affine,
    _invert_cases,
    grad_wrt=(0,),
    diagnose=_diagnose_invert,
    hint="name the entries a, b, c, d = theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1]; "
    "det = a * d - b * c has shape (N,); A⁻¹ = torch.stack([d, -b, -c, a], dim=-1).view(-1, 2, 2) / "
    "det[:, None, None]; then t' = -A⁻¹ @ theta[:, :, 2:] and torch.cat([A⁻¹, t'], dim=-1).",
    # The runner switches PyTorch's inverters off for the student only: the reference calls torch.linalg.solve.
    runner=_closed_form,
    wrap_reference=False,
).checker(
    """Check ``invert_theta(theta)``: ``(N, 2, 3)`` -> the ``(N, 2, 3)`` map that undoes ``theta``, written in
    closed form, ``[adj(A) / det(A) | -A⁻¹ t]``.

    Compared with :func:`stnlib.geometry.invert_affine`, values and gradients. While the student's function runs,
    PyTorch's matrix inverters and solvers (``torch.linalg.inv``, ``torch.inverse``, ``torch.linalg.solve``, ...)
    raise :class:`ClosedFormExpected`, whose message asks for the closed form.
    """
)
