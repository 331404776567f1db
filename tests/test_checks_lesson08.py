"""The checkers of Lesson 08 (attention and many transformers): the references pass and agree with PyTorch and
stnlib (F.affine_grid, the SpatialTransformer and TwoTransformerClassifier that build_experiment_model builds for
TC and ADD), typical wrong answers fail with the expected status and the diagnosis aimed at that mistake,
unfinished exercises report "not implemented", and the results are recorded where ``use_or_fallback`` looks for
them."""

from __future__ import annotations

import doctest
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from stnlib import geometry
from stnlib.checks import CheckFailed, CheckResult, Status, lesson08, use_or_fallback
from stnlib.experiments import TC_OUTPUT_SIZE, build_experiment_model
from stnlib.geometry.coords import normalized_to_pixel
from stnlib.models import CNN, FCN, LocalizationNet, SpatialTransformer, TwoTransformerClassifier


def failed(checker: Callable[..., CheckResult], fn: Any) -> CheckResult:
    """Run ``checker`` on a wrong ``fn``; it must raise CheckFailed, whose result is returned."""
    with pytest.raises(CheckFailed) as error:
        checker(fn, quiet=True)
    return error.value.result


def not_implemented(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError()


CHECKERS = [
    (lesson08.check_window_box, lesson08.window_box),
    (lesson08.check_attention_transformer, lesson08.AttentionTransformer),
    (lesson08.check_stack_transformers, lesson08.stack_transformers),
    (lesson08.check_two_transformer_net, lesson08.TwoTransformerNet),
]


@pytest.mark.parametrize(("checker", "reference"), CHECKERS, ids=lambda f: getattr(f, "__name__", ""))
def test_reference_passes_and_stub_is_not_implemented(checker: Any, reference: Any, capsys) -> None:
    result = checker(reference)
    assert result.status is Status.PASSED and result.passed == result.total >= 3
    assert "✅" in capsys.readouterr().out
    stub = checker(not_implemented, quiet=True)  # does not raise: the lesson must run on
    assert stub.status is Status.NOT_IMPLEMENTED
    assert use_or_fallback(not_implemented, reference) is reference


def test_doctests() -> None:
    assert doctest.testmod(lesson08, optionflags=doctest.ELLIPSIS).failed == 0


# ------------------------------------------------------------------------------------------ window_box


def test_window_box_agrees_with_affine_grid_and_the_sampled_pixels() -> None:
    params = torch.tensor([[0.5, 0.0, 0.0], [0.25, -0.5, 0.5], [28 / 60, 0.1, -0.2]], dtype=torch.float64)
    box = lesson08.window_box(params, (60, 60))
    grid = F.affine_grid(geometry.attention_theta(params), [3, 1, 30, 30], align_corners=False)
    centres = normalized_to_pixel(grid, (60, 60), align_corners=False)
    # The outermost sampling points sit half an output pixel (s * 60 / 30 / 2 input pixels) inside the box.
    half_step = (params[:, 0] * 60 / 30 / 2)[:, None]
    inner = torch.stack(
        [centres[:, 0, 0, 0], centres[:, 0, 0, 1], centres[:, -1, -1, 0], centres[:, -1, -1, 1]], dim=1
    )
    torch.testing.assert_close(inner, box + torch.cat([half_step, half_step, -half_step, -half_step], dim=1))
    torch.testing.assert_close(box[0], torch.tensor([14.5, 14.5, 44.5, 44.5], dtype=torch.float64))


def normalised_box(params: Tensor, input_size: Any, align_corners: bool = False) -> Tensor:
    s, c = params[:, :1], params[:, 1:]
    return torch.cat([c - s, c + s], dim=1)


def half_box(params: Tensor, input_size: Any, align_corners: bool = False) -> Tensor:
    s, c = params[:, :1] / 2, params[:, 1:]
    return normalized_to_pixel(torch.stack([c - s, c + s], dim=1), tuple(input_size), align_corners).reshape(
        -1, 4
    )


def swapped_size_box(params: Tensor, input_size: Any, align_corners: bool = False) -> Tensor:
    return lesson08.window_box(params, tuple(input_size)[::-1], align_corners)


def fixed_corners_box(params: Tensor, input_size: Any, align_corners: bool = False) -> Tensor:
    return lesson08.window_box(params, input_size, False)


def detached_box(params: Tensor, input_size: Any, align_corners: bool = False) -> Tensor:
    return lesson08.window_box(params.detach(), input_size, align_corners)


@pytest.mark.parametrize(
    ("wrong", "status", "diagnosis"),
    [
        (normalised_box, Status.FAILED, "normalised coordinates"),
        (half_box, Status.FAILED, "half as wide"),
        (swapped_size_box, Status.FAILED, "H and W are swapped"),
        (fixed_corners_box, Status.FAILED, "align_corners=True"),
        (detached_box, Status.FAILED, "no gradient"),
    ],
)
def test_window_box_wrong_answers(wrong: Any, status: Status, diagnosis: str) -> None:
    result = failed(lesson08.check_window_box, wrong)
    assert result.status is status
    assert diagnosis in (result.first_failure or "")
    assert result.hint and "normalized_to_pixel" in result.hint


# ------------------------------------------------------------------------------- AttentionTransformer


def test_attention_transformer_is_the_tc_st_cnns_transformer() -> None:
    torch.manual_seed(0)
    library = build_experiment_model("ST-CNN", "TC").transformer
    mine = lesson08.AttentionTransformer((1, 60, 60), TC_OUTPUT_SIZE)
    mine.localization.load_state_dict(library.localization.state_dict())
    with torch.no_grad():  # a head that zooms: the two must agree away from the identity too
        library.localization.head.bias.copy_(torch.tensor([0.5, 0.2, -0.1]))
        mine.localization.head.bias.copy_(torch.tensor([0.5, 0.2, -0.1]))
    x = torch.rand(3, 1, 60, 60)
    (out, params), (lib_out, lib_params) = mine(x), library(x)
    assert out.shape == (3, 1, 30, 30) and params.shape == (3, 3)
    torch.testing.assert_close(out, lib_out)
    torch.testing.assert_close(params, lib_params)
    assert sum(p.numel() for p in mine.parameters()) == sum(p.numel() for p in library.parameters())


class Attention(lesson08.AttentionTransformer):
    """A student's AttentionTransformer; ``variant`` selects a typical mistake."""

    variant = ""

    def __init__(self, in_shape: Any = (1, 60, 60), output_size: Any = (30, 30)) -> None:
        super().__init__(in_shape, output_size)
        family = "affine" if self.variant == "affine" else "attention"
        self.localization = LocalizationNet(in_shape, family, kind="conv")
        head = self.localization.head
        with torch.no_grad():
            if self.variant == "head_not_zeroed":
                head.weight.normal_(0.0, 0.1)
            if self.variant == "bias_zero":
                head.bias.zero_()
        if self.variant == "renamed":
            self.loc = self.localization
            del self.localization

    def forward(self, x: Tensor) -> Any:
        params = (self.loc if self.variant == "renamed" else self.localization)(x)
        theta = params if self.variant == "affine" else geometry.attention_theta(params)
        if self.variant == "swapped_shift":
            theta = theta[:, :, [0, 1, 2]].clone()
            theta[:, 0, 2], theta[:, 1, 2] = params[:, 2], params[:, 1]
        if self.variant == "detached":
            theta = theta.detach()
        size = x.shape if self.variant == "input_size" else (*x.shape[:2], *self.output_size)
        corners = self.variant == "align_corners_true"
        output = F.grid_sample(x, F.affine_grid(theta, size, align_corners=corners), align_corners=corners)
        if self.variant == "output_only":
            return output
        return output, (theta if self.variant == "returns_theta" else params)


def attention_with(variant: str) -> type[Attention]:
    return type(f"Attention_{variant}", (Attention,), {"variant": variant})


def test_attention_student_class_passes() -> None:
    assert lesson08.check_attention_transformer(attention_with(""), quiet=True)


@pytest.mark.parametrize(
    ("variant", "status", "diagnosis"),
    [
        ("affine", Status.WRONG_SHAPE, "the head outputs 6 numbers: this is an affine transformer"),
        ("returns_theta", Status.WRONG_SHAPE, "forward returns θ (N, 2, 3)"),
        ("head_not_zeroed", Status.FAILED, "Zero the head's weight and set its bias to (1, 0, 0)"),
        ("bias_zero", Status.FAILED, "set the head's bias to (1, 0, 0)"),
        (
            "input_size",
            Status.WRONG_SHAPE,
            "the output is 60×60, the input's size: build the grid for the 30×30",
        ),
        ("align_corners_true", Status.FAILED, "align_corners=True"),
        ("swapped_shift", Status.FAILED, "t_x and t_y are swapped"),
        ("detached", Status.FAILED, "no gradient reaches the localization network"),
        ("renamed", Status.WRONG_TYPE, "self.localization"),
        ("output_only", Status.WRONG_TYPE, "(output, params)"),
    ],
)
def test_attention_transformer_wrong_answers(variant: str, status: Status, diagnosis: str) -> None:
    result = failed(lesson08.check_attention_transformer, attention_with(variant))
    assert result.status is status
    assert diagnosis in (result.first_failure or "")


def test_attention_transformer_wants_the_class() -> None:
    result = failed(lesson08.check_attention_transformer, lesson08.AttentionTransformer())
    assert result.status is Status.ERROR and "pass the class itself" in (result.first_failure or "")


def test_attention_transformer_result_is_recorded_on_the_students_class() -> None:
    wrong = attention_with("input_size")
    failed(lesson08.check_attention_transformer, wrong)
    assert use_or_fallback(wrong, lesson08.AttentionTransformer) is lesson08.AttentionTransformer
    right = attention_with("")
    lesson08.check_attention_transformer(right, quiet=True)
    assert use_or_fallback(right, lesson08.AttentionTransformer) is right


# ---------------------------------------------------------------------------------- stack_transformers


def test_stack_transformers_matches_two_transformer_classifier() -> None:
    torch.manual_seed(0)
    model = TwoTransformerClassifier((2, 42, 42), transform="attention", output_size=(20, 20))
    x = torch.rand(3, 2, 42, 42)
    model(x)
    stacked, params = lesson08.stack_transformers(x, model.transformers)
    assert stacked.shape == (3, 4, 20, 20)
    torch.testing.assert_close(stacked, model.last_output)
    for mine, theirs in zip(params, model.last_params, strict=True):
        torch.testing.assert_close(mine, theirs)


def stack_on_batch(x: Tensor, transformers: Any) -> Any:
    results = [t(x) for t in transformers]
    return torch.cat([o for o, _ in results], dim=0), [p for _, p in results]


def stack_new_dim(x: Tensor, transformers: Any) -> Any:
    results = [t(x) for t in transformers]
    return torch.stack([o for o, _ in results], dim=1), [p for _, p in results]


def stack_reversed(x: Tensor, transformers: Any) -> Any:
    stacked, params = lesson08.stack_transformers(x, list(transformers)[::-1])
    return stacked, params[::-1]


def stack_first_twice(x: Tensor, transformers: Any) -> Any:
    output, params = transformers[0](x)
    return torch.cat([output, output], dim=1), [params, transformers[1](x)[1]]


def stack_detached(x: Tensor, transformers: Any) -> Any:
    stacked, params = lesson08.stack_transformers(x, transformers)
    return stacked.detach(), params


def stack_output_only(x: Tensor, transformers: Any) -> Any:
    return lesson08.stack_transformers(x, transformers)[0]


@pytest.mark.parametrize(
    ("wrong", "status", "diagnosis"),
    [
        (stack_on_batch, Status.WRONG_SHAPE, "batch dimension"),
        (stack_new_dim, Status.WRONG_SHAPE, "new dimension"),
        (stack_reversed, Status.FAILED, "opposite order"),
        (stack_first_twice, Status.FAILED, "run each transformer once"),
        (stack_detached, Status.FAILED, "no gradient reaches the localization networks"),
        (stack_output_only, Status.WRONG_TYPE, "(stacked, params)"),
    ],
)
def test_stack_transformers_wrong_answers(wrong: Any, status: Status, diagnosis: str) -> None:
    result = failed(lesson08.check_stack_transformers, wrong)
    assert result.status is status
    assert diagnosis in (result.first_failure or "")


def test_stack_transformers_result_is_recorded_on_the_students_function() -> None:
    failed(lesson08.check_stack_transformers, stack_reversed)
    assert use_or_fallback(stack_reversed, lesson08.stack_transformers) is lesson08.stack_transformers
    lesson08.check_stack_transformers(lesson08.stack_transformers, quiet=True)
    assert use_or_fallback(lesson08.stack_transformers, stack_reversed) is lesson08.stack_transformers


def test_window_box_of_library_transformer_covers_its_output() -> None:
    """The box drawn in the lesson is where an attention SpatialTransformer's output comes from: a bright square
    exactly filling the box comes out as an all-bright output."""
    canvas = torch.zeros(1, 1, 60, 60)
    canvas[..., 15:45, 15:45] = 1.0  # pixels 15..44: the box 14.5..44.5 of s = 0.5 at the centre
    st = SpatialTransformer((1, 60, 60), "attention", output_size=(30, 30))
    params = torch.tensor([[0.5, 0.0, 0.0]])
    torch.testing.assert_close(
        lesson08.window_box(params, (60, 60)), torch.tensor([[14.5, 14.5, 44.5, 44.5]])
    )
    torch.testing.assert_close(st.apply_params(canvas, params), torch.ones(1, 1, 30, 30))


# ---------------------------------------------------------------------------------- TwoTransformerNet


def test_two_transformer_net_is_the_library_2xst_fcn() -> None:
    torch.manual_seed(0)
    library = build_experiment_model("2xST-FCN", "ADD")
    torch.manual_seed(0)
    mine = lesson08.TwoTransformerNet((2, 42, 42), 19)
    x = torch.rand(3, 2, 42, 42)
    torch.testing.assert_close(mine(x), library(x))  # built in the same order: the same weights
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in library.named_parameters()]


