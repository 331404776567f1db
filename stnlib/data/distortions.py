"""The distorted MNIST variants of the paper's experiments, generated in batches on the images' device.

Jaderberg et al. (2015, appendix) train on MNIST digits distorted on the fly:

========  ================================================================  ======  ========  =======
key       distortion                                                        canvas  channels  classes
========  ================================================================  ======  ========  =======
``R``     rotation, uniform in [-90°, 90°]                                  28      1         10
``RTS``   rotation ±45°, scale 0.7–1.2, random position                     42      1         10
``P``     projective: corners moved by Gaussian noise, plus a random scale  28      1         10
``E``     elastic: thin-plate spline through 16 jittered control points     28      1         10
``T``     translation to a random position                                  60      1         10
``TC``    translation plus six 6x6 crops of other digits as clutter        60      1         10
``ADD``   two digits, each RTS-distorted, one per channel; label = sum      42      2         19
========  ================================================================  ======  ========  =======

Every function takes float images in [0, 1], ``images: (N, C, H, W)`` (MNIST: ``(N, 1, 28, 28)``), and returns
``(N, C_out, S, S)`` with a zero background. Randomness comes only from the ``generator`` argument: all random
numbers are drawn on the CPU with it and then moved to the images' device, so a seed gives the same distortions
on CUDA, MPS and the CPU, and nothing depends on global random state. All work is batched: no Python loop over
the samples.

Warps are built as sampling grids (output pixel -> input position, :mod:`stnlib.geometry`) and resampled with
``torch.nn.functional.grid_sample`` (bilinear, zero padding, ``align_corners=False``); pixel <-> normalised
conversions go through :mod:`stnlib.geometry.coords`. Exact ranges the appendix does not give (the projective
and elastic noise levels, where clutter is cropped) are the course's choices and are keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from stnlib._validation import Dims, check_int, check_same_device, check_tensor
from stnlib.geometry.affine import affine_grid, pixel_matrix_to_theta
from stnlib.geometry.coords import normalized_to_pixel, pixel_to_normalized
from stnlib.geometry.projective import projective_grid, projective_params_from_corners
from stnlib.geometry.tps import tps_control_points, tps_grid

__all__ = [
    "DISTORTIONS",
    "Distortion",
    "addition_pair",
    "elastic",
    "projective",
    "rotate",
    "rotate_translate_scale",
    "translate",
    "translate_clutter",
]

_ALIGN_CORNERS = False  # PyTorch's default; the grids and the sampler below must agree on it


# ---------------------------------------------------------------------------------------------------------------
# Shared pieces: checks, random draws, placement, pasting.
# ---------------------------------------------------------------------------------------------------------------


def _check_images(images: object) -> Dims:
    return check_tensor(images, "images", "N C H W")


def _check_generator(generator: object) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator; got {type(generator).__name__}. "
            "Create one with torch.Generator().manual_seed(0)."
        )
    if generator.device.type != "cpu":
        raise ValueError(
            f"generator must live on the CPU (random numbers are drawn there, then moved, so results are the "
            f"same on every device); got a generator on {generator.device}. Use torch.Generator() without device=."
        )
    return generator


def _uniform(
    generator: torch.Generator, low: float, high: float, shape: tuple[int, ...], like: Tensor
) -> Tensor:
    """``shape`` numbers uniform in [low, high), drawn on the CPU in float64, then moved next to ``like``."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    # Cast on the CPU, then move: MPS has no float64.
    return (low + (high - low) * u).to(like.dtype).to(like.device)


def _normal(generator: torch.Generator, std: float, shape: tuple[int, ...], like: Tensor) -> Tensor:
    z = torch.randn(shape, generator=generator, dtype=torch.float64)
    return (std * z).to(like.dtype).to(like.device)


def _integers(
    generator: torch.Generator, low: int, high: int, shape: tuple[int, ...], device: torch.device
) -> Tensor:
    """Integers in [low, high] (inclusive), drawn on the CPU, moved to ``device``."""
    return torch.randint(low, high + 1, shape, generator=generator).to(device)


def _centre_px(size: tuple[int, int], like: Tensor) -> Tensor:
    """Pixel coordinates (x, y) of the image centre, i.e. of the normalised origin."""
    origin = torch.zeros(2, device=like.device, dtype=like.dtype)
    return normalized_to_pixel(origin, size, _ALIGN_CORNERS)


def _sample(images: Tensor, grid: Tensor) -> Tensor:
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=_ALIGN_CORNERS)


