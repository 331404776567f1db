"""Checkers for Lesson 03 — the sampler (Sec. 3.3 of the paper: eqs. 3–7).

Each checker compares the student's sampler with :mod:`stnlib.sampling` and ``F.grid_sample`` (same shapes:
``input (N, C, H, W)``, ``grid (N, H_out, W_out, 2)`` of normalised ``(x, y)``, result
``(N, C, H_out, W_out)``), and names the usual mistake by rebuilding it from the reference:

* :func:`check_nearest_sample` — eq. (4), zero padding.
* :func:`check_bilinear_sample` — eq. (5), zero padding.
* :func:`check_bilinear_sample_border` — eq. (5) with ``padding_mode="border"``.
* :func:`check_bilinear_backward` — a hand-written backward implementing eqs. (6)–(7).

Example (in the lesson)::

    checks.lesson03.check_bilinear_sample(bilinear_sample)
    bilinear_sample = checks.use_or_fallback(bilinear_sample, stnlib.sampling.bilinear_sample)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from stnlib import sampling
from stnlib.checks._core import (
    Candidate,
    Case,
    Exercise,
    close_for_dtype,
    first_matching_message,
    random_uniform,
    reported_as,
)
from stnlib.geometry.coords import normalized_to_pixel, pixel_to_normalized

__all__ = [
    "bilinear_sample_border",
    "check_bilinear_backward",
    "check_bilinear_sample",
    "check_bilinear_sample_border",
    "check_nearest_sample",
]

Sampler = Callable[..., Tensor]
PixelMove = Callable[[Tensor, int], Tensor]  # move(pixels, axis_size): moves the points along one axis


# ------------------------------------------------------------------------------------------ references


def bilinear_sample_border(input: Tensor, grid: Tensor, align_corners: bool = False) -> Tensor:
    """The reference of the border-padding exercise: bilinear sampling (eq. 5) where points outside the image
    read the nearest border pixel.

    Args:
        input: ``(N, C, H, W)``.
        grid: ``(N, H_out, W_out, 2)`` normalised ``(x, y)``.
        align_corners: see :mod:`stnlib.geometry.coords`.

    Returns:
        ``(N, C, H_out, W_out)``, equal to ``F.grid_sample(input, grid, padding_mode="border")``.

    Example:
        >>> image = torch.tensor([[[[1.0, 2.0]]]])
        >>> bilinear_sample_border(image, torch.tensor([[[[3.0, 0.0]]]]))  # far right of the image
        tensor([[[[2.]]]])
    """
    return sampling.bilinear_sample(input, grid, padding_mode="border", align_corners=align_corners)


@reported_as("torch.nn.functional.grid_sample(mode='nearest')")
def _torch_nearest(input: Tensor, grid: Tensor, align_corners: bool = False) -> Tensor:
    return F.grid_sample(input, grid, mode="nearest", padding_mode="zeros", align_corners=align_corners)


@reported_as("torch.nn.functional.grid_sample(padding_mode='border')")
def _torch_border(input: Tensor, grid: Tensor, align_corners: bool = False) -> Tensor:
    return F.grid_sample(input, grid, mode="bilinear", padding_mode="border", align_corners=align_corners)


# ----------------------------------------------------------------------------------------------- cases


def _identity_grid(n: int, h: int, w: int, align_corners: bool, dtype: torch.dtype) -> Tensor:
    theta = torch.eye(2, 3, dtype=dtype).expand(n, 2, 3)
    return F.affine_grid(theta, [n, 1, h, w], align_corners=align_corners)


def _random_grid(
    n: int, h: int, w: int, spread: float, generator: torch.Generator, dtype: torch.dtype
) -> Tensor:
    """Uniform points in ``[-spread, spread]^2``; with ``spread > 1`` some fall outside the image."""
    points = random_uniform(n, h, w, 2, dtype=torch.float64, generator=generator) * 2 - 1
    return (points * spread).to(dtype)


def _turned_grid(
    n: int, size: tuple[int, int], angle: float, scale: float, align_corners: bool, dtype: torch.dtype
) -> Tensor:
    """A rotated and zoomed grid (several output points per input pixel when ``scale < 1``)."""
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    theta = torch.tensor([[cos, -sin, 0.13], [sin, cos, -0.07]], dtype=torch.float64).expand(n, 2, 3)
    return F.affine_grid(theta, [n, 1, *size], align_corners=align_corners).to(dtype)


def _case(name: str, input: Tensor, grid: Tensor, align_corners: bool) -> Case:
    """A case passed by keyword, so that reports name the arguments ("the gradient with respect to 'grid'")."""
    return Case(name, (), {"input": input, "grid": grid, "align_corners": align_corners})


def _unpack(case: Case) -> tuple[Tensor, Tensor, bool]:
    return case.kwargs["input"], case.kwargs["grid"], case.kwargs["align_corners"]


def _forward_cases(seed: int) -> list[Case]:
    """Cases for the forward exercises: the identity test first (the first test every sampler needs), then
    general positions; non-square sizes, both conventions, batches with channels, float32 and float64."""
    g = torch.Generator().manual_seed(seed)
    f32, f64 = torch.float32, torch.float64
    return [
        _case("identity grid on a 5x7 image (H=5, W=7), align_corners=False: the output must equal the input",
              random_uniform(1, 1, 5, 7, dtype=f32, generator=g), _identity_grid(1, 5, 7, False, f32), False),
        _case("identity grid on a 6x4 image (H=6, W=4), align_corners=True, float64",
              random_uniform(1, 2, 6, 4, dtype=f64, generator=g), _identity_grid(1, 6, 4, True, f64), True),
        *_general_cases(g),
    ]  # fmt: skip


def _gradient_cases(seed: int) -> list[Case]:
    return _general_cases(torch.Generator().manual_seed(seed))


def _general_cases(g: torch.Generator) -> list[Case]:
    """Cases at general positions (never within 0.02 pixels of a pixel centre, nor of halfway between two):
    there every derivative is defined, so gradients can be compared too, and rounding is unambiguous."""
    f32, f64 = torch.float32, torch.float64
    cases = [
        ("turned and zoomed in, batch of 2, 3 channels, 6x8 image to 4x9 output, align_corners=False",
         random_uniform(2, 3, 6, 8, dtype=f32, generator=g), _turned_grid(2, (4, 9), 0.5, 0.55, False, f32),
         False),
        ("random points, some outside the image, 5x6 image, batch of 2, float64, align_corners=True",
         random_uniform(2, 2, 5, 6, dtype=f64, generator=g), _random_grid(2, 3, 4, 1.3, g, f64), True),
        ("random points, some outside the image, 3x8 image (H=3, W=8), float64, align_corners=False",
         random_uniform(1, 1, 3, 8, dtype=f64, generator=g), _random_grid(1, 5, 2, 1.3, g, f64), False),
        ("a single row (H=1, W=5), float64, align_corners=False",
         random_uniform(2, 1, 1, 5, dtype=f64, generator=g), _random_grid(2, 2, 3, 1.2, g, f64), False),
        ("turned and zoomed in, 7x5 image to 8x3 output, float64, align_corners=True",
         random_uniform(1, 2, 7, 5, dtype=f64, generator=g), _turned_grid(1, (8, 3), -0.8, 0.7, True, f64),
         True),
    ]  # fmt: skip
    return [
        _case(name, input, _away_from_kinks(grid, input.shape[-2:], align_corners), align_corners)
        for name, input, grid, align_corners in cases
    ]


def _away_from_kinks(grid: Tensor, size: Sequence[int], align_corners: bool, margin: float = 0.02) -> Tensor:
    """Move points lying within ``margin`` pixels of a pixel centre or of halfway between two by 2.5 margins.

    At pixel centres the bilinear kernel has a kink (its derivative jumps), and halfway between two pixels the
    nearest-pixel rule must break a tie; both would make the comparison depend on float rounding.
    """

    def move(pixels: Tensor, n: int) -> Tensor:
        near = (pixels - torch.round(2 * pixels) / 2).abs() < margin
        return torch.where(near, pixels + 2.5 * margin, pixels)

    return _in_pixels(grid.double(), size, align_corners, move).to(grid.dtype)


# --------------------------------------------------------------------------------------------- helpers


def _in_pixels(
    grid: Tensor, size: Sequence[int], align_corners: bool, move: PixelMove, swap_sizes: bool = False
) -> Tensor:
    """Move the points of a normalised grid in pixel units: ``move(pixels, axis_size)`` per axis (x with W, y
    with H, or the other way round with ``swap_sizes``), and return the normalised grid of the moved points."""
    height, width = size
    sizes = (height, width) if swap_sizes else (width, height)
    axes = []
    for axis, n in enumerate(sizes):
        pixels = normalized_to_pixel(grid[..., axis], n, align_corners)
        true_size = (width, height)[axis]
        axes.append(pixel_to_normalized(move(pixels, n), true_size, align_corners))
    return torch.stack(axes, dim=-1)


def _moved(case: Case, move: PixelMove, swap_sizes: bool = False) -> Tensor:
    """The case's grid moved by :func:`_in_pixels` (on the case's image size and convention)."""
    input, grid, align_corners = _unpack(case)
    return _in_pixels(grid, input.shape[-2:], align_corners, move, swap_sizes)


def _scale(size: int, align_corners: bool) -> float:
    """Pixels per normalised unit along an axis of ``size`` pixels (read off the one conversion function)."""
    at = normalized_to_pixel(torch.tensor([0.0, 1.0], dtype=torch.float64), size, align_corners)
    return float(at[1] - at[0])


def _other_convention(align_corners: bool) -> str:
    """The diagnosis of a result computed with the other ``align_corners`` convention."""
    return (
        f"this is the align_corners={not align_corners} result; this case asks for "
        f"align_corners={align_corners}."
    )


def _sampling_candidates(case: Case, reference: Sampler) -> list[Candidate]:
    """Wrong answers that every sampler exercise can produce, made by running the reference (zero padding) on a
    wrong grid."""
    input, grid, align_corners = _unpack(case)

    def run(g: Tensor, corners: bool = align_corners) -> Tensor:
        return reference(input, g, padding_mode="zeros", align_corners=corners)

    def half_pixel_off(shift: float) -> Candidate:
        return (
            lambda: run(_moved(case, lambda p, n: p + shift)),
            f"your pixel coordinates are half a pixel too {'large' if shift > 0 else 'small'}: you placed "
            "pixel centres at the pixels' edges. Use normalized_to_pixel, which puts the centre of pixel i at "
            "coordinate i.",
        )

    return [
        (
            lambda: run(grid.flip(-1)),
            "x and y are swapped: grid[..., 0] is x_s, which runs along the width W (the columns m), and "
            "grid[..., 1] is y_s, which runs along the height H (the rows n).",
        ),
        (
            lambda: run(_moved(case, lambda p, n: p, swap_sizes=True)),
            "x was unnormalised with the height H and y with the width W: x (columns) goes with W = "
            "input.shape[-1], y (rows) with H = input.shape[-2].",
        ),
        (
            lambda: run(grid, corners=not align_corners),
            f"{_other_convention(align_corners)} Pass align_corners on to normalized_to_pixel.",
        ),
        half_pixel_off(0.5),
        half_pixel_off(-0.5),
    ]


# ------------------------------------------------------------------------ exercise 1: nearest (eq. 4)


def _diagnose_nearest(case: Case, actual: object, expected: object) -> str | None:
    input, grid, align_corners = _unpack(case)

    def rounded_down(rounding: Callable[[Tensor], Tensor]) -> Candidate:
        return (
            lambda: sampling.nearest_sample(
                input, _moved(case, lambda p, n: rounding(p)), "zeros", align_corners
            ),
            "you rounded down (floor, or .long() / int(), which cut off the fraction); eq. (4) picks the "
            "*nearest* pixel: torch.round(x).",
        )

    candidates: list[Candidate] = [
        rounded_down(torch.floor),
        rounded_down(torch.trunc),
        (
            lambda: sampling.nearest_sample(input, grid, "border", align_corners),
            "points outside the image must read 0 (zero padding): you clamped the positions into the image "
            "but did not zero the values read for points that were outside.",
        ),
        *_sampling_candidates(case, sampling.nearest_sample),
    ]
    return first_matching_message(actual, candidates, close_for_dtype, expected=expected)


check_nearest_sample = Exercise(
    "nearest_sample",
    sampling.nearest_sample,
    lambda: _forward_cases(seed=31),
    torch_fn=_torch_nearest,
    grad_wrt=("input",),
    diagnose=_diagnose_nearest,
    hint="x = normalized_to_pixel(grid[..., 0], W, align_corners) and y likewise with H; m = torch.round(x), "
    "n = torch.round(y); read_pixels(input, rows=n, cols=m) after clamping m into [0, W-1] and n into "
    "[0, H-1], then multiply by 0 where (m, n) was outside the image.",
).checker(
    """Check ``nearest_sample(input, grid, align_corners=False)``: eq. (4) with zero padding.

    Compared with :func:`stnlib.sampling.nearest_sample` and ``F.grid_sample(mode="nearest")`` on the values,
    and on the gradient with respect to ``input`` (each output pixel hands its gradient to the pixel it
    copied). The cases avoid points exactly halfway between two pixels, where the paper's ``floor(x + 0.5)``
    and PyTorch's round-half-to-even differ.
    """
)


# ----------------------------------------------------------------------- exercise 2: bilinear (eq. 5)


def _constant_image_problem(student_fn: Sampler, case: Case) -> str | None:
    """Sample an image of ones inside the image area: whatever the position, the four weights sum to 1 and the
    result must be 1. Returns a diagnosis if it is not."""
    input, grid, align_corners = _unpack(case)
    inner = _moved(case, lambda p, n: p.clamp(0, n - 1) if n > 1 else p * 0)
    ones = torch.ones_like(input)
    try:
        result = student_fn(ones, inner, align_corners=align_corners)
    except Exception:  # the report already shows the student's error, if any
        return None
    shape_ok = isinstance(result, Tensor) and result.shape == ones.shape[:2] + grid.shape[1:3]
    if shape_ok and not close_for_dtype(result, torch.ones_like(result)):
        return (
            "on an image of ones your result is not 1 everywhere inside the image: the four weights must "
            "sum to 1, k(x_s - m0) + k(x_s - m1) = 1 with k(d) = 1 - |d|, and the same for y (multiply "
            "an x-weight by a y-weight; do not add them)."
        )
    return None


def _mirrored_in_cell(pixels: Tensor, size: int) -> Tensor:
    """The point mirrored inside its pixel cell: the weights of m0 and m1 exchanged."""
    return 2 * torch.floor(pixels) + 1 - pixels


def _diagnose_bilinear(student_fn: Sampler, case: Case, actual: object, expected: object) -> str | None:
    if close_for_dtype(actual, expected):
        return None  # the values are right; what failed is the gradient, which the report explains
    input, grid, align_corners = _unpack(case)
    candidates = [
        *_sampling_candidates(case, sampling.bilinear_sample),
        (
            lambda: sampling.bilinear_sample(input, grid, "border", align_corners),
            "neighbours outside the image must count as 0 (zero padding): you clamped their positions "
            "into the image, so they read the border pixel instead. Multiply each weight by 0 where its "
            "neighbour (m, n) lies outside.",
        ),
        (
            lambda: sampling.bilinear_sample(input, _moved(case, _mirrored_in_cell), "zeros", align_corners),
            "the weights sit on the wrong neighbours: the pixel nearer to (x_s, y_s) must get the larger "
            "weight, k(x_s - m) = 1 - |x_s - m|: m0 = floor(x_s) gets 1 - (x_s - m0), m1 = m0 + 1 gets "
            "x_s - m0.",
        ),
    ]
    found = first_matching_message(actual, candidates, close_for_dtype)
    return found or _constant_image_problem(student_fn, case)


check_bilinear_sample = Exercise(
    "bilinear_sample",
    sampling.bilinear_sample,
    lambda: _forward_cases(seed=32),
    torch_fn=F.grid_sample,
    grad_wrt=("input",),
    hint="unnormalise x with W and y with H (normalized_to_pixel); m0 = floor(x), n0 = floor(y); for each "
    "of the four neighbours (m0 or m0+1, n0 or n0+1) add (1 - |x - m|) (1 - |y - n|) times the pixel, "
    "read with read_pixels at positions clamped into the image, and zero the term where the neighbour "
    "lies outside.",
    diagnose=_diagnose_bilinear,
    diagnose_sees_student=True,  # it also samples an image of ones with the student's function
).checker(
    """Check ``bilinear_sample(input, grid, align_corners=False)``: eq. (5) with zero padding.

    Compared with :func:`stnlib.sampling.bilinear_sample` and ``F.grid_sample`` on the values, and on the
    gradient with respect to ``input`` (eq. 6, here through autograd). The gradient with respect to the grid is
    the subject of the backward exercise (autograd's answer at exact pixel centres depends on how the kernel is
    written, so it is not compared here).
    """
)


# --------------------------------------------------------------------- exercise 3: border padding


def _diagnose_border(case: Case, actual: object, expected: object) -> str | None:
    input, grid, align_corners = _unpack(case)

    def zeros(g: Tensor) -> Tensor:
        return sampling.bilinear_sample(input, g, "zeros", align_corners)

    candidates: list[Candidate] = [
        (
            lambda: zeros(grid),
            "points outside the image still read 0: this is zero padding. Clamp the pixel coordinates into "
            "the image, x into [0, W-1] and y into [0, H-1], before sampling.",
        ),
        (
            lambda: zeros(grid.clamp(-1, 1)),
            "you clamped the normalised grid to [-1, 1]. With align_corners=False, ±1 are the outer "
            "edges of the border pixels, half a pixel beyond their centres, so the edge still blends "
            "with zero padding. Clamp in pixels, x into [0, W-1] and y into [0, H-1].",
        ),
        (
            lambda: zeros(_moved(case, lambda p, n: p.clamp(0, n))),
            "you clamped into [0, W] and [0, H]; the last pixel is W-1 (and H-1): clamp into [0, W-1] "
            "and [0, H-1].",
        ),
        (
            lambda: zeros(_moved(case, lambda p, n: p.clamp(0, n - 1), swap_sizes=True)),
            "x was clamped with the height and y with the width: x runs along W, y along H.",
        ),
        (lambda: bilinear_sample_border(input, grid, not align_corners), _other_convention(align_corners)),
    ]
    return first_matching_message(actual, candidates, close_for_dtype, expected=expected)


check_bilinear_sample_border = Exercise(
    "bilinear_sample_border",
    bilinear_sample_border,
    lambda: _gradient_cases(seed=33),
    torch_fn=_torch_border,
    grad_wrt=("input", "grid"),
    diagnose=_diagnose_border,
    hint="convert the grid to pixels (normalized_to_pixel: x with W, y with H), clamp x into [0, W-1] and y "
    "into [0, H-1], convert back (pixel_to_normalized) and sample with your bilinear_sample. Clamping keeps "
    "the gradient where the point was inside and gives 0 where it was moved.",
).checker(
    """Check ``bilinear_sample_border(input, grid, align_corners=False)``: bilinear sampling with
    ``padding_mode="border"`` (points outside read the nearest border pixel).

    Compared with :func:`bilinear_sample_border` (:func:`stnlib.sampling.bilinear_sample` with
    ``padding_mode="border"``) and ``F.grid_sample(padding_mode="border")``, on the values and on the gradients
    with respect to ``input`` and ``grid`` (zero along an axis where the point was clamped). The cases put many
    points outside the image and none exactly on a pixel centre, where the grid gradient needs a sub-gradient.
    """
)


# ------------------------------------------------------------- exercise 4: the backward (eqs. 6-7)


def _gradients(fn: Sampler, case: Case) -> tuple[Tensor | None, Tensor | None]:
    """``(dL/d input, dL/d grid)`` of ``L = sum(fn(input, grid) * weights)`` with fixed random weights."""
    _, kwargs = case.fresh(requires_grad=("input", "grid"))
    output = fn(**kwargs)
    weights = random_uniform(*output.shape, dtype=output.dtype, generator=torch.Generator().manual_seed(5))
    grad_input, grad_grid = torch.autograd.grad(
        (output * weights).sum(), (kwargs["input"], kwargs["grid"]), allow_unused=True
    )
    return grad_input, grad_grid


def _not_implemented(input: Tensor, grid: Tensor, align_corners: bool = False) -> Tensor:
    raise NotImplementedError


def _stub_as_not_implemented(fn: Sampler) -> Sampler:
    """The backward exercise's runner: a function whose backward still raises ``NotImplementedError`` (the
    lesson's stub) is checked as not implemented; any other, the reference included, as it is."""
    g = torch.Generator().manual_seed(0)
    input = torch.rand(1, 1, 3, 4, generator=g, requires_grad=True)
    grid = (torch.rand(1, 2, 2, 2, generator=g) * 1.6 - 0.8).requires_grad_()
    try:
        output = fn(input, grid, align_corners=False)
        if isinstance(output, Tensor) and output.requires_grad:
            output.sum().backward()
    except NotImplementedError:
        return _not_implemented
    except Exception:  # any other problem is for check_function to report, with the student's line
        pass
    return fn


