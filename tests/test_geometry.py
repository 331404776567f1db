"""Tests of stnlib.geometry: affine, projective and thin-plate-spline grid generators.

Everything that PyTorch also implements is compared with PyTorch (F.affine_grid, F.grid_sample, autograd).
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stnlib.geometry import (
    affine_grid,
    affine_theta,
    attention_theta,
    base_grid,
    compose_affine,
    from_homogeneous,
    identity_affine,
    identity_attention,
    identity_projective,
    identity_tps,
    invert_affine,
    normalized_to_pixel,
    pixel_matrix_to_theta,
    pixel_to_normalized,
    projective_grid,
    projective_matrix,
    projective_params_from_corners,
    radial_basis,
    theta_to_pixel_matrix,
    to_homogeneous,
    tps_coefficients,
    tps_control_points,
    tps_grid,
    tps_transform,
)

SMALL = settings(max_examples=25, deadline=None)
TOL = {torch.float32: 1e-6, torch.float64: 1e-12}
DTYPES = [torch.float32, torch.float64]
# (N, C, H_out, W_out): square, non-square both ways, single row/column, a single pixel.
SIZES = [(2, 1, 5, 5), (2, 3, 4, 7), (2, 1, 9, 3), (2, 1, 1, 6), (2, 1, 6, 1), (2, 1, 1, 1)]


def random_theta(n: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    """Identity plus a moderate random perturbation: values of order 1, like a trained localization net's."""
    generator = torch.Generator().manual_seed(seed)
    return identity_affine(n, dtype=dtype) + 0.4 * torch.randn(n, 2, 3, generator=generator, dtype=dtype)


def warp(image: torch.Tensor, theta: torch.Tensor, align_corners: bool = False, **kwargs) -> torch.Tensor:
    grid = affine_grid(theta, image.shape, align_corners)
    return F.grid_sample(image, grid, align_corners=align_corners, **kwargs)


# --------------------------------------------------------------------------------------------- affine grid


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", SIZES)
def test_affine_grid_equals_torch(size, align_corners, dtype):
    theta = random_theta(size[0], dtype)
    ours = affine_grid(theta, size, align_corners)
    with warnings.catch_warnings():  # torch warns about unit-size grids with align_corners=True
        warnings.simplefilter("ignore", UserWarning)
        theirs = F.affine_grid(theta, list(size), align_corners=align_corners)
    assert ours.shape == (size[0], size[2], size[3], 2)
    assert ours.dtype == dtype
    torch.testing.assert_close(ours, theirs, atol=TOL[dtype], rtol=0)


def test_affine_grid_accepts_torch_size_and_downsamples_like_torch():
    """Output size differs from the input size: sampling a 20x30 image onto 7x11 matches torch's own warp."""
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(3, 2, 20, 30, generator=generator)
    theta = random_theta(3, seed=1)
    size = torch.Size([3, 2, 7, 11])
    for align_corners in (False, True):
        ours = F.grid_sample(image, affine_grid(theta, size, align_corners), align_corners=align_corners)
        theirs = F.grid_sample(
            image, F.affine_grid(theta, size, align_corners=align_corners), align_corners=align_corners
        )
        assert ours.shape == (3, 2, 7, 11)
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_affine_grid_gradcheck():
    theta = random_theta(2, torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: affine_grid(t, (2, 1, 3, 4), False), (theta,))
    assert torch.autograd.gradcheck(lambda t: affine_grid(t, (2, 1, 4, 3), True), (theta,))


def test_affine_grid_gradient_equals_torch():
    theta = random_theta(2, torch.float64).requires_grad_()
    weights = torch.randn(2, 5, 6, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    (ours,) = torch.autograd.grad((affine_grid(theta, (2, 1, 5, 6)) * weights).sum(), theta)
    (theirs,) = torch.autograd.grad((F.affine_grid(theta, [2, 1, 5, 6], False) * weights).sum(), theta)
    torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=0)


