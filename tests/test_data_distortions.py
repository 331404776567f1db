"""stnlib.data.distortions: shapes, ranges, seeds, and each warp against PyTorch's own affine_grid/grid_sample."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stnlib.data.distortions import (
    DISTORTIONS,
    addition_pair,
    elastic,
    projective,
    rotate,
    rotate_translate_scale,
    translate,
    translate_clutter,
)


def _digits(n: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Synthetic 'digits': random strokes within 8 px of the centre of a 28x28 image, like MNIST's ink."""
    g = torch.Generator().manual_seed(seed)
    coords = torch.arange(28, dtype=torch.float32) - 13.5
    disc = coords.view(28, 1) ** 2 + coords.view(1, 28) ** 2 <= 8**2
    return ((torch.rand(n, 1, 28, 28, generator=g) > 0.6) & disc).to(dtype)


def _run(key: str, images: torch.Tensor, seed: int) -> torch.Tensor:
    """Call a registry entry the way its ``inputs`` field says."""
    d = DISTORTIONS[key]
    g = torch.Generator().manual_seed(seed)
    if d.inputs == "digits":
        return d.function(images, g)
    if d.inputs == "clutter":
        return d.function(images, g, _digits(20, seed=99, dtype=images.dtype))
    return d.function(images, images.flip(0), g)


def _rotation_theta(radians: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    cos, sin = radians.cos() * scale, radians.sin() * scale
    zero = torch.zeros_like(cos)
    return torch.stack([cos, -sin, zero, sin, cos, zero], dim=-1).view(-1, 2, 3)


def _warp(images: torch.Tensor, theta: torch.Tensor, size: int) -> torch.Tensor:
    grid = F.affine_grid(theta, [images.shape[0], images.shape[1], size, size], align_corners=False)
    return F.grid_sample(images, grid, align_corners=False)


# --- every variant ----------------------------------------------------------------------------------------------


def test_registry_lists_the_papers_variants() -> None:
    assert list(DISTORTIONS) == ["R", "RTS", "P", "E", "T", "TC", "ADD"]
    assert {k: d.output_shape for k, d in DISTORTIONS.items()} == {
        "R": (1, 28, 28),
        "RTS": (1, 42, 42),
        "P": (1, 28, 28),
        "E": (1, 28, 28),
        "T": (1, 60, 60),
        "TC": (1, 60, 60),
        "ADD": (2, 42, 42),
    }
    assert DISTORTIONS["ADD"].num_classes == 19
    assert all(d.num_classes == 10 for k, d in DISTORTIONS.items() if k != "ADD")


@pytest.mark.parametrize("key", list(DISTORTIONS))
def test_shape_range_and_background(key: str) -> None:
    images = _digits(16)
    out = _run(key, images, seed=0)
    assert out.shape == (16, *DISTORTIONS[key].output_shape) and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0 + 1e-6
    assert float(out.amax(dim=(1, 2, 3)).min()) > 0.5, "a digit vanished"
    if key not in ("TC", "P"):  # clutter may touch the border, and so may a corner pulled in by the P noise
        border = torch.cat([out[..., 0, :], out[..., -1, :], out[..., :, 0], out[..., :, -1]], dim=-1)
        assert float(border.abs().max()) < 1e-6


@pytest.mark.parametrize("key", list(DISTORTIONS))
def test_same_seed_same_output_other_seed_other_output(key: str) -> None:
    images = _digits(8)
    assert torch.equal(_run(key, images, seed=3), _run(key, images, seed=3))
    assert not torch.equal(_run(key, images, seed=3), _run(key, images, seed=4))


@pytest.mark.parametrize("key", ["R", "RTS", "P", "E", "T"])
def test_float64_stays_float64_and_matches_float32(key: str) -> None:
    out32 = _run(key, _digits(4), seed=1)
    out64 = _run(key, _digits(4, dtype=torch.float64), seed=1)
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64.float(), out32, atol=1e-4, rtol=0)


def test_bad_generator_and_images_are_explained() -> None:
    with pytest.raises(TypeError, match=r"torch\.Generator\(\)\.manual_seed"):
        rotate(_digits(2), 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="divide by 255"):
        rotate(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), torch.Generator())
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        rotate(torch.zeros(2, 28, 28), torch.Generator())
    with pytest.raises(ValueError, match="canvas"):
        translate(_digits(2), torch.Generator(), canvas=20)


# --- R ----------------------------------------------------------------------------------------------------------


