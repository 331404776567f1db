"""PyTorch's own tests of ``F.grid_sample``, ported to stnlib's samplers (issue #19).

Sources in pytorch/pytorch: ``test/test_nn.py`` (``test_grid_sample`` with its ground-truth tables, gradient edge
cases, memory layouts and shapes; ``test_grid_sample_error_checking``, ``test_grid_sample_3d``,
``test_grid_sample_nan_inf``, ``test_grid_sample_large``, ``test_grid_sample_half_precision``,
``test_grid_sample_bfloat16_precision``, ``test_grid_sample_large_index_2d``,
``test_grid_sample_nearest_neighbor_rounding_mode_consistency``) and
``torch/testing/_internal/common_methods_invocations.py`` (``sample_inputs_grid_sample``). The cases are written
anew for stnlib's three samplers. Each compares the output and both gradients with ``F.grid_sample`` (the
nearest samplers give no grid gradient by design, where ``F.grid_sample`` returns zeros), or checks that stnlib
refuses the case with a clear message: empty batches, NaN or inf in the grid, reflection of points too far out for
the grid's dtype, volumes (5-D) and bicubic sampling.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from stnlib.sampling import BilinearSampler, _flat_index, bilinear_sample, grid_sample, nearest_sample

PADDINGS = ("zeros", "border", "reflection")
Sampler = Callable[..., torch.Tensor]
SAMPLERS: list[tuple[str, str, Sampler]] = [
    ("bilinear", "grid_sample", lambda x, g, p, a: grid_sample(x, g, "bilinear", p, a)),
    ("bilinear", "bilinear_sample", bilinear_sample),
    ("bilinear", "BilinearSampler", BilinearSampler.apply),
    ("nearest", "grid_sample", lambda x, g, p, a: grid_sample(x, g, "nearest", p, a)),
    ("nearest", "nearest_sample", nearest_sample),
]
SAMPLER_IDS = [f"{mode}-{name}" for mode, name, _ in SAMPLERS]
every_sampler = pytest.mark.parametrize(("mode", "name", "sampler"), SAMPLERS, ids=SAMPLER_IDS)
every_padding = pytest.mark.parametrize("padding_mode", PADDINGS)
both_alignments = pytest.mark.parametrize("align_corners", [False, True])


def forward_backward(
    sample: Sampler, image: torch.Tensor, grid: torch.Tensor, grad_out: torch.Tensor | None, input_grad: bool
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The output of ``sample(image, grid)`` and the gradients for ``image`` and ``grid`` (None where the output
    does not depend on them). The tensors keep their memory layout (strides)."""
    image, grid = image.detach().requires_grad_(input_grad), grid.detach().requires_grad_()
    out = sample(image, grid)
    if grad_out is None:
        grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    if not out.requires_grad:  # nearest with an image that needs no gradient: nothing reaches the grid
        return out, None, None
    wrt = [image, grid] if input_grad else [grid]
    grads = torch.autograd.grad(out, wrt, grad_out.to(out.dtype), allow_unused=True)
    return (out, *grads) if input_grad else (out, None, grads[0])


def assert_matches_torch(
    mode: str,
    sampler: Sampler,
    image: torch.Tensor,
    grid: torch.Tensor,
    padding_mode: str,
    align_corners: bool,
    *,
    grad_out: torch.Tensor | None = None,
    input_grad: bool = True,
    tolerance: float = 1e-12,
    equal_nan: bool = False,
) -> torch.Tensor:
    """stnlib's output, image gradient and grid gradient equal F.grid_sample's; returns stnlib's output."""
    got = forward_backward(
        lambda x, g: sampler(x, g, padding_mode, align_corners), image, grid, grad_out, input_grad
    )
    expected = forward_backward(
        lambda x, g: F.grid_sample(x, g, mode, padding_mode, align_corners), image, grid, grad_out, input_grad
    )
    for what, g, e in zip(("output", "image gradient"), got[:2], expected[:2], strict=True):
        if e is None:
            assert g is None, what
            continue
        assert g is not None and g.shape == e.shape and g.dtype == e.dtype, what
        torch.testing.assert_close(g, e, rtol=tolerance, atol=tolerance, equal_nan=equal_nan, msg=what)
    if mode == "nearest":  # documented: no grid gradient, where F.grid_sample returns zeros
        assert got[2] is None
        assert expected[2] is None or not expected[2].any()
    else:
        assert got[2] is not None and expected[2] is not None
        torch.testing.assert_close(
            got[2], expected[2], rtol=tolerance, atol=tolerance, equal_nan=equal_nan, msg="grid gradient"
        )
    return got[0]


