"""Thin-plate splines (TPS): a smooth, non-rigid warp fixed by where a few control points go.

The paper's "TPS" spatial transformers regress the input positions of a ``K x K`` lattice of control points
(paper Sec. 3, grid generator; the course's elastic "E" distortion uses the same machinery). Given control
points ``c_i`` (in the output) and their targets ``t_i`` (in the input), the thin-plate spline

    f(p) = a_0 + a_x x + a_y y + Σ_i w_i U(|p - c_i|²),      U(r²) = r² log r²

is the smoothest map (least bending energy) with ``f(c_i) = t_i``. Its coefficients solve one linear system
(:func:`tps_coefficients`), with both coordinates handled as two right-hand sides. Like every grid here, ``f``
maps **output** normalised coordinates to **input** normalised coordinates, ``(x, y)`` in the last dimension.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from stnlib._validation import Dims, check_device, check_same_device, check_size, check_tensor
from stnlib.geometry.affine import base_grid

__all__ = [
    "identity_tps",
    "radial_basis",
    "tps_coefficients",
    "tps_control_points",
    "tps_grid",
    "tps_transform",
]


def tps_control_points(
    grid_size: int = 4, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """A ``grid_size x grid_size`` lattice over [-1, 1]², row by row (x varies fastest).

    Returns:
        ``(K * K, 2)`` points ``(x, y)``.

    Example:
        >>> tps_control_points(2)
        tensor([[-1., -1.],
                [ 1., -1.],
                [-1.,  1.],
                [ 1.,  1.]])
    """
    (size,) = check_size((grid_size,), "grid_size", "K")
    if size < 2:
        raise ValueError(
            f"grid_size must be at least 2 (a TPS needs 3 non-collinear points); got {grid_size}"
        )
    axis = torch.linspace(-1.0, 1.0, size, device=check_device(device, allow_none=True), dtype=dtype)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xs, ys], dim=-1).view(size * size, 2)


def identity_tps(
    batch_size: int,
    grid_size: int = 4,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``(N, K * K, 2)`` targets equal to the control points: the TPS of the identity map."""
    check_size((batch_size,), "batch_size", "N")
    points = tps_control_points(grid_size, device=device, dtype=dtype)
    return points.expand(batch_size, *points.shape).clone()


def radial_basis(squared_distance: Tensor) -> Tensor:
    """The TPS kernel ``U = r² log r²`` of a squared distance ``r²``, with ``U(0) = 0``.

    ``r² log r²`` tends to 0 as ``r -> 0``, but evaluating it at 0 gives ``0 * -inf = NaN``, and so does its
    gradient. Both branches of a ``torch.where`` are differentiated, so the log is taken of a safe value (1)
    wherever ``r² <= 0``: value and gradient are then exactly 0 there, never NaN.

    Args:
        squared_distance: any shape, ``r² >= 0`` (values ``<= 0`` count as 0).

    Returns:
        Same shape as ``squared_distance``.

    Example:
        >>> radial_basis(torch.tensor([0.0, 1.0, math.e]))
        tensor([0.0000, 0.0000, 2.7183])
    """
    check_tensor(squared_distance, "squared_distance", "...")
    positive = squared_distance > 0
    safe = torch.where(positive, squared_distance, torch.ones_like(squared_distance))
    return torch.where(positive, safe * torch.log(safe), torch.zeros_like(squared_distance))


def _kernel(points: Tensor, control_points: Tensor) -> Tensor:
    """``U(|p_m - c_i|²)``: ``(N, M, 2)`` and ``(N, P, 2)`` -> ``(N, M, P)``; differences, not the expanded
    ``|p|² + |c|² - 2 p·c``, so that ``r²`` is exactly 0 at the control points."""
    squared = (points.unsqueeze(2) - control_points.unsqueeze(1)).pow(2).sum(dim=-1)
    return radial_basis(squared)


def _with_ones(points: Tensor) -> Tensor:
    """``(..., M, 2)`` -> ``(..., M, 3)`` rows ``(1, x, y)``, the affine part of the spline."""
    return torch.cat([torch.ones_like(points[..., :1]), points], dim=-1)


def _batched_control_points(control_points: Tensor, dims: Dims) -> Tensor:
    """Accept shared ``(P, 2)`` or per-item ``(N, P, 2)`` control points; return ``(N or 1, P, 2)``."""
    if isinstance(control_points, Tensor) and control_points.ndim == 2:
        check_tensor(control_points, "control_points", "P 2", dims, finite=True)
        return control_points.unsqueeze(0)
    check_tensor(control_points, "control_points", "N P 2", dims, finite=True)
    return control_points