def test_rotate_matches_torch_affine_grid_of_the_drawn_angle() -> None:
    images = _digits(32, dtype=torch.float64)
    out = rotate(images, torch.Generator().manual_seed(7), max_degrees=90)
    # rotate documents its draw: angles = max_degrees * (2u - 1), u = torch.rand(N, float64).
    u = torch.rand(32, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    angles = torch.deg2rad(90 * (2 * u - 1))
    assert float(angles.abs().max()) > math.radians(60), "the test should cover large angles"
    torch.testing.assert_close(out, _warp(images, _rotation_theta(angles), 28), atol=1e-10, rtol=0)


def test_rotate_by_zero_is_the_identity_and_turns_counter_clockwise() -> None:
    images = _digits(4)
    torch.testing.assert_close(rotate(images, torch.Generator(), max_degrees=0), images, atol=1e-5, rtol=0)
    # A bright dot right of centre moves up (row index decreases) under a small counter-clockwise turn.
    dot = torch.zeros(1, 1, 28, 28, dtype=torch.float64)
    dot[0, 0, 13:15, 22:24] = 1
    g = torch.Generator().manual_seed(0)
    u = float(torch.rand(1, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    turned = rotate(dot, g, max_degrees=30)
    rows = torch.arange(28, dtype=torch.float64).view(28, 1)
    row_of_mass = float((turned[0, 0] * rows).sum() / turned.sum())
    angle = 30 * (2 * u - 1)
    assert (row_of_mass - 13.5) * angle < 0, "positive angles must turn counter-clockwise on screen"


# --- RTS --------------------------------------------------------------------------------------------------------


def test_rts_matches_torch_affine_grid_of_the_drawn_parameters() -> None:
    images = _digits(16, dtype=torch.float64)
    out = rotate_translate_scale(images, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    angle = torch.deg2rad(45 * (2 * torch.rand(16, generator=g, dtype=torch.float64) - 1))
    scale = 0.7 + 0.5 * torch.rand(16, generator=g, dtype=torch.float64)
    offset = 7 * (2 * torch.rand(16, 2, generator=g, dtype=torch.float64) - 1)  # pixels, ±(42 - 28) / 2
    # In normalised units (align_corners=False): theta = [(S/28) L | -(2/28) L offset], L = R(angle) / scale.
    linear = _rotation_theta(angle, 1.0)[:, :, :2] / scale.view(-1, 1, 1)
    theta = torch.cat([42 / 28 * linear, -(2 / 28) * linear @ offset.unsqueeze(-1)], dim=-1)
    torch.testing.assert_close(out, _warp(images, theta, 42), atol=1e-10, rtol=0)


def test_rts_without_rotation_and_scaling_is_a_pure_move() -> None:
    images = _digits(6)
    out = rotate_translate_scale(images, torch.Generator().manual_seed(1), max_degrees=0, scale_range=(1, 1))
    torch.testing.assert_close(out.sum(dim=(1, 2, 3)), images.sum(dim=(1, 2, 3)), rtol=1e-4, atol=0)


# --- P ----------------------------------------------------------------------------------------------------------


def test_projective_without_noise_is_a_scale_about_the_centre() -> None:
    images = _digits(4, dtype=torch.float64)
    g = torch.Generator()
    same = projective(images, g, scale_range=(1.0, 1.0), corner_std_px=0.0)
    torch.testing.assert_close(same, images, atol=1e-10, rtol=0)
    half = projective(images, g, scale_range=(0.5, 0.5), corner_std_px=0.0)  # the digit shrinks by 2
    theta = torch.tensor([[2.0, 0, 0], [0, 2.0, 0]], dtype=torch.float64).expand(4, 2, 3)
    torch.testing.assert_close(half, _warp(images, theta, 28), atol=1e-10, rtol=0)


def _ramp_displacement(warp, **kwargs: float) -> torch.Tensor:
    """How far (pixels) each output pixel samples from itself: warp images that hold their own x or y."""
    coords = torch.arange(28, dtype=torch.float64)
    ramp_x = coords.view(1, 1, 1, 28).expand(64, 1, 28, 28)
    ramp_y = coords.view(1, 1, 28, 1).expand(64, 1, 28, 28)
    dx = warp(ramp_x, torch.Generator().manual_seed(0), **kwargs) - ramp_x
    dy = warp(ramp_y, torch.Generator().manual_seed(0), **kwargs) - ramp_y
    inner = (slice(None), 0, slice(8, 20), slice(8, 20))  # away from the zero padding
    return torch.stack([dx[inner], dy[inner]], dim=-1)


def test_projective_corner_noise_is_in_pixels() -> None:
    displacement = _ramp_displacement(projective, scale_range=(1.0, 1.0), corner_std_px=2.5)
    rms = float(displacement.pow(2).mean().sqrt())
    assert 0.4 < rms < 2.5, rms  # centre pixels move less than the σ = 2.5 px corners, but visibly


# --- E ----------------------------------------------------------------------------------------------------------


def test_elastic_without_noise_is_the_identity() -> None:
    images = _digits(4, dtype=torch.float64)
    torch.testing.assert_close(elastic(images, torch.Generator(), std_px=0.0), images, atol=1e-9, rtol=0)


def test_elastic_noise_is_in_pixels_and_smooth() -> None:
    displacement = _ramp_displacement(elastic, std_px=1.5)
    rms = float(displacement.pow(2).mean().sqrt())
    assert 0.5 < rms < 2.0, rms  # σ = 1.5 px at the control points, interpolated in between
    neighbour_step = (displacement[:, 1:] - displacement[:, :-1]).abs().max()
    assert float(neighbour_step) < 1.0, "a thin-plate spline moves neighbouring pixels together"


# --- T and TC ---------------------------------------------------------------------------------------------------


def test_translate_moves_whole_digits_by_whole_pixels() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(64, 1, 28, 28, generator=g) * 0.9 + 0.1  # no zero pixel: the box is visible
    out = translate(images, torch.Generator().manual_seed(1))
    tops, lefts = [], []
    for i in range(64):
        rows, cols = out[i, 0].nonzero().unbind(-1)
        top, left = int(rows.min()), int(cols.min())
        assert torch.equal(out[i, 0, top : top + 28, left : left + 28], images[i, 0])
        tops.append(top)
        lefts.append(left)
    assert min(tops + lefts) >= 0 and max(tops + lefts) <= 32
    assert max(tops) - min(tops) > 16 and max(lefts) - min(lefts) > 16, (
        "positions should spread over the canvas"
    )


def _unique_source(m: int) -> torch.Tensor:
    """Clutter digits whose every pixel value is distinct and positive, so a crop reveals where it came from."""
    return (torch.arange(m * 784, dtype=torch.float64) + 1).view(m, 1, 28, 28) / (m * 784 + 1)


def test_clutter_patches_are_whole_crops_inside_the_canvas() -> None:
    source = _unique_source(5)
    blank = torch.zeros(200, 1, 28, 28, dtype=torch.float64)
    out = translate_clutter(blank, torch.Generator().manual_seed(2), source, n_clutter=1)
    for i in range(200):
        rows, cols = out[i, 0].nonzero().unbind(-1)
        assert len(rows) == 36, "a 6x6 patch must land whole inside the canvas"
        top, left = int(rows.min()), int(cols.min())
        patch = out[i, 0, top : top + 6, left : left + 6]
        flat_index = (patch[0, 0] * (5 * 784 + 1)).round().long() - 1
        k, r, c = int(flat_index // 784), int(flat_index % 784 // 28), int(flat_index % 28)
        assert 4 <= r <= 18 and 4 <= c <= 18, "crops come from the central box of a digit"
        assert torch.equal(patch, source[k, 0, r : r + 6, c : c + 6])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_clutter=st.integers(1, 8), patch=st.integers(2, 10))
def test_clutter_count_and_values(seed: int, n_clutter: int, patch: int) -> None:
    source = _unique_source(3)
    out = translate_clutter(
        torch.zeros(4, 1, 28, 28, dtype=torch.float64),
        torch.Generator().manual_seed(seed),
        source,
        n_clutter=n_clutter,
        patch=patch,
    )
    lit = (out > 0).sum(dim=(1, 2, 3))
    assert bool((lit >= patch * patch).all()) and bool((lit <= n_clutter * patch * patch).all())
    assert bool(torch.isin(out[out > 0], source).all()), "every clutter pixel is a pixel of a source digit"


def test_clutter_is_added_on_top_of_the_translated_digit() -> None:
    images = _digits(8)
    source = _digits(10, seed=5)
    cluttered = translate_clutter(images, torch.Generator().manual_seed(4), source)
    plain = translate(images, torch.Generator().manual_seed(4))  # TC draws the translation first
    assert bool((cluttered >= plain).all())
    assert bool((cluttered > plain).any(dim=(1, 2, 3)).any()), "some clutter should be visible"


# --- ADD --------------------------------------------------------------------------------------------------------


def test_addition_pair_keeps_each_digit_in_its_own_channel() -> None:
    a, zeros = _digits(8), torch.zeros(8, 1, 28, 28)
    only_a = addition_pair(a, zeros, torch.Generator().manual_seed(0))
    assert only_a.shape == (8, 2, 42, 42)
    assert float(only_a[:, 1].abs().max()) == 0 and bool((only_a[:, 0].amax(dim=(1, 2)) > 0.5).all())
    only_b = addition_pair(zeros, a, torch.Generator().manual_seed(0))
    assert float(only_b[:, 0].abs().max()) == 0
    both = addition_pair(a, a, torch.Generator().manual_seed(0))
    assert not torch.allclose(both[:, 0], both[:, 1]), "the two digits must be distorted independently"


@pytest.mark.parametrize("module", ["distortions", "loader"])
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    results = doctest.testmod(importlib.import_module(f"stnlib.data.{module}"), optionflags=doctest.ELLIPSIS)
    assert results.attempted > 0 and results.failed == 0