def _diagnose_backward(student_fn: Sampler, case: Case, actual: object, expected: object) -> str | None:
    if not close_for_dtype(actual, expected):
        return (
            "the forward values are wrong: the forward of this exercise is given, so check that it still "
            "calls bilinear_sample and that bilinear_sample passed its check."
        )
    try:
        mine_input, mine_grid = _gradients(student_fn, case)
        grad_input, grad_grid = _gradients(F.grid_sample, case)
        border_case = Case(case.name, (), {**case.kwargs, "padding_mode": "border"})
        border_input, border_grid = _gradients(sampling.bilinear_sample, border_case)
    except Exception:  # e.g. the student's backward raises: the report shows it
        return None
    assert grad_input is not None and grad_grid is not None  # F.grid_sample is differentiable in both
    input, _, align_corners = _unpack(case)
    height, width = input.shape[-2:]
    per_axis = grad_grid.new_tensor([_scale(width, align_corners), _scale(height, align_corners)])
    other = grad_grid.new_tensor([_scale(width, not align_corners), _scale(height, not align_corners)])
    grid_candidates: list[Candidate] = [
        (
            lambda: grad_grid / per_axis,
            "the grid gradient lacks the unnormalisation scale. Eq. (7) gives dV/dx_s in pixels; the grid "
            "holds normalised coordinates, so multiply by d(pixels)/d(normalised) = W/2 for x and H/2 for "
            "y (align_corners=False), or (W-1)/2 and (H-1)/2 (align_corners=True).",
        ),
        (
            lambda: grad_grid / per_axis * other,
            f"the grid gradient uses the scale of align_corners={not align_corners}: with "
            f"align_corners={align_corners} one normalised unit is "
            + ("(W-1)/2 pixels along x." if align_corners else "W/2 pixels along x."),
        ),
        (
            lambda: grad_grid.flip(-1),
            "the x and y components of the grid gradient are swapped: stack (dL/dx_s, dL/dy_s) in that "
            "order, like the grid itself.",
        ),
        (
            lambda: -grad_grid,
            "the grid gradient has the wrong sign: moving x_s to the right raises the weight of the right "
            "neighbour m0 + 1 (k' = +1) and lowers that of m0 = floor(x_s) (k' = -1).",
        ),
    ]
    # close_for_dtype is False where the student's gradient is missing (None).
    input_ok = close_for_dtype(mine_input, grad_input)
    unmasked_input = not input_ok and close_for_dtype(mine_input, border_input)
    unmasked_grid = not close_for_dtype(mine_grid, grad_grid) and close_for_dtype(mine_grid, border_grid)
    if unmasked_input or unmasked_grid:
        which = (
            "eqs. (6) and (7)"
            if unmasked_input and unmasked_grid
            else "eq. (6)"
            if unmasked_input
            else "eq. (7)"
        )
        return (
            f"in {which} the neighbours outside the image must count as 0: multiply by the inside mask. "
            "read_pixels / add_to_pixels at clamped positions reach the border pixel, which then collects "
            "(or contributes) what belongs to the zero padding."
        )
    found = first_matching_message(mine_grid, grid_candidates, close_for_dtype, expected=grad_grid)
    if found or mine_input is None or input_ok:
        return found
    if float(mine_input.detach().sum()) < float(grad_input.sum()) - 1e-4 * float(grad_input.abs().sum()):
        return (
            "some of the gradient with respect to the input is lost: several output pixels read the same "
            "input pixel, and their contributions must add up. Use add_to_pixels (scatter_add_) for "
            "eq. (6), not an assignment such as grad[..., index] = values."
        )
    return None