# --------------------------------------------------------------------------------------------------------------
# test_grid_sample: ground truth for input arange(1, 11).view(1, 1, 2, 5)

KNOWN_GRID = [
    [[-0.9, -4.1], [0, 0.2000], [1, -1], [-0.333, 1e-6], [0.5, 1.0]],
    [[-1.0, -0.5], [0, 0.3333], [1, -1], [-0.200, 1e-6], [1.5, 0.5]],
]
GROUND_TRUTH = {  # (mode, padding_mode, align_corners): the 2 x 5 output
    ("bilinear", "zeros", True): [[0.0, 6.0, 5.0, 4.834, 9.0], [2.25, 6.33325004, 5.0, 5.1, 0.0]],
    ("bilinear", "zeros", False): [[0.0, 6.5, 1.25, 4.66750002, 4.625], [0.5, 7.16650009, 1.25, 5.0, 0.0]],
    ("bilinear", "border", True): [[1.2, 6.0, 5.0, 4.834, 9.0], [2.25, 6.33325004, 5.0, 5.1, 8.75]],
    ("bilinear", "border", False): [[1.0, 6.5, 5.0, 4.66750002, 9.25], [1.0, 7.16650009, 5.0, 5.0, 10.0]],
    ("bilinear", "reflection", True): [[3.45, 6.0, 5.0, 4.834, 9.0], [2.25, 6.33325004, 5.0, 5.1, 7.75]],
    ("bilinear", "reflection", False): [
        [3.00000048, 6.5, 5.0, 4.66750002, 9.25],
        [1.0, 7.16650009, 5.0, 5.0, 9.25],
    ],
    ("nearest", "zeros", True): [[0.0, 8.0, 5.0, 7.0, 9.0], [1.0, 8.0, 5.0, 8.0, 0.0]],
    ("nearest", "zeros", False): [[0.0, 8.0, 5.0, 7.0, 0.0], [1.0, 8.0, 5.0, 8.0, 0.0]],
    ("nearest", "border", True): [[1.0, 8.0, 5.0, 7.0, 9.0], [1.0, 8.0, 5.0, 8.0, 10.0]],
    ("nearest", "border", False): [[1.0, 8.0, 5.0, 7.0, 9.0], [1.0, 8.0, 5.0, 8.0, 10.0]],
    ("nearest", "reflection", True): [[1.0, 8.0, 5.0, 7.0, 9.0], [1.0, 8.0, 5.0, 8.0, 9.0]],
    ("nearest", "reflection", False): [[1.0, 8.0, 5.0, 7.0, 9.0], [1.0, 8.0, 5.0, 8.0, 9.0]],
}


@every_sampler
@every_padding
@both_alignments
def test_ground_truth_of_torch(mode, name, sampler, padding_mode, align_corners) -> None:
    image = torch.arange(1.0, 11, dtype=torch.float64).view(1, 1, 2, 5)
    grid = torch.tensor(KNOWN_GRID, dtype=torch.float64).view(1, 2, 5, 2)
    out = assert_matches_torch(mode, sampler, image, grid, padding_mode, align_corners)
    truth = torch.tensor(GROUND_TRUTH[mode, padding_mode, align_corners], dtype=torch.float64).view(
        1, 1, 2, 5
    )
    torch.testing.assert_close(out, truth, atol=1e-5, rtol=0)


