"""The sampler of a spatial transformer (Sec. 3.3 of the paper, eqs. 3–7).

A grid generator says, for every output pixel, *where* in the input to look: ``grid: (N, H_out, W_out, 2)``
holds normalised source coordinates ``(x_s, y_s)`` (see :mod:`stnlib.geometry.coords`). The sampler reads the
input there. The paper writes every sampler as one sum over all input pixels (eq. 3),

    V_i^c = sum_n sum_m U_nm^c k(x_s^i - m) k(y_s^i - n),

with a kernel ``k``: the nearest-integer kernel (eq. 4) or the bilinear kernel ``max(0, 1 - |d|)`` (eq. 5).
The bilinear kernel is non-zero only on the 2 x 2 pixels around ``(x_s, y_s)``, so the code gathers those four
and never loops over pixels. Its gradients (eqs. 6–7) let the loss reach both the image and the grid, which is
what makes the whole transformer trainable by backpropagation.

Functions here mirror :func:`torch.nn.functional.grid_sample` (same arguments, same results):

* :func:`grid_sample` — the drop-in; ``mode="bilinear"`` runs :class:`BilinearSampler`.
* :func:`nearest_sample` — eq. (4).
* :func:`bilinear_sample` — eq. (5), differentiated by autograd.
* :class:`BilinearSampler` — the same forward with the backward of eqs. (6)–(7) written by hand.

Padding modes say what lies outside the image: ``"zeros"`` (the paper's choice: outside is black),
``"border"`` (the edge pixels repeat) and ``"reflection"`` (the image is mirrored at its edges).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from stnlib._validation import check_choice, check_same_device, check_tensor
from stnlib.geometry.coords import normalized_to_pixel

__all__ = ["MODES", "PADDING_MODES", "BilinearSampler", "bilinear_sample", "grid_sample", "nearest_sample"]

MODES = ("bilinear", "nearest")
PADDING_MODES = ("zeros", "border", "reflection")


# --------------------------------------------------------------------------------------------------------------
# Checks


def _check_inputs(input: Tensor, grid: Tensor, padding_mode: str) -> None:
    check_choice(padding_mode, "padding_mode", PADDING_MODES)
    if isinstance(input, Tensor) and isinstance(grid, Tensor) and input.dim() == grid.dim() == 5:
        raise ValueError(
            f"input {tuple(input.shape)} and grid {tuple(grid.shape)} look like a volume (N, C, D, H, W) and its "
            "(x, y, z) points: stnlib's samplers work on 2-D images (N, C, H, W) only. For volumes use "
            "torch.nn.functional.grid_sample."
        )
    dims = check_tensor(input, "input", "N C H W")
    if dims["H"] == 0 or dims["W"] == 0:
        raise ValueError(
            f"input must have at least one pixel in each direction to sample from; got height {dims['H']} and "
            f"width {dims['W']} (shape {tuple(input.shape)})"
        )
    check_tensor(grid, "grid", "N H_out W_out 2", dims)
    check_same_device(input, "input", grid, "grid")
    # Only now that both live on one device is it safe to read the grid's values.
    check_tensor(grid, "grid", "N H_out W_out 2", dims, finite=True)


# --------------------------------------------------------------------------------------------------------------
# Source coordinates and padding, one axis at a time


def _clip(pix: Tensor, high: int) -> tuple[Tensor, Tensor]:
    """Clamp pixel coordinates into ``[0, high]``.

    Returns the clamped coordinates and their slope: 1 inside, 0 where clamped and, as in PyTorch, on the border
    itself.
    """
    slope = ((pix > 0) & (pix < high)).to(pix.dtype)
    clamped = pix.detach().clamp(0, high)
    if not pix.requires_grad:
        return clamped, slope
    # For autograd: the clamped value plus (pix - pix) * slope, which is 0 but has the derivative ``slope``.
    # Autograd then multiplies the gradient by the slope, as the chain rule and PyTorch do: where the gradient
    # is inf or NaN (an inf pixel), 0 * inf gives NaN, where torch.where(inside, pix, clamped) would give 0.
    return clamped + (pix - pix.detach()) * slope, slope


def _reflect(pix: Tensor, low: float, span: int) -> tuple[Tensor, Tensor]:
    """Fold coordinates into ``[low, low + span]`` by mirroring them at both ends, like light between two mirrors.

    Returns the folded coordinates and their slope: +1 after an even number of folds, -1 after an odd number.
    """
    if span == 0:  # a single pixel with align_corners=True: everything folds onto it, with slope 0
        return pix * 0, torch.zeros_like(pix)  # pix * 0 keeps the graph: autograd gives a zero gradient
    shifted = pix - low
    distance = shifted.abs()
    extra = torch.fmod(distance, span)
    odd = torch.remainder(torch.floor(distance / span), 2) == 1
    folded = torch.where(odd, span - extra, extra) + low
    slope = torch.where(odd != (shifted < 0), -1.0, 1.0).to(pix.dtype)
    return folded, slope


def _check_reflectable(pix: Tensor, size: int) -> None:
    """Refuse pixel coordinates too far out to be reflected back into the image.

    Beyond 2**(mantissa bits - 1) pixels (2**22 in float32, 2**51 in float64) floating-point numbers lie half a
    pixel apart or more, so where such a point folds back is rounding noise, and PyTorch's samplers, which
    round differently, put it elsewhere.
    """
    limit = 0.5 / torch.finfo(pix.dtype).eps  # eps = 2**-(mantissa bits)
    far = pix.detach().abs().max() if pix.numel() else pix.new_zeros(())
    if bool(far >= limit):
        raise ValueError(
            f"grid has points {float(far):.3g} pixels from an axis of {size} pixels. padding_mode='reflection' "
            f"folds them back into the image, but {pix.dtype} cannot place them there: beyond {limit:.3g} pixels "
            "its numbers lie half a pixel apart or more, and F.grid_sample puts such points elsewhere. Use a "
            "float64 grid, or padding_mode 'border' or 'zeros' (a grid this far out usually means the "
            "localization network diverged)."
        )


def _source_coordinate(
    coord: Tensor, size: int, padding_mode: str, align_corners: bool
) -> tuple[Tensor, Tensor | None]:
    """Normalised coordinates along one axis (x_s or y_s) in pixels, moved where the padding mode reads them.

    Args:
        coord: normalised coordinates, any shape.
        size: the number of pixels along the axis (W for x, H for y).

    Returns:
        The pixel coordinates, and their slope with respect to the unpadded ones (``None`` for ``"zeros"``, where
        it is 1).
    """
    # Half-precision grids are moved into pixels in float32: float16 overflows at 65,504, which a coordinate of a
    # few thousand reaches on a small image, and would fold or round far from where the grid points.
    pix = normalized_to_pixel(coord.to(torch.promote_types(coord.dtype, torch.float32)), size, align_corners)
    if padding_mode == "zeros":
        return pix, None
    if padding_mode == "border":
        return _clip(pix, size - 1)
    _check_reflectable(pix, size)
    if align_corners:  # mirror at the centres of the edge pixels
        folded, fold_slope = _reflect(pix, 0.0, size - 1)
    else:  # mirror at the outer edges of the edge pixels, half a pixel further out
        folded, fold_slope = _reflect(pix, -0.5, size)
    clipped, clip_slope = _clip(folded, size - 1)
    return clipped, fold_slope * clip_slope


def _pixels_per_unit(size: int, align_corners: bool) -> float:
    """d pixel / d normalised coordinate along an axis of ``size`` pixels.

    :func:`~stnlib.geometry.coords.normalized_to_pixel` is affine, so its slope is f(1) - f(0); asking it keeps
    the ``align_corners`` conventions in one place.
    """
    at_0, at_1 = normalized_to_pixel(
        torch.tensor([0.0, 1.0], dtype=torch.float64), size, align_corners
    ).tolist()
    return at_1 - at_0


def _gather(input: Tensor, index: Tensor) -> Tensor:
    """Read ``input: (N, C, H, W)`` at flat pixel indices ``index: (N, K, P)``; returns (N, C, K, P)."""
    n, c = input.shape[:2]
    flat = input.flatten(2)  # (N, C, H * W); unlike reshape(n, c, -1) it also works for zero channels
    # The same pixel index serves every channel: expand is a view, no copy per channel.
    return flat.gather(2, index.reshape(n, 1, -1).expand(n, c, -1)).view(n, c, *index.shape[1:])


def _into_image(m: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Integer pixel positions ``m`` (floats) along an axis of ``size`` pixels.

    Returns the positions clamped into the image (still floats, see :func:`_flat_index`), and a mask: 1 where
    the position lies in the image, 0 where it lies in the padding (which reads zero).
    """
    clamped = m.clamp(0, size - 1)
    # max(0, 1 - |clamped - m|): clamping leaves the pixels of the image in place and moves padding by at least
    # one pixel. Float arithmetic in place: on CPU much faster than comparisons, a cast from bool and temporaries.
    inside = (clamped - m).abs_().neg_().add_(1).clamp_min_(0)
    return clamped, inside


