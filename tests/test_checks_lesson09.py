"""The checkers of Lesson 09 (when spatial transformers fail): the references pass and behave as their
docstrings promise (compared with PyTorch and stnlib), every accepted fix passes, the buggy versions the lesson
hands out and the usual wrong fixes fail with the diagnosis aimed at their bug, unfinished exercises report "not
implemented", bad types get a clear message, and the results are recorded where ``use_or_fallback`` looks."""

from __future__ import annotations

import doctest
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stnlib import geometry
from stnlib.checks import CheckFailed, CheckResult, Status, lesson09, use_or_fallback
from stnlib.models import FCN, SpatialTransformer, STClassifier, TwoTransformerClassifier, params_from_head

# ----------------------------------------------------------------------------------------------- helpers


def failed(checker: Callable[..., CheckResult], fn: Any) -> CheckResult:
    """Run ``checker`` on a wrong ``fn``; it must raise CheckFailed, whose result is returned."""
    with pytest.raises(CheckFailed) as error:
        checker(fn, quiet=True)
    return error.value.result


def assert_diagnosis(checker: Callable[..., CheckResult], fn: Any, expected: str) -> CheckResult:
    result = failed(checker, fn)
    assert result.status is Status.FAILED, result.report()
    assert expected in (result.first_failure or ""), result.report()
    return result


def not_implemented(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError()


def test_doctests() -> None:
    result = doctest.testmod(lesson09, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8 and result.failed == 0


# ------------------------------------------------------------------------ exercise 1: θ from the head


def test_theta_from_head_reads_row_by_row_like_stnlib() -> None:
    params = torch.arange(12.0).view(2, 6)
    theta = lesson09.theta_from_head(params)
    torch.testing.assert_close(theta[0], torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]))
    torch.testing.assert_close(theta, params_from_head(params, "affine"))
    identity_bias = torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]])
    torch.testing.assert_close(lesson09.theta_from_head(identity_bias), geometry.identity_affine(1))


def test_theta_from_head_rejects_a_wrong_shape() -> None:
    with pytest.raises(ValueError, match="params"):
        lesson09.theta_from_head(torch.zeros(2, 2, 3))


def column_by_column(params: Tensor) -> Tensor:  # the lesson's buggy version
    return params.view(-1, 3, 2).transpose(1, 2)


def test_column_by_column_turns_the_identity_bias_into_a_collapse() -> None:
    # What the lesson shows: the right bias, read the wrong way, is θ = [[1, 0, 1], [0, 0, 0]] with det A = 0.
    theta = column_by_column(torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]]))
    torch.testing.assert_close(theta[0], torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]))
    assert lesson09.diagnose_theta(theta) == "collapsed"


@pytest.mark.parametrize(
    "fix",
    [
        lesson09.theta_from_head,
        lambda params: params.view(-1, 2, 3),
        lambda params: params.unflatten(1, (2, 3)),
        lambda params: torch.stack([params[:, :3], params[:, 3:]], dim=1),
    ],
)
def test_theta_from_head_accepts_every_fix(fix: Callable[..., Tensor]) -> None:
    assert lesson09.check_theta_from_head(fix, quiet=True)


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (column_by_column, "read column by column"),
        (lambda params: params.view(-1, 2, 3).flip(1), "x and y rows are swapped"),
        (
            lambda params: torch.cat([params[:, :4].view(-1, 2, 2), params[:, 4:, None]], dim=-1),
            "A row by row followed by t",
        ),
        (lambda params: params.view(-1, 2, 3)[:, :, [1, 0, 2]], "first two columns of θ are swapped"),
    ],
)
def test_theta_from_head_diagnoses(fn: Callable[..., Tensor], expected: str) -> None:
    result = assert_diagnosis(lesson09.check_theta_from_head, fn, expected)
    assert "view(-1, 2, 3)" in (result.hint or "")


def test_theta_from_head_three_rows_of_two() -> None:
    result = failed(lesson09.check_theta_from_head, lambda params: params.view(-1, 3, 2))
    assert result.status is Status.WRONG_SHAPE
    assert "three rows of two" in (result.first_failure or "")