# The gradient edge cases of test_grid_sample: an expanded input (stride 0 along the rows) and points on the
# image's edges and corners, where the kernel, the clamp and the fold have kinks. grid.grad of out.sum().
EDGE_GRID = [
    [[1.0, 1.0], [1.0, -1.0], [0.8, 0.8], [0.8, -0.8]],
    [[-1.0, -1.0], [-1.0, 1.0], [-0.8, -0.8], [-0.8, 0.8]],
]
GRID_GRADIENT_TRUTH = {  # bilinear, (padding_mode, align_corners): grid.grad, (2, 4, 2)
    ("zeros", True): [[[-8, -8], [-8, 0], [2, 0], [2, 0]], [[2, 0], [2, 0], [2, 0], [2, 0]]],
    ("zeros", False): [[[-5, -5], [-5, 5], [-10, -10], [-10, 10]], [[0, 0], [0, 0], [0, 0], [0, 0]]],
    ("border", True): [[[0, 0], [0, 0], [2, 0], [2, 0]], [[0, 0], [0, 0], [2, 0], [2, 0]]],
    ("border", False): [[[0, 0], [0, 0], [0, 0], [0, 0]], [[0, 0], [0, 0], [0, 0], [0, 0]]],
    ("reflection", True): [[[0, 0], [0, 0], [2, 0], [2, 0]], [[0, 0], [0, 0], [2, 0], [2, 0]]],
    ("reflection", False): [[[0, 0], [0, 0], [0, 0], [0, 0]], [[0, 0], [0, 0], [0, 0], [0, 0]]],
}


@every_sampler
@every_padding
@both_alignments
@pytest.mark.parametrize("input_grad", [False, True], ids=["grid only", "image and grid"])
def test_gradient_edge_cases_of_torch(mode, name, sampler, padding_mode, align_corners, input_grad) -> None:
    image = torch.arange(0.0, 5, dtype=torch.float64).expand(1, 1, 5, 5)
    grid = torch.tensor(EDGE_GRID, dtype=torch.float64).view(1, 2, 4, 2)
    grad_out = torch.ones(1, 1, 2, 4, dtype=torch.float64)
    assert_matches_torch(
        mode, sampler, image, grid, padding_mode, align_corners, grad_out=grad_out, input_grad=input_grad
    )
    if mode == "bilinear":
        _, _, grad_grid = forward_backward(
            lambda x, g: sampler(x, g, padding_mode, align_corners), image, grid, grad_out, input_grad
        )
        truth = torch.tensor(GRID_GRADIENT_TRUTH[padding_mode, align_corners], dtype=torch.float64)
        torch.testing.assert_close(grad_grid, truth.view(1, 2, 4, 2), atol=1e-5, rtol=0)


# --------------------------------------------------------------------------------------------------------------
# test_grid_sample's test_shape: sizes, empty grids and channels, memory layouts

# (N, C, IH, IW, H_out, W_out): same size, larger and smaller output, a 1 x 1 input, an empty grid, no channels
SHAPES = [(3, 2, 4, 5, 4, 5), (2, 3, 3, 4, 6, 7), (4, 2, 7, 6, 3, 2), (2, 3, 1, 1, 3, 4), (2, 3, 5, 4, 0, 5)]
SHAPES += [(3, 0, 5, 6, 4, 3)]
# torch permutes a contiguous tensor of the permuted shape back to (N, H, W, 2): grid.permute(order) is contiguous
GRID_ORDERS = [(0, 1, 2, 3), (0, 3, 1, 2), (3, 0, 1, 2), (0, 2, 1, 3)]