def _flat_index(n: Tensor, m: Tensor, height: int, width: int) -> Tensor:
    """Flat pixel indices ``n * W + m``, int64 as ``gather`` needs, of rows ``n`` and columns ``m``.

    ``n`` and ``m`` hold whole numbers in the image (floats, broadcast together). Floats would round the index
    of a large image (float32 beyond 2**24 pixels), so the arithmetic is done in integers: in int32 where it
    cannot overflow, for images of at most 2**31 pixels (on CPU several times faster than int64 arithmetic),
    and in int64 for larger ones.
    """
    dtype = torch.int32 if height * width <= 2**31 else torch.int64
    return (n.to(dtype) * width + m.to(dtype)).long()


def _edges_are_finite(input: Tensor) -> bool:
    """Whether no pixel on the four edges of ``input: (N, C, H, W)`` is inf or NaN.

    A position in the zero padding reads the edge pixel its index was clamped to, and the samplers multiply
    that by 0. This is exact for finite pixels, but 0 * inf and 0 * NaN are NaN, where PyTorch skips such
    positions and reads 0. Edge pixels are almost always finite, so the samplers check them and zero the
    values of padding positions explicitly (``masked_fill``, several times slower than a multiplication on
    CPU) only when needed. A finite sum proves all its terms finite; a sum that overflows answers False, which
    costs time but not exactness.
    """
    accumulate = torch.promote_types(input.dtype, torch.float32)  # float16 sums overflow at 65,504
    edges = [input[..., 0, :], input[..., -1, :], input[..., 0], input[..., -1]]
    return bool(torch.isfinite(torch.stack([edge.sum(dtype=accumulate) for edge in edges]).sum()))


