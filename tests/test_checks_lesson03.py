"""Tests of the lesson 03 checkers (the sampler): right answers pass, typical wrong answers fail with the
expected status and diagnosis, unfinished exercises report "not implemented" without raising."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from stnlib import sampling
from stnlib.checks import CheckFailed, Status, lesson03, use_or_fallback
from stnlib.geometry.coords import normalized_to_pixel, pixel_to_normalized

# ------------------------------------------------------------------- students' answers, right and wrong


def read_pixels(input: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """The lesson's gather helper: ``input[n, :, rows, cols]`` for integer positions inside the image."""
    n, c = input.shape[:2]
    index = (rows * input.shape[-1] + cols).reshape(n, 1, -1).expand(n, c, -1)
    return input.flatten(2).gather(2, index).view(n, c, *rows.shape[1:])


def add_to_pixels(target: Tensor, rows: Tensor, cols: Tensor, values: Tensor) -> Tensor:
    """The lesson's scatter helper, the transpose of :func:`read_pixels`."""
    n, c = target.shape[:2]
    index = (rows * target.shape[-1] + cols).reshape(n, 1, -1).expand(n, c, -1)
    return target.flatten(2).scatter_add(2, index, values.reshape(n, c, -1)).view_as(target)


def to_pixels(grid: Tensor, input: Tensor, align_corners: bool) -> tuple[Tensor, Tensor]:
    height, width = input.shape[-2:]
    x = normalized_to_pixel(grid[..., 0], width, align_corners)
    y = normalized_to_pixel(grid[..., 1], height, align_corners)
    return x, y


def nearest_sample(
    input: Tensor, grid: Tensor, align_corners: bool = False, *, rounding=torch.round, zero_outside=True
) -> Tensor:
    height, width = input.shape[-2:]
    x, y = to_pixels(grid, input, align_corners)
    m, n = rounding(x).long(), rounding(y).long()
    inside = (m >= 0) & (m <= width - 1) & (n >= 0) & (n <= height - 1)
    values = read_pixels(input, n.clamp(0, height - 1), m.clamp(0, width - 1))
    return values * inside.unsqueeze(1) if zero_outside else values


def bilinear_sample(
    input: Tensor,
    grid: Tensor,
    align_corners: bool = False,
    *,
    zero_outside: bool = True,
    swap_weights: bool = False,
    add_weights: bool = False,
    half_pixel: float = 0.0,
) -> Tensor:
    height, width = input.shape[-2:]
    x, y = to_pixels(grid, input, align_corners)
    x, y = x + half_pixel, y + half_pixel
    x0, y0 = x.detach().floor(), y.detach().floor()
    output = torch.zeros(())
    for n in (y0, y0 + 1):
        for m in (x0, x0 + 1):
            kx, ky = 1 - (x - m).abs(), 1 - (y - n).abs()
            if swap_weights:
                kx, ky = 1 - kx, 1 - ky
            weight = (kx + ky) / 2 if add_weights else kx * ky
            inside = (m >= 0) & (m <= width - 1) & (n >= 0) & (n <= height - 1)
            if zero_outside:
                weight = weight * inside
            values = read_pixels(input, n.clamp(0, height - 1).long(), m.clamp(0, width - 1).long())
            output = output + values * weight.unsqueeze(1)
    return output


def bilinear_sample_border(input: Tensor, grid: Tensor, align_corners: bool = False) -> Tensor:
    height, width = input.shape[-2:]
    x, y = to_pixels(grid, input, align_corners)
    x = pixel_to_normalized(x.clamp(0, width - 1), width, align_corners)
    y = pixel_to_normalized(y.clamp(0, height - 1), height, align_corners)
    return bilinear_sample(input, torch.stack([x, y], dim=-1), align_corners)


