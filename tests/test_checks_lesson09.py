"""The checkers of Lesson 09 (when spatial transformers fail): the references pass and behave as their
docstrings promise (compared with PyTorch and stnlib.models), every accepted cure passes, the buggy versions the
lesson hands out fail with the diagnosis aimed at their bug, unfinished exercises report "not implemented", and
the results are recorded where ``use_or_fallback`` looks for them."""

from __future__ import annotations

import doctest
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stnlib import geometry
from stnlib.checks import CheckFailed, CheckResult, Status, lesson09, use_or_fallback
from stnlib.data import MNIST_MEAN, MNIST_STD
from stnlib.models import FCN, SpatialTransformer, STClassifier, identity_params

# ----------------------------------------------------------------------------------------------- helpers


def failed(checker: Callable[..., CheckResult], fn: Any) -> CheckResult:
    """Run ``checker`` on a wrong ``fn``; it must raise CheckFailed, whose result is returned."""
    with pytest.raises(CheckFailed) as error:
        checker(fn, quiet=True)
    return error.value.result


def not_implemented(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError()


def test_doctests() -> None:
    result = doctest.testmod(lesson09, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4 and result.failed == 0


# -------------------------------------------------------------------------------- exercise 1: identity init


def test_identity_init_reference_gives_the_identity_and_stays_trainable() -> None:
    torch.manual_seed(0)
    head = nn.Linear(7, 6)
    assert lesson09.identity_init_(head) is head
    theta = head(torch.randn(5, 7)).view(5, 2, 3)
    torch.testing.assert_close(theta, geometry.identity_affine(5))
    assert head.weight.requires_grad and head.bias.requires_grad
    torch.testing.assert_close(head.bias.detach(), identity_params("affine"))


def test_identity_init_passes_reference_and_in_place_without_return() -> None:
    assert lesson09.check_identity_init(lesson09.identity_init_, quiet=True)

    def in_place(head: nn.Linear) -> None:
        nn.init.zeros_(head.weight)
        with torch.no_grad():
            head.bias.copy_(torch.tensor([1.0, 0, 0, 0, 1, 0]))

    assert lesson09.check_identity_init(in_place, quiet=True)


def buggy_init(head: nn.Linear) -> nn.Linear:  # the lesson's buggy version: "zero means do nothing"
    nn.init.xavier_uniform_(head.weight)
    nn.init.zeros_(head.bias)
    return head


def zero_init(head: nn.Linear) -> nn.Linear:
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return head


def transposed_bias(head: nn.Linear) -> nn.Linear:
    nn.init.zeros_(head.weight)
    with torch.no_grad():
        head.bias.copy_(torch.tensor([1.0, 0, 0, 1, 0, 0]))
    return head


def frozen(head: nn.Linear) -> nn.Linear:
    lesson09.identity_init_(head)
    head.bias.requires_grad_(False)
    return head


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (buggy_init, "weights are not zero"),
        (zero_init, "flat colour"),
        (transposed_bias, "row by row"),
        (frozen, "no longer learns"),
    ],
)
def test_identity_init_diagnoses(fn: Callable[..., Any], expected: str) -> None:
    result = failed(lesson09.check_identity_init, fn)
    assert result.status is Status.FAILED
    assert expected in (result.first_failure or "")
    assert "head.weight" in (result.hint or "")


# ------------------------------------------------------------------------------------ exercise 2: padding


def digits(n: int = 2, dtype: torch.dtype = torch.float32) -> Tensor:
    raw = torch.zeros(n, 1, 16, 20, dtype=dtype)
    raw[..., 4:12, 6:14] = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0), dtype=dtype)
    return (raw - MNIST_MEAN) / MNIST_STD


def test_warp_normalised_keeps_the_background_and_is_zero_padding_of_x_minus_b() -> None:
    x = digits()
    zoom_out = geometry.affine_theta(scale=2.0, batch_size=2)
    out = lesson09.warp_normalised(x, zoom_out)
    assert lesson09.NORMALISED_BACKGROUND == pytest.approx(-0.42421, abs=1e-4)
    # The corners of a zoomed-out output read far outside the image: the background, not zero.
    torch.testing.assert_close(out[..., 0, 0], torch.full((2, 1), lesson09.NORMALISED_BACKGROUND))
    zero_padded = F.grid_sample(
        x, F.affine_grid(zoom_out, list(x.shape), align_corners=False), align_corners=False
    )
    assert zero_padded[..., 0, 0].abs().max() == 0  # the tutorial's frame
    # Inside, where nothing is read from outside, it equals the plain warp.
    zoom_in = geometry.affine_theta(scale=0.5, batch_size=2)
    plain = F.grid_sample(x, F.affine_grid(zoom_in, list(x.shape), align_corners=False), align_corners=False)
    torch.testing.assert_close(lesson09.warp_normalised(x, zoom_in), plain)


