"""Checkers for Lesson 02 — the grid generator (Sec. 3.2 of the paper: eqs. 1 and 2, and homographies).

Each student function is compared with :mod:`stnlib.geometry` (and with PyTorch's own function where there is
one):

* :func:`check_base_grid` — the homogeneous output pixel centres ``(x_t, y_t, 1)``, shape ``(H, W, 3)``.
* :func:`check_affine_grid` — eq. (1) for a batch, ``(N, H_out, W_out, 2)``.
* :func:`check_attention_theta` — eq. (2), ``(N, 3) -> (N, 2, 3)``.
* :func:`check_projective_grid` — the homography ``H = I + [p0 .. p7, 0]``, then the perspective divide.

Example (in the lesson)::

    checks.lesson02.check_affine_grid(affine_grid)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from stnlib import geometry
from stnlib.checks._core import (
    Case,
    Exercise,
    case_generator,
    first_matching_message,
    near_identity_theta,
    tolerance_for,
)

__all__ = [
    "check_affine_grid",
    "check_attention_theta",
    "check_base_grid",
    "check_projective_grid",
    "torch_base_grid",
]


def _close(actual: Any, candidate: Tensor) -> bool:
    """Whether ``actual`` equals ``candidate`` up to the dtype's tolerance (shape and dtype included).

    Non-finite entries (a division by zero) must sit at the same places; their signs are not compared, since
    the sign of a zero, and so of the infinity it produces, depends on the order of the arithmetic.
    """
    if not isinstance(actual, Tensor) or actual.shape != candidate.shape or actual.dtype != candidate.dtype:
        return False
    actual, candidate = actual.detach().cpu(), candidate.detach().cpu()
    finite = torch.isfinite(candidate)
    if not torch.equal(torch.isfinite(actual), finite):
        return False
    atol, rtol = tolerance_for(candidate.dtype)
    return bool(torch.allclose(actual[finite], candidate[finite], atol=10 * atol, rtol=10 * rtol))


_OFF, _ON = {"align_corners": False}, {"align_corners": True}

_BASE_GRID_XY_SWAPPED = (
    "your base grid has x and y swapped: its entries must be (x_t, y_t, 1), x along the width."
)


def _other_convention(align_corners: bool) -> str:
    return (
        f"this is the align_corners={not align_corners} grid: build the base grid with "
        f"align_corners={align_corners}, the value you were given."
    )


# ------------------------------------------------------------------------------------------------ base grid


def torch_base_grid(
    height: int,
    width: int,
    align_corners: bool = False,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """PyTorch's own base grid: ``F.affine_grid`` of the identity, with the homogeneous 1 appended.

    Returns:
        ``(H, W, 3)``, the same as :func:`stnlib.geometry.base_grid`.
    """
    identity = torch.eye(2, 3, device=device, dtype=dtype)[None]
    grid = F.affine_grid(identity, [1, 1, height, width], align_corners=align_corners)[0]
    return torch.cat([grid, torch.ones_like(grid[..., :1])], dim=-1)


def _base_grid_cases() -> list[Case]:
    float64 = {"dtype": torch.float64}
    return [
        Case("4x4, align_corners=False", (4, 4), _OFF),
        Case("3x5 (H != W), align_corners=False", (3, 5), _OFF),
        Case("3x5 (H != W), align_corners=True", (3, 5), _ON),
        Case("one row, 1x4, align_corners=False", (1, 4), _OFF),
        Case("7x2, align_corners=True, float64", (7, 2), {**_ON, **float64}),
        Case("6x9, align_corners=False, float64", (6, 9), {**_OFF, **float64}),
    ]


def _diagnose_base_grid(case: Case, actual: Any, expected: Tensor) -> str | None:
    if not isinstance(actual, Tensor):
        return None
    height, width = case.args
    align_corners = bool(case.kwargs.get("align_corners", False))
    dtype = case.kwargs.get("dtype", torch.float32)
    if tuple(actual.shape) == (height, width, 2):
        return (
            "the homogeneous 1 is missing: each entry must be (x_t, y_t, 1), so that one matrix product can "
            "also add the translation column of theta."
        )
    if height != width and tuple(actual.shape) == (width, height, 3):
        return (
            "height and width are swapped: the grid is indexed [row, column] = (H, W). With "
            "torch.meshgrid(ys, xs, indexing='ij') the first tensor (ys, H values) runs down the rows."
        )
    return first_matching_message(
        actual,
        [
            (
                lambda: geometry.base_grid(height, width, not align_corners, dtype=dtype),
                f"this is the align_corners={not align_corners} grid. With align_corners={align_corners} "
                + (
                    "-1 and +1 are the centres of the first and last pixels: x_j = 2 j / (W - 1) - 1."
                    if align_corners
                    else "-1 and +1 are the outer edges of the image, so centres sit half a pixel inside: "
                    "x_j = (2 j + 1) / W - 1 (torch.linspace(-1, 1, W) gives the other convention)."
                ),
            ),
            (
                lambda: expected[..., [1, 0, 2]],
                "x and y (or rows and columns) are swapped: entry [i, j] must be "
                "(x of column j, y of row i, 1); x runs along the width, y along the height.",
            ),
            (
                lambda: expected[..., [2, 0, 1]],
                "the 1 must come last: each entry is (x_t, y_t, 1), not (1, x_t, y_t).",
            ),
        ],
        _close,
        expected=expected,
    )


check_base_grid = Exercise(
    "base_grid",
    geometry.base_grid,
    _base_grid_cases,
    torch_fn=torch_base_grid,
    diagnose=_diagnose_base_grid,
    hint=(
        "entry [i, j] is (x_j, y_i, 1): x_j is the normalised centre of column j (W columns), y_i that "
        "of row i (H rows), with the align_corners convention you were given; the 1 comes last."
    ),
).checker(
    """Check ``base_grid(height, width, align_corners=False, *, device=None, dtype=torch.float32)``.

    Compared with :func:`stnlib.geometry.base_grid` and with :func:`torch_base_grid` (``F.affine_grid`` of
    the identity, plus the homogeneous 1).
    """
)


# ---------------------------------------------------------------------------------------------- affine grid


def _affine_grid_cases() -> list[Case]:
    generator = case_generator()
    turned = geometry.affine_theta(rotation=0.5, scale=(0.8, 1.2), translation=(0.1, -0.2))
    return [
        Case("rotation, scale, shift; 5x7 (H != W), align_corners=False", (turned, (1, 1, 5, 7)), _OFF),
        Case("rotation, scale, shift; 5x7 (H != W), align_corners=True", (turned, (1, 1, 5, 7)), _ON),
        Case("identity, 4x4, align_corners=False", (geometry.identity_affine(1), (1, 1, 4, 4)), _OFF),
        Case(
            "batch of 3 random thetas, 6x4, align_corners=True",
            (near_identity_theta(3, generator), (3, 2, 6, 4)),
            _ON,
        ),
        Case(
            "batch of 2, float64, 3x8", (near_identity_theta(2, generator, torch.float64), (2, 1, 3, 8)), _OFF
        ),
        Case(
            "output 30x30 (for a 60x60 input), batch of 2",
            (near_identity_theta(2, generator), (2, 1, 30, 30)),
            _OFF,
        ),
    ]


def _with_linear(theta: Tensor, linear: Tensor) -> Tensor:
    return torch.cat([linear, theta[:, :, 2:]], dim=-1)


def _diagnose_affine_grid(case: Case, actual: Any, expected: Tensor) -> str | None:
    if not isinstance(actual, Tensor):
        return None
    theta, size = case.args
    align_corners = bool(case.kwargs.get("align_corners", False))
    n, _, height, width = size
    if height != width and tuple(actual.shape) == (n, width, height, 2):
        return "height and width are swapped: size is (N, C, H_out, W_out) and the grid (N, H_out, W_out, 2)."
    if tuple(actual.shape) == (n, height, width, 3):
        return (
            "the result still holds a third coordinate: keep only (x_s, y_s) = A_theta (x_t, y_t, 1), "
            "a (2, 3) matrix times each point."
        )
    linear, offset = theta[:, :, :2], theta[:, :, 2:]

    def grid(t: Tensor, corners: bool = align_corners) -> Tensor:
        return geometry.affine_grid(t, size, corners)

    return first_matching_message(
        actual,
        [
            (lambda: grid(theta, not align_corners), _other_convention(align_corners)),
            (
                lambda: expected.flip(-1),
                "x and y are swapped in the result: the last dimension must be (x_s, y_s), the first row of "
                "A_theta times (x_t, y_t, 1) first.",
            ),
            (
                lambda: grid(_with_linear(theta, linear.transpose(1, 2))),
                "you multiplied by the transpose of A: (x_s, y_s) = A (x_t, y_t) + t, so with points as rows "
                "compute points @ theta.transpose(1, 2), not points @ theta[:, :, :2].",
            ),
            (lambda: grid(_with_linear(theta, linear.flip(-1))), _BASE_GRID_XY_SWAPPED),
            (
                lambda: grid(torch.cat([linear, torch.zeros_like(offset)], dim=-1)),
                "the translation is missing: the third column of theta multiplies the homogeneous 1 of "
                "(x_t, y_t, 1); did the base grid lose its 1?",
            ),
            (
                lambda: expected.reshape(n, height * width, 2).transpose(1, 2).reshape(n, height, width, 2),
                "the numbers are right but in the wrong places: a (N, 2, H*W) product was reshaped directly "
                "to (N, H, W, 2). Transpose it to (N, H*W, 2) first, or multiply points @ "
                "theta.transpose(1, 2).",
            ),
        ],
        _close,
        expected=expected,
    )


check_affine_grid = Exercise(
    "affine_grid",
    geometry.affine_grid,
    _affine_grid_cases,
    torch_fn=F.affine_grid,
    grad_wrt=(0,),
    diagnose=_diagnose_affine_grid,
    hint=(
        "take the (H_out, W_out, 3) base grid, flatten it to (H*W, 3) points, multiply every point by "
        "theta's transpose in one batched product (1, H*W, 3) @ (N, 3, 2) -> (N, H*W, 2), reshape to "
        "(N, H_out, W_out, 2); size is the OUTPUT size (N, C, H_out, W_out)."
    ),
).checker(
    """Check ``affine_grid(theta, size, align_corners=False)``, eq. (1), values and gradients.

    Compared with :func:`stnlib.geometry.affine_grid` and ``torch.nn.functional.affine_grid``.
    """
)


# ----------------------------------------------------------------------------------------- attention theta


def _attention_cases() -> list[Case]:
    generator = case_generator()
    windows = torch.stack(
        [
            0.3 + 0.6 * torch.rand(4, generator=generator, dtype=torch.float64),
            torch.rand(4, generator=generator, dtype=torch.float64) - 0.5,
            torch.rand(4, generator=generator, dtype=torch.float64) - 0.5,
        ],
        dim=1,
    )
    return [
        Case("one window (0.5, 0.2, -0.3)", (torch.tensor([[0.5, 0.2, -0.3]]),)),
        Case("the whole image (s, t_x, t_y) = (1, 0, 0)", (geometry.identity_attention(1),)),
        Case("batch of 4 random windows", (windows.float(),)),
        Case("batch of 2, float64", (windows[:2].clone(),)),
    ]


def _diagnose_attention(case: Case, actual: Any, expected: Tensor) -> str | None:
    if not isinstance(actual, Tensor):
        return None
    (params,) = case.args
    n = params.shape[0]
    if tuple(actual.shape) == (n, 3, 2):
        return "this is the transpose of theta: it has 2 rows (x_s and y_s) and 3 columns (x_t, y_t, 1)."
    if tuple(actual.shape) == (2, 3) and n == 1:
        return "keep the batch dimension: params (N, 3) gives theta (N, 2, 3), here (1, 2, 3)."
    scale, tx, ty = params.unbind(-1)
    zero = torch.zeros_like(scale)

    def theta(*entries: Tensor) -> Tensor:
        return torch.stack(entries, dim=-1).view(n, 2, 3)

    return first_matching_message(
        actual,
        [
            (
                lambda: theta(scale, zero, ty, zero, scale, tx),
                "t_x and t_y are swapped: t_x shifts x, so it belongs in the first row, t_y in the second.",
            ),
            (
                lambda: theta(scale, tx, zero, ty, scale, zero),
                "the translation is in the wrong column: it belongs in the last column, the one that "
                "multiplies the homogeneous 1 of (x_t, y_t, 1).",
            ),
            (
                lambda: theta(scale, zero, zero, zero, scale, zero),
                "the translation (t_x, t_y) is missing from the last column.",
            ),
            (
                lambda: theta(tx, zero, ty, zero, tx, scale),
                "the parameters are read in the wrong order: each row of params is (s, t_x, t_y).",
            ),
        ],
        _close,
        expected=expected,
    )


check_attention_theta = Exercise(
    "attention_theta",
    geometry.attention_theta,
    _attention_cases,
    grad_wrt=(0,),
    diagnose=_diagnose_attention,
    hint=(
        "split params into s, t_x, t_y (each (N,)), then stack [s, 0, t_x, 0, s, t_y] along the last "
        "dimension and view the result as (N, 2, 3); make the zeros with torch.zeros_like(s) so dtype, "
        "device and gradients follow params."
    ),
).checker(
    """Check ``attention_theta(params)``, eq. (2): ``(s, t_x, t_y) -> [[s, 0, t_x], [0, s, t_y]]``.

    Compared with :func:`stnlib.geometry.attention_theta`, values and gradients.
    """
)


# ------------------------------------------------------------------------------------------ projective grid


def _projective_cases() -> list[Case]:
    generator = case_generator()

    def random_params(n: int, dtype: torch.dtype = torch.float32) -> Tensor:
        params = 0.2 * torch.randn(n, 8, generator=generator, dtype=torch.float64)
        # |p6| + |p7| <= 0.5 keeps w = 1 + p6 x + p7 y >= 0.5 on the output: no point near the horizon.
        params[:, 6:] = params[:, 6:].clamp(-0.25, 0.25)
        return params.to(dtype)

    keystone = torch.tensor([[0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.0]])
    return [
        Case("keystone p6=0.3, 5x7, align_corners=False", (keystone, (1, 1, 5, 7)), _OFF),
        Case("keystone p6=0.3, 5x7, align_corners=True", (keystone, (1, 1, 5, 7)), _ON),
        Case("zero parameters give the identity, 4x5", (torch.zeros(1, 8), (1, 1, 4, 5)), _OFF),
        Case("batch of 3 random homographies, 6x4, align_corners=True",
             (random_params(3), (3, 1, 6, 4)), _ON),
        Case("batch of 2, float64, 3x8", (random_params(2, torch.float64), (2, 1, 3, 8)), _OFF),
        Case("output 30x30, batch of 2", (random_params(2), (2, 1, 30, 30)), _OFF),
    ]  # fmt: skip


def _diagnose_projective(case: Case, actual: Any, expected: Tensor) -> str | None:
    if not isinstance(actual, Tensor):
        return None
    params, size = case.args
    align_corners = bool(case.kwargs.get("align_corners", False))
    n, _, height, width = size
    if tuple(actual.shape) == (n, height, width, 3):
        return "the result still holds w: after dividing by w keep only (x_s, y_s) = (x' / w, y' / w)."
    points = geometry.base_grid(height, width, align_corners, dtype=params.dtype).view(1, -1, 3)

    def project(matrix: Tensor) -> Tensor:  # (N, H, W, 3): the base grid times matrix (N, 3, 3), not divided
        return (points @ matrix.transpose(1, 2)).view(n, height, width, 3)

    def grid(matrix: Tensor) -> Tensor:  # the projective grid, with matrix in place of H
        projected = project(matrix)
        return projected[..., :2] / projected[..., 2:]

    matrix = geometry.projective_matrix(params)
    projected = project(matrix)
    xy, w = projected[..., :2], projected[..., 2:]
    if not bool(torch.isfinite(actual).all()) and not bool(params.any()):
        return (
            "zero parameters must give the identity grid, but yours has inf or NaN: did you forget to add "
            "the identity? H = I + [[p0, p1, p2], [p3, p4, p5], [p6, p7, 0]], so w = 1 when all p are 0."
        )
    return first_matching_message(
        actual,
        [
            (
                lambda: geometry.projective_grid(params, size, not align_corners),
                _other_convention(align_corners),
            ),
            (
                lambda: xy,
                "the perspective divide is missing: (x_s, y_s) = (x' / w, y' / w), where w is the third "
                "coordinate of H (x_t, y_t, 1).",
            ),
            (
                lambda: xy / projected[..., :1],
                "you divided by x', the first coordinate: divide by w, the third (last) one.",
            ),
            (
                lambda: xy / projected[..., 1:2],
                "you divided by y', the second coordinate: divide by w, the third (last) one.",
            ),
            (
                lambda: grid(matrix.transpose(1, 2)),
                "you used the transpose of H: params fill H row by row ([p0, p1, p2] is the first row), and "
                "with points as rows the product is points @ H.transpose(1, 2).",
            ),
            (lambda: grid(matrix[:, :, [1, 0, 2]]), _BASE_GRID_XY_SWAPPED),
            (
                lambda: expected.flip(-1),
                "x and y are swapped in the result: the last dimension must be (x_s, y_s).",
            ),
            (
                lambda: grid(matrix - torch.eye(3)),
                "the identity is missing: H = I + [[p0, p1, p2], [p3, p4, p5], [p6, p7, 0]], so that zero "
                "parameters give w = 1 and the identity grid.",
            ),
            (
                lambda: xy * w,
                "you multiplied by w instead of dividing by it: (x_s, y_s) = (x' / w, y' / w).",
            ),
        ],
        _close,
        expected=expected,
    )


check_projective_grid = Exercise(
    "projective_grid",
    geometry.projective_grid,
    _projective_cases,
    grad_wrt=(0,),
    diagnose=_diagnose_projective,
    hint=(
        "append a zero to params, view as (N, 3, 3) and add torch.eye(3) (zero params -> identity); "
        "multiply the flattened base grid (1, H*W, 3) by H.transpose(1, 2); then divide the first two "
        "coordinates by the third, w."
    ),
).checker(
    """Check ``projective_grid(params, size, align_corners=False)``: ``H = I + [p, 0]``, product, divide.

    Compared with :func:`stnlib.geometry.projective_grid`, values and gradients. Every case keeps ``w >= 0.5``,
    away from the horizon where the reference clamps ``w``.
    """
)