def test_theta_from_head_needs_the_gradient() -> None:
    assert_diagnosis(lesson09.check_theta_from_head, lambda p: p.detach().view(-1, 2, 3), "no gradient flows")


def test_theta_from_head_bad_types() -> None:
    result = failed(lesson09.check_theta_from_head, lambda p: p.view(-1, 2, 3).tolist())
    assert result.status is Status.WRONG_TYPE
    assert "should be a torch.Tensor" in (result.first_failure or "")
    result = failed(lesson09.check_theta_from_head, "view(-1, 2, 3)")
    assert result.status is Status.WRONG_TYPE
    assert "Pass the function itself" in (result.first_failure or "")


# ----------------------------------------------------------------------- exercise 2: a global init


def st_fcn() -> STClassifier:
    torch.manual_seed(0)
    return STClassifier(SpatialTransformer((1, 28, 28), loc_kind="fc"), FCN((1, 28, 28)))


def test_weights_init_overwrites_the_identity_head() -> None:
    # The lesson's bug: model.apply(weights_init) reaches the head, and θ becomes a random matrix near 0.
    model = st_fcn()
    model.apply(lesson09.weights_init)
    head = model.transformer.localization.head
    assert head.weight.abs().max() > 0 and head.bias.abs().max() == 0
    theta = model.transformer.localization(torch.rand(64, 1, 28, 28))
    assert lesson09.diagnose_theta(theta) == "collapsed"


def test_init_weights_reference_keeps_identity_heads_and_initialises_the_rest() -> None:
    torch.manual_seed(0)
    model = TwoTransformerClassifier((2, 42, 42))
    assert lesson09.init_weights_(model) is model
    x = torch.rand(3, 2, 42, 42)
    for transformer in model.transformers:
        torch.testing.assert_close(transformer.localization(x), geometry.identity_affine(3))
        assert transformer.localization.head.weight.requires_grad
    for layer in [m for m in model.modules() if isinstance(m, nn.Linear)]:
        if any(layer is t.localization.head for t in model.transformers):
            continue
        assert layer.bias.abs().max() == 0
        fan_in, fan_out = layer.in_features, layer.out_features
        assert layer.weight.abs().max() <= (6 / (fan_in + fan_out)) ** 0.5


def skip_the_heads(model: nn.Module) -> None:  # another cure: never touch the heads, return nothing
    heads = {id(m.localization.head) for m in model.modules() if isinstance(m, SpatialTransformer)}
    for module in model.modules():
        if id(module) not in heads:
            lesson09.weights_init(module)


def reset_heads(model: nn.Module) -> nn.Module:  # a third: stnlib's own reset
    model.apply(lesson09.weights_init)
    for module in model.modules():
        if isinstance(module, SpatialTransformer):
            module.localization.reset_head()
    return model


@pytest.mark.parametrize("cure", [lesson09.init_weights_, skip_the_heads, reset_heads])
def test_init_weights_accepts_every_cure(cure: Callable[..., Any]) -> None:
    assert lesson09.check_init_weights(cure, quiet=True)


def buggy_init_weights_(model: nn.Module) -> nn.Module:  # the lesson's buggy version
    model.apply(lesson09.weights_init)
    return model


def first_head_only(model: nn.Module) -> nn.Module:
    model.apply(lesson09.weights_init)
    first = next(m for m in model.modules() if isinstance(m, SpatialTransformer))
    first.localization.reset_head()
    return model


def zero_bias_heads(model: nn.Module) -> nn.Module:
    model.apply(lesson09.weights_init)
    for module in model.modules():
        if isinstance(module, SpatialTransformer):
            nn.init.zeros_(module.localization.head.weight)
    return model


def random_head_weights(model: nn.Module) -> nn.Module:
    reset_heads(model)
    for module in model.modules():
        if isinstance(module, SpatialTransformer):
            nn.init.normal_(module.localization.head.weight, std=0.1)
    return model


def heads_only(model: nn.Module) -> nn.Module:  # forgets the rest of the network
    for module in model.modules():
        if isinstance(module, SpatialTransformer):
            module.localization.reset_head()
    return model


