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

from stnlib._validation import check_same_device, check_tensor
from stnlib.geometry.coords import normalized_to_pixel

__all__ = ["MODES", "PADDING_MODES", "BilinearSampler", "bilinear_sample", "grid_sample", "nearest_sample"]

MODES = ("bilinear", "nearest")
PADDING_MODES = ("zeros", "border", "reflection")


# --------------------------------------------------------------------------------------------------------------
# Checks


def _check_choice(value: object, name: str, choices: tuple[str, ...], hint: str = "") -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.{hint}")


def _check_inputs(input: Tensor, grid: Tensor, padding_mode: str) -> None:
    _check_choice(padding_mode, "padding_mode", PADDING_MODES)
    dims = check_tensor(input, "input", "N C H W")
    check_tensor(grid, "grid", "N H_out W_out 2", dims)
    check_same_device(input, "input", grid, "grid")
    # Only now that both live on one device is it safe to read the grid's values.
    check_tensor(grid, "grid", "N H_out W_out 2", dims, finite=True)


# --------------------------------------------------------------------------------------------------------------
# Source coordinates and padding


def _clip(pix: Tensor, high: Tensor) -> tuple[Tensor, Tensor]:
    """Clamp pixel coordinates into ``[0, high]``; the slope is 0 where clamped, and on the border itself
    (as in PyTorch, which counts the border as outside for the gradient)."""
    slope = ((pix > 0) & (pix < high)).to(pix.dtype)
    return torch.minimum(pix.clamp_min(0), high), slope


def _reflect(pix: Tensor, low: float, span: Tensor) -> tuple[Tensor, Tensor]:
    """Fold coordinates into ``[low, low + span]`` by mirroring at both ends, like light between two mirrors.

    An even number of folds leaves the direction as it was; an odd number reverses it, so the slope is ±1.
    A zero span (one pixel with ``align_corners=True``) maps everything to 0.
    """
    safe_span = span.clamp_min(1)
    shifted = pix - low
    distance = shifted.abs()
    extra = torch.fmod(distance, safe_span)
    odd = torch.remainder(torch.floor(distance / safe_span), 2) == 1
    folded = torch.where(odd, safe_span - extra, extra) + low
    slope = torch.where(odd != (shifted < 0), -1.0, 1.0).to(pix.dtype)
    return torch.where(span > 0, folded, 0.0), torch.where(span > 0, slope, 0.0)


def _source_pixels(
    grid: Tensor, height: int, width: int, padding_mode: str, align_corners: bool
) -> tuple[Tensor, Tensor | None]:
    """Where each output pixel reads the input, in pixel units, after the padding mode has moved it.

    Args:
        grid: (N, H_out, W_out, 2) normalised (x_s, y_s).
        height, width: the input's size.

    Returns:
        ``pix: (N, H_out * W_out, 2)`` pixel coordinates (x, y), and ``slope``, the derivative of the padded
        coordinate with respect to the unpadded one, same shape (``None`` for ``"zeros"``, where it is 1).
    """
    pix = normalized_to_pixel(grid.flatten(1, 2), (height, width), align_corners)
    if padding_mode == "zeros":
        return pix, None
    last = pix.new_tensor([width - 1, height - 1])
    if padding_mode == "border":
        return _clip(pix, last)
    if align_corners:  # mirror at the centres of the edge pixels
        folded, fold_slope = _reflect(pix, 0.0, last)
    else:  # mirror at the outer edges of the edge pixels, half a pixel further out
        folded, fold_slope = _reflect(pix, -0.5, last + 1)
    clipped, clip_slope = _clip(folded, last)
    return clipped, fold_slope * clip_slope


def _pixels_per_unit(height: int, width: int, align_corners: bool, like: Tensor) -> Tensor:
    """(2,) slope (d x_pixel / d x_norm, d y_pixel / d y_norm) of the unnormalisation.

    :func:`~stnlib.geometry.coords.normalized_to_pixel` is affine, so its slope is f(1) - f(0); asking it keeps
    the ``align_corners`` conventions in one place.
    """
    ones, zeros = like.new_ones(2), like.new_zeros(2)
    size = (height, width)
    return normalized_to_pixel(ones, size, align_corners) - normalized_to_pixel(zeros, size, align_corners)