def test_warp_normalised_equals_stnlib_background_padding() -> None:
    x = digits(3)
    theta = geometry.affine_theta(rotation=torch.tensor([0.3, -0.5, 1.0]), scale=1.7)
    st = SpatialTransformer((1, 16, 20), padding_mode="background", background=lesson09.NORMALISED_BACKGROUND)
    torch.testing.assert_close(lesson09.warp_normalised(x, theta), st.apply_params(x, theta))


def border(x: Tensor, theta: Tensor) -> Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def normalise_after(x: Tensor, theta: Tensor) -> Tensor:
    raw = x * MNIST_STD + MNIST_MEAN
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return (F.grid_sample(raw, grid, align_corners=False) - MNIST_MEAN) / MNIST_STD


def library_background(x: Tensor, theta: Tensor) -> Tensor:  # the border's median as the background
    return SpatialTransformer(tuple(x.shape[1:]), padding_mode="background").apply_params(x, theta)


@pytest.mark.parametrize("cure", [lesson09.warp_normalised, border, normalise_after, library_background])
def test_warp_normalised_accepts_every_cure(cure: Callable[..., Tensor]) -> None:
    assert lesson09.check_warp_normalised(cure, quiet=True)


def zero_padding(x: Tensor, theta: Tensor) -> Tensor:  # the lesson's buggy version (the tutorial's sampler)
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def reflection(x: Tensor, theta: Tensor) -> Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="reflection", align_corners=False)


def minus_mean(x: Tensor, theta: Tensor) -> Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + MNIST_MEAN, grid, align_corners=False) - MNIST_MEAN


def detached(x: Tensor, theta: Tensor) -> Tensor:
    return lesson09.warp_normalised(x, theta.detach())


@pytest.mark.parametrize(
    ("fn", "expected"),
    [(zero_padding, "zero padding"), (reflection, "mirrored copies"), (minus_mean, "divide by the standard")],
)
def test_warp_normalised_diagnoses(fn: Callable[..., Tensor], expected: str) -> None:
    result = failed(lesson09.check_warp_normalised, fn)
    assert result.status is Status.FAILED
    assert expected in (result.first_failure or "")
    assert "padding_mode='border'" in (result.hint or "")


def test_warp_normalised_needs_the_gradient_to_theta() -> None:
    result = failed(lesson09.check_warp_normalised, detached)
    assert result.status is Status.FAILED
    assert "no gradient flows" in (result.first_failure or "")


# ------------------------------------------------------------------------------ exercise 3: align_corners


@pytest.mark.parametrize("align_corners", [False, True])
def test_spatial_transform_reference_identity_and_torch(align_corners: bool) -> None:
    x = torch.rand(2, 3, 7, 11, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(
        lesson09.spatial_transform(x, geometry.identity_affine(2, dtype=x.dtype), align_corners), x
    )
    theta = geometry.affine_theta(rotation=torch.tensor([0.4, -1.1]), scale=0.8, dtype=torch.float64)
    expected = F.grid_sample(
        x, F.affine_grid(theta, list(x.shape), align_corners=align_corners), align_corners=align_corners
    )
    torch.testing.assert_close(lesson09.spatial_transform(x, theta, align_corners), expected)


def torch_transform(x: Tensor, theta: Tensor, align_corners: bool = False) -> Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=align_corners)
    return F.grid_sample(x, grid, align_corners=align_corners)


def test_spatial_transform_passes_reference_and_torch() -> None:
    assert lesson09.check_spatial_transform(lesson09.spatial_transform, quiet=True)
    assert lesson09.check_spatial_transform(torch_transform, quiet=True)


def sampler_default(x: Tensor, theta: Tensor, align_corners: bool = False) -> Tensor:  # the lesson's bug
    grid = F.affine_grid(theta, x.shape, align_corners=align_corners)
    with warnings.catch_warnings():  # PyTorch warns about the sampler's default; the bug is on purpose here
        warnings.simplefilter("ignore", UserWarning)
        return F.grid_sample(x, grid)


