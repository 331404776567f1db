"""The checkers of Lesson 04 (the localization network): the references pass and agree with PyTorch and
stnlib.models, typical wrong answers fail with the expected status and the diagnosis aimed at that mistake,
unfinished exercises report "not implemented", and the class checker records its result on the class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from stnlib.checks import CheckFailed, CheckResult, Status, lesson04, use_or_fallback
from stnlib.models import LocalizationNet, SpatialTransformer, identity_params, num_params

# ----------------------------------------------------------------------------------------------- helpers


def failed(checker: Callable[..., CheckResult], fn: Any) -> CheckResult:
    """Run ``checker`` on a wrong ``fn``; it must raise CheckFailed, whose result is returned."""
    with pytest.raises(CheckFailed) as error:
        checker(fn, quiet=True)
    return error.value.result


def not_implemented(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError()


class NotImplementedNet(nn.Module):
    def __init__(self, in_shape: tuple[int, int, int], transform: str = "affine") -> None:
        super().__init__()
        raise NotImplementedError()


def make_head(in_features: int, transform: str, tps_grid_size: int = 4, *, bias=None, zero_weight=True):
    """A head written out by hand (not via lesson04.identity_head), with an optional wrong bias."""
    head = nn.Linear(in_features, num_params(transform, tps_grid_size))
    with torch.no_grad():
        if zero_weight:
            head.weight.zero_()
        head.bias.copy_(identity_params(transform, tps_grid_size) if bias is None else bias(transform))
    return head


class StudentNet(nn.Module):
    """A correct answer written the way a student would: sizes traced with integer arithmetic."""

    def __init__(self, in_shape: tuple[int, int, int], transform: str = "affine", padding: int = 0) -> None:
        super().__init__()
        self.transform = transform
        channels, height, width = in_shape
        for _ in range(2):
            height = (height + 2 * padding - 4) // 2
            width = (width + 2 * padding - 4) // 2
        self.features = nn.Sequential(
            nn.Conv2d(channels, 8, 5, padding=padding),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(8, 10, 5, padding=padding),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(10 * height * width, 32),
            nn.ReLU(),
        )
        self.head = make_head(32, transform)

    def forward(self, x: Tensor) -> Tensor:
        params = self.head(self.features(x))
        return params.view(-1, 2, 3) if self.transform == "affine" else params


REFERENCES = [
    (lesson04.check_conv_output_size, lesson04.conv_output_size),
    (lesson04.check_identity_head, lesson04.identity_head),
    (lesson04.check_localization_net, lesson04.SmallLocalizationNet),
]

# ---------------------------------------------------------------------------------- references and stubs


@pytest.mark.parametrize(("checker", "reference"), REFERENCES)
def test_reference_passes_every_case(checker, reference, capsys) -> None:
    result = checker(reference)
    assert result.status is Status.PASSED and result.passed == result.total >= 5
    assert result.max_error is not None and result.max_error < 1e-6
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("checker", "stub", "reference"),
    [
        (lesson04.check_conv_output_size, not_implemented, lesson04.conv_output_size),
        (lesson04.check_identity_head, not_implemented, lesson04.identity_head),
        (lesson04.check_localization_net, NotImplementedNet, lesson04.SmallLocalizationNet),
        (lesson04.check_train_alignment, not_implemented, lesson04.train_alignment),
    ],
)
def test_stub_reports_not_implemented_without_raising(checker, stub, reference, capsys) -> None:
    result = checker(stub)
    assert result.status is Status.NOT_IMPLEMENTED and not result
    assert "not implemented yet" in capsys.readouterr().out
    assert use_or_fallback(stub, reference) is reference


def test_students_own_versions_pass_and_are_kept() -> None:
    assert lesson04.check_conv_output_size(
        lambda s, k, stride=1, padding=0: (s + 2 * padding - k) // stride + 1
    )
    assert lesson04.check_identity_head(make_head, quiet=True)
    assert lesson04.check_localization_net(StudentNet, quiet=True)
    assert (
        use_or_fallback(StudentNet, lesson04.SmallLocalizationNet) is StudentNet
    )  # result recorded on the class
    assert lesson04.check_train_alignment(student_train_alignment, quiet=True)
    assert use_or_fallback(student_train_alignment, lesson04.train_alignment) is student_train_alignment


# ----------------------------------------------------------------------------------- references agree


def test_conv_output_size_agrees_with_real_layers() -> None:
    for size in (5, 16, 27, 28, 42, 60):
        for kernel, stride, padding in [(5, 1, 0), (2, 2, 0), (3, 2, 1), (9, 1, 0), (5, 1, 2)]:
            if kernel > size + 2 * padding:
                continue
            x = torch.zeros(1, 1, size, size + 3)
            conv = F.conv2d(x, torch.zeros(1, 1, kernel, kernel), stride=stride, padding=padding)
            assert conv.shape[-2:] == (
                lesson04.conv_output_size(size, kernel, stride, padding),
                lesson04.conv_output_size(size + 3, kernel, stride, padding),
            )
    pooled = F.max_pool2d(torch.zeros(1, 1, 27, 42), 2)
    assert pooled.shape[-2:] == (lesson04.conv_output_size(27, 2, 2), lesson04.conv_output_size(42, 2, 2))


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 80), kernel=st.integers(1, 11), stride=st.integers(1, 4), padding=st.integers(0, 3)
)
def test_conv_output_size_is_the_length_pytorch_produces(
    size: int, kernel: int, stride: int, padding: int
) -> None:
    if kernel > size + 2 * padding:
        with pytest.raises(ValueError, match="does not fit"):
            lesson04.conv_output_size(size, kernel, stride, padding)
        return
    signal = torch.zeros(1, 1, size)
    length = F.max_pool1d(F.pad(signal, (padding, padding)), kernel, stride=stride).shape[-1]
    assert lesson04.conv_output_size(size, kernel, stride, padding) == length


def test_conv_output_size_rejects_a_kernel_larger_than_the_input() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        lesson04.conv_output_size(4, 5)
    with pytest.raises(TypeError, match="size must be an int"):
        lesson04.conv_output_size(28.0, 5)  # type: ignore[arg-type]


@pytest.mark.parametrize("transform", ["affine", "attention", "projective", "tps"])
def test_identity_head_matches_the_library_head(transform: str) -> None:
    head = lesson04.identity_head(20, transform, 3)
    library = LocalizationNet((1, 28, 28), transform, tps_grid_size=3).head
    assert head.weight.shape == library.weight.shape
    assert torch.equal(head.weight, library.weight) and torch.equal(head.bias, library.bias)


@pytest.mark.parametrize(
    ("in_shape", "transform"),
    [
        ((1, 28, 28), "affine"),
        ((1, 42, 42), "attention"),
        ((2, 36, 60), "projective"),
        ((1, 16, 16), "affine"),
    ],
)
def test_small_localization_net_is_the_identity_in_a_spatial_transformer(in_shape, transform) -> None:
    torch.manual_seed(0)
    net = lesson04.SmallLocalizationNet(in_shape, transform)
    st = SpatialTransformer(in_shape, transform, localization=net)
    x = torch.rand(3, *in_shape)
    out, params = st(x)
    assert torch.allclose(out, x, atol=1e-5)
    assert torch.allclose(params[1], identity_params(transform).view_as(params[1]))
    # every trainable parameter of the transformer belongs to the localization network
    assert {id(p) for p in st.parameters()} == {id(p) for p in net.parameters()}


def test_small_localization_net_rejects_tps_and_a_batched_in_shape() -> None:
    with pytest.raises(ValueError, match="transform must be one of"):
        lesson04.SmallLocalizationNet((1, 28, 28), "tps")
    with pytest.raises(ValueError, match="without the batch dimension"):
        lesson04.SmallLocalizationNet((8, 1, 28, 28))  # type: ignore[arg-type]


def test_alignment_loss_is_mse_and_checks_shapes() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 1, 5, 7, generator=g), torch.rand(2, 1, 5, 7, generator=g)
    assert torch.allclose(lesson04.alignment_loss(a, b), F.mse_loss(a, b))
    with pytest.raises(ValueError, match="disagree on H"):
        lesson04.alignment_loss(a, b[:, :, :4])


# ------------------------------------------------------------------------------------ exercise 1: size


@pytest.mark.parametrize(
    ("fn", "status", "diagnosis"),
    [
        (
            lambda s, k, stride=1, padding=0: (s + 2 * padding - k) / stride + 1,
            Status.WRONG_TYPE,
            "round down",
        ),
        (lambda s, k, stride=1, padding=0: (s + padding - k) // stride + 1, Status.FAILED, "BOTH sides"),
        (lambda s, k, stride=1, padding=0: (s + 2 * padding - k) // stride, Status.FAILED, "off by one"),
        (lambda s, k, stride=1, padding=0: s + 2 * padding - k + 1, Status.FAILED, "stride is missing"),
        (
            lambda s, k, stride=1, padding=0: -(-(s + 2 * padding - k) // stride) + 1,
            Status.FAILED,
            "rounded up",
        ),
        (lambda s, k, stride=1, padding=0: torch.tensor(s - k + 1), Status.WRONG_TYPE, "plain Python ints"),
    ],
    ids=["true-division", "one-sided-padding", "no-plus-one", "no-stride", "ceil", "tensor"],
)
def test_conv_output_size_wrong_answers(fn, status: Status, diagnosis: str) -> None:
    result = failed(lesson04.check_conv_output_size, fn)
    assert result.status is status
    assert diagnosis in (result.first_failure or "")
    assert "(size + 2 * padding - kernel_size) // stride + 1" in (result.hint or "")


# ------------------------------------------------------------------------------------ exercise 2: head


def test_head_with_random_weights_fails() -> None:
    result = failed(
        lesson04.check_identity_head,
        lambda n, t, tps_grid_size=4: make_head(n, t, tps_grid_size, zero_weight=False),
    )
    assert result.status is Status.FAILED
    assert "weight is not zero" in (result.first_failure or "")


@pytest.mark.parametrize(
    ("bias", "diagnosis"),
    [
        (lambda t: torch.zeros(num_params(t, 4)), "bias is all zeros"),
        (
            lambda t: torch.tensor([1.0, 0, 0, 1, 0, 0]) if t == "affine" else identity_params(t, 4),
            "row by row",
        ),
    ],
    ids=["zero-bias", "column-major"],
)
def test_head_with_a_wrong_affine_bias_is_diagnosed(bias, diagnosis: str) -> None:
    result = failed(
        lesson04.check_identity_head, lambda n, t, tps_grid_size=4: make_head(n, t, tps_grid_size, bias=bias)
    )
    assert result.status is Status.FAILED
    assert "affine" in (result.first_failure or "") and diagnosis in (result.first_failure or "")


def test_head_with_control_points_as_tps_bias_is_diagnosed() -> None:
    from stnlib.geometry import tps_control_points

    def head(n: int, transform: str, tps_grid_size: int = 4) -> nn.Linear:
        layer = make_head(n, transform, tps_grid_size)
        if transform == "tps":
            with torch.no_grad():
                layer.bias.copy_(tps_control_points(tps_grid_size).flatten())
        return layer

    result = failed(lesson04.check_identity_head, head)
    assert result.status is Status.FAILED and "OFFSETS" in (result.first_failure or "")


def test_projective_identity_matrix_as_bias_is_diagnosed() -> None:
    def bias(transform: str) -> Tensor:
        if transform == "projective":
            return torch.tensor([1.0, 0, 0, 0, 1, 0, 0, 0])
        return identity_params(transform, 4)

    result = failed(
        lesson04.check_identity_head, lambda n, t, tps_grid_size=4: make_head(n, t, tps_grid_size, bias=bias)
    )
    assert "H - I" in (result.first_failure or "")


def test_head_changed_in_place_without_no_grad_reports_the_error() -> None:
    def head(n: int, transform: str, tps_grid_size: int = 4) -> nn.Linear:
        layer = nn.Linear(n, num_params(transform, tps_grid_size))
        layer.weight.zero_()  # RuntimeError: a leaf Variable that requires grad ...
        return layer

    result = failed(lesson04.check_identity_head, head)
    assert result.status is Status.ERROR and "in-place" in (result.first_failure or "")
    assert "torch.no_grad()" in (result.hint or "")


def test_frozen_head_fails() -> None:
    def head(n: int, transform: str, tps_grid_size: int = 4) -> nn.Linear:
        return make_head(n, transform, tps_grid_size).requires_grad_(False)

    result = failed(lesson04.check_identity_head, head)
    assert result.status is Status.FAILED and "no longer learns" in (result.first_failure or "")


def test_head_that_is_not_a_linear_layer_is_the_wrong_type() -> None:
    result = failed(
        lesson04.check_identity_head, lambda n, t, tps_grid_size=4: identity_params(t, tps_grid_size)
    )
    assert result.status is Status.WRONG_TYPE and "nn.Linear" in (result.first_failure or "")


# ------------------------------------------------------------------------------ exercise 3: the network


class HardCoded28(StudentNet):
    """Flattened size written for 28x28 inputs only."""

    def __init__(self, in_shape: tuple[int, int, int], transform: str = "affine") -> None:
        super().__init__((in_shape[0], 28, 28), transform)


class Padded(StudentNet):
    def __init__(self, in_shape: tuple[int, int, int], transform: str = "affine") -> None:
        super().__init__(in_shape, transform, padding=2)


class IgnoresInput(StudentNet):
    def forward(self, x: Tensor) -> Tensor:
        params = self.head.bias.expand(x.shape[0], -1)
        return params.reshape(-1, 2, 3) if self.transform == "affine" else params


class DetachedFeatures(StudentNet):
    def forward(self, x: Tensor) -> Tensor:
        params = self.head(self.features(x).detach())
        return params.view(-1, 2, 3) if self.transform == "affine" else params


class NotReshaped(StudentNet):
    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class RandomHead(StudentNet):
    def __init__(self, in_shape: tuple[int, int, int], transform: str = "affine") -> None:
        super().__init__(in_shape, transform)
        self.head = nn.Linear(32, num_params(transform))  # PyTorch's default initialisation


class HeadUnderAnotherName(StudentNet):
    def __init__(self, in_shape: tuple[int, int, int], transform: str = "affine") -> None:
        super().__init__(in_shape, transform)
        self.regressor = self.head
        del self.head

    def forward(self, x: Tensor) -> Tensor:
        params = self.regressor(self.features(x))
        return params.view(-1, 2, 3) if self.transform == "affine" else params


@pytest.mark.parametrize(
    ("cls", "status", "message"),
    [
        (HardCoded28, Status.ERROR, "mat1 and mat2 shapes cannot be multiplied"),
        (Padded, Status.FAILED, "parameters; the one described has"),
        (IgnoresInput, Status.FAILED, "θ does not depend on the input"),
        (DetachedFeatures, Status.FAILED, "no gradient reaches the first convolution"),
        (NotReshaped, Status.WRONG_SHAPE, "params.view(-1, 2, 3)"),
        (RandomHead, Status.FAILED, "θ at initialisation differs"),
        (HeadUnderAnotherName, Status.FAILED, "self.head"),
    ],
    ids=["hard-coded-28", "padded", "ignores-input", "detached", "not-reshaped", "random-head", "head-name"],
)
def test_localization_net_wrong_answers(cls: type, status: Status, message: str) -> None:
    result = failed(lesson04.check_localization_net, cls)
    assert result.status is status
    assert message in (result.first_failure or "")
    assert use_or_fallback(cls, lesson04.SmallLocalizationNet) is lesson04.SmallLocalizationNet


def test_hard_coded_size_passes_only_the_28x28_case_and_the_hint_explains() -> None:
    result = failed(lesson04.check_localization_net, HardCoded28)
    assert result.passed == 1
    assert "hard-coded size" in (result.hint or "")


def test_passing_an_instance_instead_of_the_class_is_explained() -> None:
    result = failed(lesson04.check_localization_net, lesson04.SmallLocalizationNet((1, 28, 28)))
    assert result.status is Status.ERROR and "pass the class itself" in (result.first_failure or "")


def test_checking_a_network_leaves_the_global_random_state_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    lesson04.check_localization_net(lesson04.SmallLocalizationNet, quiet=True)
    assert torch.equal(torch.rand(3), expected)


# ------------------------------------------------------------------------ exercise 4: the training loop


def student_train_alignment(transformer, optimizer, batches):
    """A right answer written another way: F.mse_loss, and zero_grad after the update instead of before."""
    losses = []
    for x, upright in batches:
        output, _theta = transformer(x)
        loss = F.mse_loss(output, upright)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    return losses


def make_loop(*, zero_grad=True, target="upright", keep="item", sign=1.0, forwards=1, step=True):
    """The training loop with one mistake (by default none)."""

    def loop(transformer, optimizer, batches):
        losses = []
        for x, upright in batches:
            for _ in range(forwards):
                output, _theta = transformer(x)
            loss = ((output - (upright if target == "upright" else x)) ** 2).mean()
            if zero_grad:
                optimizer.zero_grad()
            (sign * loss).backward()
            if step:
                optimizer.step()
            losses.append(loss.item() if keep == "item" else loss if keep == "tensor" else loss.detach())
        return losses

    return loop


def test_train_alignment_reference_trains_the_toy_problem() -> None:
    """On every case the reference's loss falls (on the repeated batch, step by step), every parameter of the
    localization network moves, and the gradient reaches all of them."""
    for case in lesson04._training_cases():
        probe = lesson04._probe_training(lesson04.train_alignment, *case.args)
        steps = case.args[2]
        assert len(probe.losses) == probe.forwards == probe.batches == steps
        assert all(type(v) is float for v in probe.losses)
        everything = {"features.1.weight", "features.1.bias", "head.weight", "head.bias"}
        # In the first step only the head learns: the gradient reaches the layers below through its zero weights.
        head_only = {"head.weight", "head.bias"}
        assert set(probe.moved) == set(probe.reached) == (everything if steps > 1 else head_only)
        if probe.repeated:
            assert all(b < a for a, b in zip(probe.losses[:-1], probe.losses[1:], strict=True))


def test_train_alignment_cases_are_reproducible_and_leave_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    case = lesson04._training_cases()[1]
    first = lesson04._probe_training(lesson04.train_alignment, *case.args)
    second = lesson04._probe_training(lesson04.train_alignment, *case.args)
    assert first.losses == second.losses and torch.equal(first.parameters, second.parameters)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("loop", "status", "message"),
    [
        (make_loop(zero_grad=False), Status.FAILED, "optimizer.zero_grad() is missing"),
        (make_loop(target="input"), Status.FAILED, "the target is the upright digit"),
        (make_loop(keep="tensor"), Status.WRONG_TYPE, "append loss.item()"),
        (make_loop(keep="detached"), Status.WRONG_TYPE, "your list holds tensors"),
        (make_loop(step=False), Status.FAILED, "the localization network did not change"),
        (make_loop(sign=-1.0), Status.FAILED, "instead of falling"),
        (make_loop(forwards=2), Status.FAILED, "run it once per batch"),
        (lambda transformer, optimizer, batches: None, Status.WRONG_TYPE, "forget to `return losses`"),
    ],
    ids=[
        "no-zero-grad",
        "wrong-target",
        "tensors",
        "detached-tensors",
        "no-step",
        "ascent",
        "two-forwards",
        "none",
    ],
)
def test_train_alignment_wrong_answers(loop, status: Status, message: str) -> None:
    result = failed(lesson04.check_train_alignment, loop)
    assert result.status is status
    assert message in (result.first_failure or "")


def test_train_alignment_summing_the_loss_is_diagnosed() -> None:
    def summed(transformer, optimizer, batches):
        losses = []
        for x, upright in batches:
            output, _ = transformer(x)
            loss = ((output - upright) ** 2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses

    result = failed(lesson04.check_train_alignment, summed)
    assert "the loss is a sum over the pixels" in (result.first_failure or "")


def test_train_alignment_without_gradient_to_the_network_is_reported() -> None:
    def frozen_features(transformer, optimizer, batches):
        # Trains only the head: the gradient never reaches the first layer.
        for parameter in transformer.localization.features.parameters():
            parameter.requires_grad_(False)
        return make_loop()(transformer, optimizer, batches)

    result = failed(lesson04.check_train_alignment, frozen_features)
    assert result.status is Status.FAILED
    assert "no gradient reached features.1.bias, features.1.weight" in (result.first_failure or "")


def test_train_alignment_check_is_recorded_on_the_students_function() -> None:
    loop = make_loop(zero_grad=False)
    with pytest.raises(CheckFailed):
        lesson04.check_train_alignment(loop, quiet=True)
    assert use_or_fallback(loop, lesson04.train_alignment) is lesson04.train_alignment
