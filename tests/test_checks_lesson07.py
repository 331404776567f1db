"""The checkers of Lesson 07 (thin-plate splines): the references and students' correct answers pass, typical
wrong answers fail with the status and the diagnosis aimed at that mistake, unfinished exercises report
"not implemented" and fall back to stnlib."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from stnlib import geometry
from stnlib.checks import CheckFailed, CheckResult, Status, lesson07, use_or_fallback

# ------------------------------------------------------------------------------ answers a student might write


def safe_radial_basis(squared_distance: Tensor) -> Tensor:
    """The lesson's answer: the log of a safe value, then the mask."""
    positive = squared_distance > 0
    safe = torch.where(positive, squared_distance, torch.ones_like(squared_distance))
    return torch.where(positive, squared_distance * torch.log(safe), torch.zeros_like(squared_distance))


def clamped_radial_basis(squared_distance: Tensor) -> Tensor:
    """Another right answer: clamp before the log (U(0) = 0 * log(eps) = 0, and a finite gradient)."""
    return squared_distance * torch.log(squared_distance.clamp(min=1e-30))


def tps_system(
    control_points: Tensor, radial_basis: Callable[[Tensor], Tensor] = safe_radial_basis
) -> Tensor:
    """``[[K, Q], [Qᵀ, 0]]`` with rows ``(1, x, y)`` in ``Q``, written out (not via stnlib)."""
    differences = control_points[:, None, :] - control_points[None, :, :]
    kernel = radial_basis((differences**2).sum(-1))
    q = torch.cat([torch.ones_like(control_points[:, :1]), control_points], dim=1)
    return torch.cat([torch.cat([kernel, q], 1), torch.cat([q.T, q.new_zeros(3, 3)], 1)], 0)


def right_hand_side(target_points: Tensor) -> Tensor:
    return torch.cat([target_points, target_points.new_zeros(target_points.shape[0], 3, 2)], dim=1)


def solved_coefficients(control_points: Tensor, target_points: Tensor) -> Tensor:
    """Solve for the targets themselves (stnlib solves for the displacements): the same numbers."""
    return torch.linalg.solve(tps_system(control_points), right_hand_side(target_points))


def inverted_coefficients(control_points: Tensor, target_points: Tensor) -> Tensor:
    """An explicit inverse: discouraged by the lesson, but the numbers are right on these small systems."""
    return torch.linalg.inv(tps_system(control_points)) @ right_hand_side(target_points)


def student_tps_grid(
    target_points: Tensor, size: tuple[int, ...], control_points: Tensor, align_corners: bool = False
) -> Tensor:
    n, _, height, width = size
    coefficients = solved_coefficients(control_points, target_points)
    base = geometry.base_grid(height, width, align_corners, dtype=target_points.dtype)
    points = base[..., :2].reshape(-1, 2)
    kernel = safe_radial_basis(((points[:, None] - control_points[None]) ** 2).sum(-1))
    count = control_points.shape[0]
    affine = torch.cat([torch.ones_like(points[:, :1]), points], 1) @ coefficients[:, count:]
    return (kernel @ coefficients[:, :count] + affine).view(n, height, width, 2)