def make_sampler(mistake: str = "") -> Callable[..., Tensor]:
    """A ``bilinear_sampler`` whose hand-written backward is right, or makes one ``mistake``."""

    class Sampler(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input, grid, align_corners=False):
            x, y = to_pixels(grid, input, align_corners)
            ctx.save_for_backward(input, x, y)
            ctx.align_corners = align_corners
            return bilinear_sample(input, grid, align_corners)

        @staticmethod
        def backward(ctx, grad_output):
            if mistake == "not implemented":
                raise NotImplementedError()
            input, x, y = ctx.saved_tensors
            height, width = input.shape[-2:]
            x0, y0 = x.floor(), y.floor()
            grad_input = torch.zeros_like(input)
            grad_x, grad_y = torch.zeros_like(x), torch.zeros_like(y)
            for dn in (0, 1):
                for dm in (0, 1):
                    m, n = x0 + dm, y0 + dn
                    kx, ky = 1 - (x - m).abs(), 1 - (y - n).abs()
                    inside = ((m >= 0) & (m <= width - 1) & (n >= 0) & (n <= height - 1)).to(x.dtype)
                    if mistake == "not masked":
                        inside = torch.ones_like(inside)
                    rows, cols = n.clamp(0, height - 1).long(), m.clamp(0, width - 1).long()
                    spread = grad_output * (kx * ky * inside).unsqueeze(1)
                    if mistake == "assignment":
                        flat = grad_input.flatten(2)
                        index = (
                            (rows * width + cols).reshape(rows.shape[0], 1, -1).expand_as(spread.flatten(2))
                        )
                        grad_input = flat.scatter(2, index, spread.flatten(2)).view_as(grad_input)
                    else:
                        grad_input = add_to_pixels(grad_input, rows, cols, spread)
                    along = (grad_output * read_pixels(input, rows, cols)).sum(1) * inside
                    sign = 1.0 if mistake == "sign" else -1.0
                    grad_x = grad_x + along * ky * (-sign if dm else sign)
                    grad_y = grad_y + along * kx * (-sign if dn else sign)
            ac = ctx.align_corners
            scale_x, scale_y = ((width - 1) / 2, (height - 1) / 2) if ac else (width / 2, height / 2)
            if mistake == "no scale":
                scale_x = scale_y = 1.0
            if mistake == "other scale":
                scale_x, scale_y = ((width - 1) / 2, (height - 1) / 2) if not ac else (width / 2, height / 2)
            parts = (
                [grad_y * scale_y, grad_x * scale_x]
                if mistake == "xy"
                else [grad_x * scale_x, grad_y * scale_y]
            )
            return grad_input, torch.stack(parts, dim=-1), None

    def bilinear_sampler(input, grid, align_corners=False):
        return Sampler.apply(input, grid, align_corners)

    return bilinear_sampler


def not_implemented(*args, **kwargs):
    raise NotImplementedError()


# ------------------------------------------------------------------------------------------- helpers


def expect_failure(checker, fn, status: Status, *phrases: str, capsys) -> str:
    with pytest.raises(CheckFailed) as raised:
        checker(fn)
    report = capsys.readouterr().out
    assert raised.value.result.status is status, report
    for phrase in phrases:
        assert phrase in report, report
    return report


def nearest_variant(**options) -> Callable[..., Tensor]:
    return lambda input, grid, align_corners=False: nearest_sample(input, grid, align_corners, **options)


def bilinear_variant(**options) -> Callable[..., Tensor]:
    return lambda input, grid, align_corners=False: bilinear_sample(input, grid, align_corners, **options)


# ---------------------------------------------------------------------------------- right answers pass


@pytest.mark.parametrize(
    ("checker", "answer"),
    [
        (lesson03.check_nearest_sample, nearest_sample),
        (lesson03.check_nearest_sample, sampling.nearest_sample),
        (lesson03.check_bilinear_sample, bilinear_sample),
        (lesson03.check_bilinear_sample, sampling.bilinear_sample),
        (lesson03.check_bilinear_sample_border, bilinear_sample_border),
        (lesson03.check_bilinear_sample_border, lesson03.bilinear_sample_border),
        (lesson03.check_bilinear_backward, make_sampler()),
        (lesson03.check_bilinear_backward, sampling.grid_sample),
    ],
)
def test_right_answers_pass(checker, answer, capsys) -> None:
    result = checker(answer)
    report = capsys.readouterr().out
    assert result.status is Status.PASSED and result.passed == result.total >= 5, report
    assert "✅" in report and "torch.nn.functional.grid_sample" in report
    assert use_or_fallback(answer, sampling.grid_sample) is answer


def test_the_references_agree_with_pytorch_values_and_gradients() -> None:
    """The checkers compare with stnlib and with F.grid_sample; on their cases the two agree, gradients too."""
    for case in lesson03._gradient_cases(seed=34) + lesson03._gradient_cases(seed=33):
        align_corners = case.kwargs["align_corners"]
        for mode in ("zeros", "border"):
            _, one = case.fresh(requires_grad=("input", "grid"))
            _, two = case.fresh(requires_grad=("input", "grid"))
            u1, g1, u2, g2 = one["input"], one["grid"], two["input"], two["grid"]
            ours = sampling.grid_sample(u1, g1, padding_mode=mode, align_corners=align_corners)
            theirs = F.grid_sample(u2, g2, padding_mode=mode, align_corners=align_corners)
            weights = torch.rand(ours.shape, generator=torch.Generator().manual_seed(0), dtype=ours.dtype)
            ours_grads = torch.autograd.grad((ours * weights).sum(), (u1, g1))
            theirs_grads = torch.autograd.grad((theirs * weights).sum(), (u2, g2))
            tol = (
                {"atol": 1e-5, "rtol": 1e-4} if ours.dtype == torch.float32 else {"atol": 1e-10, "rtol": 1e-8}
            )
            torch.testing.assert_close(ours, theirs, **tol)
            for a, b in zip(ours_grads, theirs_grads, strict=True):
                torch.testing.assert_close(a, b, **tol)