def permuted_grid(shape: tuple[int, ...], order: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    data = torch.randn([shape[d] for d in order], generator=gen, dtype=torch.float64)
    grid = data.permute([order.index(d) for d in range(4)])
    assert grid.shape == shape and grid.permute(order).is_contiguous()
    return grid


@every_sampler
@every_padding
@both_alignments
def test_shapes_and_memory_layouts_of_torch(mode, name, sampler, padding_mode, align_corners) -> None:
    gen = torch.Generator().manual_seed(1)
    for (n, c, in_h, in_w, out_h, out_w), order in itertools.product(SHAPES, GRID_ORDERS):
        grid = permuted_grid((n, out_h, out_w, 2), order, gen)
        images = {
            "batch-transposed": torch.randn(c, n, in_h, in_w, generator=gen, dtype=torch.float64).transpose(
                0, 1
            ),
            "channels_last": torch.randn(n, c, in_h, in_w, generator=gen, dtype=torch.float64).to(
                memory_format=torch.channels_last
            ),
            # torch's "zero-dimensional input strides": rows expanded from one
            "expanded": torch.randn(n, c, 1, in_w, generator=gen, dtype=torch.float64).expand(
                n, c, in_h, in_w
            ),
        }
        for layout, image in images.items():
            for input_grad in (False, True):
                out = assert_matches_torch(
                    mode, sampler, image, grid, padding_mode, align_corners, input_grad=input_grad
                )
                assert out.shape == (n, c, out_h, out_w), (layout, order)


@every_sampler
def test_broadcast_grids_and_strided_views_match_torch(mode, name, sampler) -> None:
    gen = torch.Generator().manual_seed(2)
    # test_grid_sample_large_index_2d, small: a view with large strides, and its contiguous copy
    base = torch.randn(2, 3, 9, 40, generator=gen, dtype=torch.float64)
    view = base[..., 3::4]
    grid = torch.rand(2, 4, 5, 2, generator=gen, dtype=torch.float64) * 2.4 - 1.2
    expanded = grid[:1].expand(2, 4, 5, 2)  # one grid for the whole batch, stride 0 along N
    for padding_mode, align_corners in itertools.product(PADDINGS, (False, True)):
        on_view = assert_matches_torch(mode, sampler, view, grid, padding_mode, align_corners)
        on_copy = assert_matches_torch(mode, sampler, view.contiguous(), grid, padding_mode, align_corners)
        assert torch.equal(on_view, on_copy)
        assert_matches_torch(mode, sampler, view, expanded, padding_mode, align_corners)


@every_sampler
def test_an_empty_batch_is_refused_where_torch_returns_an_empty_output(mode, name, sampler) -> None:
    image, grid = torch.rand(0, 3, 4, 5), torch.rand(0, 3, 4, 2)
    assert F.grid_sample(image, grid, mode, align_corners=False).shape == (0, 3, 3, 4)
    with pytest.raises(ValueError, match=r"empty batch \(N=0\)"):
        sampler(image, grid, "zeros", False)


@pytest.mark.parametrize(("name", "sampler"), [(n, s) for m, n, s in SAMPLERS if m == "bilinear"])
@every_padding
@both_alignments
def test_gradcheck_on_torchs_random_grids(name, sampler, padding_mode, align_corners) -> None:
    gen = torch.Generator().manual_seed(3)
    image = torch.randn(3, 2, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    grid = torch.randn(3, 4, 5, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, g: sampler(x, g, padding_mode, align_corners), (image, grid))
    assert torch.autograd.gradcheck(
        lambda g: sampler(image.detach(), g, padding_mode, align_corners), (grid,)
    )


# --------------------------------------------------------------------------------------------------------------
# sample_inputs_grid_sample (OpInfo): batch 2, 3 channels, S = 5, values in [-2, 2]


@every_sampler
@every_padding
@both_alignments
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_opinfo_sample_inputs_match_torch(mode, name, sampler, padding_mode, align_corners, dtype) -> None:
    gen = torch.Generator().manual_seed(4)
    image = torch.rand(2, 3, 5, 5, generator=gen, dtype=dtype) * 4 - 2
    grid = torch.rand(2, 5, 5, 2, generator=gen, dtype=dtype) * 4 - 2
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    assert_matches_torch(mode, sampler, image, grid, padding_mode, align_corners, tolerance=tolerance)


@pytest.mark.parametrize(("name", "sampler"), [(n, s) for m, n, s in SAMPLERS if m == "nearest"])
@every_padding
@both_alignments
def test_nearest_rounds_alike_along_both_axes_like_torch(name, sampler, padding_mode, align_corners) -> None:
    # test_grid_sample_nearest_neighbor_rounding_mode_consistency: queries at x.0 and x.5 pixels (up to rounding)
    size, other = 10, 9
    pixels = torch.arange(0, size - 1 + 0.1, 0.1, dtype=torch.float32)
    if align_corners:
        query = 2 * pixels / (size - 1) - 1
    else:
        query = (pixels * 2 + 1) / size - 1
    fixed = torch.full_like(query, 0.5)
    row = torch.rand(size, generator=torch.Generator().manual_seed(5))
    along_x = row.view(1, 1, 1, size).expand(1, 1, other, size).contiguous()
    grid_x = torch.stack([query, fixed], -1).view(1, 1, -1, 2)
    grid_y = grid_x.flip(-1)  # (y, x): the same queries along y
    out_x = sampler(along_x, grid_x, padding_mode, align_corners)
    out_y = sampler(along_x.transpose(2, 3), grid_y, padding_mode, align_corners)
    assert torch.equal(out_x, out_y)
    assert torch.equal(out_x, F.grid_sample(along_x, grid_x, "nearest", padding_mode, align_corners))


# --------------------------------------------------------------------------------------------------------------
# test_grid_sample_error_checking and test_grid_sample_3d

ERRORS = {
    "3-D input": (lambda: (torch.empty(1, 2, 2), torch.zeros(1, 1, 1, 2)), r"add a batch dimension"),
    "volume grid for an image": (
        lambda: (torch.empty(1, 1, 2, 2), torch.zeros(1, 1, 1, 1, 3)),
        r"grid must have",
    ),
    "batch sizes differ": (lambda: (torch.empty(1, 1, 2, 2), torch.zeros(2, 1, 1, 2)), r"disagree on N"),
    "grid of (x, y, z)": (
        lambda: (torch.empty(1, 1, 2, 2), torch.zeros(1, 1, 1, 3)),
        r"\(x, y\) coordinates",
    ),
    "no pixels": (lambda: (torch.empty(1, 1, 0, 2), torch.zeros(1, 1, 1, 2)), r"at least one pixel"),
    "grid on another device": (
        lambda: (torch.empty(1, 1, 2, 2), torch.zeros(1, 1, 1, 2, device="meta")),
        r"device",
    ),
    # test_grid_sample_3d: volumes are out of stnlib's scope
    "volume": (
        lambda: (torch.rand(1, 1, 2, 2, 2), torch.zeros(1, 1, 1, 1, 3)),
        r"volume \(N, C, D, H, W\).*2-D images .* use torch\.nn\.functional\.grid_sample",
    ),
}


@every_sampler
@pytest.mark.parametrize("case", list(ERRORS))
def test_torchs_error_cases_are_refused_clearly(mode, name, sampler, case) -> None:
    make, message = ERRORS[case]
    image, grid = make()
    with pytest.raises(ValueError, match=message):
        sampler(image, grid, "zeros", False)


@every_sampler
def test_unknown_padding_modes_are_refused(mode, name, sampler) -> None:
    with pytest.raises(ValueError, match=r"'zeros', 'border', 'reflection'; got 'garbage'"):
        sampler(torch.rand(1, 1, 2, 2), torch.zeros(1, 1, 1, 2), "garbage", False)


@pytest.mark.parametrize("mode", ["garbage", "bicubic"])
def test_unknown_and_bicubic_modes_are_refused(mode) -> None:
    image, grid = torch.rand(1, 1, 2, 2), torch.zeros(1, 1, 1, 2)
    F.grid_sample(image, grid, "bicubic", align_corners=False)  # torch has bicubic; stnlib sends users there
    with pytest.raises(ValueError, match=rf"'bilinear', 'nearest'; got '{mode}'\. For bicubic use torch"):
        grid_sample(image, grid, mode)


# --------------------------------------------------------------------------------------------------------------
# test_grid_sample_nan_inf and inf / NaN pixels


@every_sampler
@every_padding
def test_nan_or_inf_in_the_grid_is_refused(mode, name, sampler, padding_mode) -> None:
    # torch returns 0, NaN or some pixel there, depending on the modes
    image = torch.zeros(1, 1, 3, 3)
    grid = torch.tensor([[[[float("nan"), 0.0], [0.0, float("inf")]]]])
    with pytest.raises(ValueError, match="NaN or infinite"):
        sampler(image, grid, padding_mode, False)


def grid_with_centres_edges_and_padding(gen: torch.Generator, align_corners: bool) -> torch.Tensor:
    """(2, 7, 8, 2): pixel centres of a 4 x 5 image (the identity), random points inside and outside, and points
    one to a few pixels out."""
    identity = F.affine_grid(
        torch.eye(2, 3, dtype=torch.float64).expand(2, 2, 3), [2, 1, 4, 5], align_corners
    )
    spread = (torch.rand(2, 4, 5, 2, generator=gen, dtype=torch.float64) * 2 - 1) * 1.6
    far = torch.tensor([-1.3, 1.3, -4.0, 1.1], dtype=torch.float64)
    far = torch.cartesian_prod(far, far).view(1, 4, 4, 2).expand(2, 4, 4, 2)
    return torch.cat([identity.flatten(1, 2), spread.flatten(1, 2), far.flatten(1, 2)], 1).view(2, 7, 8, 2)


@every_sampler
@every_padding
@both_alignments
@pytest.mark.parametrize("value", [float("inf"), -float("inf"), float("nan")], ids=["inf", "-inf", "nan"])
def test_inf_and_nan_pixels_match_torch(mode, name, sampler, padding_mode, align_corners, value) -> None:
    # Out-of-image neighbours are skipped (they read 0); a non-finite pixel in the image gives NaN wherever it is
    # read, even with weight 0, as in torch.
    gen = torch.Generator().manual_seed(6)
    image = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64)
    image[0, 0, 0, 0] = value  # a corner
    image[0, 1, 0, 2] = value  # an edge
    image[1, 2, 2, 3] = value  # inside
    image[1, 0, 3, 4] = value  # the other corner
    grid = grid_with_centres_edges_and_padding(gen, align_corners)
    assert_matches_torch(mode, sampler, image, grid, padding_mode, align_corners, equal_nan=True)


@every_sampler
def test_a_sample_wholly_in_the_padding_next_to_an_inf_pixel_reads_zero(mode, name, sampler) -> None:
    image = torch.tensor([[[[float("inf"), 1.0], [2.0, float("nan")]]]], requires_grad=True)
    # Beyond the corners and the left edge, more than a pixel out: no neighbour lies in the image. (At exactly one
    # pixel out the nearest pixel is a neighbour with weight 0, and NaN * 0 is NaN, in torch too.)
    grid = torch.tensor([[[[-2.5, -2.5], [2.5, 2.5], [-2.2, 0.0]]]])
    out = sampler(image, grid, "zeros", False)
    assert torch.equal(out, torch.zeros(1, 1, 1, 3))
    assert torch.equal(out, F.grid_sample(image, grid, mode, "zeros", align_corners=False))
    (grad,) = torch.autograd.grad(out.sum(), image)
    assert torch.equal(grad, torch.zeros_like(image))


# --------------------------------------------------------------------------------------------------------------
# test_grid_sample_large: large finite coordinates

LARGE = [1e7, -1e7, 67680944.0, -10059144.0, 1e10, 1e20, -1e20, 1e30, -1e30, 0.3, -0.7]


@every_sampler
@pytest.mark.parametrize("padding_mode", ["zeros", "border"])
@both_alignments
def test_large_coordinates_match_torch(mode, name, sampler, padding_mode, align_corners) -> None:
    image = torch.rand(1, 2, 48, 64, generator=torch.Generator().manual_seed(7))
    grid = torch.cartesian_prod(torch.tensor(LARGE), torch.tensor(LARGE)).view(1, len(LARGE), len(LARGE), 2)
    assert_matches_torch(mode, sampler, image, grid, padding_mode, align_corners, tolerance=1e-5)


@every_sampler
def test_huge_affine_maps_match_torch(mode, name, sampler) -> None:
    # issue 24823: theta = -1e20 I maps every point far out; issue 35202: points at 6.8e7
    theta = torch.tensor([[[-1.0e20, 0.0, 0.0], [0.0, -1.0e20, 0.0]]])
    grid = F.affine_grid(theta, [1, 1, 4, 4], align_corners=False)
    image = torch.rand(1, 1, 4, 4, generator=torch.Generator().manual_seed(8))
    out = assert_matches_torch(mode, sampler, image, grid, "zeros", False)
    assert torch.equal(out, torch.zeros(1, 1, 4, 4))
    far = torch.tensor([[[[-10059144.0, 67680944.0], [67680944.0, 67680944.0]]]])
    image = torch.rand(1, 1, 480, 640, generator=torch.Generator().manual_seed(9))
    assert torch.equal(
        assert_matches_torch(mode, sampler, image, far, "zeros", False), torch.zeros(1, 1, 1, 2)
    )


@every_sampler
@both_alignments
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64], ids=str)
def test_reflection_of_points_too_far_for_the_dtype_is_refused(
    mode, name, sampler, align_corners, dtype
) -> None:
    # Beyond 2**22 pixels (float32, and float16 grids, which are unnormalised in float32) or 2**51 (float64)
    # numbers lie half a pixel apart or more: where a point folds back is rounding noise, and torch puts it
    # elsewhere (e.g. 1e7 on a 64-pixel axis, or 1e30 in float64).
    # (width, x): 2e5 * 32 pixels > 2**22; 6e4 (near float16's largest) * 512 pixels > 2**22; 1e30 * 32 > 2**51
    width, far = {torch.float32: (64, 2e5), torch.float16: (1024, 6e4), torch.float64: (64, 1e30)}[dtype]
    image = torch.rand(1, 1, 48, width).to(dtype)
    grid = torch.tensor([[[[0.3, 0.1], [far, 0.3]]]], dtype=dtype)
    with pytest.raises(ValueError, match=r"padding_mode='reflection' folds them back.*cannot place them"):
        sampler(image, grid, "reflection", align_corners)