check_bilinear_backward = Exercise(
    "bilinear_sampler",
    F.grid_sample,
    lambda: _gradient_cases(seed=34),
    torch_fn=sampling.grid_sample,
    grad_wrt=("input", "grid"),
    hint="for each neighbour (m, n) of the four: eq. (6) adds grad_output * k(x - m) k(y - n) (zero if "
    "outside) to pixel (n, m) with add_to_pixels; eq. (7) adds sum_c(grad_output * U_nm) * k(y - n) * "
    "(+1 for m = m0 + 1, -1 for m = m0) to dL/dx, likewise for y; finally multiply dL/dx by W/2 and dL/dy "
    "by H/2 (align_corners=False) or (W-1)/2 and (H-1)/2 (True).",
    runner=_stub_as_not_implemented,
    diagnose=_diagnose_backward,
    diagnose_sees_student=True,  # it also computes the student's gradients
).checker(
    """Check ``bilinear_sampler(input, grid, align_corners=False)``, whose gradients come from a hand-written
    ``backward`` implementing eqs. (6)–(7).

    Compared with the autograd of ``F.grid_sample`` (values and the gradients with respect to ``input`` and
    ``grid``) and with :func:`stnlib.sampling.grid_sample` (values). A backward that still raises
    ``NotImplementedError`` is reported as not implemented. The cases avoid exact pixel centres, where the
    kernel has a kink and a sub-gradient must be chosen.
    """
)