def _place(images: Tensor, angle: Tensor, scale: Tensor, offset: Tensor, canvas: int) -> Tensor:
    """Rotate, scale and move digits onto a ``canvas x canvas`` image in one bilinear resampling.

    The digit's centre goes to the canvas centre plus ``offset`` pixels; about its centre the digit is scaled by
    ``scale`` and turned by ``angle`` radians, counter-clockwise on screen for a positive angle.

    Args:
        images: ``(N, C, H, W)``.
        angle, scale: ``(N,)``.
        offset: ``(N, 2)`` pixels, (x, y).
        canvas: output side length in pixels.

    Returns:
        ``(N, C, canvas, canvas)``.
    """
    n, _, height, width = images.shape
    # The sampler needs the inverse map, canvas pixel q -> digit pixel p:
    #   p = c_in + (1 / s) R(angle) (q - c_out - offset),  R = [[cos, -sin], [sin, cos]]
    # (R turns points clockwise in y-down pixel coordinates, so the digit itself turns counter-clockwise).
    cos, sin = angle.cos() / scale, angle.sin() / scale
    linear = torch.stack([cos, -sin, sin, cos], dim=-1).view(n, 2, 2)
    c_in = _centre_px((height, width), images)
    c_out = _centre_px((canvas, canvas), images) + offset
    shift = c_in - (linear @ c_out.unsqueeze(-1)).squeeze(-1)
    matrix = torch.zeros(n, 3, 3, device=images.device, dtype=images.dtype)
    matrix[:, :2, :2], matrix[:, :2, 2], matrix[:, 2, 2] = linear, shift, 1
    theta = pixel_matrix_to_theta(matrix, (height, width), (canvas, canvas), _ALIGN_CORNERS)
    return _sample(images, affine_grid(theta, (theta.shape[0], 1, canvas, canvas), _ALIGN_CORNERS))


def _paste_max(canvas: Tensor, patches: Tensor, top: Tensor, left: Tensor) -> Tensor:
    """Paste ``K`` patches per image at integer positions, keeping the brighter pixel where they overlap.

    Args:
        canvas: ``(N, C, S, S)``.
        patches: ``(N, K, C, h, w)``.
        top, left: ``(N, K)`` integer pixel positions of each patch's top-left pixel; the patch must fit.

    Returns:
        ``(N, C, S, S)``, a new tensor.
    """
    n, channels, size, _ = canvas.shape
    _, k, _, h, w = patches.shape
    rows = top.unsqueeze(-1) + torch.arange(h, device=canvas.device)  # (N, K, h)
    cols = left.unsqueeze(-1) + torch.arange(w, device=canvas.device)  # (N, K, w)
    index = (rows.unsqueeze(-1) * size + cols.unsqueeze(-2)).view(n, 1, k * h * w).expand(n, channels, -1)
    values = patches.permute(0, 2, 1, 3, 4).reshape(n, channels, k * h * w)
    # amax is order-independent, so the result is deterministic on every device.
    flat = canvas.reshape(n, channels, size * size).scatter_reduce(2, index, values, reduce="amax")
    return flat.view(n, channels, size, size)


def _check_canvas(canvas: int, height: int, width: int) -> None:
    if check_int(canvas, "canvas", what="pixels") < max(height, width):
        raise ValueError(
            f"canvas must be at least as large as the digits ({height}x{width}); got canvas={canvas}. "
            "The digit has to fit on the canvas."
        )


# ---------------------------------------------------------------------------------------------------------------
# The distortions.
# ---------------------------------------------------------------------------------------------------------------


def rotate(images: Tensor, generator: torch.Generator, max_degrees: float = 90.0) -> Tensor:
    """R: rotate each digit about its centre by an angle uniform in ``[-max_degrees, max_degrees]``.

    The angles are ``max_degrees * (2 u - 1)`` with ``u = torch.rand(N, generator=generator, dtype=float64)``;
    a positive angle turns the digit counter-clockwise on screen. The affine sampling matrix is
    ``theta = [[cos a, -sin a, 0], [sin a, cos a, 0]]`` (eq. 1) for square images.

    Args:
        images: ``(N, C, H, W)`` floats in [0, 1].
        generator: a seeded CPU :class:`torch.Generator`.
        max_degrees: the largest rotation; the paper uses 90.

    Returns:
        ``(N, C, H, W)``, corners that come from outside the digit are 0.

    Example:
        >>> digits = torch.zeros(4, 1, 28, 28)
        >>> rotate(digits, torch.Generator().manual_seed(0)).shape
        torch.Size([4, 1, 28, 28])
    """
    _check_images(images)
    _check_generator(generator)
    n, _, height, width = images.shape
    if height != width:
        raise ValueError(f"rotate expects square images; got {height}x{width}. Pad them to a square first.")
    angle = torch.deg2rad(_uniform(generator, -max_degrees, max_degrees, (n,), images))
    no_offset = torch.zeros(n, 2, device=images.device, dtype=images.dtype)
    return _place(images, angle, torch.ones_like(angle), no_offset, height)