# --------------------------------------------------------------------------------------------------------------
# Nearest-integer kernel, eq. (4)


def nearest_sample(
    input: Tensor, grid: Tensor, padding_mode: str = "zeros", align_corners: bool = False
) -> Tensor:
    """Sample ``input`` at ``grid`` with the nearest-integer kernel (eq. 4): copy the closest pixel.

    Halfway points are rounded to the even neighbour (``torch.round``), as PyTorch's own sampler does.

    Args:
        input: (N, C, H, W) image batch.
        grid: (N, H_out, W_out, 2) normalised source coordinates (x, y).
        padding_mode: ``"zeros"``, ``"border"`` or ``"reflection"``.
        align_corners: see :mod:`stnlib.geometry.coords`.

    Returns:
        (N, C, H_out, W_out). Gradients reach ``input`` (each output pixel's gradient lands on the pixel it
        copied) but not ``grid``: the kernel is flat almost everywhere, which is why the paper trains with the
        bilinear kernel. (:func:`torch.nn.functional.grid_sample` returns a zero grid gradient instead.)

    Example:
        >>> image = torch.arange(4.0).view(1, 1, 2, 2)
        >>> nearest_sample(image, torch.tensor([[[[0.4, -0.6]]]]))  # right column, top row
        tensor([[[[1.]]]])
    """
    _check_inputs(input, grid, padding_mode)
    batch, channels, height, width = input.shape
    x_s, _ = _source_coordinate(grid[..., 0].detach().flatten(1), width, padding_mode, align_corners)
    y_s, _ = _source_coordinate(grid[..., 1].detach().flatten(1), height, padding_mode, align_corners)
    # eq. (4): the kernel is 1 only at m = round(x_s), n = round(y_s)
    m, inside_x = _into_image(torch.round(x_s), width)
    n, inside_y = _into_image(torch.round(y_s), height)
    values = _gather(input, _flat_index(n, m, height, width).unsqueeze(1)).squeeze(2)  # (N, C, P)
    # Points in the padding read 0 (they read an edge pixel, clamped into the image, which is removed here).
    inside = (inside_x * inside_y).unsqueeze(1).to(input.dtype)
    if _edges_are_finite(input):
        values = values * inside
    else:  # an inf or NaN edge pixel times 0 would be NaN
        values = values.masked_fill(inside == 0, 0)
    return values.view(batch, channels, *grid.shape[1:3])


# --------------------------------------------------------------------------------------------------------------
# Bilinear kernel, eq. (5)


