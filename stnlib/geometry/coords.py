"""Normalised and pixel coordinates: the one place the ``align_corners`` conventions are written down.

A spatial transformer describes positions in *normalised* coordinates, where -1 and +1 are the two ends of
an image axis, whatever its size. What "the end" means depends on ``align_corners``:

* ``align_corners=True``: -1 and +1 are the *centres* of the first and last pixels.
  Pixel ``i`` of an axis of ``size`` pixels sits at ``2 i / (size - 1) - 1``.
* ``align_corners=False`` (PyTorch's default): -1 and +1 are the outer *edges* of the first and last pixels,
  so pixel centres sit half a pixel inside: pixel ``i`` sits at ``(2 i + 1) / size - 1``.

Pixel coordinates here count from the centre of the first pixel (pixel ``i`` is at coordinate ``i``).
Points are stored with ``(x, y)`` in the last dimension, while image tensors are indexed ``(H, W)``: ``x``
runs along the width and ``y`` along the height.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from stnlib._validation import check_device, check_int, check_size, check_tensor

__all__ = [
    "normalized_linspace",
    "normalized_to_pixel",
    "normalized_to_pixel_matrix",
    "pixel_to_normalized",
    "pixel_to_normalized_matrix",
]


def _axis_sizes(coords: Tensor, size: int | tuple[int, int]) -> Tensor | int:
    """Per-element axis sizes: an int applies everywhere; ``(H, W)`` applies W to x and H to y."""
    check_tensor(coords, "coords", "...", floating=False, allow_empty=True)
    if isinstance(size, int) and not isinstance(size, bool):
        return check_int(size, "size", what="pixels")
    height, width = check_size(size, "size", "H W")
    if coords.shape[-1:] != (2,):
        raise ValueError(
            f"with size=(H, W) the coords must have (x, y) in the last dimension; got shape {tuple(coords.shape)}"
        )
    return torch.tensor([width, height], dtype=coords.dtype, device=coords.device)


def normalized_to_pixel(coords: Tensor, size: int | tuple[int, int], align_corners: bool) -> Tensor:
    """Map normalised coordinates in [-1, 1] to pixel coordinates.

    Args:
        coords: any shape if ``size`` is an int; ``(..., 2)`` with (x, y) last if ``size`` is ``(H, W)``.
        size: the number of pixels along the axis, or ``(H, W)`` for (x, y) points.
        align_corners: whether ±1 are the centres (True) or the outer edges (False) of the corner pixels.

    Returns:
        Pixel coordinates, same shape as ``coords``; pixel ``i``'s centre is at ``i``.

    Example:
        >>> normalized_to_pixel(torch.tensor([-1.0, 1.0]), 4, align_corners=True)
        tensor([0., 3.])
        >>> normalized_to_pixel(torch.tensor([-1.0, 1.0]), 4, align_corners=False)
        tensor([-0.5000,  3.5000])
    """
    n = _axis_sizes(coords, size)
    if align_corners:
        return (coords + 1) * ((n - 1) / 2)
    return ((coords + 1) * n - 1) / 2


def pixel_to_normalized(coords: Tensor, size: int | tuple[int, int], align_corners: bool) -> Tensor:
    """Map pixel coordinates to normalised coordinates; the inverse of :func:`normalized_to_pixel`.

    Args:
        coords: any shape if ``size`` is an int; ``(..., 2)`` with (x, y) last if ``size`` is ``(H, W)``.
        size: the number of pixels along the axis, or ``(H, W)`` for (x, y) points.
        align_corners: see :func:`normalized_to_pixel`.

    Returns:
        Normalised coordinates, same shape as ``coords``. With ``align_corners=True`` an axis of a single
        pixel maps to 0 (PyTorch's choice), since its centre is both ends at once.
    """
    n = _axis_sizes(coords, size)
    if align_corners:
        # For a one-pixel axis (n == 1) the scale is undefined; PyTorch puts that pixel at 0.
        scale = 2 / (n - 1) if isinstance(n, int) and n > 1 else None
        if scale is not None:
            return coords * scale - 1
        if isinstance(n, int):
            return torch.zeros_like(coords)
        safe = torch.clamp(n - 1, min=1)
        return torch.where(n > 1, coords * (2 / safe) - 1, torch.zeros_like(coords))
    return (2 * coords + 1) / n - 1


def normalized_linspace(
    size: int,
    align_corners: bool,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Normalised coordinates of the centres of ``size`` pixels along one axis.

    Returns:
        ``(size,)`` tensor; ``[-1, ..., 1]`` with ``align_corners=True``, half a pixel inside otherwise.

    Example:
        >>> normalized_linspace(4, align_corners=False)
        tensor([-0.7500, -0.2500,  0.2500,  0.7500])
    """
    check_int(size, "size", what="pixels")
    pixels = torch.arange(size, device=check_device(device, allow_none=True), dtype=dtype)
    return pixel_to_normalized(pixels, size, align_corners)


def _matrix_of(
    point_map: Callable[[Tensor, tuple[int, int], bool], Tensor],
    size: tuple[int, int],
    align_corners: bool,
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> Tensor:
    """The 3x3 homogeneous matrix of an axis-wise affine map of (x, y) points, read off from the map itself.

    The map is evaluated (in float64) at (0, 0), (1, 0) and (0, 1), so the conventions stay written only in
    :func:`normalized_to_pixel` and :func:`pixel_to_normalized`.
    """
    height, width = check_size(size, "size", "H W")
    device = check_device(device, allow_none=True)
    probes = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    origin, at_x, at_y = point_map(probes, (height, width), align_corners)
    matrix = torch.eye(3, dtype=torch.float64)
    matrix[:2, 0] = at_x - origin
    matrix[:2, 1] = at_y - origin
    matrix[:2, 2] = origin
    return matrix.to(dtype=dtype).to(device=device)  # cast on the CPU first: MPS has no float64


def pixel_to_normalized_matrix(
    size: tuple[int, int],
    align_corners: bool,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """:func:`pixel_to_normalized` for (x, y) points of an ``(H, W)`` image, as a homogeneous matrix.

    Returns:
        ``(3, 3)`` matrix ``M`` with ``M @ (col, row, 1) = (x_norm, y_norm, 1)``. With ``align_corners=True``
        and an axis of one pixel the matrix is singular: that axis maps to 0, as in PyTorch.

    Example:
        >>> pixel_to_normalized_matrix((2, 4), align_corners=True)
        tensor([[ 0.6667,  0.0000, -1.0000],
                [ 0.0000,  2.0000, -1.0000],
                [ 0.0000,  0.0000,  1.0000]])
    """
    return _matrix_of(pixel_to_normalized, size, align_corners, device, dtype)


def normalized_to_pixel_matrix(
    size: tuple[int, int],
    align_corners: bool,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """:func:`normalized_to_pixel` for (x, y) points of an ``(H, W)`` image, as a homogeneous matrix.

    Returns:
        ``(3, 3)`` matrix ``M`` with ``M @ (x_norm, y_norm, 1) = (col, row, 1)``; the inverse of
        :func:`pixel_to_normalized_matrix` (except for one-pixel axes with ``align_corners=True``).

    Example:
        >>> normalized_to_pixel_matrix((2, 4), align_corners=False)
        tensor([[2.0000, 0.0000, 1.5000],
                [0.0000, 1.0000, 0.5000],
                [0.0000, 0.0000, 1.0000]])
    """
    return _matrix_of(normalized_to_pixel, size, align_corners, device, dtype)
