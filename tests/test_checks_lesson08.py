"""The checkers of Lesson 08 (attention and many transformers): the references pass and agree with PyTorch and
stnlib (F.affine_grid, FlopCounterMode, TwoTransformerClassifier, DistortedMNIST's addition labels), typical
wrong answers fail with the expected status and the diagnosis aimed at that mistake, unfinished exercises report
"not implemented", and the results are recorded where ``use_or_fallback`` looks for them."""

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
from stnlib.data import DistortedMNIST
from stnlib.geometry.coords import normalized_to_pixel
from stnlib.models import CNN, SpatialTransformer, TwoTransformerClassifier


def failed(checker: Callable[..., CheckResult], fn: Any) -> CheckResult:
    """Run ``checker`` on a wrong ``fn``; it must raise CheckFailed, whose result is returned."""
    with pytest.raises(CheckFailed) as error:
        checker(fn, quiet=True)
    return error.value.result


def not_implemented(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError()


CHECKERS = [
    (lesson08.check_window_box, lesson08.window_box),
    (lesson08.check_stack_transformers, lesson08.stack_transformers),
    (lesson08.check_classifier_flops, lesson08.classifier_flops),
    (lesson08.check_addition_examples, lesson08.addition_examples),
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


# ------------------------------------------------------------------------------------ classifier_flops


@pytest.mark.parametrize("in_shape", [(1, 60, 60), (1, 30, 30), (2, 42, 42), (3, 25, 37)])
def test_classifier_flops_equals_pytorchs_count(in_shape: tuple[int, int, int]) -> None:
    model = CNN(in_shape, 7, (8, 12))  # built outside the counter: its constructor runs a dry forward pass
    counter = torch.utils.flop_counter.FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, *in_shape))
    assert lesson08.classifier_flops(in_shape, 7, (8, 12)) == counter.get_total_flops()


def test_downsampling_saves_more_than_the_pixel_ratio() -> None:
    ratio = lesson08.classifier_flops((1, 60, 60)) / lesson08.classifier_flops((1, 30, 30))
    assert ratio > (60 * 60) / (30 * 30)


def _macs(in_shape: Any, num_classes: int = 10, channels: Any = (32, 64)) -> int:
    return lesson08.classifier_flops(in_shape, num_classes, channels) // 2


def _no_linear(in_shape: Any, num_classes: int = 10, channels: Any = (32, 64)) -> int:
    c, h, w = in_shape
    c1, c2 = channels
    h1, w1 = h - 8, w - 8
    return 2 * c1 * h1 * w1 * c * 81 + 2 * c2 * (h1 // 2 - 6) * (w1 // 2 - 6) * c1 * 49


def _same_padding(in_shape: Any, num_classes: int = 10, channels: Any = (32, 64)) -> int:
    c, h, w = in_shape
    c1, c2 = channels
    return (
        2 * c1 * h * w * c * 81
        + 2 * c2 * (h // 2) * (w // 2) * c1 * 49
        + 2 * c2 * (h // 4) * (w // 4) * num_classes
    )


@pytest.mark.parametrize(
    ("wrong", "diagnosis"),
    [(_macs, "multiply-adds"), (_no_linear, "linear layer is missing"), (_same_padding, "unpadded")],
)
def test_classifier_flops_wrong_answers(wrong: Any, diagnosis: str) -> None:
    result = failed(lesson08.check_classifier_flops, wrong)
    assert result.status is Status.FAILED
    assert diagnosis in (result.first_failure or "")


# ---------------------------------------------------------------------------------- addition_examples


def test_addition_labels_match_distorted_mnist() -> None:
    images = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (40,), generator=torch.Generator().manual_seed(0))
    data = DistortedMNIST.from_tensors(images, labels, "ADD", batch_size=40, device="cpu", split="test")
    x, y = next(iter(data))
    assert x.shape == (40, 2, 42, 42) and int(y.max()) <= 18 and data.num_classes == 19
    _, sums = lesson08.addition_examples(images.float(), labels, torch.arange(40))
    torch.testing.assert_close(sums, 2 * labels)  # a digit paired with itself: twice its label


def channels_swapped(images: Tensor, labels: Tensor, partner: Tensor) -> Any:
    return torch.cat([images[partner], images], dim=1), labels + labels[partner]


def side_by_side(images: Tensor, labels: Tensor, partner: Tensor) -> Any:
    return torch.cat([images, images[partner]], dim=3), labels + labels[partner]


def two_digit_number(images: Tensor, labels: Tensor, partner: Tensor) -> Any:
    return torch.cat([images, images[partner]], dim=1), 10 * labels + labels[partner]


def index_as_label(images: Tensor, labels: Tensor, partner: Tensor) -> Any:
    return torch.cat([images, images[partner]], dim=1), labels + partner


@pytest.mark.parametrize(
    ("wrong", "status", "diagnosis"),
    [
        (channels_swapped, Status.FAILED, "channels are swapped"),
        (side_by_side, Status.WRONG_SHAPE, "side by side"),
        (two_digit_number, Status.FAILED, "two-digit number"),
        (index_as_label, Status.FAILED, "labels[partner]"),
    ],
)
def test_addition_examples_wrong_answers(wrong: Any, status: Status, diagnosis: str) -> None:
    result = failed(lesson08.check_addition_examples, wrong)
    assert result.status is status
    assert diagnosis in (result.first_failure or "")


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