def _neighbours(coord: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor]:
    """The two pixel positions around each coordinate along one axis, where the bilinear kernel is non-zero.

    Args:
        coord: (N, P) pixel coordinates along one axis (x_s, or y_s).
        size: the number of pixels along that axis.

    Returns:
        ``position: (N, 2, P)``, the integers m0 = floor(x_s) and m1 = m0 + 1, clamped into the image (as floats);
        ``kernel: (N, 2, P)``, max(0, 1 - |x_s - m|) at them (eq. 5); ``inside: (N, 2, P)``, 1 where m lies in
        the image and 0 where it is padding.
    """
    low = torch.floor(coord.detach()).unsqueeze(1)  # integer positions carry no gradient
    m = low + coord.new_tensor([0.0, 1.0]).view(1, 2, 1)
    # |x_s - m| with its sign written out, since m0 <= x_s < m1. It is at most 1 for both neighbours, so the
    # max(0, .) of eq. (5) never bites and is left out. Both choices matter for autograd when x_s is an integer
    # (a pixel centre, e.g. everywhere under the identity transform): abs'(0) = 0 and max'(0) = 0 would stop the
    # grid gradient there, while this form gives PyTorch's one-sided derivative.
    distance = (coord.unsqueeze(1) - m) * coord.new_tensor([1.0, -1.0]).view(1, 2, 1)
    kernel = 1 - distance  # max(0, 1 - |x_s - m|)
    position, inside = _into_image(m, size)
    return position, kernel, inside


def _outer(rows: Tensor, cols: Tensor) -> Tensor:
    """(N, 2, P) x (N, 2, P) -> (N, 4, P): products for the neighbours n0 m0, n0 m1, n1 m0, n1 m1."""
    return (rows.unsqueeze(2) * cols.unsqueeze(1)).flatten(1, 2)


class _Bilinear(NamedTuple):
    """What the bilinear forward computes, and its hand-written backward needs (P = H_out * W_out)."""

    output: Tensor  # (N, C, P): V, eq. (5)
    values: Tensor  # (N, C, 4, P): U_nm at the four neighbours (n0 m0, n0 m1, n1 m0, n1 m1)
    indices: Tensor  # (N, 4, P): their flat indices n * W + m, clamped into the image
    weight: Tensor  # (N, 4, P): k(y_s - n) k(x_s - m), 0 for neighbours outside the image
    kernel_x: Tensor  # (N, 2, P): k(x_s - m) for m = m0, m1
    kernel_y: Tensor  # (N, 2, P): k(y_s - n) for n = n0, n1
    inside_x: Tensor  # (N, 2, P): 1 where column m lies in the image
    inside_y: Tensor  # (N, 2, P): 1 where row n lies in the image


def _bilinear(input: Tensor, x_s: Tensor, y_s: Tensor) -> _Bilinear:
    """Eq. (5) on the four neighbours of each sampling point.

    Args:
        input: (N, C, H, W).
        x_s, y_s: (N, P) pixel coordinates, already moved by the padding mode.
    """
    height, width = input.shape[-2:]
    m, kernel_x, inside_x = _neighbours(x_s, width)
    n, kernel_y, inside_y = _neighbours(y_s, height)
    # The kernel is separable, k(x_s - m) k(y_s - n); neighbours outside the image read 0 ("zeros" padding):
    # they read the edge pixel their index is clamped to, with weight 0.
    weight = _outer(kernel_y * inside_y, kernel_x * inside_x).to(input.dtype)
    index = _flat_index(n.unsqueeze(2), m.unsqueeze(1), height, width).flatten(1, 2)  # in the order of _outer
    values = _gather(input, index)  # U_nm
    if not _edges_are_finite(input):
        # 0 * inf is NaN: set the values of padding neighbours to 0, as PyTorch skips them. (A NaN pixel *in*
        # the image still gives NaN, even where its weight is 0, as in PyTorch.)
        values = values.masked_fill(_outer(inside_y, inside_x).unsqueeze(1) == 0, 0)
    # V = sum_nm U_nm k(x_s - m) k(y_s - n), one neighbour at a time: no (N, C, 4, P) temporary.
    output = values[:, :, 0] * weight[:, None, 0]
    for k in range(1, 4):
        output = output.addcmul(values[:, :, k], weight[:, None, k])
    return _Bilinear(output, values, index, weight, kernel_x, kernel_y, inside_x, inside_y)