def test_cases_cover_the_edge_cases_and_avoid_ambiguous_points() -> None:
    forward = lesson03._forward_cases(seed=31)
    gradient = lesson03._gradient_cases(seed=34)
    for cases in (forward, gradient):
        assert {c.kwargs["align_corners"] for c in cases} == {False, True}
        images = [c.kwargs["input"] for c in cases]
        assert {u.dtype for u in images} == {torch.float32, torch.float64}
        assert any(u.shape[0] > 1 and u.shape[1] > 1 for u in images)
        assert any(u.shape[-2] != u.shape[-1] for u in images)
        assert any(bool((c.kwargs["grid"].abs() > 1).any()) for c in cases)  # points outside the image
    for case in forward:  # nearest: never halfway between two pixels (rounding conventions differ there)
        x, y = to_pixels(case.kwargs["grid"].double(), case.kwargs["input"], case.kwargs["align_corners"])
        for p in (x, y):
            assert float(((p - p.floor()) - 0.5).abs().min()) > 1e-3, case.name
    for case in gradient:  # gradients: never on a pixel centre (the kernel's kink)
        image = case.kwargs["input"]
        x, y = to_pixels(case.kwargs["grid"].double(), image, case.kwargs["align_corners"])
        for p, size in ((x, image.shape[-1]), (y, image.shape[-2])):
            if size > 1 or not case.kwargs["align_corners"]:
                assert float((p - p.round()).abs().min()) > 1e-3, case.name


# ---------------------------------------------------------------------------- not implemented yet


@pytest.mark.parametrize(
    ("checker", "answer"),
    [
        (lesson03.check_nearest_sample, not_implemented),
        (lesson03.check_bilinear_sample, not_implemented),
        (lesson03.check_bilinear_sample_border, not_implemented),
        (lesson03.check_bilinear_backward, make_sampler("not implemented")),
    ],
)
def test_stubs_report_not_implemented_without_raising(checker, answer, capsys) -> None:
    result = checker(answer)
    report = capsys.readouterr().out
    assert result.status is Status.NOT_IMPLEMENTED and "not implemented yet" in report
    reference = sampling.grid_sample
    assert use_or_fallback(answer, reference) is reference
    assert "is not implemented yet" in capsys.readouterr().out


# --------------------------------------------------------------------- exercise 1: nearest sampling


@pytest.mark.parametrize(
    ("answer", "phrase"),
    [
        (
            lambda input, grid, align_corners=False: nearest_sample(input, grid.flip(-1), align_corners),
            "x and y are swapped",
        ),
        (
            lambda input, grid, align_corners=False: nearest_sample(input, grid, False),
            "align_corners=False result",
        ),
        (nearest_variant(rounding=torch.floor), "rounded down"),
        (nearest_variant(zero_outside=False), "must read 0 (zero padding)"),
    ],
)
def test_nearest_wrong_answers_are_diagnosed(answer, phrase, capsys) -> None:
    report = expect_failure(lesson03.check_nearest_sample, answer, Status.FAILED, phrase, capsys=capsys)
    assert "Hint: x = normalized_to_pixel" in report


def test_nearest_with_sizes_swapped_is_diagnosed(capsys) -> None:
    def swapped(input, grid, align_corners=False):
        height, width = input.shape[-2:]
        x = normalized_to_pixel(grid[..., 0], height, align_corners)
        y = normalized_to_pixel(grid[..., 1], width, align_corners)
        moved = torch.stack(
            [pixel_to_normalized(x, width, align_corners), pixel_to_normalized(y, height, align_corners)], -1
        )
        return nearest_sample(input, moved, align_corners)

    expect_failure(
        lesson03.check_nearest_sample, swapped, Status.FAILED, "unnormalised with the height H", capsys=capsys
    )


def test_nearest_shape_dtype_and_error_statuses(capsys) -> None:
    expect_failure(
        lesson03.check_nearest_sample,
        lambda input, grid, align_corners=False: nearest_sample(input, grid, align_corners)[0],
        Status.WRONG_SHAPE,
        "missing the batch dimension",
        capsys=capsys,
    )
    expect_failure(
        lesson03.check_nearest_sample,
        lambda input, grid, align_corners=False: nearest_sample(input, grid, align_corners).float(),
        Status.WRONG_DTYPE,
        "expected torch.float64",
        capsys=capsys,
    )

    def crashing(input, grid, align_corners=False):
        return input.flatten(2).gather(2, torch.full((1, 1, 1), 999))  # an index outside the image

    expect_failure(lesson03.check_nearest_sample, crashing, Status.ERROR, "RuntimeError", capsys=capsys)


