"""stnlib.sampling against PyTorch's own sampler (F.grid_sample), its autograd gradients and gradcheck."""

from __future__ import annotations

import doctest
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import stnlib.sampling as sampling
from stnlib.geometry.coords import pixel_to_normalized
from stnlib.sampling import BilinearSampler, bilinear_sample, grid_sample, nearest_sample

PADDINGS = ("zeros", "border", "reflection")
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-12}
# (H, W, H_out, W_out): non-square, smaller and larger outputs, a one-pixel-high image.
SIZES = [(5, 7, 4, 6), (4, 3, 9, 11), (1, 6, 3, 2)]

Sampler = Callable[..., torch.Tensor]
BILINEAR: dict[str, Sampler] = {
    "grid_sample": lambda x, g, p, a: grid_sample(x, g, "bilinear", p, a),
    "bilinear_sample": bilinear_sample,
    "BilinearSampler": BilinearSampler.apply,
}
NEAREST: dict[str, Sampler] = {
    "grid_sample": lambda x, g, p, a: grid_sample(x, g, "nearest", p, a),
    "nearest_sample": nearest_sample,
}


def random_case(
    size: tuple[int, int, int, int], dtype: torch.dtype = torch.float64, seed: int = 0, spread: float = 1.3
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of 3 two-channel images and a grid uniform in [-spread, spread]^2, so some points fall outside."""
    height, width, out_height, out_width = size
    gen = torch.Generator().manual_seed(seed)
    image = torch.randn(3, 2, height, width, generator=gen, dtype=dtype)
    grid = (2 * torch.rand(3, out_height, out_width, 2, generator=gen, dtype=dtype) - 1) * spread
    return image, grid


def assert_max_error(got: torch.Tensor, expected: torch.Tensor, tolerance: float) -> None:
    assert got.shape == expected.shape and got.dtype == expected.dtype
    error = (got - expected).abs().max().item()
    assert error <= tolerance, f"max abs error {error:.3g} > {tolerance:.0e}"


# --------------------------------------------------------------------------------------------------------------
# Forward


@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", PADDINGS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize(
    ("mode", "name", "sampler"),
    [("bilinear", n, s) for n, s in BILINEAR.items()] + [("nearest", n, s) for n, s in NEAREST.items()],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_forward_matches_torch(mode, name, sampler, dtype, padding_mode, align_corners, size) -> None:
    image, grid = random_case(size, dtype)
    expected = F.grid_sample(image, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    assert_max_error(sampler(image, grid, padding_mode, align_corners), expected, TOLERANCE[dtype])


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", PADDINGS)
def test_far_outside_points_match_torch(mode, padding_mode) -> None:
    image, _ = random_case((5, 7, 1, 1))
    far = torch.tensor([1e3 + 0.3, -1e4 - 0.7, 1e6, -1e6, 3.3, -2.1], dtype=torch.float64)
    grid = torch.cartesian_prod(far, far).view(1, 6, 6, 2).expand(3, 6, 6, 2)
    for align_corners in (False, True):
        expected = F.grid_sample(
            image, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners
        )
        assert_max_error(grid_sample(image, grid, mode, padding_mode, align_corners), expected, 1e-12)


def test_non_contiguous_inputs_match_torch() -> None:
    image, grid = random_case((6, 5, 4, 3))
    image = image.to(memory_format=torch.channels_last)
    grid = grid.transpose(1, 2)  # (N, W_out, H_out, 2), a strided view
    for mode in ("bilinear", "nearest"):
        expected = F.grid_sample(image, grid, mode=mode, align_corners=False)
        assert_max_error(grid_sample(image, grid, mode), expected, 1e-12)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", PADDINGS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("size", [(5, 7), (28, 28)], ids=str)
def test_identity_grid_reproduces_the_input(size, dtype, padding_mode, align_corners) -> None:
    image = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(1), dtype=dtype)
    theta = torch.eye(2, 3, dtype=dtype).expand(2, 2, 3)
    identity = F.affine_grid(theta, [2, 3, *size], align_corners=align_corners)
    # Nearest copies each pixel exactly; bilinear exactly up to the rounding of the grid's coordinates.
    assert torch.equal(grid_sample(image, identity, "nearest", padding_mode, align_corners), image)
    for sampler in BILINEAR.values():
        assert_max_error(sampler(image, identity, padding_mode, align_corners), image, TOLERANCE[dtype])


@pytest.mark.parametrize("align_corners", [False, True])
def test_nearest_rounds_halfway_points_to_even_like_torch(align_corners) -> None:
    # Grids whose pixel coordinates are exactly k + 1/2 in both unnormalisation formulas (torch's and ours).
    width = 5 if align_corners else 4
    x = [-0.75, -0.25, 0.25, 0.75] if align_corners else [-0.5, 0.0, 0.5]  # pixel x = 0.5, 1.5, 2.5 (, 3.5)
    image = torch.arange(float(width)).view(1, 1, 1, width)
    grid = torch.tensor([[xi, 0.0] for xi in x]).view(1, 1, -1, 2)
    got = nearest_sample(image, grid, "border", align_corners)
    even = torch.tensor([0.0, 2.0, 2.0, 4.0][: len(x)]).view(1, 1, 1, -1)  # half up would give 1, 2, 3, 4
    assert torch.equal(got, even)
    assert torch.equal(got, F.grid_sample(image, grid, "nearest", "border", align_corners))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6)),
    out_size=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    spread=st.floats(0.1, 3.0),
    padding_mode=st.sampled_from(PADDINGS),
    align_corners=st.booleans(),
)
def test_nearest_only_copies_values_of_the_input(seed, shape, out_size, spread, padding_mode, align_corners):
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(*shape, generator=gen) + 1  # never 0, so padding is told apart from pixels
    grid = (2 * torch.rand(shape[0], *out_size, 2, generator=gen) - 1) * spread
    out = nearest_sample(image, grid, padding_mode, align_corners)
    for n in range(shape[0]):
        for c in range(shape[1]):
            allowed = image[n, c].flatten()
            if padding_mode == "zeros":
                allowed = torch.cat([allowed, torch.zeros(1)])
            assert torch.isin(out[n, c], allowed).all()
    assert torch.equal(out, F.grid_sample(image, grid, "nearest", padding_mode, align_corners))


# --------------------------------------------------------------------------------------------------------------
# Gradients


def torch_gradients(image, grid, grad_out, mode="bilinear", padding_mode="zeros", align_corners=False):
    image, grid = image.detach().requires_grad_(), grid.detach().requires_grad_()
    out = F.grid_sample(image, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    return torch.autograd.grad(out, (image, grid), grad_out)


@pytest.mark.parametrize("size", SIZES[:2], ids=str)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", PADDINGS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("name", list(BILINEAR))
def test_gradients_match_torch_autograd(name, dtype, padding_mode, align_corners, size) -> None:
    image, grid = random_case(size, dtype, seed=2)
    grad_out = torch.randn(3, 2, *size[2:], generator=torch.Generator().manual_seed(3), dtype=dtype)
    expected = torch_gradients(image, grid, grad_out, "bilinear", padding_mode, align_corners)
    image, grid = image.requires_grad_(), grid.requires_grad_()
    out = BILINEAR[name](image, grid, padding_mode, align_corners)
    got = torch.autograd.grad(out, (image, grid), grad_out)
    tol = TOLERANCE[dtype]
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", list(BILINEAR))
def test_grid_gradient_at_the_identity_matches_torch(name) -> None:
    # Every sampling point lies exactly on a pixel centre, where the kernel has a kink: a kernel written with
    # abs() would give autograd a zero grid gradient here, and a transformer starting at the identity would
    # never move. (With align_corners=True torch's unnormalisation rounds exactly like ours.)
    image = torch.rand(2, 3, 6, 9, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    identity = F.affine_grid(
        torch.eye(2, 3, dtype=torch.float64).expand(2, 2, 3), [2, 3, 6, 9], align_corners=True
    )
    grad_out = torch.ones_like(image)
    expected = torch_gradients(image, identity, grad_out, align_corners=True)
    grid = identity.clone().requires_grad_()
    got = torch.autograd.grad(
        BILINEAR[name](image.requires_grad_(), grid, "zeros", True), (image, grid), grad_out
    )
    assert expected[1].abs().sum() > 0
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-12)


def test_gradient_with_respect_to_one_argument_only() -> None:
    image, grid = random_case((5, 7, 4, 6), seed=5)
    grad_out = torch.randn(3, 2, 4, 6, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    grad_image, grad_grid = torch_gradients(image, grid, grad_out)
    only_grid = grid.clone().requires_grad_()
    only_image = image.clone().requires_grad_()
    (got_grid,) = torch.autograd.grad(grid_sample(image, only_grid), [only_grid], grad_out)
    (got_image,) = torch.autograd.grad(grid_sample(only_image, grid), [only_image], grad_out)
    torch.testing.assert_close(got_grid, grad_grid, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got_image, grad_image, rtol=1e-12, atol=1e-12)


def test_nearest_gradient_reaches_the_input_like_torch() -> None:
    image, grid = random_case((5, 7, 4, 6), seed=7)
    grad_out = torch.randn(3, 2, 4, 6, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    expected, _ = torch_gradients(image, grid, grad_out, mode="nearest")
    (got,) = torch.autograd.grad(nearest_sample(image.requires_grad_(), grid), [image], grad_out)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def grid_off_the_kinks(n, out_height, out_width, height, width, align_corners, seed) -> torch.Tensor:
    """A grid whose pixel coordinates stay at least 0.1 px from integers and half-integers: the bilinear kernel,
    the border clamp and the reflection folds are not differentiable there, and gradcheck would disagree."""
    gen = torch.Generator().manual_seed(seed)
    whole = torch.randint(-2, max(height, width) + 2, (n, out_height, out_width, 2), generator=gen)
    frac = 0.1 + 0.3 * torch.rand(n, out_height, out_width, 2, generator=gen, dtype=torch.float64)
    frac = torch.where(
        torch.rand(frac.shape, generator=gen) < 0.5, frac, frac + 0.5
    )  # in [0.1, 0.4) or [0.6, 0.9)
    return pixel_to_normalized(whole + frac, (height, width), align_corners)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", PADDINGS)
def test_gradcheck(padding_mode, align_corners) -> None:
    image = torch.randn(2, 2, 3, 4, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    grid = grid_off_the_kinks(2, 2, 2, 3, 4, align_corners, seed=10)
    image, grid = image.requires_grad_(), grid.requires_grad_()
    for name in ("BilinearSampler", "bilinear_sample"):
        assert torch.autograd.gradcheck(
            lambda x, g, s=BILINEAR[name]: s(x, g, padding_mode, align_corners), (image, grid)
        )


def test_autograd_version_supports_double_backward_and_the_hand_written_one_refuses() -> None:
    image = torch.randn(1, 2, 3, 4, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    grid = grid_off_the_kinks(1, 2, 2, 3, 4, False, seed=12)
    image, grid = image.requires_grad_(), grid.requires_grad_()
    assert torch.autograd.gradgradcheck(lambda x, g: bilinear_sample(x, g), (image, grid))
    out = grid_sample(image, grid)
    upstream = torch.ones_like(out, requires_grad=True)
    _, grad_grid = torch.autograd.grad(out, (image, grid), upstream, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        grad_grid.sum().backward()


def test_grid_sample_bilinear_runs_the_hand_written_backward() -> None:
    image, grid = random_case((5, 7, 4, 6))
    out = grid_sample(image.requires_grad_(), grid)
    assert type(out.grad_fn).__name__ == "BilinearSamplerBackward"


# --------------------------------------------------------------------------------------------------------------
# Bad inputs


def _case(image_shape=(2, 1, 5, 7), grid_shape=(2, 3, 4, 2), **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.rand(
        image_shape, dtype=kwargs.get("image_dtype", torch.float32), device=kwargs.get("image_device")
    )
    grid = torch.rand(
        grid_shape, dtype=kwargs.get("grid_dtype", torch.float32), device=kwargs.get("grid_device")
    )
    return image, grid


BAD_INPUTS = {
    "missing batch dim": (lambda: _case(image_shape=(1, 5, 7)), ValueError, r"add a batch dimension"),
    "mismatched batches": (lambda: _case(grid_shape=(3, 3, 4, 2)), ValueError, r"disagree on N"),
    "integer image": (
        lambda: (torch.ones(2, 1, 5, 7, dtype=torch.uint8), _case()[1]),
        TypeError,
        r"floating",
    ),
    "NaN in grid": (
        lambda: (_case()[0], _case()[1].index_fill(1, torch.tensor([1]), float("nan"))),
        ValueError,
        r"NaN",
    ),
    "empty batch": (lambda: _case((0, 1, 5, 7), (0, 3, 4, 2)), ValueError, r"empty batch"),
    "image on another device": (lambda: _case(image_device="meta"), ValueError, r"device"),
    "grid on another device": (lambda: _case(grid_device="meta"), ValueError, r"device"),
    "grid last dim not 2": (lambda: _case(grid_shape=(2, 3, 4, 3)), ValueError, r"\(x, y\)"),
    "grid channels first": (lambda: _case(grid_shape=(2, 2, 3, 4)), ValueError, r"\(x, y\)"),
    "dtypes differ": (lambda: _case(grid_dtype=torch.float64), TypeError, r"dtype"),
    "grid not a tensor": (lambda: (_case()[0], [[0.0, 0.0]]), TypeError, r"torch.Tensor"),
}
CALLERS: dict[str, Sampler] = {
    "grid_sample bilinear": lambda x, g: grid_sample(x, g),
    "grid_sample nearest": lambda x, g: grid_sample(x, g, "nearest"),
    "nearest_sample": nearest_sample,
    "bilinear_sample": bilinear_sample,
    "BilinearSampler": lambda x, g: BilinearSampler.apply(x, g, "zeros", False),
}


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_raise_clear_errors(case, caller) -> None:
    make, error, message = BAD_INPUTS[case]
    image, grid = make()
    with pytest.raises(error, match=message):
        CALLERS[caller](image, grid)


def test_unknown_modes_name_the_supported_ones() -> None:
    image, grid = _case()
    with pytest.raises(ValueError, match=r"'bilinear', 'nearest'; got 'bicubic'"):
        grid_sample(image, grid, mode="bicubic")
    for sampler in (grid_sample, nearest_sample, bilinear_sample):
        with pytest.raises(ValueError, match=r"'zeros', 'border', 'reflection'; got 'circular'"):
            sampler(image, grid, padding_mode="circular")


# --------------------------------------------------------------------------------------------------------------
# Devices and documentation

ACCELERATORS = [
    name
    for name, available in (("cuda", torch.cuda.is_available()), ("mps", torch.backends.mps.is_available()))
    if available
]


@pytest.mark.skipif(not ACCELERATORS, reason="no CUDA or MPS device here")
@pytest.mark.parametrize("device", ACCELERATORS or ["none"])
def test_runs_on_accelerators_like_torch(device) -> None:
    image, grid = (t.to(device=device, dtype=torch.float32) for t in random_case((5, 7, 4, 6)))
    for mode in ("bilinear", "nearest"):
        for padding_mode in PADDINGS:
            expected = F.grid_sample(image, grid, mode=mode, padding_mode=padding_mode, align_corners=False)
            got = grid_sample(image, grid, mode, padding_mode)
            assert got.device == image.device
            assert_max_error(got, expected, 1e-5)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(sampling, extraglobs={"torch": torch})
    assert result.attempted >= 3 and result.failed == 0


# --------------------------------------------------------------------------------------------------------------
# Edge cases of PyTorch's own grid_sample tests


ALL_SAMPLERS = [
    *(("bilinear", n, f) for n, f in BILINEAR.items()),
    *(("nearest", n, f) for n, f in NEAREST.items()),
]


@pytest.mark.parametrize(
    ("mode", "name", "sampler"), ALL_SAMPLERS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_zero_channels_give_an_empty_output_like_torch(mode, name, sampler) -> None:
    image, grid = torch.rand(2, 0, 5, 6), torch.rand(2, 3, 4, 2) * 2 - 1
    expected = F.grid_sample(image, grid, mode=mode, align_corners=False)
    assert sampler(image, grid, "zeros", False).shape == expected.shape == (2, 0, 3, 4)


@pytest.mark.parametrize(
    ("mode", "name", "sampler"), ALL_SAMPLERS, ids=lambda v: v if isinstance(v, str) else ""
)
@pytest.mark.parametrize("padding_mode", PADDINGS)
@pytest.mark.parametrize("coordinate", [-3000.0, 2999.6, 60000.0])
def test_half_precision_grids_far_outside_agree_with_torch_in_float32(
    mode, name, sampler, padding_mode, coordinate
):
    # PyTorch's own float16 sampler overflows here (NaN, or another pixel); ours unnormalises half-precision grids
    # in float32 and returns, in float16, what F.grid_sample computes in float32.
    image = torch.rand(1, 2, 28, 28, generator=torch.Generator().manual_seed(0))
    grid = torch.tensor([coordinate, 0.3]).expand(1, 2, 3, 2).contiguous()
    expected = F.grid_sample(image, grid, mode=mode, padding_mode=padding_mode, align_corners=False)
    got = sampler(image.half(), grid.half(), padding_mode, False)
    assert got.dtype == torch.float16
    # the grid itself is rounded to float16 first, so compare with torch on that rounded grid
    expected = F.grid_sample(
        image, grid.half().float(), mode=mode, padding_mode=padding_mode, align_corners=False
    )
    torch.testing.assert_close(got.float(), expected, atol=2e-3, rtol=0)


@pytest.mark.parametrize(("name", "sampler"), BILINEAR.items())
def test_a_one_pixel_image_with_reflection_gives_zero_grid_gradients_like_torch(name, sampler) -> None:
    image = torch.rand(1, 1, 1, 1, requires_grad=True)
    grid = (torch.rand(1, 2, 2, 2) * 2 - 1).requires_grad_()
    sampler(image, grid, "reflection", True).sum().backward()
    reference_image, reference_grid = (
        image.detach().clone().requires_grad_(),
        grid.detach().clone().requires_grad_(),
    )
    F.grid_sample(
        reference_image, reference_grid, padding_mode="reflection", align_corners=True
    ).sum().backward()
    assert grid.grad is not None and torch.equal(grid.grad, reference_grid.grad) and not grid.grad.any()
    torch.testing.assert_close(image.grad, reference_image.grad)


@pytest.mark.parametrize(
    ("mode", "name", "sampler"), ALL_SAMPLERS, ids=lambda v: v if isinstance(v, str) else ""
)
@pytest.mark.parametrize("shape", [(1, 1, 0, 5), (1, 1, 4, 0)])
def test_an_image_without_pixels_is_refused_clearly(mode, name, sampler, shape) -> None:
    with pytest.raises(ValueError, match="at least one pixel in each direction"):
        sampler(torch.rand(shape), torch.zeros(1, 2, 2, 2), "zeros", False)