def tps_coefficients(control_points: Tensor, target_points: Tensor) -> Tensor:
    """Solve for the spline that maps each control point onto its target.

    With ``K_ij = U(|c_i - c_j|²)`` and ``Q`` the ``(P, 3)`` rows ``(1, x_i, y_i)``, the coefficients solve

        [[K, Q], [Qᵀ, 0]] [w; a] = [t; 0]

    (``P`` interpolation conditions, plus 3 conditions that keep the radial part free of affine terms). The
    system is solved with ``torch.linalg.solve``, never by inverting it, and for the *displacement*
    ``t - c`` — the identity is added to ``a`` afterwards — so zero displacement gives the identity exactly.

    Args:
        control_points: ``(P, 2)`` shared by the batch, or ``(N, P, 2)``.
        target_points: ``(N, P, 2)`` where each control point should map to.

    Returns:
        ``(N, P + 3, 2)``: rows ``0 .. P-1`` are the weights ``w``, the last 3 rows ``a`` for ``(1, x, y)``.

    Raises:
        ValueError: the system is singular (repeated control points, or all of them on one line).
    """
    dims = check_tensor(target_points, "target_points", "N P 2", finite=True)
    control = _batched_control_points(control_points, dims)
    check_same_device(target_points, "target_points", control, "control_points")
    count = dims["P"]
    affine_rows = _with_ones(control)  # (N or 1, P, 3)
    top = torch.cat([_kernel(control, control), affine_rows], dim=2)
    bottom = torch.cat([affine_rows.transpose(1, 2), affine_rows.new_zeros(control.shape[0], 3, 3)], dim=2)
    system = torch.cat([top, bottom], dim=1)  # (N or 1, P + 3, P + 3)
    displacement = torch.cat([target_points - control, target_points.new_zeros(dims["N"], 3, 2)], dim=1)
    coefficients, info = torch.linalg.solve_ex(system, displacement)
    if bool((info != 0).any()) or not bool(torch.isfinite(coefficients).all()):
        raise ValueError(
            "the TPS system is singular: control_points must be distinct and not all on one line "
            f"(got {count} points). The default tps_control_points(K) lattice always works."
        )
    identity = torch.zeros(count + 3, 2, device=control.device, dtype=control.dtype)
    identity[count + 1, 0] = 1  # x coefficient of the x output
    identity[count + 2, 1] = 1  # y coefficient of the y output
    return coefficients + identity


def tps_transform(points: Tensor, control_points: Tensor, coefficients: Tensor) -> Tensor:
    """Evaluate the spline ``f(p) = a_0 + a_x x + a_y y + Σ_i w_i U(|p - c_i|²)`` at ``points``.

    Args:
        points: ``(N, M, 2)``.
        control_points: ``(P, 2)`` or ``(N, P, 2)``, the ones used in :func:`tps_coefficients`.
        coefficients: ``(N, P + 3, 2)`` from :func:`tps_coefficients`.

    Returns:
        ``(N, M, 2)`` mapped points.
    """
    dims = check_tensor(points, "points", "N M 2", finite=True)
    control = _batched_control_points(control_points, dims)
    check_tensor(coefficients, "coefficients", "N P_plus_3 2", dims, finite=True)
    if dims["P_plus_3"] != dims["P"] + 3:
        raise ValueError(
            f"coefficients must have P + 3 = {dims['P'] + 3} rows for the {dims['P']} points of control_points; "
            f"got {dims['P_plus_3']}. Pass the control points used to compute the coefficients."
        )
    check_same_device(points, "points", control, "control_points")
    check_same_device(points, "points", coefficients, "coefficients")
    return _evaluate(points, control, coefficients)


def _evaluate(points: Tensor, control: Tensor, coefficients: Tensor) -> Tensor:
    """The spline at ``points: (N or 1, M, 2)`` for ``control: (N or 1, P, 2)``; batch dims broadcast, so a
    grid and control lattice shared by the batch build the ``(M, P)`` kernel once, not ``N`` times."""
    count = control.shape[1]
    weights, affine = coefficients[:, :count], coefficients[:, count:]
    return _kernel(points, control) @ weights + _with_ones(points) @ affine


def tps_grid(
    target_points: Tensor,
    size: Sequence[int],
    control_points: Tensor | None = None,
    align_corners: bool = False,
) -> Tensor:
    """Sampling grid of a thin-plate spline: output control point ``i`` samples the input at ``target_points[i]``.

    Args:
        target_points: ``(N, P, 2)`` input positions, normalised, ``(x, y)`` last — what a TPS localization
            network regresses.
        size: the **output** size ``(N, C, H_out, W_out)``.
        control_points: ``(P, 2)`` or ``(N, P, 2)`` in output normalised coordinates; by default the
            ``sqrt(P) x sqrt(P)`` lattice of :func:`tps_control_points`.
        align_corners: the convention of :mod:`stnlib.geometry.coords` for the output pixel centres.

    Returns:
        ``grid: (N, H_out, W_out, 2)``. With ``target_points == control_points`` it is the identity grid.

    Raises:
        ValueError: ``P`` is not a square number and no ``control_points`` were given.
    """
    dims = check_tensor(target_points, "target_points", "N P 2", finite=True)
    n, _, height, width = check_size(size, "size", "N C H_out W_out", dims)
    if control_points is None:
        side = math.isqrt(dims["P"])
        if side * side != dims["P"]:
            raise ValueError(
                f"target_points has P={dims['P']} points, which is not a square number, so there is no default "
                "K x K lattice of control points; pass control_points explicitly or use K*K targets "
                "(e.g. identity_tps(N, grid_size=4) has 16)."
            )
        control_points = tps_control_points(side, device=target_points.device, dtype=target_points.dtype)
    coefficients = tps_coefficients(control_points, target_points)
    pixels = base_grid(height, width, align_corners, device=target_points.device, dtype=target_points.dtype)
    points = pixels[..., :2].reshape(1, height * width, 2)  # shared by the batch
    control = control_points if control_points.ndim == 3 else control_points.unsqueeze(0)
    return _evaluate(points, control, coefficients).expand(n, -1, -1).reshape(n, height, width, 2)