def rotate_translate_scale(
    images: Tensor,
    generator: torch.Generator,
    *,
    canvas: int = 42,
    max_degrees: float = 45.0,
    scale_range: tuple[float, float] = (0.7, 1.2),
) -> Tensor:
    """RTS: rotate by ±45°, scale by 0.7–1.2 and put each digit at a random position on a 42x42 canvas.

    Draws, in this order: angles (uniform), scales (uniform), then the digit centre's offset from the canvas
    centre, uniform in ``±(canvas - W) / 2`` pixels per axis, so the unscaled digit box stays on the canvas
    (MNIST's ink fills only the central 20x20, so a scaled, rotated digit rarely touches the edge). One
    bilinear resampling does all three.

    Args:
        images: ``(N, C, H, W)`` floats in [0, 1].
        generator: a seeded CPU :class:`torch.Generator`.
        canvas: output side length.
        max_degrees: rotations are uniform in ``[-max_degrees, max_degrees]``.
        scale_range: scales are uniform in this range; below 1 the digit shrinks.

    Returns:
        ``(N, C, canvas, canvas)``.
    """
    _check_images(images)
    _check_generator(generator)
    n, _, height, width = images.shape
    _check_canvas(canvas, height, width)
    angle = torch.deg2rad(_uniform(generator, -max_degrees, max_degrees, (n,), images))
    scale = _uniform(generator, *scale_range, (n,), images)
    reach = (canvas - max(height, width)) / 2
    offset = _uniform(generator, -reach, reach, (n, 2), images)
    return _place(images, angle, scale, offset, canvas)


def projective(
    images: Tensor,
    generator: torch.Generator,
    *,
    scale_range: tuple[float, float] = (0.75, 1.0),
    corner_std_px: float = 2.5,
) -> Tensor:
    """P: a random homography — scale the image box about its centre, then move its corners by Gaussian noise.

    Each output corner samples the input at ``centre + (corner - centre) / s + noise`` (pixels), with ``s``
    uniform in ``scale_range`` (so the digit shrinks by ``s``) and ``noise ~ N(0, corner_std_px²)`` per
    coordinate; :func:`~stnlib.geometry.projective.projective_params_from_corners` fits the homography through
    the four correspondences and :func:`~stnlib.geometry.projective.projective_grid` samples it.

    Args:
        images: ``(N, C, H, W)`` floats in [0, 1].
        generator: a seeded CPU :class:`torch.Generator`.
        scale_range: the random scale; the defaults are the course's choice.
        corner_std_px: standard deviation of the corner noise in input pixels (course's choice).

    Returns:
        ``(N, C, H, W)``.
    """
    _check_images(images)
    _check_generator(generator)
    n, channels, height, width = images.shape
    scale = _uniform(generator, *scale_range, (n, 1, 1), images)
    noise = _normal(generator, corner_std_px, (n, 4, 2), images)
    unit_corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], device=images.device)
    corners_px = normalized_to_pixel(unit_corners.to(images.dtype), (height, width), _ALIGN_CORNERS)
    centre = _centre_px((height, width), images)
    moved = centre + (corners_px - centre) / scale + noise
    params = projective_params_from_corners(pixel_to_normalized(moved, (height, width), _ALIGN_CORNERS))
    return _sample(images, projective_grid(params, (n, channels, height, width), _ALIGN_CORNERS))