@every_sampler
@both_alignments
def test_reflection_of_far_points_within_the_dtypes_reach_matches_torch(mode, name, sampler, align_corners):
    gen = torch.Generator().manual_seed(10)
    image = torch.rand(1, 2, 48, 64, generator=gen)
    # up to ~4e6 pixels in float32 (just under 2**22), and 1e10 normalised (3e11 pixels) in float64
    grid = (torch.rand(1, 30, 40, 2, generator=gen) * 2 - 1) * 1.3e5
    assert_matches_torch(mode, sampler, image, grid, "reflection", align_corners, tolerance=1e-5)
    image64, grid64 = image.double(), torch.tensor([*LARGE[:5], 1e10 + 0.3], dtype=torch.float64)
    grid64 = torch.cartesian_prod(grid64, grid64).view(1, 6, 6, 2)
    assert_matches_torch(mode, sampler, image64, grid64, "reflection", align_corners, tolerance=1e-9)


# --------------------------------------------------------------------------------------------------------------
# test_grid_sample_half_precision and test_grid_sample_bfloat16_precision (CUDA-only in torch; here on CPU)


@every_sampler
@both_alignments
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_half_precision_agrees_with_torch_in_float64(mode, name, sampler, align_corners, dtype) -> None:
    # torch's reference is F.grid_sample in float64 on the same (rounded) tensors. torch's own CPU sampler in
    # float16 or bfloat16 is far off it (it unnormalises in half precision: nearest picks other pixels); stnlib
    # unnormalises in float32 and stays within a few units in the last place of the largest value.
    gen = torch.Generator().manual_seed(11)
    image = torch.randn(4, 16, 16, 16, generator=gen).to(dtype)
    grid = (torch.rand(4, 8, 8, 2, generator=gen) * 2 - 1).to(dtype)
    grad_out = torch.randn(4, 16, 8, 8, generator=gen).to(dtype)
    got = forward_backward(lambda x, g: sampler(x, g, "zeros", align_corners), image, grid, grad_out, True)
    expected = forward_backward(
        lambda x, g: F.grid_sample(x, g, mode, "zeros", align_corners),
        image.double(),
        grid.double(),
        grad_out.double(),
        True,
    )
    eps = torch.finfo(dtype).eps
    for what, g, e in zip(("output", "image gradient", "grid gradient"), got, expected, strict=True):
        if mode == "nearest" and what == "grid gradient":
            assert g is None and not e.any()
            continue
        assert g.dtype == dtype, what
        torch.testing.assert_close(g.double(), e, rtol=0, atol=8 * eps * e.abs().max().item(), msg=what)