def test_each_transformer_reaches_only_its_own_block() -> None:
    torch.manual_seed(0)
    net = lesson08.TwoTransformerNet((2, 42, 42), 19)
    x = torch.rand(2, 2, 42, 42)
    seen: list[Tensor] = []
    net.classifier.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    with torch.no_grad():
        net(x)
        net.transformers[1].localization.head.bias.copy_(torch.tensor([0.5, 0.0, 0.3, 0.0, 0.5, 0.0]))
        net(x)
    torch.testing.assert_close(seen[0], torch.cat([x, x], dim=1))  # the identity at initialisation
    torch.testing.assert_close(seen[1][:, :2], seen[0][:, :2])
    assert (seen[1][:, 2:] - seen[0][:, 2:]).abs().max() > 0.1


class Addition(torch.nn.Module):
    """A student's TwoTransformerNet; ``variant`` selects a typical mistake."""

    variant = ""

    def __init__(self, in_shape: Any = (2, 42, 42), num_classes: int = 19) -> None:
        super().__init__()
        c, h, w = in_shape
        st_shape = (1, h, w) if self.variant == "one_channel_each" else in_shape
        loc_kind = "conv" if self.variant == "conv_localization" else "fc"
        family = "attention" if self.variant == "attention" else "affine"
        pair = [SpatialTransformer(st_shape, family, loc_kind) for _ in range(2)]
        if self.variant == "shared":
            pair = [pair[0], pair[0]]
        self.transformers = pair if self.variant == "plain_list" else torch.nn.ModuleList(pair)
        classifier_channels = c if self.variant == "classifier_for_c" else 2 * c
        if self.variant == "cnn_classifier":
            self.classifier = CNN((2 * c, h, w), num_classes)
        else:
            self.classifier = FCN((classifier_channels, h, w), num_classes)

    def forward(self, x: Tensor) -> Any:
        first, second = self.transformers
        out1, theta1 = first(x[:, :1] if self.variant == "one_channel_each" else x)
        inner = {"chained": out1, "one_channel_each": x[:, 1:2]}.get(self.variant, x)
        out2, theta2 = second(inner)
        blocks = {
            "second_missing": [out1, x],
            "reversed": [out2, out1],
            "classifier_for_c": [out1],
        }.get(self.variant, [out1, out2])
        stacked = torch.cat(blocks, dim=1)
        if self.variant == "detached":
            stacked = stacked.detach()
        if self.variant == "no_classifier":
            return stacked
        logits = self.classifier(stacked)
        return (logits, [theta1, theta2]) if self.variant == "returns_pair" else logits