def _gather(input: Tensor, index: Tensor) -> Tensor:
    """Read ``input: (N, C, H, W)`` at flat pixel indices ``index: (N, K, P)``; returns (N, C, K, P)."""
    n, c = input.shape[:2]
    flat = input.reshape(n, c, -1)
    # The same pixel index serves every channel: expand is a view, no copy per channel.
    return flat.gather(2, index.reshape(n, 1, -1).expand(n, c, -1)).view(n, c, *index.shape[1:])


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
    n, c, height, width = input.shape
    pix, _ = _source_pixels(grid, height, width, padding_mode, align_corners)
    m, n_ = torch.round(pix.detach()).unbind(-1)  # eq. (4): the kernel picks m = round(x_s), n = round(y_s)
    inside = (m >= 0) & (m <= width - 1) & (n_ >= 0) & (n_ <= height - 1)
    index = n_.clamp(0, height - 1).long() * width + m.clamp(0, width - 1).long()
    values = _gather(input, index.unsqueeze(1)).squeeze(2)  # (N, C, P)
    return (values * inside.unsqueeze(1)).view(n, c, *grid.shape[1:3])


# --------------------------------------------------------------------------------------------------------------
# Bilinear kernel, eq. (5)


class _Bilinear(NamedTuple):
    """What the bilinear forward computes, and its hand-written backward needs (P = H_out * W_out)."""

    output: Tensor  # (N, C, P): V, eq. (5)
    values: Tensor  # (N, C, 4, P): U_nm at the four neighbours (n0 m0, n0 m1, n1 m0, n1 m1)
    index: Tensor  # (N, 4, P): their flat indices n * W + m, clamped into the image
    inside: Tensor  # (N, 4, P): 1 where the neighbour lies in the image, 0 where it is padding
    kernel_x: Tensor  # (N, 2, P): max(0, 1 - |x_s - m|) for m = m0, m1
    kernel_y: Tensor  # (N, 2, P): max(0, 1 - |y_s - n|) for n = n0, n1
    weight: Tensor  # (N, 4, P): kernel_y * kernel_x * inside, the factor of each U_nm in eq. (5)


def _bilinear(input: Tensor, pix: Tensor) -> _Bilinear:
    """Eq. (5) on the four neighbours of each sampling point.

    Args:
        input: (N, C, H, W).
        pix: (N, P, 2) pixel coordinates (x_s, y_s), already moved by the padding mode.
    """
    height, width = input.shape[-2:]
    # The kernel is non-zero only for m in {floor(x_s), floor(x_s) + 1}, and likewise for n. The neighbours'
    # positions are integers and carry no gradient: detach.
    low = torch.floor(pix.detach()).movedim(-1, 1)  # (N, 2, P): floor(x_s), floor(y_s)
    m, n = torch.stack([low, low + 1], dim=2).unbind(1)  # (N, 2, P) each
    inside_m = (m >= 0) & (m <= width - 1)
    inside_n = (n >= 0) & (n <= height - 1)
    inside = (inside_n.unsqueeze(2) & inside_m.unsqueeze(1)).flatten(1, 2).to(pix.dtype)
    rows = n.clamp(0, height - 1).long()
    cols = m.clamp(0, width - 1).long()
    index = (rows.unsqueeze(2) * width + cols.unsqueeze(1)).flatten(1, 2)

    x_s, y_s = pix.movedim(-1, 1).unsqueeze(2).unbind(1)  # (N, 1, P) each
    kernel_x = torch.relu(1 - (x_s - m).abs())
    kernel_y = torch.relu(1 - (y_s - n).abs())
    weight = (kernel_y.unsqueeze(2) * kernel_x.unsqueeze(1)).flatten(1, 2) * inside

    values = _gather(input, index)  # U_nm
    output = (values * weight.unsqueeze(1)).sum(2)  # V = sum_nm U_nm k(x_s - m) k(y_s - n)
    return _Bilinear(output, values, index, inside, kernel_x, kernel_y, weight)


