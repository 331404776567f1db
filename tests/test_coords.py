"""Tests of stnlib.geometry.coords: the align_corners conventions, checked against PyTorch's own."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stnlib.geometry.coords import (
    normalized_linspace,
    normalized_to_pixel,
    normalized_to_pixel_matrix,
    pixel_to_normalized,
    pixel_to_normalized_matrix,
)

SMALL = settings(max_examples=25, deadline=None)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [1, 2, 5, 28])
def test_linspace_is_torchs_identity_grid(size, align_corners):
    with warnings.catch_warnings():  # torch warns about unit-size grids with align_corners=True
        warnings.simplefilter("ignore", UserWarning)
        identity = F.affine_grid(torch.eye(2, 3, dtype=torch.float64)[None], [1, 1, 1, size], align_corners)
    ours = normalized_linspace(size, align_corners, dtype=torch.float64)
    torch.testing.assert_close(ours, identity[0, 0, :, 0], atol=1e-15, rtol=0)


def test_linspace_values_for_both_conventions():
    torch.testing.assert_close(normalized_linspace(4, True), torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0]))
    torch.testing.assert_close(normalized_linspace(4, False), torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    torch.testing.assert_close(normalized_linspace(1, False), torch.tensor([0.0]))
    torch.testing.assert_close(normalized_linspace(1, True), torch.tensor([0.0]))
    assert normalized_linspace(3, False, dtype=torch.float64).dtype == torch.float64
    with pytest.raises(ValueError, match="positive number of pixels"):
        normalized_linspace(0, False)


def test_ends_of_the_axis():
    """align_corners=True: ±1 are the corner pixels' centres; False: their outer edges (half a pixel out)."""
    ends = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(
        normalized_to_pixel(ends, 10, True), torch.tensor([0.0, 9.0], dtype=torch.float64)
    )
    torch.testing.assert_close(
        normalized_to_pixel(ends, 10, False), torch.tensor([-0.5, 9.5], dtype=torch.float64)
    )


@SMALL
@given(size=st.integers(2, 64), align_corners=st.booleans(), seed=st.integers(0, 2**16))
def test_round_trip_on_one_axis(size, align_corners, seed):
    coords = torch.rand(20, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3 - 1.5
    pixels = normalized_to_pixel(coords, size, align_corners)
    torch.testing.assert_close(pixel_to_normalized(pixels, size, align_corners), coords)
    torch.testing.assert_close(
        normalized_to_pixel(pixel_to_normalized(pixels, size, align_corners), size, align_corners), pixels
    )


@SMALL
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    align_corners=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_round_trip_of_xy_points_on_non_square_images(height, width, align_corners, seed):
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.rand(3, 7, 2, generator=generator, dtype=torch.float64) * torch.tensor(
        [width - 1, height - 1]
    )
    normalized = pixel_to_normalized(pixels, (height, width), align_corners)
    # x uses W and y uses H, exactly as the one-axis functions do.
    torch.testing.assert_close(normalized[..., 0], pixel_to_normalized(pixels[..., 0], width, align_corners))
    torch.testing.assert_close(normalized[..., 1], pixel_to_normalized(pixels[..., 1], height, align_corners))
    if align_corners and 1 in (height, width):
        return  # a one-pixel axis maps everything to 0 (PyTorch's choice): no inverse on that axis
    torch.testing.assert_close(normalized_to_pixel(normalized, (height, width), align_corners), pixels)


def test_size_one_axis():
    pixel = torch.tensor([0.0])
    assert pixel_to_normalized(pixel, 1, False).item() == 0.0  # the centre of the only pixel
    assert pixel_to_normalized(pixel, 1, True).item() == 0.0  # both ends at once: PyTorch puts it at 0
    assert normalized_to_pixel(torch.tensor([0.0]), 1, False).item() == 0.0
    assert normalized_to_pixel(torch.tensor([0.7]), 1, True).item() == 0.0
    points = torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    torch.testing.assert_close(
        pixel_to_normalized(points, (3, 1), True), torch.tensor([[0.0, -1.0], [0.0, 1.0]])
    )


def test_xy_points_need_a_last_dimension_of_two():
    with pytest.raises(ValueError, match=r"\(x, y\) in the last dimension"):
        pixel_to_normalized(torch.zeros(4, 3), (5, 5), False)


@pytest.mark.parametrize("align_corners", [False, True])
def test_matrices_agree_with_the_point_maps(align_corners):
    size = (6, 11)
    points = torch.rand(10, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 12 - 1
    homogeneous = torch.cat([points, torch.ones(10, 1, dtype=torch.float64)], dim=1)
    to_normalized = pixel_to_normalized_matrix(size, align_corners, dtype=torch.float64)
    to_pixels = normalized_to_pixel_matrix(size, align_corners, dtype=torch.float64)
    torch.testing.assert_close(
        (homogeneous @ to_normalized.T)[:, :2], pixel_to_normalized(points, size, align_corners)
    )
    torch.testing.assert_close(
        (homogeneous @ to_pixels.T)[:, :2], normalized_to_pixel(points, size, align_corners)
    )
    torch.testing.assert_close(to_pixels @ to_normalized, torch.eye(3, dtype=torch.float64))
    assert (
        to_normalized.dtype == torch.float64
        and pixel_to_normalized_matrix(size, False).dtype == torch.float32
    )
