"""Affine transformations and the affine grid generator (the paper's eqs. 1 and 2).

An affine ``theta: (N, 2, 3)`` maps **output** coordinates to **input** coordinates, both normalised to
[-1, 1] (see :mod:`stnlib.geometry.coords`): the output pixel at ``(x_t, y_t)`` takes its value from the input at

    (x_s, y_s)ᵀ = A_θ (x_t, y_t, 1)ᵀ                                            (eq. 1)

This is the direction a sampler needs (every output pixel asks "where do I come from?"), and it is the
inverse of the way the image *appears* to move: ``theta`` with scale 0.5 samples the central half of the input
and so **zooms in** by a factor of 2; a translation of +0.5 in x shows content from the right, so the image
appears to move **left**.

Images have their y axis pointing **down** (row 0 is the top). The rotation matrix used here,
``R(α) = [[cos α, -sin α], [sin α, cos α]]``, therefore turns *points* clockwise on screen, and the warped
image content **counter-clockwise on screen** for a positive angle α.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from stnlib._validation import Dims, check_device, check_same_device, check_size, check_tensor
from stnlib.geometry.coords import normalized_linspace, normalized_to_pixel_matrix, pixel_to_normalized_matrix

__all__ = [
    "affine_grid",
    "affine_theta",
    "attention_theta",
    "base_grid",
    "compose_affine",
    "from_homogeneous",
    "identity_affine",
    "identity_attention",
    "invert_affine",
    "pixel_matrix_to_theta",
    "theta_to_pixel_matrix",
    "to_homogeneous",
]

Scalar = float | Tensor
Pair = float | tuple[float, float] | Sequence[float] | Tensor


def _as_batched(
    value: object, name: str, pair: bool, dims: Dims, device: torch.device | str | None, dtype: torch.dtype
) -> Tensor:
    """One parameter of :func:`affine_theta` as ``(N,)`` / ``(N, 2)`` or an unbatched ``()`` / ``(2,)`` tensor."""
    if value is None:
        raise TypeError(f"{name} must be a number, a pair or a tensor; got None")
    if not isinstance(value, Tensor):
        value = torch.as_tensor(value, dtype=dtype, device=device)
    if pair and value.ndim == 0:  # one number for both axes
        value = value.expand(2)
    unbatched = 1 if pair else 0
    spec = ("2" if pair else "") if value.ndim == unbatched else ("N 2" if pair else "N")
    check_tensor(value, name, spec, dims, finite=True)
    return value.to(device=device, dtype=dtype)


def affine_theta(
    rotation: Scalar = 0.0,
    scale: Pair = (1.0, 1.0),
    shear: Scalar = 0.0,
    translation: Pair = (0.0, 0.0),
    *,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Build ``theta = [A | t]`` from interpretable parameters: ``A = R(rotation) @ Shear(shear) @ diag(sx, sy)``.

    ``theta`` maps output coordinates to input coordinates (see the module docstring), so ``scale=0.5`` zooms
    **in**, and a positive ``rotation`` turns the image content **counter-clockwise on screen** (images have y
    pointing down).

    Args:
        rotation: ``(N,)`` angles in radians, or one number for the whole batch.
        scale: ``(N, 2)`` factors ``(sx, sy)``, a pair ``(sx, sy)``, or one number for both axes.
        shear: ``(N,)`` x-shear factors ``k`` (``Shear = [[1, k], [0, 1]]``), or one number.
        translation: ``(N, 2)`` offsets ``(tx, ty)`` in normalised units (2 = the whole image), a pair, or one
            number for both axes.
        batch_size: ``N``; needed only when every parameter is a number or pair (then it defaults to 1).
        device: where to build ``theta``; defaults to the device of the tensor arguments, else the CPU.
        dtype: defaults to the dtype of the tensor arguments, else float32.

    Returns:
        ``theta: (N, 2, 3)``, differentiable with respect to the tensor arguments.

    Example:
        >>> affine_theta(scale=0.5, translation=(0.25, 0.0))
        tensor([[[0.5000, 0.0000, 0.2500],
                 [0.0000, 0.5000, 0.0000]]])
    """
    given = {"rotation": rotation, "scale": scale, "shear": shear, "translation": translation}
    device = check_device(device, allow_none=True)
    tensors = [(k, v) for k, v in given.items() if isinstance(v, Tensor)]
    if device is None and tensors:
        first_name, first = tensors[0]
        for other_name, other in tensors[1:]:
            check_same_device(first, first_name, other, other_name)
        device = first.device
    if dtype is None:
        dtype = next((v.dtype for _, v in tensors if v.is_floating_point()), torch.float32)
    dims = Dims()
    if batch_size is not None:
        check_size((batch_size,), "batch_size", "N", dims)
    angle, factors, shear_k, offset = (
        _as_batched(v, k, k in ("scale", "translation"), dims, device, dtype) for k, v in given.items()
    )
    n = dims.sizes.get("N", 1)
    angle, shear_k = angle.expand(n), shear_k.expand(n)
    factors, offset = factors.expand(n, 2), offset.expand(n, 2)

    cos, sin, zero, one = angle.cos(), angle.sin(), torch.zeros_like(angle), torch.ones_like(angle)
    rotate = torch.stack([cos, -sin, sin, cos], dim=-1).view(n, 2, 2)
    shear_matrix = torch.stack([one, shear_k, zero, one], dim=-1).view(n, 2, 2)
    stretch = torch.diag_embed(factors)
    linear = rotate @ shear_matrix @ stretch
    return torch.cat([linear, offset.unsqueeze(-1)], dim=-1)


