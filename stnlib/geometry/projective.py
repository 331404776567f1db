"""Projective transformations (homographies): 8 parameters, straight lines stay straight, parallels need not.

The paper's "Proj" spatial transformers regress 8 numbers per image. Here they parametrise the homography as
an offset from the identity, so a localization net whose last layer starts at zero starts at the identity:

    H = I + [[p0, p1, p2], [p3, p4, p5], [p6, p7, 0]]

Like the affine ``theta``, ``H`` maps **output** normalised coordinates to **input** normalised coordinates:
``(x', y', w)ᵀ = H (x_t, y_t, 1)ᵀ`` and the output pixel samples the input at ``(x' / w, y' / w)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from stnlib._validation import check_device, check_size, check_tensor
from stnlib.geometry.affine import base_grid

__all__ = [
    "identity_projective",
    "projective_grid",
    "projective_matrix",
    "projective_params_from_corners",
]

# The output's corners, in the order projective_params_from_corners expects their images.
_OUTPUT_CORNERS = ((-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0))


def projective_matrix(params: Tensor) -> Tensor:
    """The homography ``I + [p0 .. p7, 0]`` (row-major 3x3); zero parameters give the identity.

    Args:
        params: ``(N, 8)``.

    Returns:
        ``(N, 3, 3)``.

    Example:
        >>> projective_matrix(torch.zeros(1, 8))
        tensor([[[1., 0., 0.],
                 [0., 1., 0.],
                 [0., 0., 1.]]])
    """
    check_tensor(params, "params", "N 8", finite=True)
    offsets = torch.cat([params, torch.zeros_like(params[:, :1])], dim=1).view(-1, 3, 3)
    return torch.eye(3, device=params.device, dtype=params.dtype) + offsets


def identity_projective(
    batch_size: int, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """``(N, 8)`` zeros: the parameters of the identity homography."""
    check_size((batch_size,), "batch_size", "N")
    return torch.zeros(batch_size, 8, device=check_device(device, allow_none=True), dtype=dtype)


def _min_abs_w(dtype: torch.dtype) -> float:
    """Smallest |w| the perspective divide allows: about 1/eps^(1/2), i.e. ~3e3 (float32) / ~7e7 (float64) in
    coordinates -- far outside [-1, 1], so such points sample the padding, and the result stays finite."""
    return torch.finfo(dtype).eps ** 0.5


def projective_grid(params: Tensor, size: Sequence[int], align_corners: bool = False) -> Tensor:
    """Sampling grid of the homography ``projective_matrix(params)``: homogeneous product, then divide by w.

    Points whose ``w`` is (nearly) zero lie on the horizon line of the homography and map to infinity. The
    divide keeps the sign of ``w`` but clamps its magnitude to at least ``sqrt(eps)`` of the dtype
    (``w = 0`` counts as positive), so those points land far outside [-1, 1] (the sampler's padding) instead
    of producing inf or NaN. Inside the clamped band the gradient with respect to ``w`` is zero.

    Args:
        params: ``(N, 8)``, see :func:`projective_matrix`.
        size: the **output** size ``(N, C, H_out, W_out)``.
        align_corners: the convention of :mod:`stnlib.geometry.coords`.

    Returns:
        ``grid: (N, H_out, W_out, 2)`` with ``(x_s, y_s)`` in the last dimension.
    """
    dims = check_tensor(params, "params", "N 8", finite=True)
    n, _, height, width = check_size(size, "size", "N C H_out W_out", dims)
    points = base_grid(height, width, align_corners, device=params.device, dtype=params.dtype)
    projected = points.view(1, height * width, 3) @ projective_matrix(params).transpose(1, 2)
    xy, w = projected[..., :2], projected[..., 2:]
    smallest = _min_abs_w(params.dtype)
    w = torch.where(w >= 0, w.clamp(min=smallest), w.clamp(max=-smallest))
    return (xy / w).view(n, height, width, 2)


def projective_params_from_corners(corners: Tensor) -> Tensor:
    """Parameters of the homography that maps the output's corners to the given input points.

    The output corners are ``(-1, -1), (1, -1), (1, 1), (-1, 1)`` (top-left, top-right, bottom-right,
    bottom-left on screen), and ``corners[:, k]`` is where corner ``k`` samples the input. Writing
    ``H = [[h0, h1, h2], [h3, h4, h5], [h6, h7, 1]]``, each correspondence ``(x, y) -> (u, v)`` gives two
    linear equations ``h0 x + h1 y + h2 - u (h6 x + h7 y) = u`` and ``h3 x + h4 y + h5 - v (h6 x + h7 y) = v``;
    the 8x8 system is solved with ``torch.linalg.solve``. Fixing ``H[2, 2] = 1`` excludes homographies that
    send the output centre to infinity, which no sensible distortion does.

    Args:
        corners: ``(N, 4, 2)`` input points in normalised coordinates, ``(x, y)`` last.

    Returns:
        ``params: (N, 8)`` for :func:`projective_matrix` / :func:`projective_grid`.

    Raises:
        ValueError: three of the points are collinear (or two coincide), so no homography exists.

    Example:
        >>> square = torch.tensor([[[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]])
        >>> projective_params_from_corners(0.5 * square).abs()  # zoom in by 2: H = diag(0.5, 0.5, 1)
        tensor([[0.5000, 0.0000, 0.0000, 0.0000, 0.5000, 0.0000, 0.0000, 0.0000]])
    """
    check_tensor(corners, "corners", "N 4 2", finite=True)
    source = torch.tensor(_OUTPUT_CORNERS, device=corners.device, dtype=corners.dtype).expand_as(corners)
    x, y = source.unbind(-1)  # (N, 4) each
    u, v = corners.unbind(-1)
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], dim=-1)  # (N, 4, 8)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], dim=-1)
    system = torch.cat([rows_u, rows_v], dim=1)  # (N, 8, 8)
    rhs = torch.cat([u, v], dim=1).unsqueeze(-1)  # (N, 8, 1)
    solution, info = torch.linalg.solve_ex(system, rhs)
    identity = torch.tensor([1.0, 0, 0, 0, 1.0, 0, 0, 0], device=corners.device, dtype=corners.dtype)
    params = solution.squeeze(-1) - identity
    # Three collinear points still give a solution, but a singular H (it squashes the plane onto a line);
    # |det H| / |H|³ is a scale-free measure of that.
    homography = projective_matrix(torch.nan_to_num(params))
    flatness = torch.linalg.det(homography).abs() / homography.flatten(1).norm(dim=1).pow(3)
    degenerate = (info != 0) | ~torch.isfinite(params).all(dim=1) | (flatness <= _min_abs_w(corners.dtype))
    if bool(degenerate.any()):
        items = degenerate.nonzero().flatten().tolist()
        raise ValueError(
            f"corners of batch item(s) {items[:10]} do not define a homography: three of the four points are "
            "collinear or two coincide. Pass four corners of a proper quadrilateral, in the order "
            "top-left, top-right, bottom-right, bottom-left."
        )
    return params