@pytest.mark.parametrize("align_corners", [False, True])
def test_base_grid_is_pixel_centres(align_corners):
    grid = base_grid(3, 5, align_corners, dtype=torch.float64)
    assert grid.shape == (3, 5, 3)
    rows, cols = torch.meshgrid(torch.arange(3.0), torch.arange(5.0), indexing="ij")
    pixels = torch.stack([cols, rows], dim=-1).double()
    torch.testing.assert_close(grid[..., :2], pixel_to_normalized(pixels, (3, 5), align_corners))
    assert bool((grid[..., 2] == 1).all())


@SMALL
@given(
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    align_corners=st.booleans(),
    double=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_identity_theta_reproduces_the_input(height, width, align_corners, double, seed):
    """Problem #2 of the paper facts: identity in, identity out (with the matching align_corners)."""
    dtype = torch.float64 if double else torch.float32
    image = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    out = warp(image, identity_affine(2, dtype=dtype), align_corners)
    torch.testing.assert_close(out, image, atol=10 * TOL[dtype], rtol=0)


@SMALL
@given(
    height=st.integers(1, 8), width=st.integers(1, 8), align_corners=st.booleans(), seed=st.integers(0, 2**16)
)
def test_sampling_at_pixel_centres_returns_the_pixels(height, width, align_corners, seed):
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 1, height, width, generator=generator, dtype=torch.float64)
    cols = torch.randint(0, width, (5,), generator=generator)
    rows = torch.randint(0, height, (5,), generator=generator)
    pixels = torch.stack([cols, rows], dim=-1).double()
    grid = pixel_to_normalized(pixels, (height, width), align_corners).view(1, 1, 5, 2)
    sampled = F.grid_sample(image, grid, align_corners=align_corners).view(5)
    torch.testing.assert_close(sampled, image[0, 0, rows, cols], atol=1e-12, rtol=0)


# --------------------------------------------------------------------------------------------- affine_theta


def test_affine_theta_is_rotation_shear_scale_then_translation():
    rotation, sx, sy, shear, tx, ty = 0.7, 1.3, 0.6, 0.25, -0.2, 0.4
    theta = affine_theta(rotation, (sx, sy), shear, (tx, ty), dtype=torch.float64)
    c, s = math.cos(rotation), math.sin(rotation)
    rotate = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    shear_matrix = torch.tensor([[1.0, shear], [0.0, 1.0]], dtype=torch.float64)
    expected = torch.cat([rotate @ shear_matrix @ torch.diag(torch.tensor([sx, sy])).double(),
                          torch.tensor([[tx], [ty]], dtype=torch.float64)], dim=1)  # fmt: skip
    assert theta.shape == (1, 2, 3)
    torch.testing.assert_close(theta[0], expected)


def _centre_of_mass(image: torch.Tensor) -> tuple[float, float]:
    """(x, y) in pixels of a (1, 1, H, W) image."""
    height, width = image.shape[-2:]
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    mass = image[0, 0]
    return float((mass * cols).sum() / mass.sum()), float((mass * rows).sum() / mass.sum())


def test_positive_rotation_turns_content_counter_clockwise_on_screen():
    image = torch.zeros(1, 1, 21, 21)
    image[0, 0, 10, 16] = 1.0  # right of the centre (10, 10)
    out = warp(image, affine_theta(math.pi / 2), align_corners=True)
    x, y = _centre_of_mass(out)
    assert (x, y) == pytest.approx((10.0, 4.0), abs=1e-4)  # now above the centre: counter-clockwise on screen


def test_scale_below_one_zooms_in_and_translation_moves_content_the_other_way():
    image = torch.zeros(1, 1, 16, 16)
    image[0, 0, 7:9, 7:9] = 1.0  # a 2x2 block at the centre
    zoomed = warp(image, affine_theta(scale=0.5))
    assert float(zoomed.sum()) == pytest.approx(4 * float(image.sum()), rel=1e-5)  # area grows by 1/0.5²
    shifted = warp(image, affine_theta(translation=(0.25, 0.0)))  # 0.25 normalised = 2 pixels of 16
    assert _centre_of_mass(shifted) == pytest.approx((5.5, 7.5), abs=1e-4)  # moved left