def identity_affine(
    batch_size: int, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """``(N, 2, 3)`` identity transforms ``[[1, 0, 0], [0, 1, 0]]`` — the initial output of a localization net.

    Example:
        >>> identity_affine(1)
        tensor([[[1., 0., 0.],
                 [0., 1., 0.]]])
    """
    check_size((batch_size,), "batch_size", "N")
    return (
        torch.eye(2, 3, device=check_device(device, allow_none=True), dtype=dtype)
        .expand(batch_size, 2, 3)
        .clone()
    )


def to_homogeneous(theta: Tensor) -> Tensor:
    """Append the row ``(0, 0, 1)``: ``theta: (N, 2, 3)`` -> ``(N, 3, 3)``, so affine maps compose by ``@``."""
    check_tensor(theta, "theta", "N 2 3")
    bottom = torch.zeros_like(theta[:, :1, :])
    bottom[:, :, 2] = 1
    return torch.cat([theta, bottom], dim=1)


def from_homogeneous(matrix: Tensor) -> Tensor:
    """Drop the row ``(0, 0, 1)``: ``matrix: (N, 3, 3)`` -> ``theta: (N, 2, 3)``.

    Raises:
        ValueError: the last row is not ``(0, 0, 1)`` (up to rounding): the matrix is projective, not affine.
    """
    check_tensor(matrix, "matrix", "N 3 3")
    expected = torch.tensor([0.0, 0.0, 1.0], device=matrix.device, dtype=matrix.dtype)
    tolerance = torch.finfo(matrix.dtype).eps ** 0.5
    if not bool(((matrix[:, 2] - expected).abs() <= tolerance).all()):
        raise ValueError(
            "matrix is not affine: its last row must be (0, 0, 1); got e.g. "
            f"{matrix[:, 2][(matrix[:, 2] - expected).abs().amax(-1).argmax()].tolist()}. "
            "A projective matrix cannot be written as an affine theta; use stnlib.geometry.projective."
        )
    return matrix[:, :2, :]


def compose_affine(theta_a: Tensor, theta_b: Tensor) -> Tensor:
    """The point map ``p -> A_a (A_b p)``: ``theta_b`` is applied to the point first, then ``theta_a``.

    Because thetas map output points to input points, the **warping order is reversed**: warping an image with
    ``theta_b`` and then warping the result with ``theta_a`` equals one warp with
    ``compose_affine(theta_b, theta_a)``. Exactly what holds: the single warp samples the original image at the
    very positions the two-step warp ends up reading (``affine_grid(compose_affine(theta_b, theta_a))`` is
    ``theta_b`` applied to ``affine_grid(theta_a)``), so for warps that move pixels onto pixels (flips,
    quarter turns of a square image, whole-pixel shifts) the images are equal to rounding. For other warps
    they agree only approximately: each bilinear step smooths the image, and whatever the first warp moves
    out of view is lost to the second. Composing first and sampling once is the better choice.

    Args:
        theta_a: ``(N, 2, 3)``, applied second to points.
        theta_b: ``(N, 2, 3)``, applied first to points.

    Returns:
        ``(N, 2, 3)``.
    """
    dims = check_tensor(theta_a, "theta_a", "N 2 3")
    check_tensor(theta_b, "theta_b", "N 2 3", dims)
    check_same_device(theta_a, "theta_a", theta_b, "theta_b")
    return (to_homogeneous(theta_a) @ to_homogeneous(theta_b))[:, :2]  # last row is (0, 0, 1) exactly


def invert_affine(theta: Tensor) -> Tensor:
    """The inverse map ``[A⁻¹ | -A⁻¹ t]``, found by solving ``A X = [I | -t]`` (no explicit inverse).

    Args:
        theta: ``(N, 2, 3)``.

    Returns:
        ``(N, 2, 3)`` with ``compose_affine(theta, invert_affine(theta))`` the identity.

    Raises:
        ValueError: some ``A`` is singular (its columns are parallel or zero, e.g. a scale of 0), so the
            transformation squashes the image onto a line or a point and has no inverse.
    """
    check_tensor(theta, "theta", "N 2 3", finite=True)
    linear, offset = theta[:, :, :2], theta[:, :, 2:]
    # |det A| <= |a1| |a2| (Hadamard); their ratio is |sin| of the angle between A's columns, a scale-free
    # measure of how close A is to squashing the plane.
    column_norms = linear.norm(dim=1).prod(dim=-1)
    tiny = torch.finfo(theta.dtype).tiny
    determinant = linear[:, 0, 0] * linear[:, 1, 1] - linear[:, 0, 1] * linear[:, 1, 0]
    sine = determinant.abs() / column_norms.clamp(min=tiny)
    singular = (sine <= 64 * torch.finfo(theta.dtype).eps) | (column_norms <= tiny)
    if bool(singular.any()):
        items = singular.nonzero().flatten().tolist()
        raise ValueError(
            f"theta is not invertible: the 2x2 part A of batch item(s) {items[:10]} is singular "
            "(parallel or zero columns, e.g. a scale of 0). Such a transform squashes the image onto a line."
        )
    eye = torch.eye(2, device=theta.device, dtype=theta.dtype).expand_as(linear)
    return torch.linalg.solve(linear, torch.cat([eye, -offset], dim=-1))


def base_grid(
    height: int,
    width: int,
    align_corners: bool = False,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Homogeneous normalised coordinates ``(x_t, y_t, 1)`` of the output pixel centres.

    Returns:
        ``(H, W, 3)``; entry ``[i, j]`` is ``(x of column j, y of row i, 1)``.

    Example:
        >>> base_grid(1, 2)
        tensor([[[-0.5000,  0.0000,  1.0000],
                 [ 0.5000,  0.0000,  1.0000]]])
    """
    check_size((height, width), "(height, width)", "H W")
    device = check_device(device, allow_none=True)
    xs = normalized_linspace(width, align_corners, device=device, dtype=dtype)
    ys = normalized_linspace(height, align_corners, device=device, dtype=dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1)


def affine_grid(theta: Tensor, size: Sequence[int], align_corners: bool = False) -> Tensor:
    """The affine grid generator, eq. (1): where each output pixel samples the input.

    Equal to ``torch.nn.functional.affine_grid``. Eq. (1) for the output pixel ``(x_t, y_t)`` reads
    ``x_s = θ11 x_t + θ12 y_t + θ13`` (and likewise ``y_s``): one term depends only on the column, the rest
    only on the row, so each coordinate of the grid is one broadcast sum of a ``(N, 1, W)`` and an ``(N, H, 1)``
    tensor. That is the product of :func:`base_grid` with ``θᵀ`` without materialising the base grid, which
    on a CPU is cheaper than a batched matrix product (the distorted-data generator calls this per batch).

    Args:
        theta: ``(N, 2, 3)``, mapping output to input normalised coordinates.
        size: the **output** size ``(N, C, H_out, W_out)`` (``C`` is ignored), as in PyTorch.
        align_corners: the convention of :mod:`stnlib.geometry.coords`; use the same value when sampling.

    Returns:
        ``grid: (N, H_out, W_out, 2)`` with ``(x_s, y_s)`` in the last dimension.

    Example:
        >>> affine_grid(identity_affine(1), (1, 1, 1, 2))
        tensor([[[[-0.5000,  0.0000],
                  [ 0.5000,  0.0000]]]])
    """
    dims = check_tensor(theta, "theta", "N 2 3", finite=True)
    _, _, height, width = check_size(size, "size", "N C H_out W_out", dims)
    xs = normalized_linspace(width, align_corners, device=theta.device, dtype=theta.dtype)
    ys = normalized_linspace(height, align_corners, device=theta.device, dtype=theta.dtype)
    by_column = (theta[:, None, :, 0] * xs[:, None]).unsqueeze(1)  # θk1 x_t: (N, 1, W, 2)
    by_row = (theta[:, None, :, 1] * ys[:, None] + theta[:, None, :, 2]).unsqueeze(
        2
    )  # θk2 y_t + θk3: (N, H, 1, 2)
    return by_column + by_row


def attention_theta(params: Tensor) -> Tensor:
    """Eq. (2): the attention transform ``[[s, 0, t_x], [0, s, t_y]]`` — isotropic scale and translation.

    Args:
        params: ``(N, 3)`` rows ``(s, t_x, t_y)``; ``s < 1`` zooms in on the window centred at ``(t_x, t_y)``.

    Returns:
        ``theta: (N, 2, 3)``.

    Example:
        >>> attention_theta(torch.tensor([[0.5, 0.1, -0.2]]))
        tensor([[[ 0.5000,  0.0000,  0.1000],
                 [ 0.0000,  0.5000, -0.2000]]])
    """
    check_tensor(params, "params", "N 3", finite=True)
    scale, tx, ty = params.unbind(dim=-1)
    zero = torch.zeros_like(scale)
    return torch.stack([scale, zero, tx, zero, scale, ty], dim=-1).view(-1, 2, 3)


def identity_attention(
    batch_size: int, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """``(N, 3)`` attention parameters ``(s, t_x, t_y) = (1, 0, 0)``: the whole image, unchanged."""
    check_size((batch_size,), "batch_size", "N")
    return (
        torch.tensor([1.0, 0.0, 0.0], device=check_device(device, allow_none=True), dtype=dtype)
        .expand(batch_size, 3)
        .clone()
    )


def theta_to_pixel_matrix(
    theta: Tensor,
    input_size: Sequence[int],
    output_size: Sequence[int],
    align_corners: bool = False,
) -> Tensor:
    """The same mapping as ``theta`` in pixel coordinates: output pixel ``(col, row, 1)`` -> input pixel.

    Pixel coordinates count from the centre of the top-left pixel (see :mod:`stnlib.geometry.coords`).

    Args:
        theta: ``(N, 2, 3)`` in normalised coordinates.
        input_size: ``(H_in, W_in)`` of the image being sampled.
        output_size: ``(H_out, W_out)`` of the grid.
        align_corners: the convention ``theta`` is used with.

    Returns:
        ``(N, 3, 3)`` homogeneous pixel matrices (last row ``(0, 0, 1)``).
    """
    check_tensor(theta, "theta", "N 2 3", finite=True)
    to_pixels = normalized_to_pixel_matrix(
        _spatial(input_size, "input_size"), align_corners, device=theta.device, dtype=theta.dtype
    )
    to_normalized = pixel_to_normalized_matrix(
        _spatial(output_size, "output_size"), align_corners, device=theta.device, dtype=theta.dtype
    )
    return to_pixels @ to_homogeneous(theta) @ to_normalized


def pixel_matrix_to_theta(
    matrix: Tensor,
    input_size: Sequence[int],
    output_size: Sequence[int],
    align_corners: bool = False,
) -> Tensor:
    """The inverse of :func:`theta_to_pixel_matrix`: an affine pixel matrix as a normalised ``theta``.

    Args:
        matrix: ``(N, 3, 3)`` mapping output pixels ``(col, row, 1)`` to input pixels; last row ``(0, 0, 1)``.
        input_size: ``(H_in, W_in)``.
        output_size: ``(H_out, W_out)``.
        align_corners: the convention the returned ``theta`` is to be used with.

    Returns:
        ``theta: (N, 2, 3)``.
    """
    check_tensor(matrix, "matrix", "N 3 3", finite=True)
    to_normalized = pixel_to_normalized_matrix(
        _spatial(input_size, "input_size"), align_corners, device=matrix.device, dtype=matrix.dtype
    )
    to_pixels = normalized_to_pixel_matrix(
        _spatial(output_size, "output_size"), align_corners, device=matrix.device, dtype=matrix.dtype
    )
    return from_homogeneous(to_normalized @ matrix @ to_pixels)


def _spatial(size: Sequence[int], name: str) -> tuple[int, int]:
    height, width = check_size(size, name, "H W")
    return height, width