def elastic(
    images: Tensor,
    generator: torch.Generator,
    *,
    grid_size: int = 4,
    std_px: float = 1.5,
) -> Tensor:
    """E: a thin-plate-spline warp through a 4x4 grid of control points moved by Gaussian noise.

    The ``grid_size²`` (16) control points of :func:`~stnlib.geometry.tps.tps_control_points` are converted to
    pixels, displaced by ``N(0, std_px²)`` per coordinate (σ ≈ 1.5 px, paper appendix), converted back to
    normalised units, and :func:`~stnlib.geometry.tps.tps_grid` interpolates the warp between them.

    Args:
        images: ``(N, C, H, W)`` floats in [0, 1].
        generator: a seeded CPU :class:`torch.Generator`.
        grid_size: control points per side.
        std_px: standard deviation of the control-point noise in input pixels.

    Returns:
        ``(N, C, H, W)``.
    """
    _check_images(images)
    _check_generator(generator)
    n, channels, height, width = images.shape
    control = tps_control_points(grid_size, device=images.device, dtype=images.dtype)
    noise = _normal(generator, std_px, (n, *control.shape), images)
    control_px = normalized_to_pixel(control, (height, width), _ALIGN_CORNERS)
    target = pixel_to_normalized(control_px + noise, (height, width), _ALIGN_CORNERS)
    grid = tps_grid(
        target, (n, channels, height, width), control_points=control, align_corners=_ALIGN_CORNERS
    )
    return _sample(images, grid)


def translate(images: Tensor, generator: torch.Generator, canvas: int = 60) -> Tensor:
    """T: put each digit, unchanged, at a random whole-pixel position on a ``canvas x canvas`` image.

    The top-left corner is uniform over the positions where the whole digit box fits. Whole pixels keep the
    digit exactly as it was (no interpolation blur).

    Args:
        images: ``(N, C, H, W)`` floats in [0, 1].
        generator: a seeded CPU :class:`torch.Generator`.
        canvas: output side length (60 in the paper).

    Returns:
        ``(N, C, canvas, canvas)``.
    """
    _check_images(images)
    _check_generator(generator)
    n, channels, height, width = images.shape
    _check_canvas(canvas, height, width)
    top = _integers(generator, 0, canvas - height, (n, 1), images.device)
    left = _integers(generator, 0, canvas - width, (n, 1), images.device)
    blank = images.new_zeros(n, channels, canvas, canvas)
    return _paste_max(blank, images.unsqueeze(1), top, left)