def bilinear_sample(
    input: Tensor, grid: Tensor, padding_mode: str = "zeros", align_corners: bool = False
) -> Tensor:
    """Sample ``input`` at ``grid`` with the bilinear kernel (eq. 5); autograd derives the gradients.

    Each output pixel is a weighted sum of the four input pixels around ``(x_s, y_s)``, with weights
    ``max(0, 1 - |x_s - m|) * max(0, 1 - |y_s - n|)``. Compare with :class:`BilinearSampler`, whose forward is
    this one and whose backward is written by hand.

    Args:
        input: (N, C, H, W) image batch.
        grid: (N, H_out, W_out, 2) normalised source coordinates (x, y).
        padding_mode: ``"zeros"``, ``"border"`` or ``"reflection"``.
        align_corners: see :mod:`stnlib.geometry.coords`.

    Returns:
        (N, C, H_out, W_out).

    Example:
        >>> image = torch.tensor([[[[0.0, 10.0]]]])  # one row of two pixels
        >>> bilinear_sample(image, torch.tensor([[[[0.0, 0.0]]]]))  # halfway between their centres
        tensor([[[[5.]]]])
    """
    _check_inputs(input, grid, padding_mode)
    n, c, height, width = input.shape
    x_s, _ = _source_coordinate(grid[..., 0].flatten(1), width, padding_mode, align_corners)
    y_s, _ = _source_coordinate(grid[..., 1].flatten(1), height, padding_mode, align_corners)
    return _bilinear(input, x_s, y_s).output.view(n, c, *grid.shape[1:3])


