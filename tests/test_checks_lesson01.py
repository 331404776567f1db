"""Tests of the lesson 01 checkers (stnlib.checks.lesson01): references pass, typical wrong answers fail with the
status and diagnosis a student should see, stubs count as "not implemented", and the references agree with
PyTorch's own grid generator."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stnlib import geometry
from stnlib.checks import CheckFailed, Status, lesson01
from stnlib.checks._core import close_for_dtype

# ----------------------------------------------------------------------------------- the student's answers
# Written the way the lesson's solution cells write them, independently of stnlib's implementations.


def pixel_to_normalized(points, size, align_corners):
    height, width = size
    n = torch.tensor([width, height], dtype=points.dtype, device=points.device)
    return 2 * points / (n - 1) - 1 if align_corners else (2 * points + 1) / n - 1


def transform_points(theta, points):
    homogeneous = torch.cat([points, torch.ones_like(points[..., :1])], dim=-1)
    return torch.einsum("nij,npj->npi", theta, homogeneous)


def make_theta(rotation, scale, shear, translation):
    cos, sin = rotation.cos(), rotation.sin()
    a11 = scale[:, 0] * cos
    a12 = scale[:, 1] * (shear * cos - sin)
    a21 = scale[:, 0] * sin
    a22 = scale[:, 1] * (shear * sin + cos)
    rows = [torch.stack([a11, a12, translation[:, 0]], -1), torch.stack([a21, a22, translation[:, 1]], -1)]
    return torch.stack(rows, dim=1)


def compose_theta(theta_a, theta_b):
    return (geometry.to_homogeneous(theta_a) @ geometry.to_homogeneous(theta_b))[:, :2]


def invert_theta(theta):
    a, b, c, d = theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1]
    linear = torch.stack([d, -b, -c, a], dim=-1).view(-1, 2, 2) / (a * d - b * c)[:, None, None]
    return torch.cat([linear, -linear @ theta[:, :, 2:]], dim=-1)


CHECKERS: dict[str, tuple[Callable, Callable, Callable]] = {
    # name: (checker, stnlib reference, an independent correct answer)
    "pixel_to_normalized": (
        lesson01.check_pixel_to_normalized,
        geometry.pixel_to_normalized,
        pixel_to_normalized,
    ),
    "transform_points": (lesson01.check_transform_points, lesson01.transform_points, transform_points),
    "make_theta": (lesson01.check_make_theta, geometry.affine_theta, make_theta),
    "compose_theta": (lesson01.check_compose_theta, geometry.compose_affine, compose_theta),
    # stnlib's inverse solves a linear system, which the inversion exercise refuses: its own closed form stands in.
    "invert_theta": (lesson01.check_invert_theta, invert_theta, invert_theta),
}


def _run_failing(checker: Callable, fn: Callable):
    with pytest.raises(CheckFailed) as caught:
        checker(fn)
    return caught.value.result


# -------------------------------------------------------------------------------------- passing answers


@pytest.mark.parametrize("name", CHECKERS)
def test_reference_and_an_independent_solution_pass(name: str, capsys) -> None:
    checker, reference, solution = CHECKERS[name]
    for fn in (reference, solution):
        result = checker(fn)
        assert result.status is Status.PASSED and result.passed == result.total >= 4
        assert result.max_error is not None and result.max_error < 1e-5
    assert f"✅ {name}: all" in capsys.readouterr().out


def test_pixel_check_compares_with_torchs_affine_grid(capsys) -> None:
    lesson01.check_pixel_to_normalized(pixel_to_normalized)
    assert "the pixel centres of F.affine_grid" in capsys.readouterr().out


@pytest.mark.parametrize("name", CHECKERS)
def test_stub_is_not_implemented_and_does_not_raise(name: str, capsys) -> None:
    checker = CHECKERS[name][0]

    def stub(*args):
        raise NotImplementedError()

    result = checker(stub)
    assert result.status is Status.NOT_IMPLEMENTED and result.passed == 0
    assert "not implemented yet" in capsys.readouterr().out
    assert getattr(stub, "__stn_check__") is result  # noqa: B009  (recorded for use_or_fallback)


# ---------------------------------------------------------------------------------- wrong answers: pixels


def test_other_align_corners_convention_is_diagnosed() -> None:
    def always_edges(points, size, align_corners):
        return pixel_to_normalized(points, size, False)

    result = _run_failing(lesson01.check_pixel_to_normalized, always_edges)
    assert result.status is Status.FAILED
    assert "align_corners=True" in result.first_failure
    assert "this is the align_corners=False convention" in result.first_failure
    assert "(2 i + 1) / n - 1" in result.hint


def test_height_and_width_swapped_is_diagnosed() -> None:
    def swapped(points, size, align_corners):
        return pixel_to_normalized(points, (size[1], size[0]), align_corners)

    result = _run_failing(lesson01.check_pixel_to_normalized, swapped)
    assert result.status is Status.FAILED
    assert "non-square" in result.first_failure  # the square 4x4 case cannot tell, the 3x5 case can
    assert "x (the column) runs along the width W" in result.first_failure


def test_forgetting_the_half_pixel_is_diagnosed() -> None:
    def corner_at_minus_one(points, size, align_corners):
        n = torch.tensor([size[1], size[0]], dtype=points.dtype)
        return 2 * points / n - 1

    result = _run_failing(lesson01.check_pixel_to_normalized, corner_at_minus_one)
    assert "half a pixel inside" in result.first_failure


def test_cutting_the_gradient_is_reported() -> None:
    def detached(points, size, align_corners):
        return pixel_to_normalized(points, size, align_corners).detach()

    result = _run_failing(lesson01.check_pixel_to_normalized, detached)
    assert result.status is Status.FAILED
    assert "no gradient flows" in result.first_failure
    assert "Diagnosis" not in result.first_failure  # the values are right: no misleading diagnosis


def test_an_exception_names_the_students_line() -> None:
    def broken(points, size, align_corners):
        return points / size  # dividing by a tuple

    result = _run_failing(lesson01.check_pixel_to_normalized, broken)
    assert result.status is Status.ERROR
    assert "TypeError" in result.first_failure and "points / size" in result.first_failure


# ---------------------------------------------------------------------------------- wrong answers: points


@pytest.mark.parametrize(
    ("wrong", "diagnosis"),
    [
        (lambda theta, p: p @ theta[:, :, :2].transpose(1, 2), "translation is missing"),
        (lambda theta, p: p @ theta[:, :, :2] + theta[:, None, :, 2], "transpose of A"),
        (
            lambda theta, p: torch.cat([torch.ones_like(p[..., :1]), p], -1) @ theta.transpose(1, 2),
            "the 1 goes last",
        ),
    ],
)
def test_transform_points_mistakes_are_diagnosed(wrong: Callable, diagnosis: str) -> None:
    result = _run_failing(lesson01.check_transform_points, wrong)
    assert result.status is Status.FAILED
    assert diagnosis in result.first_failure


def test_transform_points_without_batch_dimension_is_a_shape_error() -> None:
    result = _run_failing(lesson01.check_transform_points, lambda theta, p: transform_points(theta, p)[0])
    assert result.status is Status.WRONG_SHAPE
    assert "missing the batch dimension" in result.first_failure


# ------------------------------------------------------------------------------------ wrong answers: theta


def _theta_with(order: str, sign: float = 1.0) -> Callable:
    def build(rotation, scale, shear, translation):
        linear = lesson01._theta_from_parts(rotation, scale, shear, order, sign)
        return torch.cat([linear, translation.unsqueeze(-1)], dim=-1)

    return build


@pytest.mark.parametrize(
    ("wrong", "diagnosis"),
    [
        (_theta_with("RKS", sign=-1.0), "the rotation turns the wrong way"),
        (_theta_with("SKR"), "order S @ K @ R"),
        (_theta_with("RSK"), "order R @ S @ K"),
    ],
)
def test_make_theta_mistakes_are_diagnosed(wrong: Callable, diagnosis: str) -> None:
    result = _run_failing(lesson01.check_make_theta, wrong)
    assert result.status is Status.FAILED
    assert diagnosis in result.first_failure
    assert "A = R @ K @ S" in result.hint or "R @ K @ S" in result.first_failure


def test_make_theta_through_torch_tensor_cuts_the_gradient() -> None:
    def copied(rotation, scale, shear, translation):
        return torch.tensor(make_theta(rotation, scale, shear, translation).tolist(), dtype=rotation.dtype)

    result = _run_failing(lesson01.check_make_theta, copied)
    assert "no gradient flows" in result.first_failure
    assert "torch.tensor([...])" in result.hint


def test_make_theta_in_the_wrong_dtype_is_reported() -> None:
    result = _run_failing(lesson01.check_make_theta, lambda *params: make_theta(*params).float())
    assert result.status is Status.WRONG_DTYPE
    assert "float64" in result.first_failure


# -------------------------------------------------------------------------- wrong answers: compose, invert


def test_compose_in_the_wrong_order_is_diagnosed() -> None:
    result = _run_failing(lesson01.check_compose_theta, lambda a, b: compose_theta(b, a))
    assert result.status is Status.FAILED
    assert "the order is reversed" in result.first_failure


def test_compose_adding_translations_is_diagnosed() -> None:
    def added(a, b):
        return torch.cat([a[:, :, :2] @ b[:, :, :2], a[:, :, 2:] + b[:, :, 2:]], dim=-1)

    result = _run_failing(lesson01.check_compose_theta, added)
    assert "t = A_a t_b + t_a" in result.first_failure


def _closed_form(adjugate: Callable, divide: bool = True, translation: str = "-A⁻¹ t") -> Callable:
    """The closed-form inverse with one part done a wrong way, as a student might write it."""

    def invert(theta):
        a, b, c, d = theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1]
        det = (a * d - b * c)[:, None, None]
        adj = torch.stack(adjugate(a, b, c, d), dim=-1).view(-1, 2, 2)
        linear = adj / det if divide else adj * det
        offset = theta[:, :, 2:]
        shifts = {"-A⁻¹ t": -linear @ offset, "A⁻¹ t": linear @ offset, "-t": -offset, "t": offset}
        return torch.cat([linear, shifts[translation]], dim=-1)

    return invert


def _right_adjugate(a, b, c, d):
    return [d, -b, -c, a]


@pytest.mark.parametrize(
    ("wrong", "diagnosis"),
    [
        (_closed_form(_right_adjugate, translation="A⁻¹ t"), "the translation has the wrong sign"),
        (_closed_form(_right_adjugate, translation="-t"), "not just -t"),
        (_closed_form(_right_adjugate, translation="t"), "must be undone too"),
        (
            lambda th: torch.cat([th[:, :, :2].mT, -th[:, :, :2].mT @ th[:, :, 2:]], -1),
            "only when A's columns are orthonormal",
        ),
        (lambda th: torch.cat([th[:, :, :2].mT, -th[:, :, 2:]], -1), "not -t"),
        (_closed_form(_right_adjugate, divide=False), "the determinant is in the wrong place"),
        (_closed_form(lambda a, b, c, d: [d, b, c, a]), "the adjugate is not right"),
        (_closed_form(lambda a, b, c, d: [-d, b, c, -a]), "the adjugate is not right"),
        (_closed_form(lambda a, b, c, d: [d, -c, -b, a]), "the adjugate is not right"),
        (_closed_form(lambda a, b, c, d: [a, -b, -c, d]), "the adjugate is not right"),
        (lambda th: torch.cat([1 / th[:, :, :2], -th[:, :, 2:]], -1), "not inverted element by element"),
    ],
)
def test_invert_mistakes_are_diagnosed(wrong: Callable, diagnosis: str) -> None:
    result = _run_failing(lesson01.check_invert_theta, wrong)
    assert result.status is Status.FAILED
    assert diagnosis in result.first_failure


def test_invert_with_a_determinant_that_can_be_zero_reports_inf() -> None:
    def forgot_bc(theta):
        a, b, c, d = theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1]
        linear = torch.stack([d, -b, -c, a], dim=-1).view(-1, 2, 2) / (a * d)[:, None, None]
        return torch.cat([linear, -linear @ theta[:, :, 2:]], dim=-1)

    result = _run_failing(lesson01.check_invert_theta, forgot_bc)
    assert result.status is Status.FAILED
    assert "(a = 0)" in result.first_failure  # so a * d = 0 there
    assert "inf or NaN" in result.first_failure and "det(A) = a d - b c" in result.first_failure


@pytest.mark.parametrize(
    "library_inverse",
    [
        lambda th: torch.linalg.inv(geometry.to_homogeneous(th))[:, :2],
        lambda th: torch.inverse(geometry.to_homogeneous(th))[:, :2],
        lambda th: geometry.to_homogeneous(th).inverse()[:, :2],
        geometry.invert_affine,  # it calls torch.linalg.solve
    ],
)
def test_invert_with_a_library_inverse_asks_for_the_closed_form(library_inverse: Callable, capsys) -> None:
    result = _run_failing(lesson01.check_invert_theta, library_inverse)
    assert result.status is Status.ERROR and result.passed == 0
    assert "ClosedFormExpected" in result.first_failure
    assert "asks you to write the inverse yourself" in result.first_failure
    assert "adj(A) / det(A)" in result.first_failure
    # The checker puts PyTorch's functions back, and the reference (which solves) still works.
    assert torch.linalg.inv is torch._C._linalg.linalg_inv
    assert torch.linalg.solve is torch._C._linalg.linalg_solve
    theta = geometry.affine_theta(scale=0.5)
    torch.testing.assert_close(geometry.invert_affine(theta), invert_theta(theta))
    torch.testing.assert_close(torch.inverse(torch.eye(2) * 2), torch.eye(2) / 2)
    torch.testing.assert_close((torch.eye(2) * 2).inverse(), torch.eye(2) / 2)


def test_invert_check_is_recorded_on_the_students_function() -> None:
    lesson01.check_invert_theta(invert_theta)
    assert getattr(invert_theta, "__stn_check__").status is Status.PASSED  # noqa: B009

    def library(theta):
        return torch.linalg.inv(geometry.to_homogeneous(theta))[:, :2]

    with pytest.raises(CheckFailed):
        lesson01.check_invert_theta(library)
    assert getattr(library, "__stn_check__").status is Status.ERROR  # noqa: B009


def test_invert_cases_cover_mirrors_and_a_nearly_singular_theta() -> None:
    dets = torch.cat([torch.linalg.det(case.args[0][:, :, :2].double()) for case in lesson01._invert_cases()])
    assert bool((dets < 0).any()) and bool((dets > 0).any())
    assert float(dets.abs().min()) < 0.02
    dtypes = {case.args[0].dtype for case in lesson01._invert_cases()}
    assert dtypes == {torch.float32, torch.float64}


# ------------------------------------------------------------------- references against PyTorch's own


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize(("height", "width"), [(3, 5), (28, 28), (7, 2)])
def test_transform_points_on_pixel_centres_is_affine_grid(
    height: int, width: int, align_corners: bool
) -> None:
    theta = torch.randn(2, 2, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    centres = geometry.base_grid(height, width, align_corners, dtype=torch.float64)[..., :2]
    ours = lesson01.transform_points(theta, centres.reshape(1, -1, 2).expand(2, -1, -1))
    expected = F.affine_grid(theta, [2, 1, height, width], align_corners=align_corners)
    torch.testing.assert_close(ours.reshape(2, height, width, 2), expected)


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(2, 40),
    width=st.integers(2, 40),
    align_corners=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_torch_pixel_convention_matches_stnlib(
    height: int, width: int, align_corners: bool, seed: int
) -> None:
    points = torch.rand(5, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 40 - 5
    torch.testing.assert_close(
        lesson01._pixel_to_normalized_by_torch(points, (height, width), align_corners),
        geometry.pixel_to_normalized(points, (height, width), align_corners),
    )


def test_transform_points_validates_its_inputs() -> None:
    with pytest.raises(ValueError, match="disagree on N"):
        lesson01.transform_points(torch.zeros(2, 2, 3), torch.zeros(3, 4, 2))
    with pytest.raises(ValueError, match=r"points must have shape \(N, P, 2\)"):
        lesson01.transform_points(torch.zeros(1, 2, 3), torch.zeros(1, 4, 3))


def test_diagnosis_candidates_differ_from_the_reference_on_the_first_case() -> None:
    """Each recognised mistake must change the *values* of the first case, so the report's first failing
    case comes with its diagnosis (and not a bare gradient mismatch)."""
    case = lesson01._theta_cases()[0]
    expected = geometry.affine_theta(*case.args)
    for order in ("RSK", "KRS", "KSR", "SRK", "SKR"):
        assert not close_for_dtype(_theta_with(order)(*case.args), expected), order
    assert not close_for_dtype(_theta_with("RKS", -1.0)(*case.args), expected)
    assert math.isclose(float(case.args[0]), math.pi / 6, rel_tol=1e-6)