def translate_clutter(
    images: Tensor,
    generator: torch.Generator,
    clutter_source: Tensor,
    canvas: int = 60,
    n_clutter: int = 6,
    patch: int = 6,
) -> Tensor:
    """TC: :func:`translate`, then ``n_clutter`` random ``patch x patch`` crops of other digits as clutter.

    The translation is drawn first, exactly as :func:`translate` draws it, so ``translate`` with an equally
    seeded generator shows the same placement without clutter. Then it draws: which digit of ``clutter_source`` each crop comes from, the crop's top-left
    corner inside the central 20x20 box of that digit (where MNIST's strokes are, so crops are rarely empty),
    and where on the canvas it goes (anywhere it fits whole). Overlaps keep the brighter pixel. All crops and
    pastes are done with one gather and one scatter for the whole batch.

    Args:
        images: ``(N, C, H, W)`` floats in [0, 1], the digits to classify.
        generator: a seeded CPU :class:`torch.Generator`.
        clutter_source: ``(M, C, H, W)`` digits to cut clutter from (other digits of the same split).
        canvas: output side length (60 in the paper).
        n_clutter: crops per image (6 in the paper).
        patch: crop side length (6 in the paper).

    Returns:
        ``(N, C, canvas, canvas)``.
    """
    dims = _check_images(images)
    n, _, height, width = images.shape
    check_tensor(clutter_source, "clutter_source", "M C H W", dims)
    check_same_device(images, "images", clutter_source, "clutter_source")
    if dims["M"] == 0:
        raise ValueError(
            "clutter_source is empty (M=0); pass the digits to cut clutter from, e.g. the split's images"
        )
    check_int(n_clutter, "n_clutter", minimum=0)
    if not 0 < check_int(patch, "patch", what="pixels") <= min(height, width):
        raise ValueError(f"patch must be between 1 and the digit size {min(height, width)}; got {patch}")
    translated = translate(images, generator, canvas)
    m = clutter_source.shape[0]
    source = _integers(generator, 0, m - 1, (n, n_clutter), images.device)
    # Crops start inside the central box (a 4-pixel margin on 28x28 MNIST) when the patch fits there.
    margin_y, margin_x = min(4, (height - patch) // 2), min(4, (width - patch) // 2)
    crop_top = _integers(generator, margin_y, height - patch - margin_y, (n, n_clutter), images.device)
    crop_left = _integers(generator, margin_x, width - patch - margin_x, (n, n_clutter), images.device)
    rows = (crop_top.unsqueeze(-1) + torch.arange(patch, device=images.device)).unsqueeze(-1)  # (N, K, p, 1)
    cols = (crop_left.unsqueeze(-1) + torch.arange(patch, device=images.device)).unsqueeze(-2)  # (N, K, 1, p)
    patches = clutter_source.permute(0, 2, 3, 1)[source[..., None, None], rows, cols]  # (N, K, p, p, C)
    patches = patches.permute(0, 1, 4, 2, 3)
    top = _integers(generator, 0, canvas - patch, (n, n_clutter), images.device)
    left = _integers(generator, 0, canvas - patch, (n, n_clutter), images.device)
    return _paste_max(translated, patches, top, left)


def addition_pair(
    images_a: Tensor,
    images_b: Tensor,
    generator: torch.Generator,
    *,
    canvas: int = 42,
    max_degrees: float = 45.0,
    scale_range: tuple[float, float] = (0.7, 1.2),
) -> Tensor:
    """ADD: two digits, each independently RTS-distorted on a common canvas, stacked as two channels.

    The network sees digit ``a`` in channel 0 and digit ``b`` in channel 1 and must output ``label_a +
    label_b`` (19 classes, 0–18). Our choice, following the paper's description: each digit gets its own
    rotation, scale and position with the RTS ranges (:func:`rotate_translate_scale`) on one 42x42 canvas, so
    the two channels are aligned pixel for pixel but the digits are not — a single transformer cannot undo
    both, which is what the paper's 2xST-FCN exploits.

    Args:
        images_a, images_b: ``(N, 1, H, W)`` floats in [0, 1].
        generator: a seeded CPU :class:`torch.Generator`.
        canvas, max_degrees, scale_range: as in :func:`rotate_translate_scale`.

    Returns:
        ``(N, 2, canvas, canvas)``.
    """
    dims = check_tensor(images_a, "images_a", "N 1 H W")
    check_tensor(images_b, "images_b", "N 1 H W", dims)
    check_same_device(images_a, "images_a", images_b, "images_b")
    both = torch.cat([images_a, images_b], dim=0)
    warped = rotate_translate_scale(
        both, generator, canvas=canvas, max_degrees=max_degrees, scale_range=scale_range
    )  # (2N, 1, S, S): the first N are the a digits
    return torch.cat(warped.chunk(2, dim=0), dim=1)


# ---------------------------------------------------------------------------------------------------------------
# The registry.
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Distortion:
    """One variant of distorted MNIST and the shape of what it produces.

    Attributes:
        key: the registry key (``"RTS"``).
        description: one line for people.
        function: the distortion; its call depends on ``inputs``.
        inputs: ``"digits"`` — ``function(images, generator)``; ``"clutter"`` —
            ``function(images, generator, clutter_source)``; ``"pair"`` — ``function(images_a, images_b,
            generator)`` with label ``label_a + label_b``.
        canvas: output side length ``S``.
        channels: output channels ``C``.
        num_classes: number of labels a classifier must tell apart.
    """

    key: str
    description: str
    function: Callable[..., Tensor]
    inputs: Literal["digits", "clutter", "pair"]
    canvas: int
    channels: int
    num_classes: int

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """``(C, S, S)`` of one distorted sample, from which models derive their sizes."""
        return (self.channels, self.canvas, self.canvas)


DISTORTIONS: dict[str, Distortion] = {
    d.key: d
    for d in (
        Distortion("R", "rotated ±90°", rotate, "digits", 28, 1, 10),
        Distortion(
            "RTS", "rotated ±45°, scaled 0.7–1.2, moved on 42x42", rotate_translate_scale, "digits", 42, 1, 10
        ),
        Distortion("P", "projective (jittered corners, random scale)", projective, "digits", 28, 1, 10),
        Distortion("E", "elastic (thin-plate spline, 16 jittered points)", elastic, "digits", 28, 1, 10),
        Distortion("T", "translated on 60x60", translate, "digits", 60, 1, 10),
        Distortion("TC", "translated on 60x60 with 6 clutter crops", translate_clutter, "clutter", 60, 1, 10),
        Distortion("ADD", "two RTS digits in two channels, label = sum", addition_pair, "pair", 42, 2, 19),
    )
}
"""The paper's variants by key; ``DISTORTIONS["RTS"].output_shape == (1, 42, 42)``."""