class BilinearSampler(torch.autograd.Function):
    """Bilinear sampling (eq. 5) with its backward written by hand (eqs. 6–7).

    Call it as ``BilinearSampler.apply(input, grid, padding_mode, align_corners)`` (positional arguments
    only), or through :func:`grid_sample`. Shapes and results are those of :func:`bilinear_sample`.

    The backward implements:

    * eq. (6), ``dV/dU_nm = k(x_s - m) k(y_s - n)``: every output pixel hands its gradient back to its four
      neighbours, weighted as in the forward (``scatter_add_``; pixels shared by several outputs sum up).
    * eq. (7), ``dV/dx_s = sum_nm U_nm k(y_s - n) k'(x_s - m)`` and likewise for ``y_s``. The bilinear kernel is
      not differentiable at integers; like PyTorch we take the derivative on the pixel cell that contains
      ``x_s`` (from the right), ``k' = -1`` for ``m = floor(x_s)`` and ``+1`` for ``m = floor(x_s) + 1``.
      The paper's eq. (7) picks a different sub-gradient at exact integers; elsewhere they agree.
      The chain rule then multiplies by the padding's slope (0 where ``"border"`` clamped, ±1 for
      ``"reflection"``) and by the unnormalisation's pixels per unit (e.g. ``W / 2`` for ``x`` with
      ``align_corners=False``).

    Double backward (gradients of gradients) is not supported: with ``create_graph=True`` the gradients it
    returns carry no graph, and differentiating through them raises a ``RuntimeError`` ("trying to
    differentiate twice"). :func:`bilinear_sample` supports it.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        input: Tensor,
        grid: Tensor,
        padding_mode: str = "zeros",
        align_corners: bool = False,
    ) -> Tensor:
        _check_inputs(input, grid, padding_mode)
        n, c, height, width = input.shape
        x_s, slope_x = _source_coordinate(grid[..., 0].flatten(1), width, padding_mode, align_corners)
        y_s, slope_y = _source_coordinate(grid[..., 1].flatten(1), height, padding_mode, align_corners)
        result = _bilinear(input, x_s, y_s)
        # The slopes are None for zero padding; save_for_backward accepts None, though torch's stub says Tensor.
        ctx.save_for_backward(slope_x, slope_y, *result[1:])  # type: ignore[arg-type]
        # FunctionCtx's stub declares no attributes, but autograd contexts carry any the backward needs.
        ctx.scale = (_pixels_per_unit(width, align_corners), _pixels_per_unit(height, align_corners))  # type: ignore[attr-defined]
        ctx.input_shape = input.shape  # type: ignore[attr-defined]
        ctx.grid_dtype = grid.dtype  # type: ignore[attr-defined]
        return result.output.view(n, c, *grid.shape[1:3])

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        slope_x, slope_y, *saved = ctx.saved_tensors
        values, index, weight, kernel_x, kernel_y, inside_x, inside_y = saved
        n, c, height, width = ctx.input_shape
        grad_v = grad_output.flatten(2)  # (N, C, P); unlike reshape(n, c, -1) it also works for zero channels
        grad_input = grad_grid = None

        if ctx.needs_input_grad[0]:
            # eq. (6): dL/dU_nm = sum_i dL/dV_i k(x_s^i - m) k(y_s^i - n): each output pixel hands its gradient to
            # its four neighbours (one neighbour at a time, to keep temporaries small).
            grad_input = grad_v.new_zeros(n, c, height * width)
            for k in range(4):
                grad_input.scatter_add_(2, index[:, None, k].expand(n, c, -1), grad_v * weight[:, None, k])
            grad_input = grad_input.view(n, c, height, width)

        if ctx.needs_input_grad[1]:
            # eq. (7): dL/dx_s = sum_c dL/dV^c sum_nm U_nm^c k(y_s - n) k'(x_s - m), with k' = -1, +1 for m0, m1.
            # Sum over channels first (padding neighbours read zero), then over the 2 x 2 neighbours (n, m):
            # differences of U between the two columns, weighted by k(y_s - n), and likewise for y_s.
            grad_u = torch.stack([(grad_v * values[:, :, k]).sum(1) for k in range(4)], dim=1)
            grad_u = (grad_u * _outer(inside_y, inside_x)).unflatten(1, (2, 2))  # (N, n, m, P)
            grad_x = ((grad_u[:, :, 1] - grad_u[:, :, 0]) * kernel_y).sum(1)
            grad_y = ((grad_u[:, 1] - grad_u[:, 0]) * kernel_x).sum(1)
            # Chain rule through the padding and the unnormalisation. (Writing both into one buffer is much
            # faster on CPU than torch.stack along the last dimension.)
            scale_x, scale_y = ctx.scale
            grad_grid = grad_x.new_empty(n, grad_x.shape[1], 2)
            grad_grid[..., 0] = grad_x * scale_x if slope_x is None else grad_x * slope_x * scale_x
            grad_grid[..., 1] = grad_y * scale_y if slope_y is None else grad_y * slope_y * scale_y
            grad_grid = grad_grid.view(n, *grad_output.shape[2:], 2).to(ctx.grid_dtype)

        return grad_input, grad_grid, None, None


# --------------------------------------------------------------------------------------------------------------
# The drop-in


def grid_sample(
    input: Tensor,
    grid: Tensor,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = False,
) -> Tensor:
    """Sample ``input`` at ``grid``: a drop-in for :func:`torch.nn.functional.grid_sample` on 4-D inputs.

    Args:
        input: (N, C, H, W) image batch, floating point.
        grid: (N, H_out, W_out, 2) normalised source coordinates (x, y), same device and dtype as ``input``.
        mode: ``"bilinear"`` (eq. 5, through :class:`BilinearSampler`) or ``"nearest"`` (eq. 4).
        padding_mode: ``"zeros"``, ``"border"`` or ``"reflection"``.
        align_corners: see :mod:`stnlib.geometry.coords`; PyTorch's default is False.

    Returns:
        (N, C, H_out, W_out).

    Half-precision grids are turned into pixel coordinates in float32, so coordinates far outside the image (a few
    thousand, where float16 overflows) sample what ``F.grid_sample`` samples in float32; PyTorch's own float16
    sampler returns NaN or another pixel there.

    Raises:
        ValueError: wrong shapes (also volumes, 5-D inputs, which only ``F.grid_sample`` samples), batch sizes that
            differ, an empty batch (``F.grid_sample`` returns an empty output), an image of zero height or width,
            NaN or inf in ``grid`` (where ``F.grid_sample`` returns 0, NaN or some pixel, depending on the modes),
            with ``"reflection"`` points too far out for the grid's dtype to fold back onto a pixel (2**22 pixels
            and more in float32 or float16, 2**51 in float64; ``F.grid_sample`` rounds them elsewhere),
            tensors on different devices, an unknown mode or padding mode (``"bicubic"`` is ``F.grid_sample``'s
            only).
        TypeError: a non-floating ``input``, or ``input`` and ``grid`` of different dtypes.

    Example:
        >>> import torch.nn.functional as F
        >>> image = torch.rand(2, 3, 8, 10)
        >>> identity = F.affine_grid(torch.eye(2, 3).expand(2, 2, 3), [2, 3, 8, 10], align_corners=False)
        >>> torch.allclose(grid_sample(image, identity), image, atol=1e-6)
        True
    """
    check_choice(mode, "mode", MODES, " For bicubic use torch.nn.functional.grid_sample.")
    if mode == "nearest":
        return nearest_sample(input, grid, padding_mode, align_corners)
    return BilinearSampler.apply(input, grid, padding_mode, align_corners)