def xavier_without_zero_bias(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv2d):
            nn.init.xavier_uniform_(module.weight)
    return reset_heads_only(model)


def kaiming(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv2d):
            nn.init.normal_(module.weight, std=1.0)
            nn.init.zeros_(module.bias)
    return reset_heads_only(model)


def reset_heads_only(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, SpatialTransformer):
            module.localization.reset_head()
    return model


def frozen_heads(model: nn.Module) -> nn.Module:
    reset_heads(model)
    for module in model.modules():
        if isinstance(module, SpatialTransformer):
            module.localization.head.bias.requires_grad_(False)
    return model


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (buggy_init_weights_, "reached the localization head"),
        (first_head_only, "re-set every one of them"),
        (zero_bias_heads, "the head's bias is zero"),
        (random_head_weights, "the head's weights are not zero"),
        (heads_only, "kept PyTorch's default initialisation"),
        (xavier_without_zero_bias, "is not zero"),
        (kaiming, "are not Xavier-uniform"),
        (frozen_heads, "no longer learns"),
    ],
)
def test_init_weights_diagnoses(fn: Callable[..., Any], expected: str) -> None:
    result = assert_diagnosis(lesson09.check_init_weights, fn, expected)
    assert "model.apply(weights_init)" in (result.hint or "")
    assert fn.__stn_check__ is result  # recorded on the student's function for use_or_fallback


def test_init_weights_bad_return_and_rng() -> None:
    result = failed(lesson09.check_init_weights, lambda model: "done")
    assert "return the model" in (result.first_failure or "")
    result = failed(
        lesson09.check_init_weights, lesson09.init_weights_(st_fcn())
    )  # a model, not the function
    assert result.status is Status.ERROR
    assert "pass the function itself" in (result.first_failure or "")
    result = failed(lesson09.check_init_weights, None)
    assert result.status is Status.WRONG_TYPE
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    lesson09.check_init_weights(lesson09.init_weights_, quiet=True)
    torch.testing.assert_close(torch.rand(3), expected)  # checking leaves the lesson's random numbers alone


# ----------------------------------------------------------------- exercise 3: a grid from scratch


@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_from_scratch_equals_torch(align_corners: bool) -> None:
    theta = geometry.affine_theta(rotation=torch.tensor([0.3, -1.0]), scale=(0.8, 1.1), dtype=torch.float64)
    grid = lesson09.affine_grid_from_scratch(theta, (2, 3, 5, 9), align_corners)
    torch.testing.assert_close(grid, F.affine_grid(theta, [2, 3, 5, 9], align_corners=align_corners))


def buggy_affine_grid(theta: Tensor, size: Any, align_corners: bool = False) -> Tensor:  # the lesson's bug
    n, _, height, width = size
    xs = geometry.normalized_linspace(width, align_corners, dtype=theta.dtype, device=theta.device)
    ys = geometry.normalized_linspace(height, align_corners, dtype=theta.dtype, device=theta.device)
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="ij")  # as np.meshgrid(xs, ys)
    base = torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1)
    return (base.reshape(1, -1, 3) @ theta.transpose(1, 2)).reshape(n, height, width, 2)


def test_buggy_grid_transposes_a_square_image() -> None:
    # The symptom the lesson shows: with the identity θ a square image comes out transposed.
    image = torch.rand(1, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    grid = buggy_affine_grid(geometry.identity_affine(1), image.shape)
    torch.testing.assert_close(F.grid_sample(image, grid, align_corners=False), image.transpose(2, 3))


def xy_indexing(theta: Tensor, size: Any, align_corners: bool = False) -> Tensor:
    _, _, height, width = size
    xs = geometry.normalized_linspace(width, align_corners, dtype=theta.dtype)
    ys = geometry.normalized_linspace(height, align_corners, dtype=theta.dtype)
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
    base = torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1)
    return torch.einsum("hwk,nck->nhwc", base, theta)