def bilinear_sample(
    input: Tensor, grid: Tensor, padding_mode: str = "zeros", align_corners: bool = False
) -> Tensor:
    """Sample ``input`` at ``grid`` with the bilinear kernel (eq. 5); autograd derives the gradients.

    Each output pixel is a weighted sum of the four input pixels around ``(x_s, y_s)``, with weights
    ``max(0, 1 - |x_s - m|) * max(0, 1 - |y_s - n|)``. Compare with :class:`BilinearSampler`, whose forward is
    this one and whose backward is written by hand.

    The kernel has kinks where ``x_s`` or ``y_s`` is an integer (a pixel centre); there autograd takes the
    derivative of ``|.|`` at 0 to be 0, so the grid gradient differs from PyTorch's (which takes the derivative
    from the right), and exactly on the border of ``"border"`` padding it passes the gradient where PyTorch
    gives 0. Everywhere else the two agree.

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
    pix, _ = _source_pixels(grid, height, width, padding_mode, align_corners)
    return _bilinear(input, pix).output.view(n, c, *grid.shape[1:3])


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

    Double backward (gradients of gradients) is not supported: asking for it raises a ``RuntimeError``.
    Use :func:`bilinear_sample` if you need it.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        input: Tensor,
        grid: Tensor,
        padding_mode: str = "zeros",
        align_corners: bool = False,
    ) -> Tensor:
        _check_inputs(input, grid, padding_mode)
        n, c, height, width = input.shape
        pix, slope = _source_pixels(grid, height, width, padding_mode, align_corners)
        result = _bilinear(input, pix)
        ctx.save_for_backward(slope, *result[1:])
        ctx.scale = _pixels_per_unit(height, width, align_corners, grid)  # type: ignore[attr-defined]
        ctx.input_shape = input.shape  # type: ignore[attr-defined]
        return result.output.view(n, c, *grid.shape[1:3])

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        slope, values, index, inside, kernel_x, kernel_y, weight = ctx.saved_tensors
        n, c, height, width = ctx.input_shape
        grad_v = grad_output.reshape(n, c, 1, -1)  # (N, C, 1, P)
        grad_input = grad_grid = None

        if ctx.needs_input_grad[0]:
            # eq. (6): dL/dU_nm = sum_i dL/dV_i * k(x_s^i - m) k(y_s^i - n)
            spread = (grad_v * weight.unsqueeze(1)).flatten(2)  # (N, C, 4P)
            grad_input = grad_v.new_zeros(n, c, height * width)
            grad_input.scatter_add_(2, index.reshape(n, 1, -1).expand(n, c, -1), spread)
            grad_input = grad_input.view(n, c, height, width)

        if ctx.needs_input_grad[1]:
            # eq. (7): dL/dx_s = sum_c dL/dV^c sum_nm U_nm^c k(y_s - n) k'(x_s - m), with k' = -1, +1 for m0, m1.
            # Sum over channels first, then over the 2 x 2 neighbours (n, m); padding neighbours read zero.
            grad_u = ((grad_v * values).sum(1) * inside).unflatten(1, (2, 2))  # (N, n, m, P)
            grad_x = ((grad_u[:, :, 1] - grad_u[:, :, 0]) * kernel_y).sum(1)
            grad_y = ((grad_u[:, 1] - grad_u[:, 0]) * kernel_x).sum(1)
            grad_pix = torch.stack([grad_x, grad_y], dim=-1)  # (N, P, 2)
            if slope is not None:
                grad_pix = grad_pix * slope
            grad_grid = (grad_pix * ctx.scale).view(n, *grad_output.shape[2:], 2)

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

    Raises:
        ValueError: wrong shapes, batch sizes that differ, an empty batch, NaN or inf in ``grid``, tensors on
            different devices, an unknown mode or padding mode.
        TypeError: a non-floating ``input``, or ``input`` and ``grid`` of different dtypes.

    Example:
        >>> import torch.nn.functional as F
        >>> image = torch.rand(2, 3, 8, 10)
        >>> identity = F.affine_grid(torch.eye(2, 3).expand(2, 2, 3), [2, 3, 8, 10], align_corners=False)
        >>> torch.allclose(grid_sample(image, identity), image, atol=1e-6)
        True
    """
    _check_choice(mode, "mode", MODES, " For bicubic use torch.nn.functional.grid_sample.")
    if mode == "nearest":
        return nearest_sample(input, grid, padding_mode, align_corners)
    return BilinearSampler.apply(input, grid, padding_mode, align_corners)