def addition_with(variant: str) -> type[Addition]:
    return type(f"Addition_{variant}", (Addition,), {"variant": variant})


def test_two_transformer_student_class_passes() -> None:
    assert lesson08.check_two_transformer_net(addition_with(""), quiet=True)


@pytest.mark.parametrize(
    ("variant", "status", "diagnosis"),
    [
        ("shared", Status.WRONG_TYPE, "the same module"),
        ("plain_list", Status.WRONG_TYPE, "nn.ModuleList"),
        ("one_channel_each", Status.WRONG_TYPE, "a single channel of the input"),
        ("classifier_for_c", Status.FAILED, "the classifier is built for 2 channels, but it receives both"),
        ("conv_localization", Status.FAILED, "convolutional"),
        ("attention", Status.FAILED, "head outputs 3 numbers"),
        ("cnn_classifier", Status.FAILED, "the classifier is a CNN"),
        ("second_missing", Status.FAILED, "transformer 2's output never reaches the classifier"),
        ("reversed", Status.FAILED, "opposite order"),
        ("chained", Status.FAILED, "transformer 2 was given transformer 1's output"),
        ("detached", Status.FAILED, "no gradient reaches the localization networks"),
        ("returns_pair", Status.WRONG_TYPE, "return only the classifier's logits"),
        ("no_classifier", Status.WRONG_TYPE, "never called self.classifier"),
    ],
)
def test_two_transformer_net_wrong_answers(variant: str, status: Status, diagnosis: str) -> None:
    result = failed(lesson08.check_two_transformer_net, addition_with(variant))
    assert result.status is status
    assert diagnosis in (result.first_failure or "")


def test_two_transformer_net_result_is_recorded_on_the_students_class() -> None:
    wrong = addition_with("reversed")
    failed(lesson08.check_two_transformer_net, wrong)
    assert use_or_fallback(wrong, lesson08.TwoTransformerNet) is lesson08.TwoTransformerNet