@pytest.mark.parametrize("fix", [lesson09.affine_grid_from_scratch, xy_indexing, geometry.affine_grid])
def test_affine_grid_from_scratch_accepts_every_fix(fix: Callable[..., Tensor]) -> None:
    assert lesson09.check_affine_grid_from_scratch(fix, quiet=True)


def y_x_last(theta: Tensor, size: Any, align_corners: bool = False) -> Tensor:
    return lesson09.affine_grid_from_scratch(theta, size, align_corners).flip(-1)


def y_x_base(theta: Tensor, size: Any, align_corners: bool = False) -> Tensor:
    n, _, height, width = size
    xs = geometry.normalized_linspace(width, align_corners, dtype=theta.dtype)
    ys = geometry.normalized_linspace(height, align_corners, dtype=theta.dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    base = torch.stack([grid_y, grid_x, torch.ones_like(grid_x)], dim=-1)
    return (base.reshape(1, -1, 3) @ theta.transpose(1, 2)).reshape(n, height, width, 2)


def linspace_minus_one_to_one(theta: Tensor, size: Any, align_corners: bool = False) -> Tensor:
    return lesson09.affine_grid_from_scratch(theta, size, align_corners=True)


def transposed_a(theta: Tensor, size: Any, align_corners: bool = False) -> Tensor:
    linear = theta[:, :, :2].transpose(1, 2)
    return lesson09.affine_grid_from_scratch(torch.cat([linear, theta[:, :, 2:]], -1), size, align_corners)


def width_first(theta: Tensor, size: Any, align_corners: bool = False) -> Tensor:
    n, c, height, width = size
    return lesson09.affine_grid_from_scratch(theta, (n, c, width, height), align_corners)


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (buggy_affine_grid, "built (W, H) and read as (H, W)"),
        (y_x_last, "last dimension is (y, x)"),
        (y_x_base, "base grid holds (y_t, x_t, 1)"),
        (linspace_minus_one_to_one, "align_corners=True grid"),
        (transposed_a, "transpose of A"),
    ],
)
def test_affine_grid_from_scratch_diagnoses(fn: Callable[..., Tensor], expected: str) -> None:
    result = assert_diagnosis(lesson09.check_affine_grid_from_scratch, fn, expected)
    assert "meshgrid(ys, xs" in (result.hint or "")


def test_affine_grid_from_scratch_bad_types() -> None:
    result = failed(lesson09.check_affine_grid_from_scratch, lambda *a, **k: F.affine_grid(*a, **k).numpy())
    assert result.status is Status.WRONG_TYPE
    assert "should be a torch.Tensor of shape" in (result.first_failure or "")


def test_affine_grid_from_scratch_width_and_height_swapped() -> None:
    result = failed(lesson09.check_affine_grid_from_scratch, width_first)
    assert result.status is Status.WRONG_SHAPE
    assert "(N, W, H, 2)" in (result.first_failure or "")


# ------------------------------------------------------------------- exercise 4: a diagnosis from θ


@pytest.mark.parametrize(
    ("theta", "expected"),
    [
        (geometry.identity_affine(3), "healthy"),
        (geometry.affine_theta(scale=0.6, batch_size=2), "healthy"),
        (torch.zeros(2, 2, 3), "collapsed"),
        (geometry.affine_theta(scale=(-0.1, 0.5)), "collapsed"),
        (geometry.affine_theta(scale=(-0.8, 0.8), translation=(0.5, 0.0)), "mirrored"),
        (geometry.affine_theta(scale=2.0), "zoomed out"),
        (geometry.affine_theta(scale=0.6, translation=(1.3, 0.4)), "drifted off"),
    ],
)
def test_diagnose_theta_reference(theta: Tensor, expected: str) -> None:
    assert lesson09.diagnose_theta(theta) == expected


def test_theta_vitals_matches_the_definitions() -> None:
    vitals = lesson09.theta_vitals(geometry.affine_theta(scale=0.5, translation=(0.3, -0.4), batch_size=3))
    assert vitals["det"] == pytest.approx(0.25) and vitals["shift"] == pytest.approx(0.5)
    assert vitals["outside"] == 0