def not_implemented(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError()


def failed(checker: Callable[..., CheckResult], fn: Callable[..., Any]) -> CheckResult:
    """Run ``checker`` on a wrong ``fn``; it must raise CheckFailed, whose result is returned."""
    with pytest.raises(CheckFailed) as error:
        checker(fn, quiet=True)
    return error.value.result


CHECKERS = [
    (lesson07.check_radial_basis, geometry.radial_basis),
    (lesson07.check_tps_coefficients, geometry.tps_coefficients),
    (lesson07.check_tps_grid, geometry.tps_grid),
]

# ----------------------------------------------------------------------------------- references and stubs


@pytest.mark.parametrize(("checker", "reference"), CHECKERS)
def test_reference_passes_every_case(checker, reference, capsys) -> None:
    result = checker(reference)
    assert result.status is Status.PASSED and result.passed == result.total >= 5
    assert result.max_error is not None and result.max_error < 1e-6
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize(("checker", "reference"), CHECKERS)
def test_stub_reports_not_implemented_and_falls_back(checker, reference, capsys) -> None:
    def stub(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError()

    result = checker(stub)
    assert result.status is Status.NOT_IMPLEMENTED and not result
    assert "not implemented yet" in capsys.readouterr().out
    assert use_or_fallback(stub, reference) is reference


def test_radial_basis_records_its_result_on_the_students_function_not_the_wrapper() -> None:
    assert lesson07.check_radial_basis(safe_radial_basis, quiet=True)
    assert use_or_fallback(safe_radial_basis, geometry.radial_basis) is safe_radial_basis
    result = failed(lesson07.check_radial_basis, lambda d: d * torch.log(d))
    assert result.status is Status.FAILED


def test_not_a_function_is_a_wrong_type() -> None:
    result = failed(lesson07.check_radial_basis, torch.zeros(3))
    assert result.status is Status.WRONG_TYPE


def test_correct_student_answers_pass_and_are_kept() -> None:
    assert lesson07.check_radial_basis(safe_radial_basis, quiet=True)
    assert lesson07.check_radial_basis(clamped_radial_basis, quiet=True)
    assert lesson07.check_tps_coefficients(solved_coefficients, quiet=True)
    assert lesson07.check_tps_coefficients(inverted_coefficients, quiet=True)
    assert lesson07.check_tps_grid(student_tps_grid, quiet=True)
    assert use_or_fallback(student_tps_grid, geometry.tps_grid) is student_tps_grid


# ------------------------------------------------------------------------------------- the radial basis


def test_naive_formula_gives_nan_at_zero() -> None:
    result = failed(lesson07.check_radial_basis, lambda d: d * torch.log(d))
    assert result.status is Status.FAILED and result.passed == 2  # only the cases without r = 0
    assert "U(0) came out as NaN" in result.first_failure


@pytest.mark.parametrize(
    "masked_too_late",
    [
        lambda d: torch.where(d > 0, d * torch.log(d), torch.zeros_like(d)),
        lambda d: torch.xlogy(d, d),
        lambda d: torch.nan_to_num(d * torch.log(d)),
    ],
    ids=["where", "xlogy", "nan_to_num"],
)
def test_right_values_with_a_nan_gradient_are_recognised(masked_too_late) -> None:
    zero = torch.zeros(1, requires_grad=True)
    (gradient,) = torch.autograd.grad(masked_too_late(zero).sum(), zero)
    assert masked_too_late(zero).item() == 0 and torch.isnan(gradient).all()  # the trap, in PyTorch itself
    result = failed(lesson07.check_radial_basis, masked_too_late)
    assert result.status is Status.FAILED and "the gradient" in result.first_failure
    assert "values are right, but the gradient is NaN" in result.first_failure


def test_the_reference_gradient_through_points_is_zero_on_a_centre() -> None:
    points = torch.zeros(1, 1, 2, dtype=torch.float64, requires_grad=True)
    value = lesson07.radial_basis_of_points(geometry.radial_basis, points, torch.zeros(1, 1, 2).double())
    (gradient,) = torch.autograd.grad(value.sum(), points)
    assert value.item() == 0 and torch.equal(gradient, torch.zeros_like(gradient))
    # and it agrees with autograd's derivative of U(|p|²) = |p|² log |p|² away from 0
    away = torch.tensor([[[0.3, -0.4]]], dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(
        lambda p: lesson07.radial_basis_of_points(geometry.radial_basis, p, torch.zeros_like(p[:, :1])),
        (away,),
    )


def safe(d: Tensor) -> Tensor:
    return torch.where(d > 0, d, torch.ones_like(d))


@pytest.mark.parametrize(
    ("wrong", "diagnosis"),
    [
        (lambda d: d * torch.log(safe(d)) / 2, "r² log r (the kernel as some books write it)"),
        (lambda d: d**2 * torch.log(safe(d) ** 2), "you squared the input again"),
        (lambda d: torch.where(d > 0, d.sqrt() * torch.log(safe(d).sqrt()), 0 * d), "you took a square root"),
        (lambda d: -d * torch.log(safe(d)), "the sign is flipped"),
        (
            lambda d: torch.where(d > 0, torch.log(safe(d)), 0 * d),
            "the factor r² in front of the log is missing",
        ),
    ],
    ids=["r2-log-r", "r4-log-r4", "r-log-r", "sign", "log-only"],
)
def test_radial_basis_wrong_formulas_are_named(wrong, diagnosis) -> None:
    result = failed(lesson07.check_radial_basis, wrong)
    assert result.status is Status.FAILED
    assert diagnosis in result.first_failure


# -------------------------------------------------------------------------------------- the coefficients


def test_transposed_coefficients() -> None:
    result = failed(
        lesson07.check_tps_coefficients,
        lambda control_points, target_points: solved_coefficients(control_points, target_points).transpose(
            1, 2
        ),
    )
    assert result.status is Status.WRONG_SHAPE and "coefficients are transposed" in result.first_failure


def test_kernel_only_without_the_affine_part() -> None:
    def kernel_only(control_points, target_points):
        differences = control_points[:, None] - control_points[None]
        return torch.linalg.solve(safe_radial_basis((differences**2).sum(-1)), target_points)

    result = failed(lesson07.check_tps_coefficients, kernel_only)
    assert result.status is Status.WRONG_SHAPE and "the affine part is missing" in result.first_failure


def test_unknowns_in_the_other_order() -> None:
    def affine_first(control_points, target_points):
        count = control_points.shape[0]
        solution = solved_coefficients(control_points, target_points)
        return torch.cat([solution[:, count:], solution[:, :count]], dim=1)

    result = failed(lesson07.check_tps_coefficients, affine_first)
    assert result.status is Status.FAILED and "the rows are in the wrong order" in result.first_failure


def test_affine_columns_in_the_other_order() -> None:
    def xy1(control_points, target_points):
        differences = control_points[:, None] - control_points[None]
        kernel = safe_radial_basis((differences**2).sum(-1))
        q = torch.cat([control_points, torch.ones_like(control_points[:, :1])], dim=1)  # (x, y, 1)
        system = torch.cat([torch.cat([kernel, q], 1), torch.cat([q.T, q.new_zeros(3, 3)], 1)], 0)
        return torch.linalg.solve(system, right_hand_side(target_points))

    result = failed(lesson07.check_tps_coefficients, xy1)
    assert (
        result.status is Status.FAILED and "the affine columns are in the wrong order" in result.first_failure
    )


def test_displacement_without_the_identity() -> None:
    result = failed(
        lesson07.check_tps_coefficients,
        lambda control_points, target_points: solved_coefficients(
            control_points, target_points - control_points
        ),
    )
    assert result.status is Status.FAILED and "coefficients of the displacement" in result.first_failure


def test_kernel_of_the_distance_instead_of_its_square() -> None:
    def cdist_kernel(control_points, target_points):
        system = tps_system(control_points, lambda d: safe_radial_basis(d.sqrt()))
        return torch.linalg.solve(system, right_hand_side(target_points))

    result = failed(lesson07.check_tps_coefficients, cdist_kernel)
    assert result.status is Status.FAILED and "torch.cdist returns r" in result.first_failure


# ------------------------------------------------------------------------------------------------ the grid


def test_grid_of_the_other_align_corners() -> None:
    result = failed(
        lesson07.check_tps_grid,
        lambda target_points, size, control_points, align_corners=False: student_tps_grid(
            target_points, size, control_points, not align_corners
        ),
    )
    assert result.status is Status.FAILED and "this is the grid for align_corners=" in result.first_failure


@pytest.mark.parametrize(
    ("part", "diagnosis"),
    [
        ("radial", "the affine part is missing"),
        ("affine", "only the affine part"),
        ("displacement", "f(p) - p"),
    ],
)
def test_grid_with_a_part_missing(part, diagnosis) -> None:
    def partial(target_points, size, control_points, align_corners=False):
        n, _, height, width = size
        coefficients = solved_coefficients(control_points, target_points)
        points = geometry.base_grid(height, width, align_corners, dtype=target_points.dtype)[..., :2].reshape(
            -1, 2
        )
        kernel = safe_radial_basis(((points[:, None] - control_points[None]) ** 2).sum(-1))
        count = control_points.shape[0]
        radial = kernel @ coefficients[:, :count]
        affine = torch.cat([torch.ones_like(points[:, :1]), points], 1) @ coefficients[:, count:]
        value = {"radial": radial, "affine": affine, "displacement": radial + affine - points}[part]
        return value.view(n, height, width, 2)

    result = failed(lesson07.check_tps_grid, partial)
    assert result.status is Status.FAILED and diagnosis in result.first_failure


def test_grid_with_x_and_y_swapped() -> None:
    result = failed(
        lesson07.check_tps_grid, lambda *args, **kwargs: student_tps_grid(*args, **kwargs).flip(-1)
    )
    assert result.status is Status.FAILED and "x and y are swapped in the result" in result.first_failure


def test_grid_with_height_and_width_swapped() -> None:
    def transposed(target_points, size, control_points, align_corners=False):
        n, c, height, width = size
        return student_tps_grid(target_points, (n, c, width, height), control_points, align_corners)

    result = failed(lesson07.check_tps_grid, transposed)
    assert result.status is Status.WRONG_SHAPE and "height and width are swapped" in result.first_failure


def test_grid_points_as_y_x() -> None:
    def yx_points(target_points, size, control_points, align_corners=False):
        n, _, height, width = size
        coefficients = solved_coefficients(control_points, target_points)
        base = geometry.base_grid(height, width, align_corners, dtype=target_points.dtype)
        points = base[..., :2].reshape(-1, 2).flip(-1)
        kernel = safe_radial_basis(((points[:, None] - control_points[None]) ** 2).sum(-1))
        count = control_points.shape[0]
        affine = torch.cat([torch.ones_like(points[:, :1]), points], 1) @ coefficients[:, count:]
        return (kernel @ coefficients[:, :count] + affine).view(n, height, width, 2)

    result = failed(lesson07.check_tps_grid, yx_points)
    assert result.status is Status.FAILED and "base-grid points are (y, x)" in result.first_failure


# --------------------------------------------------------------- facts the lesson shows, against PyTorch


@pytest.mark.parametrize("align_corners", [False, True])
def test_a_spline_through_affine_targets_is_pytorchs_affine_grid(align_corners) -> None:
    control = geometry.tps_control_points(4, dtype=torch.float64)
    theta = geometry.affine_theta(rotation=0.4, scale=(0.9, 1.2), translation=(0.2, -0.1)).double()
    targets = control @ theta[0, :, :2].T + theta[0, :, 2]
    grid = student_tps_grid(targets[None], (1, 1, 7, 5), control, align_corners)
    expected = F.affine_grid(theta, [1, 1, 7, 5], align_corners=align_corners)
    torch.testing.assert_close(grid, expected)
    weights = solved_coefficients(control, targets[None])[0, :16]
    assert weights.abs().max() < 1e-10  # no bending at all


def test_solving_leaves_a_smaller_residual_than_inverting() -> None:
    """The lesson's claim, on a 16x16 lattice in float32: the spline meets its control points more closely when
    the system is solved than when it is inverted (median over seeded random targets)."""
    control = geometry.tps_control_points(16)
    system = tps_system(control)
    generator = torch.Generator().manual_seed(0)
    residuals: dict[str, list[float]] = {"solve": [], "inverse": []}
    for _ in range(5):
        rhs = right_hand_side(control + 0.1 * torch.randn(1, *control.shape, generator=generator))
        for name, solution in (
            ("solve", torch.linalg.solve(system, rhs)),
            ("inverse", torch.linalg.inv(system) @ rhs),
        ):
            residuals[name].append(float((system.double() @ solution.double() - rhs.double()).abs().max()))
    assert torch.tensor(residuals["solve"]).median() < torch.tensor(residuals["inverse"]).median()


def test_a_detached_kernel_is_told_that_no_gradient_flows() -> None:
    result = failed(lesson07.check_radial_basis, lambda d: safe_radial_basis(d).detach())
    assert result.status is Status.FAILED and "no gradient flows from U back to r²" in result.first_failure