# --------------------------------------------------------------------------------------------------------------
# test_grid_sample_large_index_2d: images of 2**31 pixels and more


def test_flat_indices_are_exact_beyond_2_31_pixels() -> None:
    # The last pixel of a 46341 x 46341 image has flat index 46341**2 - 1 = 2**31 + 4632; int32 would overflow.
    side = 46341
    index = _flat_index(torch.tensor([side - 1.0]), torch.tensor([side - 1.0]), side, side)
    assert index.dtype == torch.int64 and index.item() == side**2 - 1 > 2**31
    # rows broadcast against columns, as in the bilinear sampler
    rows = torch.tensor([[side - 1.0], [side - 2.0]])
    index = _flat_index(rows, torch.tensor([[side - 2.0, side - 1.0]]), side, side)
    assert index.tolist() == [[side**2 - 2, side**2 - 1], [side**2 - side - 2, side**2 - side - 1]]
    assert _flat_index(torch.tensor([46339.0]), torch.tensor([46339.0]), 46340, 46340).item() == 46340**2 - 1


@pytest.mark.slow
@every_sampler
def test_an_image_of_more_than_2_31_pixels(mode, name, sampler) -> None:
    # ~4 GiB for the float16 image and as much for its gradient. Points at the far corner and one float16 step
    # before it (a few pixels from the corner); the reference is F.grid_sample in float64 on the last 32 x 32
    # pixels, with the grid mapped onto that crop (align_corners=True: -1 and 1 are the corner pixels' centres).
    side, crop = 46341, 32
    image = torch.zeros(1, 1, side, side, dtype=torch.float16)
    corner = torch.rand(crop, crop, generator=torch.Generator().manual_seed(12)).half()
    image[0, 0, -crop:, -crop:] = corner
    step = 1 - torch.finfo(torch.float16).eps / 2  # the largest float16 below 1
    points = torch.tensor([[1.0, 1.0], [step, step], [1.0, step], [step, 1.0]], dtype=torch.float16)
    grid = points.view(1, 1, 4, 2)
    out, grad_image, grad_grid = forward_backward(
        lambda x, g: sampler(x, g, "zeros", True), image, grid, torch.ones(1, 1, 1, 4), True
    )
    del image
    pixels = (points.double() + 1) * (side - 1) / 2 - (side - crop)  # pixel coordinates in the crop
    crop_grid = (pixels / (crop - 1) * 2 - 1).view(1, 1, 4, 2)
    expected = forward_backward(
        lambda x, g: F.grid_sample(x, g, mode, "zeros", True),
        corner.double().view(1, 1, crop, crop),
        crop_grid,
        torch.ones(1, 1, 1, 4, dtype=torch.float64),
        True,
    )
    torch.testing.assert_close(out.double(), expected[0], atol=2e-3, rtol=0)
    block = grad_image[0, 0, -crop:, -crop:].double()
    assert grad_image.sum().item() == pytest.approx(block.sum().item())  # nothing landed outside the crop
    torch.testing.assert_close(block, expected[1][0, 0], atol=2e-3, rtol=0)
    if mode == "bilinear":
        scale = (side - 1) / (crop - 1)  # d crop-normalised / d normalised
        torch.testing.assert_close(grad_grid.double(), expected[2] * scale, atol=0.05 * scale, rtol=1e-2)