def rules(theta: Tensor, *, det_of: Callable[[Tensor], float] | None = None, order: str = "cmzd",
          collapse: float = 0.1, zoom: float = 1.25, use_abs: bool = True, signed: bool = True) -> str:  # fmt: skip
    vitals = lesson09.theta_vitals(theta)
    det = vitals["det"] if det_of is None else det_of(theta)
    if not signed:
        det = abs(det)
    tests = {
        "c": ((abs(det) if use_abs else det) < collapse, "collapsed"),
        "m": (det < 0, "mirrored"),
        "z": (det > zoom, "zoomed out"),
        "d": (vitals["outside"] > 0.5, "drifted off"),
    }
    for key in order:
        hit, label = tests[key]
        if hit:
            return label
    return "healthy"


def mean_det(theta: Tensor) -> float:
    return float(torch.linalg.det(theta[:, :, :2]).mean())


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (lambda t: rules(t, use_abs=False), "called a mirrored θ collapsed"),
        (lambda t: rules(t, order="mczd"), "a collapse is a collapse whatever its sign"),
        (lambda t: rules(t, signed=False), "The sign of det A is what tells a mirror image"),
        (lambda t: rules(t, det_of=mean_det), "Use the median over the batch"),
        (lambda t: rules(t, order="cmdz"), "test det A > 1.25 before the share read from outside"),
        (lambda t: rules(t, zoom=1.0), "a slight zoom out is within the healthy range"),
        (lambda t: rules(t, collapse=0.2), "a close zoom on a small digit"),
        (
            lambda t: "collapsed" if rules(t) == "zoomed out" else rules(t),
            "you called a zoomed-out θ collapsed: det A",
        ),
    ],
)
def test_diagnose_theta_diagnoses(fn: Callable[..., str], expected: str) -> None:
    result = assert_diagnosis(lesson09.check_diagnose_theta, fn, expected)
    assert "abs(det) < 0.1" in (result.hint or "")


def test_diagnose_theta_drift_missed() -> None:
    assert_diagnosis(
        lesson09.check_diagnose_theta, lambda t: rules(t, order="cmz"), "is read from outside the input"
    )


@pytest.mark.parametrize(
    ("fn", "status", "expected"),
    [
        (lambda t: None, Status.WRONG_TYPE, "forget to return"),
        (lambda t: ("healthy",), Status.WRONG_TYPE, "should be a str"),
        (lambda t: rules(t).capitalize(), Status.FAILED, "is not one of the five diagnoses"),
    ],
)
def test_diagnose_theta_bad_types(fn: Callable[..., Any], status: Status, expected: str) -> None:
    result = failed(lesson09.check_diagnose_theta, fn)
    assert result.status is status
    assert expected in (result.first_failure or "")


# --------------------------------------------------------------------------------------- not implemented


@pytest.mark.parametrize(
    ("checker", "reference"),
    [
        (lesson09.check_theta_from_head, lesson09.theta_from_head),
        (lesson09.check_init_weights, lesson09.init_weights_),
        (lesson09.check_affine_grid_from_scratch, lesson09.affine_grid_from_scratch),
        (lesson09.check_diagnose_theta, lesson09.diagnose_theta),
    ],
)
def test_stub_reports_not_implemented_and_falls_back(
    checker: Callable[..., CheckResult], reference: Callable[..., Any]
) -> None:
    def stub(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError()

    result = checker(stub, quiet=True)
    assert result.status is Status.NOT_IMPLEMENTED
    assert not result
    assert "not implemented yet" in result.report()
    assert use_or_fallback(stub, reference) is reference


@pytest.mark.parametrize(
    ("checker", "reference"),
    [
        (lesson09.check_theta_from_head, lesson09.theta_from_head),
        (lesson09.check_init_weights, lesson09.init_weights_),
        (lesson09.check_affine_grid_from_scratch, lesson09.affine_grid_from_scratch),
        (lesson09.check_diagnose_theta, lesson09.diagnose_theta),
    ],
)
def test_reference_passes_and_is_used(
    checker: Callable[..., CheckResult], reference: Callable[..., Any]
) -> None:
    assert checker(reference, quiet=True)
    assert use_or_fallback(reference, not_implemented) is reference
