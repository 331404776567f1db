"""Probes: measuring what a trained spatial transformer does, beyond its classifier's test error.

Each probe answers one question the paper's figures answer by eye, with a number a lesson can print and a test or
benchmark can compare against a target:

* :func:`share_of_turn_undone` — does the transformer set digits upright? Upright digits are turned by known
  angles (:func:`turned_digits`); the slope of the transformer's turn back (:func:`rotation_degrees` of its θ)
  against the applied turn is 1 when it undoes the whole turn and 0 when it ignores it.
* :func:`window_contains` and :func:`window_side` — where does an attention window look, and how large is it?
  (cluttered MNIST: does the window hold the digit's centre, :func:`ink_centre`?)
* :func:`channel_sensitivity` — which input does each of two parallel transformers follow? (MNIST addition:
  change only one channel's digit and see which transformer's θ moves.)
* :func:`tps_undo_correlation` — does a thin-plate-spline transformer read each digit's own wobble? (Digits
  warped by known control-point jitter; the per-digit part of the learned displacements against the ideal undo.)

Example:
    >>> theta = torch.tensor([[[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]]])  # a quarter turn
    >>> rotation_degrees(theta)
    tensor([90.])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from stnlib import geometry
from stnlib._validation import check_size, check_tensor

__all__ = [
    "channel_sensitivity",
    "ink_centre",
    "rotation_degrees",
    "share_of_turn_undone",
    "tps_undo_correlation",
    "turned_digits",
    "window_contains",
    "window_side",
]


def rotation_degrees(theta: Tensor) -> Tensor:
    """The angle (degrees) of the rotation closest to each θ's 2x2 part, with :func:`~stnlib.geometry.affine_theta`'s sign.

    Args:
        theta: ``(N, 2, 3)`` affine matrices (output to input coordinates, eq. 1).

    Returns:
        ``(N,)`` angles in (-180, 180].
    """
    check_tensor(theta, "theta", "N 2 3")
    a = theta[:, :, :2]
    return torch.rad2deg(torch.atan2(a[:, 1, 0] - a[:, 0, 1], a[:, 0, 0] + a[:, 1, 1]))


def turned_digits(digits: Tensor, degrees: Tensor, canvas: int | None = None) -> Tensor:
    """Upright digits in the middle of a ``canvas x canvas`` image, turned by ``degrees`` about its centre.

    Args:
        digits: ``(N, C, H, W)`` floats in [0, 1], upright.
        degrees: ``(N,)`` turns, counter-clockwise on screen for positive angles.
        canvas: output side (``None``: the digits' own size, e.g. 42 for RTS-sized inputs pass 42).

    Returns:
        ``(N, C, canvas, canvas)``.
    """
    dims = check_tensor(digits, "digits", "N C H W")
    check_tensor(degrees, "degrees", "N", dims)
    side = digits.shape[-1] if canvas is None else canvas
    pad_h, pad_w = side - digits.shape[-2], side - digits.shape[-1]
    if pad_h < 0 or pad_w < 0:
        raise ValueError(f"canvas {side} is smaller than the digits ({tuple(digits.shape[-2:])})")
    placed = F.pad(digits, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
    theta = geometry.affine_theta(rotation=torch.deg2rad(degrees.to(placed)))
    return F.grid_sample(
        placed, F.affine_grid(theta, list(placed.shape), align_corners=False), align_corners=False
    )


def share_of_turn_undone(
    transformer: Callable[[Tensor], tuple[Tensor, Tensor]],
    digits: Tensor,
    *,
    canvas: int | None = None,
    max_degrees: float = 45.0,
    seed: int = 0,
) -> tuple[float, Tensor, Tensor]:
    """How much of a known turn an affine transformer undoes: the slope of its turn back against the turn.

    Args:
        transformer: returns ``(output, theta)`` with ``theta: (N, 2, 3)``, like
            :class:`~stnlib.models.SpatialTransformer` with the affine family.
        digits: ``(N, 1, H, W)`` upright digits in [0, 1] (e.g. MNIST test digits).
        canvas: the transformer's input side (42 for RTS); the digits are centred on it.
        max_degrees: turns are uniform in ``[-max_degrees, max_degrees]`` (RTS: 45).
        seed: seeds the turns.

    Returns:
        ``(share, turns, turns_back)``: the least-squares slope (1 = turned back upright, 0 = not turned), the
        applied turns and the transformer's turns back, both ``(N,)`` in degrees.
    """
    check_tensor(digits, "digits", "N 1 H W")
    generator = torch.Generator().manual_seed(seed)
    turns = (torch.rand(digits.shape[0], generator=generator) * 2 - 1).mul(max_degrees).to(digits.device)
    with torch.no_grad():
        _, theta = transformer(turned_digits(digits, turns, canvas))
    turns_back = -rotation_degrees(theta.float())
    x, y = turns - turns.mean(), turns_back - turns_back.mean()
    return ((x * y).sum() / (x * x).sum()).item(), turns, turns_back


def ink_centre(images: Tensor) -> Tensor:
    """Centre of mass of each image's ink, in pixels ``(x, y)``: where the digit is.

    Args:
        images: ``(N, C, H, W)``, non-negative (the channels are summed).

    Returns:
        ``(N, 2)``; an image without ink gets its pixel (0, 0).
    """
    check_tensor(images, "images", "N C H W")
    columns, rows = images.sum(dim=(1, 2)), images.sum(dim=(1, 3))  # (N, W), (N, H)
    mass = columns.sum(-1).clamp_min(1e-6)
    x = (columns * torch.arange(columns.shape[-1], device=images.device)).sum(-1) / mass
    y = (rows * torch.arange(rows.shape[-1], device=images.device)).sum(-1) / mass
    return torch.stack([x, y], dim=-1)


def window_contains(
    theta: Tensor, points: Tensor, size: Sequence[int], *, align_corners: bool = False
) -> Tensor:
    """Whether each sampled region (the output's square mapped through θ, eq. 1) contains a pixel point.

    Args:
        theta: ``(N, 2, 3)`` affine or attention matrices.
        points: ``(N, 2)`` pixel ``(x, y)`` in the input.
        size: the input's ``(H, W)``.
        align_corners: the convention θ was used with.

    Returns:
        ``(N,)`` booleans.
    """
    dims = check_tensor(theta, "theta", "N 2 3")
    check_tensor(points, "points", "N 2", dims)
    height, width = check_size(tuple(size), "size", "H W")
    normalised = geometry.pixel_to_normalized(points.to(theta), (height, width), align_corners)
    # Solve A u + t = p for the output coordinate u; the point is in the region when u lies in [-1, 1]^2.
    u = torch.linalg.solve(theta[:, :, :2], (normalised - theta[:, :, 2]).unsqueeze(-1)).squeeze(-1)
    return (u.abs() <= 1).all(dim=-1)


def window_side(theta: Tensor) -> Tensor:
    """The side of each sampled region as a fraction of the input's side: ``sqrt(|det A|)`` (1 = the whole input).

    Args:
        theta: ``(N, 2, 3)``.

    Returns:
        ``(N,)``.
    """
    check_tensor(theta, "theta", "N 2 3")
    return torch.linalg.det(theta[:, :, :2]).abs().sqrt()


def channel_sensitivity(
    transformers: Iterable[Callable[[Tensor], tuple[Tensor, Tensor]]], x: Tensor, *, seed: int = 0
) -> Tensor:
    """How strongly each transformer's parameters follow each input channel.

    For channel ``c``, every sample's channel ``c`` is swapped with another sample's (a fixed random pairing),
    the other channels kept; the mean change of each transformer's parameters is measured. On MNIST addition
    (digit ``a`` in channel 0, ``b`` in channel 1), two transformers that split the work each move mostly when
    "their" digit changes.

    Args:
        transformers: callables returning ``(output, params)`` (the ``transformers`` of a
            :class:`~stnlib.models.TwoTransformerClassifier`).
        x: ``(N, C, H, W)`` inputs, ``N >= 2``.
        seed: seeds the pairing.

    Returns:
        ``(T, C)``: row ``k`` is transformer ``k``'s mean parameter change per channel, normalised to sum to 1
        (a row ``[0.9, 0.1]`` follows channel 0).
    """
    check_tensor(x, "x", "N C H W")
    if x.shape[0] < 2:
        raise ValueError(f"x needs at least two samples to swap channels between; got {x.shape[0]}")
    generator = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    partner = (torch.arange(n) + torch.randint(1, n, (n,), generator=generator)) % n  # never itself
    rows = []
    with torch.no_grad():
        for transformer in transformers:
            base = transformer(x)[1].flatten(1)
            changes = []
            for c in range(x.shape[1]):
                swapped = x.clone()
                swapped[:, c] = x[partner.to(x.device), c]
                changes.append((transformer(swapped)[1].flatten(1) - base).norm(dim=1).mean())
            rows.append(torch.stack(changes))
    sensitivity = torch.stack(rows)
    return sensitivity / sensitivity.sum(dim=1, keepdim=True).clamp_min(1e-12)


def tps_undo_correlation(
    transformer: Callable[[Tensor], tuple[Tensor, Tensor]],
    digits: Tensor,
    *,
    grid_size: int = 4,
    std_px: float = 1.5,
    seed: int = 0,
) -> dict[str, float]:
    """Does a thin-plate-spline transformer undo each digit's own elastic warp?

    The digits are warped like the E distortion (each control point moved by ``N(0, std_px²)`` pixels), with
    known moves ``δ``. The transformer's target points, minus the control points, are its displacements; their
    mean over all digits is the *shared* warp every digit gets, the rest is *per digit*. A transformer that reads
    each digit's wobble moves its per-digit part towards the ideal undo ``-δ``.

    Args:
        transformer: returns ``(output, targets)`` with ``targets: (N, grid_size², 2)`` (a TPS
            :class:`~stnlib.models.SpatialTransformer` with its default control points).
        digits: ``(N, 1, H, W)`` clean digits in [0, 1], ``N >= 2``.
        grid_size, std_px: the E distortion's lattice and jitter.
        seed: seeds the jitter.

    Returns:
        ``correlation`` of the per-digit displacements with the ideal undo (0: unrelated, 1: perfect), and the
        mean lengths (pixels) of the ideal, ``shared`` and ``per_digit`` displacements.
    """
    check_tensor(digits, "digits", "N 1 H W")
    size = (digits.shape[-2], digits.shape[-1])
    control = geometry.tps_control_points(grid_size, device=digits.device, dtype=digits.dtype)
    noise = std_px * torch.randn(
        digits.shape[0], *control.shape, generator=torch.Generator().manual_seed(seed)
    )
    control_px = geometry.normalized_to_pixel(control, size, align_corners=False)
    targets = geometry.pixel_to_normalized(control_px + noise.to(digits), size, align_corners=False)
    grid = geometry.tps_grid(targets, digits.shape, control_points=control, align_corners=False)
    warped = F.grid_sample(digits, grid, align_corners=False)
    with torch.no_grad():
        learned = transformer(warped)[1].float()
    learned_px = geometry.normalized_to_pixel(learned, size, align_corners=False) - control_px
    ideal_px = -noise.to(learned_px)
    shared = learned_px.mean(dim=0)
    per_digit = learned_px - shared
    # A transformer that gives every digit the same warp has no per-digit part: no relation, correlation 0.
    spread = per_digit.flatten().std()
    correlation = (
        torch.corrcoef(torch.stack([per_digit.flatten(), ideal_px.flatten()]))[0, 1].item()
        if spread > 1e-6
        else 0.0
    )
    return {
        "correlation": correlation,
        "ideal_px": ideal_px.norm(dim=-1).mean().item(),
        "shared_px": shared.norm(dim=-1).mean().item(),
        "per_digit_px": per_digit.norm(dim=-1).mean().item(),
    }
