"""The checkers of Lesson 02 (the grid generator): the references pass, typical wrong answers fail with the
status and the diagnosis aimed at that mistake, unfinished exercises report "not implemented"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from stnlib import geometry
from stnlib.checks import CheckFailed, CheckResult, Status, check_function, lesson02, use_or_fallback

# ----------------------------------------------------------------------------------------------- helpers


def failed(checker: Callable[..., CheckResult], fn: Callable[..., Any]) -> CheckResult:
    """Run ``checker`` on a wrong ``fn``; it must raise CheckFailed, whose result is returned."""
    with pytest.raises(CheckFailed) as error:
        checker(fn, quiet=True)
    return error.value.result


def centres(size: int, align_corners: bool, dtype: torch.dtype) -> Tensor:
    """Normalised pixel centres written out (not via stnlib), for the hand-made student answers below."""
    index = torch.arange(size, dtype=dtype)
    return index * (2 / (size - 1)) - 1 if align_corners else (2 * index + 1) / size - 1


def student_base_grid(height, width, align_corners=False, *, device=None, dtype=torch.float32):
    """A correct answer written the way a student would (meshgrid + stack)."""
    ys, xs = centres(height, align_corners, dtype), centres(width, align_corners, dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1).to(device)


def student_affine_grid(theta, size, align_corners=False):
    n, _, height, width = size
    points = student_base_grid(height, width, align_corners, dtype=theta.dtype).view(1, -1, 3)
    return (points @ theta.transpose(1, 2)).view(n, height, width, 2)


def not_implemented(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError()


CHECKERS = [
    (lesson02.check_base_grid, geometry.base_grid),
    (lesson02.check_affine_grid, geometry.affine_grid),
    (lesson02.check_attention_theta, geometry.attention_theta),
    (lesson02.check_projective_grid, geometry.projective_grid),
]

# ---------------------------------------------------------------------------------- references and stubs


@pytest.mark.parametrize(("checker", "reference"), CHECKERS)
def test_reference_passes_every_case(checker, reference, capsys) -> None:
    result = checker(reference)
    assert result.status is Status.PASSED and result.passed == result.total >= 4
    assert result.max_error is not None and result.max_error < 1e-5
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize(("checker", "reference"), CHECKERS)
def test_stub_reports_not_implemented_without_raising(checker, reference, capsys) -> None:
    result = checker(not_implemented)
    assert result.status is Status.NOT_IMPLEMENTED and not result
    assert "not implemented yet" in capsys.readouterr().out
    assert use_or_fallback(not_implemented, reference) is reference


def test_students_own_versions_pass_and_are_kept() -> None:
    assert lesson02.check_base_grid(student_base_grid, quiet=True)
    assert lesson02.check_affine_grid(student_affine_grid, quiet=True)
    assert use_or_fallback(student_affine_grid, geometry.affine_grid) is student_affine_grid
    # PyTorch's own functions are right answers too
    assert lesson02.check_affine_grid(F.affine_grid, quiet=True)
    assert lesson02.check_base_grid(lesson02.torch_base_grid, quiet=True)


def test_torch_base_grid_equals_stnlib_base_grid() -> None:
    for align_corners in (False, True):
        for dtype in (torch.float32, torch.float64):
            ours = geometry.base_grid(3, 5, align_corners, dtype=dtype)
            torch.testing.assert_close(lesson02.torch_base_grid(3, 5, align_corners, dtype=dtype), ours)


# ------------------------------------------------------------------------------------------- base grid


def test_base_grid_other_align_corners_is_named() -> None:
    def linspace_grid(height, width, align_corners=False, *, device=None, dtype=torch.float32):
        return student_base_grid(height, width, True, dtype=dtype)  # torch.linspace(-1, 1, W): always "True"

    result = failed(lesson02.check_base_grid, linspace_grid)
    assert result.status is Status.FAILED
    assert "align_corners=True grid" in result.first_failure and "(2 j + 1) / W - 1" in result.first_failure
    assert result.passed == 2  # exactly the align_corners=True cases pass


def test_base_grid_missing_homogeneous_one() -> None:
    def no_one(height, width, align_corners=False, *, device=None, dtype=torch.float32):
        return student_base_grid(height, width, align_corners, dtype=dtype)[..., :2]

    result = failed(lesson02.check_base_grid, no_one)
    assert result.status is Status.WRONG_SHAPE and "homogeneous 1 is missing" in result.first_failure


def test_base_grid_meshgrid_in_the_wrong_order_swaps_rows_and_columns() -> None:
    def xy_meshgrid(height, width, align_corners=False, *, device=None, dtype=torch.float32):
        xs, ys = centres(width, align_corners, dtype), centres(height, align_corners, dtype)
        grid_x, grid_y = torch.meshgrid(xs, ys, indexing="ij")  # (W, H): rows and columns swapped
        return torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1)

    result = failed(lesson02.check_base_grid, xy_meshgrid)
    assert result.status is Status.FAILED and result.passed == 0
    assert "x and y (or rows and columns) are swapped" in result.first_failure


def test_base_grid_with_height_and_width_swapped_fails_only_on_non_square_sizes() -> None:
    def swapped_arguments(height, width, align_corners=False, *, device=None, dtype=torch.float32):
        return student_base_grid(width, height, align_corners, dtype=dtype)  # (W, H, 3)

    result = failed(lesson02.check_base_grid, swapped_arguments)
    assert result.status is Status.WRONG_SHAPE and result.passed == 1  # the 4x4 case cannot tell
    assert "height and width are swapped" in result.first_failure and "indexing='ij'" in result.first_failure


def test_base_grid_x_and_y_swapped() -> None:
    def swapped(height, width, align_corners=False, *, device=None, dtype=torch.float32):
        return student_base_grid(height, width, align_corners, dtype=dtype)[..., [1, 0, 2]]

    result = failed(lesson02.check_base_grid, swapped)
    assert (
        result.status is Status.FAILED and "x and y (or rows and columns) are swapped" in result.first_failure
    )


def test_base_grid_that_ignores_dtype_fails_on_float64() -> None:
    def float32_only(height, width, align_corners=False, *, device=None, dtype=torch.float32):
        return student_base_grid(height, width, align_corners)

    result = failed(lesson02.check_base_grid, float32_only)
    assert result.status is Status.WRONG_DTYPE and "float64" in result.first_failure


# ----------------------------------------------------------------------------------------- affine grid


def test_affine_grid_with_transposed_matrix() -> None:
    def transposed(theta, size, align_corners=False):
        n, _, height, width = size
        points = geometry.base_grid(height, width, align_corners, dtype=theta.dtype).view(1, -1, 3)
        return (points[..., :2] @ theta[:, :, :2] + theta[:, None, :, 2]).view(n, height, width, 2)

    result = failed(lesson02.check_affine_grid, transposed)
    assert result.status is Status.FAILED and "transpose of A" in result.first_failure
    assert result.hint and "OUTPUT size" in result.hint


def test_affine_grid_without_translation() -> None:
    def no_shift(theta, size, align_corners=False):
        return geometry.affine_grid(torch.cat([theta[:, :, :2], torch.zeros_like(theta[:, :, 2:])], -1), size)

    result = failed(lesson02.check_affine_grid, no_shift)
    assert result.status is Status.FAILED and "translation is missing" in result.first_failure


def test_affine_grid_reshaped_without_transposing() -> None:
    def scrambled(theta, size, align_corners=False):
        n, _, height, width = size
        points = geometry.base_grid(height, width, align_corners, dtype=theta.dtype).view(-1, 3).T  # (3, HW)
        return (theta @ points).reshape(n, height, width, 2)  # (N, 2, HW) read as (N, H, W, 2)

    result = failed(lesson02.check_affine_grid, scrambled)
    assert result.status is Status.FAILED and "Transpose it to (N, H*W, 2)" in result.first_failure


@pytest.mark.parametrize("convention", [True, False])
def test_affine_grid_fixed_align_corners_fails_on_the_other(convention: bool) -> None:
    def fixed(theta, size, align_corners=False):
        return F.affine_grid(theta, list(size), align_corners=convention)

    result = failed(lesson02.check_affine_grid, fixed)
    assert result.status is Status.FAILED
    assert f"this is the align_corners={convention} grid" in result.first_failure


def test_affine_grid_output_in_y_x_order() -> None:
    result = failed(
        lesson02.check_affine_grid,
        lambda t, s, align_corners=False: F.affine_grid(t, s, align_corners).flip(-1),
    )
    assert result.status is Status.FAILED and "x and y are swapped in the result" in result.first_failure


def test_affine_grid_base_grid_with_x_and_y_swapped() -> None:
    def swapped_points(theta, size, align_corners=False):
        return F.affine_grid(theta[:, :, [1, 0, 2]], list(size), align_corners=align_corners)

    result = failed(lesson02.check_affine_grid, swapped_points)
    assert "base grid has x and y swapped" in result.first_failure


def test_affine_grid_that_only_uses_the_first_item_fails_on_batches() -> None:
    def first_only(theta, size, align_corners=False):
        return F.affine_grid(theta[:1].expand_as(theta), list(size), align_corners=align_corners)

    result = failed(lesson02.check_affine_grid, first_only)
    assert result.status is Status.FAILED and "batch of 3" in result.first_failure


def test_affine_grid_height_width_swapped_in_the_size() -> None:
    def swapped_size(theta, size, align_corners=False):
        n, c, height, width = size
        return F.affine_grid(theta, [n, c, width, height], align_corners=align_corners)

    result = failed(lesson02.check_affine_grid, swapped_size)
    assert result.status is Status.WRONG_SHAPE and "height and width are swapped" in result.first_failure


def test_affine_grid_without_gradient_fails_on_gradients() -> None:
    def detached(theta, size, align_corners=False):
        return F.affine_grid(theta.detach(), list(size), align_corners=align_corners)

    result = failed(lesson02.check_affine_grid, detached)
    assert result.status is Status.FAILED and "no gradient flows" in result.first_failure
    assert "Diagnosis" not in result.first_failure  # the values are right: nothing else to diagnose


# ------------------------------------------------------------------------------------- attention theta


def test_attention_translation_swapped() -> None:
    def swapped(params):
        s, tx, ty = params.unbind(-1)
        zero = torch.zeros_like(s)
        return torch.stack([s, zero, ty, zero, s, tx], -1).view(-1, 2, 3)

    result = failed(lesson02.check_attention_theta, swapped)
    assert result.status is Status.FAILED and "t_x and t_y are swapped" in result.first_failure


def test_attention_translation_in_the_wrong_column() -> None:
    def middle_column(params):
        s, tx, ty = params.unbind(-1)
        zero = torch.zeros_like(s)
        return torch.stack([s, tx, zero, ty, s, zero], -1).view(-1, 2, 3)

    result = failed(lesson02.check_attention_theta, middle_column)
    assert "last column" in result.first_failure


def test_attention_transposed_theta() -> None:
    result = failed(lesson02.check_attention_theta, lambda p: geometry.attention_theta(p).transpose(1, 2))
    assert result.status is Status.WRONG_SHAPE and "transpose of theta" in result.first_failure


def test_attention_built_with_torch_tensor_has_no_gradient() -> None:
    def from_python_numbers(params):
        return torch.tensor(
            [[[s, 0.0, tx], [0.0, s, ty]] for s, tx, ty in params.tolist()], dtype=params.dtype
        )

    result = failed(lesson02.check_attention_theta, from_python_numbers)
    assert result.status is Status.FAILED and "no gradient flows" in result.first_failure


def test_attention_with_float32_zeros_fails_on_float64() -> None:
    def float32_theta(params):
        theta = torch.zeros(params.shape[0], 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = params[:, 0]
        theta[:, :, 2] = params[:, 1:]
        return theta

    result = failed(lesson02.check_attention_theta, float32_theta)
    assert result.status is Status.WRONG_DTYPE and result.passed == 3


# ------------------------------------------------------------------------------------- projective grid


def homogeneous(
    params: Tensor, size, align_corners: bool, transpose: bool = False, identity: bool = True
) -> Tensor:
    n, _, height, width = size
    matrix = torch.cat([params, torch.zeros_like(params[:, :1])], 1).view(-1, 3, 3)
    if identity:
        matrix = matrix + torch.eye(3, dtype=params.dtype)
    if transpose:
        matrix = matrix.transpose(1, 2)
    points = geometry.base_grid(height, width, align_corners, dtype=params.dtype).view(1, -1, 3)
    return (points @ matrix.transpose(1, 2)).view(n, height, width, 3)


def test_projective_written_by_hand_passes() -> None:
    def by_hand(params, size, align_corners=False):
        p = homogeneous(params, size, align_corners)
        return p[..., :2] / p[..., 2:]

    assert lesson02.check_projective_grid(by_hand, quiet=True)


def test_projective_without_divide() -> None:
    result = failed(
        lesson02.check_projective_grid,
        lambda p, s, align_corners=False: homogeneous(p, s, align_corners)[..., :2],
    )
    assert result.status is Status.FAILED and "perspective divide is missing" in result.first_failure


@pytest.mark.parametrize(("coordinate", "name"), [(0, "x'"), (1, "y'")])
def test_projective_divided_by_the_wrong_coordinate(coordinate: int, name: str) -> None:
    def wrong_divide(params, size, align_corners=False):
        p = homogeneous(params, size, align_corners)
        return p[..., :2] / p[..., coordinate : coordinate + 1]

    result = failed(lesson02.check_projective_grid, wrong_divide)
    assert f"you divided by {name}" in result.first_failure


def test_projective_without_identity_gives_nan_and_is_diagnosed() -> None:
    def no_identity(params, size, align_corners=False):
        p = homogeneous(params, size, align_corners, identity=False)
        return p[..., :2] / p[..., 2:]

    result = failed(lesson02.check_projective_grid, no_identity)
    assert result.status is Status.FAILED and "the identity is missing" in result.first_failure
    with pytest.raises(CheckFailed) as error:  # zero parameters alone: w = 0 everywhere
        check_function(
            "projective_grid", no_identity, geometry.projective_grid, lesson02._projective_cases()[2:3],
            diagnose=lesson02._diagnose_projective, quiet=True,
        )  # fmt: skip
    assert "forget to add the identity" in error.value.result.first_failure


def test_projective_with_transposed_homography() -> None:
    def transposed(params, size, align_corners=False):
        p = homogeneous(params, size, align_corners, transpose=True)
        return p[..., :2] / p[..., 2:]

    result = failed(lesson02.check_projective_grid, transposed)
    assert "transpose of H" in result.first_failure


def test_projective_fixed_align_corners() -> None:
    def always_false(params, size, align_corners=False):
        return geometry.projective_grid(params, size, False)

    result = failed(lesson02.check_projective_grid, always_false)
    assert "this is the align_corners=False grid" in result.first_failure


def test_projective_student_error_is_reported_with_its_line(capsys) -> None:
    def broken(params, size, align_corners=False):
        return params.view(-1, 3, 3)  # 8 numbers do not fill a 3x3 matrix

    result = failed(lesson02.check_projective_grid, broken)
    assert result.status is Status.ERROR and "RuntimeError" in result.first_failure
    assert "params.view(-1, 3, 3)" in result.first_failure