# -------------------------------------------------------------------- exercise 2: bilinear sampling


@pytest.mark.parametrize(
    ("answer", "phrase"),
    [
        (bilinear_variant(zero_outside=False), "clamped their positions"),
        (bilinear_variant(swap_weights=True), "weights sit on the wrong neighbours"),
        (bilinear_variant(add_weights=True), "four weights must sum to 1"),
        (bilinear_variant(half_pixel=0.5), "half a pixel too large"),
        (
            lambda input, grid, align_corners=False: bilinear_sample(input, grid.flip(-1), align_corners),
            "x and y are swapped",
        ),
        (
            lambda input, grid, align_corners=False: bilinear_sample(input, grid, True),
            "align_corners=True result",
        ),
    ],
)
def test_bilinear_wrong_answers_are_diagnosed(answer, phrase, capsys) -> None:
    report = expect_failure(lesson03.check_bilinear_sample, answer, Status.FAILED, phrase, capsys=capsys)
    assert "Diagnosis:" in report and "Hint:" in report


def test_bilinear_without_gradient_fails(capsys) -> None:
    def detached(input, grid, align_corners=False):
        return bilinear_sample(input.detach(), grid, align_corners)

    expect_failure(
        lesson03.check_bilinear_sample, detached, Status.FAILED, "no gradient flows", capsys=capsys
    )


# ---------------------------------------------------------------------- exercise 3: border padding


def test_border_wrong_answers_are_diagnosed(capsys) -> None:
    expect_failure(
        lesson03.check_bilinear_sample_border,
        bilinear_sample,
        Status.FAILED,
        "still read 0",
        capsys=capsys,
    )
    report = expect_failure(
        lesson03.check_bilinear_sample_border,
        lambda input, grid, align_corners=False: bilinear_sample(input, grid.clamp(-1, 1), align_corners),
        Status.FAILED,
        "clamped the normalised grid to [-1, 1]",
        capsys=capsys,
    )
    assert "align_corners=False" in report


def test_border_gradient_must_vanish_where_clamped(capsys) -> None:
    def leaky(input, grid, align_corners=False):  # right values, but the clamp is bypassed for the gradient
        border = bilinear_sample_border(input, grid.detach(), align_corners)
        return border + (grid - grid.detach()).sum() * 1e-3

    expect_failure(lesson03.check_bilinear_sample_border, leaky, Status.FAILED, "gradient", capsys=capsys)


# -------------------------------------------------------------------- exercise 4: the backward pass


@pytest.mark.parametrize(
    ("mistake", "phrase"),
    [
        ("no scale", "lacks the unnormalisation scale"),
        ("other scale", "uses the scale of align_corners="),
        ("xy", "components of the grid gradient are swapped"),
        ("sign", "wrong sign"),
        ("not masked", "must count as 0"),
        ("assignment", "must add up"),
    ],
)
def test_backward_mistakes_are_diagnosed(mistake: str, phrase: str, capsys) -> None:
    report = expect_failure(
        lesson03.check_bilinear_backward, make_sampler(mistake), Status.FAILED, phrase, capsys=capsys
    )
    assert "the gradient with respect to '" in report and "Hint: for each neighbour" in report


def test_backward_that_crashes_is_an_error(capsys) -> None:
    def crashing(input, grid, align_corners=False):
        class Broken(torch.autograd.Function):
            @staticmethod
            def forward(ctx, u, g):
                return sampling.bilinear_sample(u, g, align_corners=align_corners)

            @staticmethod
            def backward(ctx, grad_output):
                return grad_output, None  # wrong shape for the input's gradient

        return Broken.apply(input, grid)

    expect_failure(
        lesson03.check_bilinear_backward, crashing, Status.ERROR, "computing gradients failed", capsys=capsys
    )


def test_bilinear_sample_border_reference_matches_pytorch() -> None:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 5, 7, generator=generator, dtype=torch.float64)
    grid = torch.rand(2, 4, 6, 2, generator=generator, dtype=torch.float64) * 4 - 2
    for align_corners in (False, True):
        torch.testing.assert_close(
            lesson03.bilinear_sample_border(image, grid, align_corners),
            F.grid_sample(image, grid, padding_mode="border", align_corners=align_corners),
        )
    assert math.isclose(lesson03._scale(28, False), 14.0) and math.isclose(lesson03._scale(28, True), 13.5)