def grid_default(x: Tensor, theta: Tensor, align_corners: bool = False) -> Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=align_corners)


def always_true(x: Tensor, theta: Tensor, align_corners: bool = False) -> Tensor:
    return torch_transform(x, theta, True)


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (sampler_default, "grid generator used align_corners=True but the sampler False"),
        (grid_default, "sampler used align_corners=True but the grid generator False"),
        (always_true, "not a fixed value"),
    ],
)
def test_spatial_transform_diagnoses(fn: Callable[..., Tensor], expected: str) -> None:
    result = failed(lesson09.check_spatial_transform, fn)
    assert result.status is Status.FAILED
    assert expected in (result.first_failure or "")
    assert "BOTH" in (result.hint or "")


def test_spatial_transform_bug_passes_the_default_identity_case() -> None:
    # The buggy version is right for align_corners=False; the first failing case is one with True.
    result = failed(lesson09.check_spatial_transform, sampler_default)
    assert result.passed >= 1
    assert "align_corners=True" in (result.first_failure or "").split(":")[0]


# ------------------------------------------------------------------------------ exercise 4: forward wiring


def test_st_net_reference_matches_stclassifier() -> None:
    torch.manual_seed(0)
    st = SpatialTransformer((1, 28, 28), loc_kind="fc")
    with torch.no_grad():
        st.localization.head.weight.normal_(0, 0.05)
    classifier = FCN((1, 28, 28))
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(lesson09.STNet(st, classifier)(x), STClassifier(st, classifier)(x))


def test_st_net_passes_reference_and_records_the_result() -> None:
    assert lesson09.check_st_net(lesson09.STNet, quiet=True)
    assert use_or_fallback(lesson09.STNet, STClassifier) is lesson09.STNet


class Untransformed(lesson09.STNet):  # the lesson's buggy version
    def forward(self, x: Tensor) -> Tensor:
        warped, theta = self.transformer(x)
        self.last_warped, self.last_theta = warped.detach(), theta.detach()
        return self.classifier(x)


class DetachedOutput(lesson09.STNet):
    def forward(self, x: Tensor) -> Tensor:
        output, _ = self.transformer(x)
        return self.classifier(output.detach())


class NoGrad(lesson09.STNet):
    def forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            output, _ = self.transformer(x)
        return self.classifier(output)


def test_st_net_diagnoses_the_untransformed_input() -> None:
    result = failed(lesson09.check_st_net, Untransformed)
    assert result.status is Status.FAILED
    assert "untransformed input" in (result.first_failure or "")
    assert Untransformed.__stn_check__ is result  # recorded on the class for use_or_fallback


@pytest.mark.parametrize("cls", [DetachedOutput, NoGrad])
def test_st_net_needs_a_gradient_for_the_localization_net(cls: type[nn.Module]) -> None:
    result = failed(lesson09.check_st_net, cls)
    assert result.status is Status.FAILED
    assert "gradient is zero" in (result.first_failure or "")


def test_st_net_rejects_an_instance() -> None:
    instance = lesson09.STNet(SpatialTransformer((1, 28, 28), loc_kind="fc"), FCN((1, 28, 28)))
    result = failed(lesson09.check_st_net, instance)
    assert result.status is Status.ERROR
    assert "pass the class itself" in (result.first_failure or "")


# --------------------------------------------------------------------------------------- not implemented


@pytest.mark.parametrize(
    "checker",
    [
        lesson09.check_identity_init,
        lesson09.check_warp_normalised,
        lesson09.check_spatial_transform,
        lesson09.check_st_net,
    ],
)
def test_stub_reports_not_implemented(checker: Callable[..., CheckResult]) -> None:
    result = checker(not_implemented, quiet=True)
    assert result.status is Status.NOT_IMPLEMENTED
    assert not result


def test_stub_class_reports_not_implemented() -> None:
    class Stub(nn.Module):
        def __init__(self, transformer: nn.Module, classifier: nn.Module) -> None:
            super().__init__()
            self.transformer, self.classifier = transformer, classifier

        def forward(self, x: Tensor) -> Tensor:
            raise NotImplementedError()

    result = lesson09.check_st_net(Stub, quiet=True)
    assert result.status is Status.NOT_IMPLEMENTED
    assert use_or_fallback(Stub, lesson09.STNet) is lesson09.STNet
