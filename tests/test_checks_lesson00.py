"""Tests of the lesson 00 checkers (stnlib.checks.lesson00): references and independent answers pass, typical
wrong answers fail with the status and diagnosis a student should see, stubs count as "not implemented", and
the references agree with PyTorch's (and torchvision's) own functions."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stnlib.checks import CheckFailed, Status, lesson00, use_or_fallback

# ----------------------------------------------------------------------------------- the student's answers
# Written the way a student would, independently of the references.


def student_accuracy(logits, labels):
    return (logits.argmax(dim=1) == labels).sum() / len(labels)  # int / int -> a float tensor


def student_accuracy_as_float(logits, labels):
    return (logits.argmax(dim=1) == labels).float().mean().item()  # a Python float is fine too


def student_rotate(images, degrees):
    a = degrees.to(images.dtype) * math.pi / 180
    zero = torch.zeros_like(a)
    theta = torch.stack([a.cos(), -a.sin(), zero, a.sin(), a.cos(), zero], dim=-1).view(-1, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False)


def student_similarity(features_a, features_b, pool):
    a = F.max_pool2d(features_a, pool).flatten(1)
    b = F.max_pool2d(features_b, pool).flatten(1)
    return F.cosine_similarity(a, b, dim=1)


CHECKERS: dict[str, tuple[Callable, Callable, Callable]] = {
    # name: (checker, reference, an independent correct answer)
    "accuracy": (lesson00.check_accuracy, lesson00.accuracy, student_accuracy),
    "rotate_digits": (lesson00.check_rotate_digits, lesson00.rotate_digits, student_rotate),
    "pooled_similarity": (lesson00.check_pooled_similarity, lesson00.pooled_similarity, student_similarity),
}


def _run_failing(checker: Callable, fn: Callable):
    with pytest.raises(CheckFailed) as caught:
        checker(fn, quiet=True)
    return caught.value.result


def not_implemented(*args):
    raise NotImplementedError()


# -------------------------------------------------------------------------------------- passing answers


@pytest.mark.parametrize("name", CHECKERS)
def test_reference_and_an_independent_answer_pass(name: str, capsys) -> None:
    checker, reference, answer = CHECKERS[name]
    for fn in (reference, answer):
        result = checker(fn)
        assert result.status is Status.PASSED and result.passed == result.total >= 6
        assert result.max_error is not None and result.max_error < 1e-5
    out = capsys.readouterr().out
    assert f"✅ {name}: all" in out
    assert len(result.compared_with) == 2  # the reference and PyTorch's (or torchvision's) own function


def test_accuracy_accepts_a_python_number() -> None:
    assert lesson00.check_accuracy(student_accuracy_as_float, quiet=True)


def test_reports_name_what_they_compare_with(capsys) -> None:
    lesson00.check_accuracy(lesson00.accuracy)
    lesson00.check_rotate_digits(lesson00.rotate_digits)
    lesson00.check_pooled_similarity(lesson00.pooled_similarity)
    out = capsys.readouterr().out
    assert "stnlib.train.evaluate" in out
    assert "torchvision.transforms.v2.functional.rotate" in out
    assert "F.max_pool2d + F.cosine_similarity" in out


@pytest.mark.parametrize("name", CHECKERS)
def test_stub_is_not_implemented_and_does_not_raise(name: str, capsys) -> None:
    checker, reference, _ = CHECKERS[name]

    def stub(*args):
        raise NotImplementedError()

    result = checker(stub)
    assert result.status is Status.NOT_IMPLEMENTED and result.passed == 0 and not result
    assert "not implemented yet" in capsys.readouterr().out
    assert use_or_fallback(stub, reference) is reference


def test_a_passing_answer_is_kept_by_use_or_fallback(capsys) -> None:
    lesson00.check_pooled_similarity(student_similarity, quiet=True)
    assert use_or_fallback(student_similarity, lesson00.pooled_similarity) is student_similarity
    assert "passed its check" in capsys.readouterr().out


# -------------------------------------------------------------------------------- wrong answers: accuracy


@pytest.mark.parametrize(
    ("fn", "status", "message"),
    [
        (lambda logits, labels: (logits.argmax(1) == labels).sum(), Status.FAILED, "NUMBER of correct"),
        (
            lambda logits, labels: 100 * (logits.argmax(1) == labels).float().mean(),
            Status.FAILED,
            "percentage",
        ),
        (lambda logits, labels: (logits.argmax(1) != labels).float().mean(), Status.FAILED, "error rate"),
        (lambda logits, labels: (logits.argmin(1) == labels).float().mean(), Status.FAILED, "LARGEST logit"),
        (lambda logits, labels: (logits.argmax(1) == labels).float(), Status.WRONG_SHAPE, "Average"),
    ],
)
def test_typical_accuracy_mistakes_are_diagnosed(fn: Callable, status: Status, message: str) -> None:
    result = _run_failing(lesson00.check_accuracy, fn)
    assert result.status is status
    assert message in result.first_failure
    assert "argmax(dim=1)" in result.hint


def test_argmax_over_the_batch_is_diagnosed_where_it_runs() -> None:
    def over_batch(logits, labels):
        return (logits.argmax(0) == labels).float().mean()

    with pytest.raises(CheckFailed) as caught:
        lesson00.check_accuracy(over_batch, quiet=True)
    result = caught.value.result
    assert result.status is Status.ERROR  # (3,) against (4,) labels: the first case cannot even broadcast
    assert "RuntimeError" in result.first_failure and "dim 1 holds the classes" in result.hint
    # On square logits it runs, and the diagnosis names the mistake.
    case = next(c for c in lesson00._accuracy_cases() if "10 classes (argmax" in c.name)
    assert "dim=0" in lesson00._diagnose_accuracy(case, over_batch(*case.args), None)


def test_mean_of_a_bool_tensor_is_reported_with_the_students_line() -> None:
    result = _run_failing(lesson00.check_accuracy, lambda logits, labels: (logits.argmax(1) == labels).mean())
    assert result.status is Status.ERROR and "mean" in result.first_failure
    assert ".float() before .mean()" in result.hint


# --------------------------------------------------------------------------- wrong answers: rotate_digits


def _rotate_with(sign: float = 1.0, radians: bool = True, grid_ac=False, sample_ac=False, mode="bilinear"):
    def rotate(images, degrees):
        angle = degrees.to(images.dtype)
        angle = sign * (torch.deg2rad(angle) if radians else angle)
        zero = torch.zeros_like(angle)
        theta = torch.stack([angle.cos(), -angle.sin(), zero, angle.sin(), angle.cos(), zero], -1).view(
            -1, 2, 3
        )
        grid = F.affine_grid(theta, list(images.shape), align_corners=grid_ac)
        return F.grid_sample(images, grid, mode=mode, align_corners=sample_ac)

    return rotate


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (_rotate_with(sign=-1.0), "turn clockwise"),
        (_rotate_with(radians=False), "expect radians"),
        (_rotate_with(sign=-1.0, radians=False), "two mistakes"),
        (_rotate_with(grid_ac=True), "F.affine_grid used align_corners=True"),
        (_rotate_with(sample_ac=True), "F.grid_sample align_corners=True"),
        (_rotate_with(mode="nearest"), "nearest-neighbour"),
        (lambda images, degrees: student_rotate(images, degrees[:1].expand_as(degrees)), "first angle"),
    ],
)
def test_typical_rotation_mistakes_are_diagnosed(fn: Callable, message: str) -> None:
    result = _run_failing(lesson00.check_rotate_digits, fn)
    assert result.status is Status.FAILED
    assert message in result.first_failure
    assert "deg2rad" in result.hint


def test_theta_in_the_wrong_dtype_is_an_error_with_the_students_line() -> None:
    def float32_theta(images, degrees):
        a = torch.deg2rad(degrees.float())
        zero = torch.zeros_like(a)
        theta = torch.stack([a.cos(), -a.sin(), zero, a.sin(), a.cos(), zero], -1).view(-1, 2, 3)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, align_corners=False)

    result = _run_failing(lesson00.check_rotate_digits, float32_theta)
    assert result.status is Status.ERROR
    assert "float64" in result.first_failure and "float32_theta" in result.first_failure
    assert result.passed == 4  # every float32 case passed


# ----------------------------------------------------------------------- wrong answers: pooled_similarity


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (lambda a, b, pool: student_similarity(a, b, 1), "before pooling"),
        (
            lambda a, b, pool: F.cosine_similarity(
                F.avg_pool2d(a, pool).flatten(1), F.avg_pool2d(b, pool).flatten(1), dim=1
            ),
            "average pooling",
        ),
        (
            lambda a, b, pool: F.cosine_similarity(
                F.max_pool2d(a, pool, stride=1).flatten(1), F.max_pool2d(b, pool, stride=1).flatten(1), dim=1
            ),
            "windows overlap",
        ),
        (
            lambda a, b, pool: (F.max_pool2d(a, pool) * F.max_pool2d(b, pool)).flatten(1).sum(1),
            "dot product",
        ),
    ],
)
def test_typical_similarity_mistakes_are_diagnosed(fn: Callable, message: str) -> None:
    result = _run_failing(lesson00.check_pooled_similarity, fn)
    assert result.status is Status.FAILED
    assert message in result.first_failure


def test_dividing_by_a_zero_norm_gives_nan_and_is_caught_on_the_last_case() -> None:
    def naive(features_a, features_b, pool):
        a = F.max_pool2d(features_a, pool).flatten(1)
        b = F.max_pool2d(features_b, pool).flatten(1)
        return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))

    result = _run_failing(lesson00.check_pooled_similarity, naive)
    assert result.status is Status.FAILED and result.passed == result.total - 1
    assert "all-zero map" in result.first_failure and "NaN" in result.first_failure
    assert "0 / 0" in result.hint


@pytest.mark.parametrize(
    ("fn", "status"),
    [
        (  # one number for the whole batch
            lambda a, b, pool: F.cosine_similarity(
                F.max_pool2d(a, pool).flatten(), F.max_pool2d(b, pool).flatten(), dim=0
            ),
            Status.WRONG_SHAPE,
        ),
        (  # cosine along the channels, without flattening
            lambda a, b, pool: F.cosine_similarity(F.max_pool2d(a, pool), F.max_pool2d(b, pool), dim=1),
            Status.WRONG_SHAPE,
        ),
    ],
)
def test_similarity_of_the_wrong_shape(fn: Callable, status: Status) -> None:
    result = _run_failing(lesson00.check_pooled_similarity, fn)
    assert result.status is status
    assert ".flatten(1)" in result.hint


# ------------------------------------------------------------------------------ the references themselves


def test_accuracy_reference_agrees_with_evaluate_and_validates() -> None:
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(300, 10, generator=g), torch.randint(0, 10, (300,), generator=g)
    expected = (logits.argmax(1) == labels).double().mean().item()
    assert lesson00.accuracy(logits, labels).item() == pytest.approx(expected)
    assert lesson00._accuracy_by_evaluate(logits, labels) == pytest.approx(expected)
    with pytest.raises(ValueError, match="disagree on N"):
        lesson00.accuracy(logits, labels[:5])


def test_rotation_is_counter_clockwise_and_exact_for_quarter_turns() -> None:
    g = torch.Generator().manual_seed(1)
    images = torch.rand(2, 3, 9, 9, generator=g, dtype=torch.float64)
    zero = lesson00.rotate_digits(images, torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(zero, images)  # the identity changes nothing (align_corners=False on both)
    dot = torch.zeros(1, 1, 5, 5)
    dot[0, 0, 0, 2] = 1.0  # straight above the centre
    turned = lesson00.rotate_digits(dot, torch.tensor([90.0]))
    assert turned[0, 0].argmax().item() == 2 * 5 + 0  # counter-clockwise: now straight left of the centre
    with pytest.raises(ValueError, match="square"):
        lesson00.rotate_digits(torch.zeros(1, 1, 4, 6), torch.zeros(1))


@settings(max_examples=12, deadline=None, derandomize=True)
@given(quarter_turns=st.integers(min_value=-4, max_value=4), side=st.integers(min_value=2, max_value=12))
def test_quarter_turns_equal_torch_rot90(quarter_turns: int, side: int) -> None:
    images = torch.arange(2 * side * side, dtype=torch.float64).view(2, 1, side, side)
    degrees = torch.full((2,), 90.0 * quarter_turns, dtype=torch.float64)
    turned = lesson00.rotate_digits(images, degrees)
    torch.testing.assert_close(turned, torch.rot90(images, quarter_turns, dims=(-2, -1)))


def test_pooling_forgives_shifts_within_its_window_only() -> None:
    maps = torch.zeros(1, 1, 8, 8)
    maps[0, 0, 1, 0] = 1.0
    inside = maps.roll(1, dims=-1)  # column 0 -> 1: the same 4x4 (and 2x2) window
    across = maps.roll(4, dims=-1)  # column 0 -> 4: the next 4x4 window
    assert lesson00.pooled_similarity(maps, inside, 1).item() == 0.0
    assert lesson00.pooled_similarity(maps, inside, 2).item() == pytest.approx(1.0)
    assert lesson00.pooled_similarity(maps, across, 4).item() == 0.0
    assert lesson00.pooled_similarity(maps, across, 8).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="pool must be"):
        lesson00.pooled_similarity(maps, maps, 9)
