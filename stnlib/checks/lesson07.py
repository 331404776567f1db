"""Checkers for Lesson 07 — beyond affine: the thin-plate-spline (TPS) grid generator, built in three steps,
each compared with :mod:`stnlib.geometry.tps` on values and gradients.

* :func:`check_radial_basis` — the kernel ``U = r² log r²`` with ``U(0) = 0``, checked through points.
* :func:`check_tps_coefficients` — the solution ``(N, P + 3, 2)`` of the TPS linear system.
* :func:`check_tps_grid` — the spline at the output pixel centres, ``(N, H_out, W_out, 2)``.

Example (in the lesson)::

    checks.lesson07.check_tps_grid(tps_grid)
    tps_grid = checks.use_or_fallback(tps_grid, stnlib.geometry.tps_grid)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from stnlib import geometry
from stnlib.checks._core import (
    Case,
    Comparison,
    Exercise,
    Status,
    case_generator,
    compare_tensors,
    first_matching_message,
    tolerance_for,
)

__all__ = [
    "check_radial_basis",
    "check_tps_coefficients",
    "check_tps_grid",
    "radial_basis_of_points",
]


def _loose_tolerance(dtype: torch.dtype) -> tuple[float, float]:
    """Tolerances of the dtype, times 10: a linear solve loses a few digits to the system's condition number
    (about 230 for a 4x4 lattice), and a correct solution of another, equivalent form (the targets rather than
    the displacements, an LU of the whole batch) must pass."""
    atol, rtol = tolerance_for(dtype)
    return 10 * atol, 10 * rtol


def _close(actual: Any, candidate: Tensor) -> bool:
    """Whether ``actual`` equals ``candidate`` within :func:`_loose_tolerance`, in its dtype (NaN nowhere)."""
    if not isinstance(actual, Tensor) or actual.shape != candidate.shape or actual.dtype != candidate.dtype:
        return False
    actual, candidate = actual.detach().cpu(), candidate.detach().cpu()
    if not bool(torch.isfinite(actual).all()) or not bool(torch.isfinite(candidate).all()):
        return False
    atol, rtol = _loose_tolerance(candidate.dtype)
    return bool(torch.allclose(actual, candidate, atol=atol, rtol=rtol))


def _compare_loosely(actual: Any, expected: Tensor) -> Comparison:
    atol, rtol = _loose_tolerance(expected.dtype)
    return compare_tensors(actual, expected, atol=atol, rtol=rtol)


def _squared_distances(points: Tensor, centres: Tensor) -> Tensor:
    """``|p_m - c_i|²``: ``(N, M, 2)`` and ``(N, P, 2)`` -> ``(N, M, P)``, exactly 0 where ``p_m = c_i``."""
    return (points.unsqueeze(2) - centres.unsqueeze(1)).pow(2).sum(dim=-1)


_SCATTERED = [[-0.8, -0.6], [0.7, -0.9], [0.1, 0.2], [-0.5, 0.8], [0.9, 0.6]]
"""Five control points on no lattice, for the cases of the system and of the grid."""


def _jitter(points: Tensor, n: int, std: float, generator: torch.Generator) -> Tensor:
    """Random targets: ``n`` noisy copies of ``points``, ``(P, 2) -> (n, P, 2)`` in its dtype. The noise is drawn
    in float64 whatever that dtype, so the random numbers do not depend on it."""
    noise = std * torch.randn(n, *points.shape, generator=generator, dtype=torch.float64)
    return (points.double() + noise).to(points.dtype)


# ------------------------------------------------------------------------------ exercise 1: radial basis


def radial_basis_of_points(
    radial_basis: Callable[[Tensor], Tensor], points: Tensor, centres: Tensor
) -> Tensor:
    """``U(|p_m - c_i|²)`` for points ``(N, M, 2)`` and centres ``(N, P, 2)``, with any ``radial_basis``.

    This is how the spline uses the kernel, and how :func:`check_radial_basis` runs the student's function:
    the gradient that matters flows to the *points* (and control points), through ``r² = |p - c|²``.

    Returns:
        ``(N, M, P)``.
    """
    return radial_basis(_squared_distances(points, centres))


def _value_and_gradient(radial_basis: Callable[[Tensor], Tensor]) -> Callable[..., Any]:
    """Wrap ``radial_basis`` into ``run(points, centres) -> (U, dL/dpoints)``, ``L`` a fixed weighted sum of ``U``.

    Returning the gradient with the value makes a NaN gradient a wrong *answer* (with a diagnosis), not only a
    failed gradient comparison; the weights (seeded) make every element of ``U`` count differently.
    """

    @functools.wraps(radial_basis)
    def run(points: Tensor, centres: Tensor) -> tuple[Any, Tensor | None]:
        points = points.detach().requires_grad_(True)
        with torch.enable_grad():
            value = radial_basis_of_points(radial_basis, points, centres)
            if not isinstance(value, Tensor) or not value.requires_grad:
                return value, None
            weights = torch.rand(value.shape, generator=case_generator(7), dtype=torch.float64).to(value)
            (gradient,) = torch.autograd.grad((value * weights).sum(), points, allow_unused=True)
        return value.detach(), gradient

    return run


def _compare_value_and_gradient(actual: Any, expected: tuple[Tensor, Tensor]) -> Comparison:
    value, gradient = actual
    comparison = compare_tensors(value, expected[0], name="U (your result)")
    if not comparison.ok:
        return comparison
    if gradient is None:
        return Comparison(
            Status.FAILED,
            "no gradient flows from U back to r²: avoid .detach(), .item(), .numpy() and torch.tensor(...) on "
            "values computed from the input.",
        )
    return compare_tensors(gradient, expected[1], name="the gradient of U with respect to the points p")


def _radial_basis_cases() -> list[Case]:
    generator = case_generator(1)
    known_points = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, math.sqrt(math.e)], [2.0, 0.0], [0.6, 0.8]]])
    tiny = torch.tensor([[[1e-3, 0.0], [0.0, 1e-2], [0.1, 0.0]]], dtype=torch.float64)
    origin64 = torch.zeros(1, 1, 2, dtype=torch.float64)
    lattice9 = geometry.tps_control_points(3)[None]
    lattice25 = geometry.tps_control_points(5)[None]  # contains lattice9: 9 points with r² = 0 exactly
    scattered = torch.rand(2, 7, 2, generator=generator) * 2 - 1
    doubled = torch.rand(3, 6, 2, generator=generator, dtype=torch.float64) * 2 - 1
    centres64 = torch.cat([doubled[:, :2], torch.rand(3, 3, 2, generator=generator, dtype=torch.float64)], 1)

    def case(name: str, points: Tensor, centres: Tensor) -> Case:
        return Case(name, (), {"points": points, "centres": centres})

    return [
        case("r² = 0, 1, e, 4 and 1 (float64)", known_points.double(), origin64),
        case("a 5x5 grid of points against the 3x3 lattice (9 pairs with r = 0)", lattice25, lattice9),
        case("the 3x3 lattice against itself (the matrix K)", lattice9, lattice9),
        case("batch of 2, random points and centres", scattered, scattered[:, :4].flip(1) * 0.5),
        case("batch of 3, float64, two centres on top of points", doubled, centres64),
        case("tiny distances (r = 1e-3 .. 1e-1), float64", tiny, origin64),
    ]


def _diagnose_radial_basis(case: Case, actual: Any, expected: tuple[Tensor, Tensor]) -> str | None:
    value, gradient = actual
    if not isinstance(value, Tensor) or value.shape != expected[0].shape:
        return None
    squared = _squared_distances(case.kwargs["points"], case.kwargs["centres"])
    zero = squared == 0
    actual = value.detach()
    expected_value = expected[0]
    if bool(zero.any()) and bool(torch.isnan(actual[zero]).any()):
        return (
            "U(0) came out as NaN: at r² = 0 the formula is 0 · log 0 = 0 · (-inf), which is NaN in floating "
            "point. U tends to 0 as r -> 0, so set U(0) = 0 yourself: mask the points with r² = 0."
        )
    if _close(actual, expected_value) and isinstance(gradient, Tensor) and bool(torch.isnan(gradient).any()):
        return (
            "your values are right, but the gradient is NaN where r² = 0. torch.where(r2 > 0, r2 * "
            "torch.log(r2), 0) still evaluates log(0) = -inf in the branch it throws away, and autograd "
            "differentiates both branches: 0 · (1 / 0) = NaN (torch.xlogy and torch.nan_to_num have the same "
            "problem). Take the log of a safe value instead: safe = torch.where(r2 > 0, r2, "
            "torch.ones_like(r2)), then U = torch.where(r2 > 0, r2 * torch.log(safe), 0)."
        )
    safe = torch.where(zero, torch.ones_like(squared), squared)
    radius = safe.sqrt()

    def where_positive(values: Tensor) -> Tensor:
        return values.masked_fill(zero, 0.0)

    return first_matching_message(
        actual,
        [
            (
                lambda: expected_value / 2,
                "your values are half the expected ones: that is r² log r (the kernel as some books write "
                "it). This course, like stnlib, uses U = r² log r² = 2 r² log r; the factor 2 only rescales the "
                "weights w, but every function here must use the same kernel.",
            ),
            (
                lambda: where_positive(safe**2 * torch.log(safe**2)),
                "you squared the input again: the argument is already the squared distance r², so U = "
                "squared_distance * log(squared_distance).",
            ),
            (
                lambda: where_positive(radius * torch.log(radius)),
                "you took a square root: the argument is already r², and U = r² log r², not r log r.",
            ),
            (
                lambda: where_positive(radius * torch.log(safe)),
                "you used r · log r²: the factor in front of the log is r² itself (the argument), not its "
                "square root.",
            ),
            (
                lambda: -expected_value,
                "the sign is flipped: U = +r² log r², which is negative for 0 < r < 1 and positive beyond.",
            ),
            (
                lambda: where_positive(torch.log(safe)),
                "the factor r² in front of the log is missing: U = r² · log r².",
            ),
        ],
        _close,
    )


check_radial_basis = Exercise(
    "radial_basis",
    geometry.radial_basis,
    _radial_basis_cases,
    runner=_value_and_gradient,
    compare=_compare_value_and_gradient,
    diagnose=_diagnose_radial_basis,
    hint=(
        "the argument is the squared distance r², of any shape; return r² * log(r²) where r² > 0 and "
        "0 where r² = 0 — and never evaluate log(0), not even in a branch of torch.where that you "
        "throw away, or the gradient becomes NaN."
    ),
).checker(
    """Check ``radial_basis(squared_distance)``: ``U = r² log r²`` with ``U(0) = 0``, values and gradients.

    The checker builds ``r² = |p - c|²`` from points and centres (see :func:`radial_basis_of_points`),
    including pairs with ``r = 0`` exactly (a lattice point on itself: the diagonal of the matrix ``K``), and
    compares the values and the gradients with respect to the points with
    :func:`stnlib.geometry.radial_basis`. Any finite, correct value at ``r² = 0`` passes (a mask, a clamp, an
    ``eps``); a NaN value or a NaN gradient does not.
    """
)


# ------------------------------------------------------------------------ exercise 2: the linear system


def _tps_coefficients_cases() -> list[Case]:
    generator = case_generator(2)
    lattice4, lattice9, lattice16 = (geometry.tps_control_points(k) for k in (2, 3, 4))
    scattered = torch.tensor(_SCATTERED)
    theta = geometry.affine_theta(rotation=0.3, scale=(0.8, 1.1), translation=(0.1, -0.2))[0]
    affine_targets = (lattice16 @ theta[:, :2].T + theta[:, 2])[None]

    def case(name: str, control: Tensor, targets: Tensor) -> Case:
        return Case(name, (), {"control_points": control, "target_points": targets})

    return [
        case("3x3 lattice, random targets", lattice9, _jitter(lattice9, 1, 0.1, generator)),
        case("4x4 lattice (as in the E distortion), batch of 3", lattice16, _jitter(lattice16, 3, 0.1, generator)),
        case("4x4 lattice, affine targets (the spline does not bend: w = 0)", lattice16, affine_targets),
        case("5 scattered control points, batch of 2, float64", scattered.double(), _jitter(scattered.double(), 2, 0.2, generator)),
        case("3x3 lattice, large displacements, float64", lattice9.double(), _jitter(lattice9.double(), 1, 0.4, generator)),
        case("2x2 lattice, targets = control points (the identity)", lattice4, lattice4[None].clone()),
    ]  # fmt: skip


def _solve_system(control: Tensor, target: Tensor, kernel: Callable[[Tensor], Tensor]) -> Tensor:
    """A plain solve of ``[[K, Q], [Qᵀ, 0]] [w; a] = [t; 0]`` with another kernel (the usual wrong ones);
    ``control: (P, 2)``, ``target: (N, P, 2)``."""
    q = torch.cat([torch.ones_like(control[:, :1]), control], dim=1)
    k = kernel(_squared_distances(control[None], control[None])[0])
    system = torch.cat([torch.cat([k, q], 1), torch.cat([q.T, q.new_zeros(3, 3)], 1)], 0)
    rhs = torch.cat([target, target.new_zeros(target.shape[0], 3, 2)], dim=1)
    return torch.linalg.solve(system, rhs)


def _diagnose_tps_coefficients(case: Case, actual: Any, expected: Tensor) -> str | None:
    if not isinstance(actual, Tensor):
        return None
    control, target = case.kwargs["control_points"], case.kwargs["target_points"]
    n, count = target.shape[:2]
    shape = tuple(actual.shape)
    if shape == (n, 2, count + 3):
        return (
            "your coefficients are transposed: return (N, P + 3, 2), one column per output coordinate (x, y) — "
            "solve with the right-hand side [t; 0] of shape (N, P + 3, 2), not (N, 2, P + 3)."
        )
    if shape == (n, count, 2):
        return (
            "the affine part is missing: besides the P weights w the spline has 3 coefficients a = (a_0, a_x, "
            "a_y) per coordinate. Append the columns Q = (1, x_i, y_i) to K, the rows Qᵀ with a 3x3 zero block "
            "below, and 3 zero rows to the right-hand side: the result has P + 3 rows."
        )
    if shape != tuple(expected.shape):
        return None
    weights, affine = expected[:, :count], expected[:, count:]
    identity = torch.zeros_like(expected)
    identity[:, count + 1, 0] = 1
    identity[:, count + 2, 1] = 1
    return first_matching_message(
        actual,
        [
            (
                lambda: torch.cat([affine, weights], dim=1),
                "the rows are in the wrong order: the weights w_1 .. w_P come first, then a_0, a_x, a_y — "
                "order the unknowns [w; a] as in [[K, Q], [Qᵀ, 0]] [w; a] = [t; 0].",
            ),
            (
                lambda: torch.cat([weights, affine[:, [1, 2, 0]]], dim=1),
                "the affine columns are in the wrong order: each row of Q is (1, x_i, y_i), so the last three "
                "coefficients are a_0 (the constant), a_x, a_y.",
            ),
            (
                lambda: expected - identity,
                "these are the coefficients of the displacement t - c, not of the map itself: either solve for "
                "the targets t directly, or add the identity afterwards (a_x = (1, 0), a_y = (0, 1)).",
            ),
            (
                lambda: _solve_system(control, target, lambda d: geometry.radial_basis(d.sqrt())),
                "K must hold U of the SQUARED distance: torch.cdist returns r, not r². Square it, or sum the "
                "squared coordinate differences.",
            ),
            (
                lambda: _solve_system(control, target, lambda d: geometry.radial_basis(d.pow(2))),
                "K holds U of r⁴: you squared distances that were already squared.",
            ),
            (
                lambda: torch.cat(
                    [
                        torch.linalg.solve(
                            geometry.radial_basis(_squared_distances(control[None], control[None])), target
                        ),
                        torch.zeros_like(affine),
                    ],
                    dim=1,
                ),
                "the affine part is missing: with K w = t alone the spline cannot even represent a shift. Add "
                "the columns Q = (1, x_i, y_i) and the side conditions Qᵀ w = 0.",
            ),
        ],
        _close,
    )


check_tps_coefficients = Exercise(
    "tps_coefficients",
    geometry.tps_coefficients,
    _tps_coefficients_cases,
    grad_wrt=("target_points",),
    compare=_compare_loosely,
    diagnose=_diagnose_tps_coefficients,
    hint=(
        "K = radial_basis of the (P, P) squared distances between control points; Q = (P, 3) rows (1, x, "
        "y); L = [[K, Q], [Qᵀ, 0]] is (P + 3, P + 3); the right-hand side stacks the targets (N, P, 2) over "
        "zeros (N, 3, 2); torch.linalg.solve(L, rhs) broadcasts L over the batch."
    ),
).checker(
    """Check ``tps_coefficients(control_points, target_points)``: the solution of the TPS system.

    Compared with :func:`stnlib.geometry.tps_coefficients`: values and the gradients with respect to
    ``target_points``. An explicit inverse gives the same numbers here and passes; the lesson explains why
    ``torch.linalg.solve`` is still the better choice.
    """
)


# --------------------------------------------------------------------------------- exercise 3: the grid


def _tps_grid_cases() -> list[Case]:
    generator = case_generator(3)
    lattice9, lattice16 = geometry.tps_control_points(3), geometry.tps_control_points(4)
    scattered = torch.tensor(_SCATTERED, dtype=torch.float64)

    def case(name: str, control: Tensor, std: float, size: tuple[int, ...], align_corners: bool) -> Case:
        """Targets: the control points moved by noise of ``std``, one set per item of the batch (none if 0)."""
        targets = _jitter(control, size[0], std, generator) if std else control[None].clone()
        kwargs = dict(target_points=targets, size=size, control_points=control, align_corners=align_corners)
        return Case(name, (), kwargs)

    return [
        case("3x3 lattice, random targets, 6x5 output, align_corners=False", lattice9, 0.15, (1, 1, 6, 5), False),
        case("3x3 lattice, random targets, 6x5 output, align_corners=True", lattice9, 0.15, (1, 1, 6, 5), True),
        case("4x4 lattice, batch of 3, 12x12 output", lattice16, 0.1, (3, 1, 12, 12), False),
        case("5 scattered control points, batch of 2, float64, 4x9 output", scattered, 0.2, (2, 3, 4, 9), True),
        case("identity targets, 4x4 lattice, 5x7 output (H != W)", lattice16, 0.0, (1, 1, 5, 7), False),
    ]  # fmt: skip


def _diagnose_tps_grid(case: Case, actual: Any, expected: Tensor) -> str | None:
    if not isinstance(actual, Tensor):
        return None
    target, size = case.kwargs["target_points"], case.kwargs["size"]
    control, align_corners = case.kwargs["control_points"], bool(case.kwargs["align_corners"])
    n, _, height, width = size
    if height != width and tuple(actual.shape) == (n, width, height, 2):
        return (
            "height and width are swapped: size is (N, C, H_out, W_out) and the grid is (N, H_out, W_out, 2)."
        )
    if tuple(actual.shape) != tuple(expected.shape):
        return None
    coefficients = geometry.tps_coefficients(control, target)
    count = control.shape[0]
    pixels = geometry.base_grid(height, width, align_corners, dtype=target.dtype)[..., :2].reshape(1, -1, 2)

    def parts(points: Tensor, kernel: Callable[[Tensor], Tensor] = geometry.radial_basis) -> list[Tensor]:
        """The radial and the affine part of the spline at ``points: (1, H*W, 2)``, each ``(N, H, W, 2)``."""
        radial = kernel(_squared_distances(points, control[None])) @ coefficients[:, :count]
        affine = torch.cat([torch.ones_like(points[..., :1]), points], -1) @ coefficients[:, count:]
        return [part.view(n, height, width, 2) for part in (radial, affine)]

    def spline(points: Tensor, kernel: Callable[[Tensor], Tensor] = geometry.radial_basis) -> Tensor:
        radial, affine = parts(points, kernel)
        return radial + affine

    radial, affine = parts(pixels)
    base = pixels.view(1, height, width, 2)

    return first_matching_message(
        actual,
        [
            (
                lambda: geometry.tps_grid(target, size, control, align_corners=not align_corners),
                f"this is the grid for align_corners={not align_corners}: evaluate the spline at the output "
                f"pixel centres of geometry.base_grid(H, W, align_corners={align_corners}).",
            ),
            (
                lambda: expected.flip(-1),
                "x and y are swapped in the result: the last dimension must be (x_s, y_s), the first column of "
                "the coefficients first.",
            ),
            (
                lambda: affine,
                "only the affine part a_0 + a_x x + a_y y is there: add the radial part, sum_i w_i U(|p - c_i|²) "
                "over the control points.",
            ),
            (
                lambda: radial,
                "the affine part is missing: f(p) = a_0 + a_x x + a_y y + sum_i w_i U(|p - c_i|²); the last "
                "three coefficients multiply (1, x, y).",
            ),
            (
                lambda: radial + affine - base,
                "this is the displacement f(p) - p: the grid holds the sampling positions f(p) themselves.",
            ),
            (
                lambda: spline(pixels, lambda d: geometry.radial_basis(d.sqrt())),
                "the kernel must be U of the SQUARED distance |p - c_i|²: torch.cdist gives r, not r².",
            ),
            (
                lambda: spline(pixels.flip(-1)),
                "your base-grid points are (y, x): the first coordinate of each point is x (along the width). "
                "Take geometry.base_grid(H, W, align_corners)[..., :2] as it is.",
            ),
        ],
        _close,
    )


check_tps_grid = Exercise(
    "tps_grid",
    geometry.tps_grid,
    _tps_grid_cases,
    grad_wrt=("target_points",),
    compare=_compare_loosely,
    diagnose=_diagnose_tps_grid,
    hint=(
        "coefficients from tps_coefficients (N, P + 3, 2); points p = the (H*W, 2) output pixel centres "
        "(base_grid without its 1); f(p) = U(|p - c|²) @ w + [1, x, y] @ a, with U an (H*W, P) matrix; "
        "reshape (N, H*W, 2) to (N, H_out, W_out, 2)."
    ),
).checker(
    """Check ``tps_grid(target_points, size, control_points, align_corners=False)``: the TPS sampling grid.

    Compared with :func:`stnlib.geometry.tps_grid`: values and the gradients with respect to ``target_points``.
    """
)