def test_affine_theta_broadcasts_numbers_and_tensors():
    rotation = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    theta = affine_theta(rotation, scale=2.0, translation=(0.1, 0.2))
    assert theta.shape == (3, 2, 3) and theta.dtype == torch.float64
    for i in range(3):
        torch.testing.assert_close(theta[i : i + 1], affine_theta(float(rotation[i]), 2.0, 0.0, (0.1, 0.2),
                                                                  dtype=torch.float64))  # fmt: skip
    assert affine_theta(batch_size=4).shape == (4, 2, 3)
    torch.testing.assert_close(affine_theta(batch_size=4), identity_affine(4))
    per_item = affine_theta(scale=torch.tensor([[1.0, 2.0], [3.0, 4.0]]), translation=torch.zeros(2))
    torch.testing.assert_close(per_item[:, :, :2], torch.diag_embed(torch.tensor([[1.0, 2.0], [3.0, 4.0]])))


def test_affine_theta_keeps_autograd():
    rotation = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    scale = torch.tensor([[1.1, 0.9], [0.8, 1.2]], dtype=torch.float64, requires_grad=True)
    shear = torch.tensor([0.1, 0.0], dtype=torch.float64, requires_grad=True)
    translation = torch.tensor([[0.1, 0.2], [-0.3, 0.0]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(affine_theta, (rotation, scale, shear, translation))


def test_affine_theta_rejects_mismatched_batches():
    with pytest.raises(ValueError, match="translation and rotation disagree on N"):
        affine_theta(torch.zeros(3), translation=torch.zeros(2, 2))
    with pytest.raises(ValueError, match="rotation and batch_size disagree on N"):
        affine_theta(torch.zeros(3), batch_size=2)


def test_attention_theta_is_equation_2():
    params = torch.tensor([[0.5, 0.1, -0.2], [1.0, 0.0, 0.0]])
    theta = attention_theta(params)
    torch.testing.assert_close(theta[:1], affine_theta(scale=0.5, translation=(0.1, -0.2)))
    torch.testing.assert_close(attention_theta(identity_attention(3)), identity_affine(3))
    assert identity_attention(2, dtype=torch.float64).dtype == torch.float64


# --------------------------------------------------------------------------------------------- algebra


def test_homogeneous_round_trip_and_rejection_of_projective():
    theta = random_theta(3)
    matrix = to_homogeneous(theta)
    assert matrix.shape == (3, 3, 3)
    torch.testing.assert_close(matrix[:, 2], torch.tensor([0.0, 0.0, 1.0]).expand(3, 3))
    torch.testing.assert_close(from_homogeneous(matrix), theta)
    matrix[1, 2, 0] = 0.3
    with pytest.raises(ValueError, match="last row must be"):
        from_homogeneous(matrix)


def test_compose_affine_is_the_point_map_a_after_b():
    theta_a, theta_b = random_theta(2, torch.float64, 3), random_theta(2, torch.float64, 4)
    points = torch.randn(2, 3, 5, dtype=torch.float64)
    points[:, 2] = 1
    torch.testing.assert_close(
        compose_affine(theta_a, theta_b) @ points, theta_a @ (to_homogeneous(theta_b) @ points)
    )


@pytest.mark.parametrize("align_corners", [False, True])
def test_compose_affine_warping_order_exact_for_pixel_permutations(align_corners):
    """Warp with theta_b, then with theta_a == one warp with compose_affine(theta_b, theta_a) (docstring claim)."""
    image = torch.rand(1, 2, 6, 6, generator=torch.Generator().manual_seed(5))
    theta_b = torch.tensor([[[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])  # mirror left-right
    theta_a = affine_theta(math.pi / 2)  # a quarter turn
    two_steps = warp(warp(image, theta_b, align_corners), theta_a, align_corners)
    torch.testing.assert_close(warp(image, compose_affine(theta_b, theta_a), align_corners), two_steps)
    wrong_order = warp(image, compose_affine(theta_a, theta_b), align_corners)
    assert (wrong_order - two_steps).abs().max() > 0.1


def test_compose_affine_warping_order_approximate_for_smooth_warps():
    height = width = 48
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    image = (torch.sin(2.5 * xs + 1.0) * torch.cos(2.0 * ys - 0.5)).view(1, 1, height, width)
    theta_b = affine_theta(0.3, (0.9, 0.8), 0.0, (0.05, -0.05))
    theta_a = affine_theta(-0.2, (0.85, 0.95), 0.1, (-0.1, 0.05))
    two_steps = warp(warp(image, theta_b), theta_a)
    interior = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    right = (warp(image, compose_affine(theta_b, theta_a)) - two_steps)[interior].abs().max()
    wrong = (warp(image, compose_affine(theta_a, theta_b)) - two_steps)[interior].abs().max()
    assert right < 0.01 and wrong > 0.08  # measured: 0.0027 and 0.12
    # What holds exactly: the composed grid is theta_b applied to theta_a's grid.
    grid_a = affine_grid(theta_a, (1, 1, 5, 7))
    grid_a_homogeneous = torch.cat([grid_a, torch.ones_like(grid_a[..., :1])], dim=-1)
    torch.testing.assert_close(
        affine_grid(compose_affine(theta_b, theta_a), (1, 1, 5, 7)), grid_a_homogeneous @ theta_b[0].T
    )


@SMALL
@given(
    rotation=st.floats(-math.pi, math.pi),
    log_sx=st.floats(-1.5, 1.5),
    log_sy=st.floats(-1.5, 1.5),
    shear=st.floats(-2, 2),
    tx=st.floats(-2, 2),
    ty=st.floats(-2, 2),
    align_corners=st.booleans(),
)
def test_compose_with_inverse_gives_the_identity_grid(rotation, log_sx, log_sy, shear, tx, ty, align_corners):
    theta = affine_theta(rotation, (math.exp(log_sx), math.exp(log_sy)), shear, (tx, ty), dtype=torch.float64)
    identity_grid = affine_grid(identity_affine(1, dtype=torch.float64), (1, 1, 4, 5), align_corners)
    for composed in (
        compose_affine(theta, invert_affine(theta)),
        compose_affine(invert_affine(theta), theta),
    ):
        torch.testing.assert_close(affine_grid(composed, (1, 1, 4, 5), align_corners), identity_grid)


def test_invert_affine_float32_and_singular():
    theta = random_theta(4)
    torch.testing.assert_close(
        compose_affine(theta, invert_affine(theta)), identity_affine(4), atol=1e-5, rtol=0
    )
    singular = affine_theta(scale=torch.tensor([[1.0, 1.0], [0.0, 1.0], [2.0, 2.0]]))
    with pytest.raises(ValueError, match=r"not invertible.*\[1\]"):
        invert_affine(singular)
    with pytest.raises(ValueError, match="not invertible"):
        invert_affine(torch.tensor([[[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]]]))  # parallel columns


# --------------------------------------------------------------------------------------------- pixel matrices


@pytest.mark.parametrize("align_corners", [False, True])
def test_pixel_matrix_maps_output_pixels_to_where_affine_grid_samples(align_corners):
    theta = random_theta(3, torch.float64, seed=6)
    input_size, output_size = (20, 30), (7, 11)
    matrix = theta_to_pixel_matrix(theta, input_size, output_size, align_corners)
    assert matrix.shape == (3, 3, 3)
    rows, cols = torch.meshgrid(torch.arange(7.0), torch.arange(11.0), indexing="ij")
    pixels = torch.stack([cols, rows, torch.ones_like(cols)], dim=-1).double()  # (7, 11, 3)
    mapped = (pixels @ matrix.transpose(1, 2)[:, None])[..., :2]  # (3, 7, 11, 2)
    grid = affine_grid(theta, (3, 1, *output_size), align_corners)
    torch.testing.assert_close(mapped, normalized_to_pixel(grid, input_size, align_corners))
    back = pixel_matrix_to_theta(matrix, input_size, output_size, align_corners)
    torch.testing.assert_close(back, theta)
    torch.testing.assert_close(theta_to_pixel_matrix(back, input_size, output_size, align_corners), matrix)


def test_pixel_matrix_of_identity_between_equal_sizes_is_identity():
    for align_corners in (False, True):
        matrix = theta_to_pixel_matrix(identity_affine(1), (9, 13), (9, 13), align_corners)
        torch.testing.assert_close(matrix, torch.eye(3)[None])


# --------------------------------------------------------------------------------------------- bad input


def test_missing_batch_dimension_suggests_none_index():
    with pytest.raises(ValueError, match=r"theta must have shape \(N, 2, 3\); got \(2, 3\).*theta\[None\]"):
        affine_grid(torch.eye(2, 3), (1, 1, 4, 4))


def test_mismatched_batch_sizes_name_both_arguments():
    with pytest.raises(ValueError, match="size and theta disagree on N: theta has N=2, size has N=3"):
        affine_grid(identity_affine(2), (3, 1, 4, 4))
    with pytest.raises(ValueError, match="theta_b and theta_a disagree on N"):
        compose_affine(identity_affine(2), identity_affine(3))


@pytest.mark.parametrize(
    "call",
    [
        lambda: affine_grid(torch.zeros(1, 2, 3, dtype=torch.int64), (1, 1, 4, 4)),
        lambda: invert_affine(torch.eye(2, 3, dtype=torch.int32)[None]),
        lambda: attention_theta(torch.tensor([[1, 0, 0]])),
        lambda: affine_theta(torch.tensor([1, 2])),
    ],
)
def test_integer_tensors_are_rejected(call):
    with pytest.raises(TypeError, match=r"floating-point.*\.float\(\)"):
        call()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_theta_is_rejected_with_a_hint(bad):
    theta = identity_affine(2)
    theta[1, 0, 2] = bad
    for call in (lambda: affine_grid(theta, (2, 1, 4, 4)), lambda: invert_affine(theta)):
        with pytest.raises(ValueError, match=r"NaN or infinite.*learning rate"):
            call()


def test_empty_batch_and_bad_sizes():
    with pytest.raises(ValueError, match="empty batch"):
        affine_grid(torch.zeros(0, 2, 3), (0, 1, 4, 4))
    with pytest.raises(ValueError, match=r"size must have 4 entries.*\(theta.shape\[0\], C, H, W\)"):
        affine_grid(identity_affine(1), (4, 4))
    with pytest.raises(ValueError, match="size must have 4 entries"):
        affine_grid(identity_affine(1), (1, 1, 4, 4, 4))
    with pytest.raises(TypeError, match=r"image.shape"):
        affine_grid(identity_affine(1), torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="every entry must be >= 1"):
        affine_grid(identity_affine(1), (1, 1, 0, 4))
    with pytest.raises(ValueError, match=r"input_size must have 2 entries.*image.shape\[-2:\]"):
        theta_to_pixel_matrix(identity_affine(1), (1, 1, 4, 4), (4, 4))


def test_different_dtypes_are_rejected():
    with pytest.raises(TypeError, match="dtype"):
        compose_affine(identity_affine(1), identity_affine(1, dtype=torch.float64))


# --------------------------------------------------------------------------------------------- projective

SQUARE = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])


def test_projective_matrix_layout_and_identity():
    params = torch.arange(1.0, 9.0)[None]
    expected = torch.tensor([[2.0, 2.0, 3.0], [4.0, 6.0, 6.0], [7.0, 8.0, 1.0]])
    torch.testing.assert_close(projective_matrix(params), expected[None])
    torch.testing.assert_close(projective_matrix(identity_projective(3)), torch.eye(3).expand(3, 3, 3))
    assert identity_projective(2, dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(2, 1, 5, 5), (2, 2, 3, 8), (2, 1, 7, 2)])
def test_projective_grid_of_an_affine_homography_equals_torch(size, align_corners, dtype):
    theta = random_theta(2, dtype, seed=7)
    params = torch.cat([theta.flatten(1), torch.zeros(2, 2, dtype=dtype)], dim=1)
    params = params - torch.tensor([1.0, 0, 0, 0, 1, 0, 0, 0], dtype=dtype)  # H = I + [p, 0]
    grid = projective_grid(params, size, align_corners)
    expected = F.affine_grid(theta, list(size), align_corners=align_corners)
    torch.testing.assert_close(grid, expected, atol=TOL[dtype], rtol=0)


def test_projective_grid_matches_the_homography_formula():
    generator = torch.Generator().manual_seed(8)
    params = 0.2 * torch.randn(2, 8, generator=generator, dtype=torch.float64)
    h = projective_matrix(params)
    grid = projective_grid(params, (2, 1, 4, 6), align_corners=False)
    points = base_grid(4, 6, False, dtype=torch.float64)
    x, y = points[..., 0], points[..., 1]
    for i in range(2):
        w = h[i, 2, 0] * x + h[i, 2, 1] * y + h[i, 2, 2]
        u = (h[i, 0, 0] * x + h[i, 0, 1] * y + h[i, 0, 2]) / w
        v = (h[i, 1, 0] * x + h[i, 1, 1] * y + h[i, 1, 2]) / w
        torch.testing.assert_close(grid[i], torch.stack([u, v], dim=-1))


def test_projective_grid_gradcheck():
    params = (0.1 * torch.randn(2, 8, generator=torch.Generator().manual_seed(9))).double().requires_grad_()
    assert torch.autograd.gradcheck(lambda p: projective_grid(p, (2, 1, 3, 4), False), (params,))


def test_projective_grid_guards_the_horizon():
    """w = 1 + p6 x crosses 0 inside the output: the grid stays finite and keeps the sign of w."""
    params = torch.zeros(1, 8, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        params[0, 6] = -2.0  # w = 1 - 2 x: zero at x = 0.5, negative beyond
    grid = projective_grid(params, (1, 1, 1, 5), align_corners=True)  # x = -1, -0.5, 0, 0.5, 1
    assert bool(torch.isfinite(grid).all())
    x_s = grid[0, 0, :, 0]
    assert x_s[3] > 1e6  # w = 0 counts as positive and is clamped: far to the right, in the padding
    torch.testing.assert_close(
        x_s[[0, 1, 2, 4]], torch.tensor([-1 / 3, -0.25, 0.0, -1.0], dtype=torch.float64)
    )
    grid.sum().backward()
    assert bool(torch.isfinite(params.grad).all())


@SMALL
@given(noise=st.lists(st.floats(-0.3, 0.3), min_size=8, max_size=8), double=st.booleans())
def test_corner_params_map_the_corners_where_asked(noise, double):
    dtype = torch.float64 if double else torch.float32
    corners = (SQUARE + torch.tensor(noise).view(4, 2)).to(dtype)[None]
    params = projective_params_from_corners(corners)
    grid = projective_grid(params, (1, 1, 2, 2), align_corners=True)  # its 4 points are the output corners
    reached = torch.stack([grid[0, 0, 0], grid[0, 0, 1], grid[0, 1, 1], grid[0, 1, 0]])
    torch.testing.assert_close(reached, corners[0], atol=1e-5 if dtype == torch.float32 else 1e-12, rtol=0)


def test_corner_params_of_an_affine_quadrilateral_reproduce_the_affine_grid():
    theta = random_theta(3, torch.float64, seed=10)
    corners = torch.cat([SQUARE.double(), torch.ones(4, 1, dtype=torch.float64)], dim=1) @ theta.transpose(
        1, 2
    )
    params = projective_params_from_corners(corners)
    torch.testing.assert_close(params[:, 6:], torch.zeros(3, 2, dtype=torch.float64))
    torch.testing.assert_close(projective_grid(params, (3, 1, 6, 5)), affine_grid(theta, (3, 1, 6, 5)))


def test_degenerate_corners_are_rejected():
    collinear = torch.tensor([[[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0], [-1.0, 1.0]]])
    repeated = torch.tensor([[[-1.0, -1.0], [-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]])
    for corners in (collinear, repeated):
        with pytest.raises(ValueError, match=r"batch item\(s\) \[1\] do not define a homography"):
            projective_params_from_corners(torch.cat([SQUARE[None], corners]))


def test_projective_bad_input():
    with pytest.raises(ValueError, match=r"params\[None\]"):
        projective_grid(torch.zeros(8), (1, 1, 4, 4))
    with pytest.raises(ValueError, match="size and params disagree on N"):
        projective_grid(torch.zeros(2, 8), (1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"last dimension of corners holds \(x, y\)"):
        projective_params_from_corners(torch.zeros(1, 4, 3))
    with pytest.raises(TypeError, match="floating-point"):
        projective_matrix(torch.zeros(1, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="NaN or infinite"):
        projective_grid(torch.full((1, 8), math.nan), (1, 1, 4, 4))


# --------------------------------------------------------------------------------------------- thin-plate splines


def random_targets(n: int, grid_size: int = 4, sigma: float = 0.1, dtype=torch.float32, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    noise = sigma * torch.randn(n, grid_size * grid_size, 2, generator=generator, dtype=dtype)
    return identity_tps(n, grid_size, dtype=dtype) + noise


def test_tps_control_points_lattice_order():
    points = tps_control_points(3, dtype=torch.float64)
    assert points.shape == (9, 2)
    torch.testing.assert_close(
        points[:3, 0], torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    )  # x fastest
    torch.testing.assert_close(points[::3, 1], torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64))
    assert bool((points[:3, 1] == -1).all())
    torch.testing.assert_close(identity_tps(2, 3, dtype=torch.float64), points.expand(2, 9, 2))
    with pytest.raises(ValueError, match="at least 2"):
        tps_control_points(1)


def test_radial_basis_values_and_gradient_at_zero():
    squared = torch.tensor([0.0, 1e-30, 0.25, 1.0, 4.0], dtype=torch.float64, requires_grad=True)
    values = radial_basis(squared)
    assert values[0] == 0  # exactly
    positive = squared.detach()[1:]
    torch.testing.assert_close(values[1:], positive * torch.log(positive))
    (gradient,) = torch.autograd.grad(values.sum(), squared)
    assert bool(torch.isfinite(gradient).all()) and gradient[0] == 0
    torch.testing.assert_close(gradient[2:], torch.log(positive[1:]) + 1)
    # Through distances: a point sitting on a control point still gets a finite gradient.
    point = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    (grad_point,) = torch.autograd.grad(radial_basis((point - torch.zeros(2)).pow(2).sum()), point)
    assert bool(torch.isfinite(grad_point).all())


@SMALL
@given(
    grid_size=st.integers(2, 5),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    align_corners=st.booleans(),
    double=st.booleans(),
)
def test_tps_with_zero_displacement_is_the_identity_grid(grid_size, height, width, align_corners, double):
    dtype = torch.float64 if double else torch.float32
    size = (2, 1, height, width)
    grid = tps_grid(identity_tps(2, grid_size, dtype=dtype), size, align_corners=align_corners)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        identity = F.affine_grid(identity_affine(2, dtype=dtype), list(size), align_corners=align_corners)
    torch.testing.assert_close(grid, identity, atol=TOL[dtype], rtol=0)


@SMALL
@given(
    grid_size=st.integers(2, 5), sigma=st.floats(0.0, 0.3), seed=st.integers(0, 2**16), double=st.booleans()
)
def test_tps_passes_through_its_control_points(grid_size, sigma, seed, double):
    dtype = torch.float64 if double else torch.float32
    targets = random_targets(2, grid_size, sigma, dtype, seed)
    control = tps_control_points(grid_size, dtype=dtype)
    coefficients = tps_coefficients(control, targets)
    mapped = tps_transform(control.expand(2, -1, -1), control, coefficients)
    torch.testing.assert_close(mapped, targets, atol=1e-5 if dtype == torch.float32 else 1e-11, rtol=0)
    # The weights carry no affine part: Qᵀ w = 0 with Q = rows (1, x, y). With the interpolation
    # conditions and the kernel, this pins the spline down uniquely.
    weights = coefficients[:, : grid_size**2]
    rows = torch.cat([torch.ones(grid_size**2, 1, dtype=dtype), control], dim=1)
    torch.testing.assert_close(rows.T @ weights, torch.zeros(2, 3, 2, dtype=dtype), atol=1e-4, rtol=0)


def test_tps_grid_samples_the_targets_at_the_control_pixels():
    """align_corners=True, 7x7 output: pixel centres 0, 2, 4, 6 sit exactly on a 4x4 lattice."""
    targets = random_targets(2, 4, 0.15, torch.float64, seed=11)
    grid = tps_grid(targets, (2, 1, 7, 7), align_corners=True)
    on_lattice = grid[:, ::2, ::2].reshape(2, 16, 2)  # row by row, x fastest: the control point order
    torch.testing.assert_close(on_lattice, targets)


@pytest.mark.parametrize("align_corners", [False, True])
def test_tps_reproduces_affine_maps_like_torch(align_corners):
    theta = random_theta(2, torch.float64, seed=12)
    control = tps_control_points(4, dtype=torch.float64)
    targets = torch.cat([control, torch.ones(16, 1, dtype=torch.float64)], dim=1) @ theta.transpose(1, 2)
    grid = tps_grid(targets, (2, 1, 5, 8), align_corners=align_corners)
    expected = F.affine_grid(theta, [2, 1, 5, 8], align_corners=align_corners)
    torch.testing.assert_close(grid, expected, atol=1e-10, rtol=0)


def test_tps_shared_and_per_item_control_points_agree():
    generator = torch.Generator().manual_seed(13)
    control = torch.rand(6, 2, generator=generator, dtype=torch.float64) * 2 - 1  # scattered, not a lattice
    targets = control + 0.1 * torch.randn(3, 6, 2, generator=generator, dtype=torch.float64)
    shared = tps_grid(targets, (3, 1, 4, 5), control_points=control)
    per_item = tps_grid(targets, (3, 1, 4, 5), control_points=control.expand(3, 6, 2))
    torch.testing.assert_close(shared, per_item)
    points = control.expand(3, 6, 2)
    torch.testing.assert_close(tps_transform(points, control, tps_coefficients(control, targets)), targets)


def test_tps_grid_gradcheck():
    targets = random_targets(1, 2, 0.1, torch.float64, seed=14).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: tps_grid(t, (1, 1, 3, 4), align_corners=True), (targets,))
    control = tps_control_points(2, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda c: tps_grid(targets.detach(), (1, 1, 3, 3), control_points=c, align_corners=False), (control,)
    )


def test_tps_bad_input():
    with pytest.raises(ValueError, match="P=15 points, which is not a square number"):
        tps_grid(torch.zeros(1, 15, 2), (1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"last dimension of target_points holds \(x, y\)"):
        tps_grid(torch.zeros(1, 16, 3), (1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"target_points\[None\]"):
        tps_grid(identity_tps(1)[0], (1, 1, 4, 4))
    with pytest.raises(ValueError, match="control_points and target_points disagree on P"):
        tps_coefficients(tps_control_points(3), identity_tps(1, 4))
    with pytest.raises(ValueError, match="control_points and target_points disagree on N"):
        tps_coefficients(identity_tps(2), identity_tps(3))
    with pytest.raises(ValueError, match="size and target_points disagree on N"):
        tps_grid(identity_tps(2), (1, 1, 4, 4))
    with pytest.raises(ValueError, match="singular"):
        tps_coefficients(torch.zeros(4, 2), identity_tps(1, 2))
    with pytest.raises(ValueError, match="P \\+ 3 = 19 rows"):
        tps_transform(torch.zeros(1, 5, 2), tps_control_points(4), torch.zeros(1, 16, 2))
    with pytest.raises(TypeError, match="floating-point"):
        radial_basis(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        tps_grid(torch.full((1, 4, 2), math.inf), (1, 1, 4, 4))
    with pytest.raises(TypeError, match="dtype"):
        tps_coefficients(tps_control_points(2, dtype=torch.float64), identity_tps(1, 2))


# --------------------------------------------------------------------------------------------- docstrings


@pytest.mark.parametrize("module", ["affine", "coords", "projective", "tps"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    results = doctest.testmod(
        importlib.import_module(f"stnlib.geometry.{module}"), optionflags=doctest.ELLIPSIS
    )
    assert results.attempted > 0 and results.failed == 0
