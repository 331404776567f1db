"""The checkers of Lesson 06 (reproducing Table 1): the references pass and agree with stnlib (the ordering rule of
stnlib.pretrained.targets, stnlib.probes' window_side, rotation_degrees and window_contains); typical wrong answers
fail with the expected status and the diagnosis aimed at that mistake; unfinished exercises report "not
implemented" and fall back to the reference."""

from __future__ import annotations

import doctest
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from stnlib import geometry
from stnlib.checks import CheckFailed, CheckResult, Status, lesson06, use_or_fallback
from stnlib.pretrained.targets import table1_targets


def failed(checker: Callable[..., CheckResult], fn: Any) -> CheckResult:
    """Run ``checker`` on a wrong ``fn``; it must raise CheckFailed, whose result is returned."""
    with pytest.raises(CheckFailed) as error:
        checker(fn, quiet=True)
    return error.value.result


def not_implemented(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError()


def test_doctests() -> None:
    failures, tried = doctest.testmod(lesson06)
    assert tried > 0 and failures == 0


@pytest.mark.parametrize(
    ("checker", "reference"),
    [
        (lesson06.check_ordering_verdicts, lesson06.ordering_verdicts),
        (lesson06.check_theta_stats, lesson06.theta_stats),
        (lesson06.check_ink_kept, lesson06.ink_kept),
    ],
    ids=["ordering_verdicts", "theta_stats", "ink_kept"],
)
def test_reference_passes_and_stub_is_not_implemented(
    checker: Callable[..., CheckResult], reference: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    result = checker(reference)
    assert result.status is Status.PASSED and result.passed == result.total >= 5
    assert "✅" in capsys.readouterr().out
    stub = checker(not_implemented, quiet=True)  # does not raise: the lesson must run on
    assert stub.status is Status.NOT_IMPLEMENTED
    assert "not implemented yet" in capsys.readouterr().out + stub.report()
    assert use_or_fallback(not_implemented, reference) is reference
    assert "is not implemented yet" in capsys.readouterr().out


def test_a_function_that_passed_is_used() -> None:
    def theta_stats(theta: torch.Tensor) -> Any:
        return lesson06.theta_stats(theta)

    lesson06.check_theta_stats(theta_stats, quiet=True)
    assert use_or_fallback(theta_stats, lesson06.theta_stats) is theta_stats


# ------------------------------------------------------------------------------------ ordering_verdicts


def student_ordering(variant: str) -> Callable[..., Any]:
    """A student's ordering_verdicts with one typical mistake."""

    def ordering_verdicts(errors: Any, claims: Any, datasets: Any) -> Any:
        result: dict[str, dict[str, Any]] = {}
        for dataset in datasets:
            if variant == "trained_only" and not any(dataset in row for row in errors.values()):
                continue
            for name, pairs in claims.items():
                if variant == "first_pair":
                    pairs = pairs[:1]
                verdicts = []
                for lower, higher in pairs:
                    if dataset not in errors.get(lower, {}) or dataset not in errors.get(higher, {}):
                        verdicts.append("missing")
                        continue
                    a, b = errors[lower][dataset], errors[higher][dataset]
                    verdicts.append(a <= b if variant == "le" else a > b if variant == "gt" else a < b)
                if "missing" in verdicts and variant != "skip":
                    verdict: Any = False if variant == "missing_false" else None
                else:
                    verdict = all(v for v in verdicts if v != "missing")
                if variant == "numpy":
                    verdict = None if verdict is None else np.bool_(verdict)
                if variant == "strings":
                    verdict = {True: "holds", False: "fails", None: "missing"}[verdict]
                if variant == "by_claim":
                    result.setdefault(name, {})[dataset] = verdict
                else:
                    result.setdefault(dataset, {})[name] = verdict
        return result

    return ordering_verdicts


def test_reference_on_the_short_runs_table() -> None:
    errors = {"FCN": {"R": 26.1}, "CNN": {"R": 9.3}, "ST-FCN-Aff": {"R": 21.1}, "ST-CNN-Aff": {"R": 8.0}}
    verdicts = lesson06.ordering_verdicts(errors, lesson06.PAPER_CLAIMS, ("R", "RTS"))
    assert verdicts == {
        "R": {"ST-CNN-Aff < CNN < FCN": True, "every ST-FCN < FCN": None},
        "RTS": {"ST-CNN-Aff < CNN < FCN": None, "every ST-FCN < FCN": None},
    }
    tie = lesson06.ordering_verdicts({"A": {"R": 1.0}, "B": {"R": 1.0}}, {"A < B": [("A", "B")]}, ("R",))
    assert tie == {"R": {"A < B": False}}


class _TableAsZoo:
    """What table1_targets reads from a zoo: the error of each cell (None when missing), no records."""

    def __init__(self, errors: dict[str, dict[str, float]]) -> None:
        self.errors = errors

    def error(self, model: str, dataset: str) -> float | None:
        return self.errors.get(model, {}).get(dataset)

    def get(self, model: str, dataset: str) -> None:
        return None


def test_reference_follows_the_rule_of_stnlib_pretrained_targets() -> None:
    """On every case judged with the paper's claims, the verdicts are the targets' 'met' (None: not in the zoo)."""
    cases = [c for c in lesson06._ordering_cases() if set(c.args[1]) == set(lesson06.PAPER_CLAIMS)]
    assert len(cases) >= 4
    for case in cases:
        errors, claims, datasets = case.args
        verdicts = lesson06.ordering_verdicts(errors, claims, datasets)
        targets = {t.name: t.met for t in table1_targets(_TableAsZoo(errors))}  # type: ignore[arg-type]
        for dataset in datasets:
            for claim in claims:
                assert verdicts[dataset][claim] is targets[f"{dataset}: {claim}"], (case.name, dataset, claim)


def test_ordering_cases_cover_every_verdict() -> None:
    seen = set()
    for case in lesson06._ordering_cases():
        for row in lesson06.ordering_verdicts(*case.args).values():
            seen |= set(row.values())
    assert seen == {True, False, None}


@pytest.mark.parametrize(
    ("variant", "status", "diagnosis"),
    [
        ("le", Status.FAILED, "a tie counts as not ordered"),
        ("gt", Status.FAILED, "the wrong way"),
        ("missing_false", Status.FAILED, "a missing cell is not a failure"),
        ("skip", Status.FAILED, "you skipped the pairs with a missing cell"),
        ("first_pair", Status.FAILED, "only the first pair"),
        ("by_claim", Status.FAILED, "keyed by dataset first"),
        ("trained_only", Status.FAILED, "a column nobody trained"),
    ],
)
def test_wrong_ordering_fails_with_its_diagnosis(variant: str, status: Status, diagnosis: str) -> None:
    result = failed(lesson06.check_ordering_verdicts, student_ordering(variant))
    assert result.status is status
    assert result.first_failure is not None and diagnosis in result.first_failure


def test_ordering_verdicts_as_strings_are_the_wrong_type() -> None:
    result = failed(lesson06.check_ordering_verdicts, student_ordering("strings"))
    assert result.status is Status.WRONG_TYPE
    assert "True, False or None" in (result.first_failure or "")


def test_ordering_verdicts_returning_none_is_wrong_type() -> None:
    result = failed(lesson06.check_ordering_verdicts, lambda errors, claims, datasets: None)
    assert result.status is Status.WRONG_TYPE and "return" in (result.first_failure or "")


def test_ordering_verdicts_may_be_numpy_bools() -> None:
    result = lesson06.check_ordering_verdicts(student_ordering("numpy"), quiet=True)
    assert result.status is Status.PASSED


# ------------------------------------------------------------------------------------------ theta_stats


def student_theta_stats(variant: str) -> Callable[..., Any]:
    """A student's theta_stats with one typical mistake."""

    def theta_stats(theta: torch.Tensor) -> Any:
        a11, a12, a21, a22 = theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1]
        det = a11 * a22 - a12 * a21
        scales = {
            "area": det.abs(),
            "det_no_abs": det.sqrt(),
            "zoom": 1 / det.abs().sqrt(),
            "column_norm": (a11**2 + a21**2).sqrt(),
            "a11": a11,
        }
        scale = scales.get(variant, det.abs().sqrt())
        if variant == "swapped_rows":
            a12, a21 = a21, a12
        radians = torch.atan2(a21 - a12, a11 + a22)
        if variant == "first_column":
            radians = torch.atan2(a21, a11)
        if variant == "atan2_swapped":
            radians = torch.atan2(a11 + a22, a21 - a12)
        degrees = radians if variant == "radians" else torch.rad2deg(radians)
        shift = theta[:, :, 2]
        if variant == "shift_yx":
            shift = shift.flip(-1)
        if variant == "shift_row":
            shift = theta[:, 0, 1:]
        if variant == "shift_inverse":
            shift = -torch.linalg.solve(theta[:, :, :2], theta[:, :, 2:]).squeeze(-1)
        if variant == "float32":
            return scale.float(), degrees.float(), shift.float()
        if variant == "list":
            return [scale, degrees, shift]
        if variant == "dict":
            return {"scale": scale, "degrees": degrees, "shift": shift}
        return scale, degrees, shift

    return theta_stats


def test_theta_stats_recovers_known_scale_turn_and_shift() -> None:
    degrees = torch.tensor([-120.0, -30.0, 0.0, 45.0, 170.0], dtype=torch.float64)
    scale = torch.tensor([0.5, 0.8, 1.0, 1.3, 0.7], dtype=torch.float64)
    shift = torch.tensor([[0.1, -0.2], [0.0, 0.5], [-0.3, 0.0], [0.2, 0.2], [0.6, -0.6]], dtype=torch.float64)
    theta = geometry.affine_theta(
        rotation=torch.deg2rad(degrees), scale=scale.unsqueeze(1).expand(5, 2), translation=shift
    )
    got_scale, got_degrees, got_shift = lesson06.theta_stats(theta)
    torch.testing.assert_close(got_scale, scale)
    torch.testing.assert_close(got_degrees, degrees)
    torch.testing.assert_close(got_shift, shift)
    mirrored = geometry.affine_theta(rotation=math.radians(30), scale=(-0.5, 0.9))
    m_scale, m_degrees, _ = lesson06.theta_stats(mirrored)
    assert m_scale.item() == pytest.approx(math.sqrt(0.45)) and m_degrees.item() == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("variant", "status", "diagnosis"),
    [
        ("area", Status.FAILED, "you returned the area, not the scale: take the square root of |det A|"),
        ("det_no_abs", Status.FAILED, "a mirrored θ has det A < 0"),
        ("zoom", Status.FAILED, "this is the zoom, 1 / scale"),
        ("column_norm", Status.FAILED, "the length of A's first column"),
        ("a11", Status.FAILED, "a11 is the scale only without a turn"),
        ("radians", Status.FAILED, "angle in radians; the lesson prints degrees"),
        ("swapped_rows", Status.FAILED, "rows swapped: a12 and a21"),
        ("first_column", Status.FAILED, "atan2(a21, a11) reads only A's first column"),
        ("atan2_swapped", Status.FAILED, "torch.atan2 takes (y, x)"),
        ("shift_yx", Status.FAILED, "yours is (t_y, t_x)"),
        ("shift_row", Status.FAILED, "that is row 0 of θ"),
        ("shift_inverse", Status.FAILED, "where the input's centre lands"),
        ("float32", Status.WRONG_DTYPE, "dtype"),
        ("dict", Status.WRONG_TYPE, "as a tuple (scale, degrees, shift)"),
    ],
)
def test_wrong_theta_stats_fails_with_its_diagnosis(variant: str, status: Status, diagnosis: str) -> None:
    result = failed(lesson06.check_theta_stats, student_theta_stats(variant))
    assert result.status is status
    assert result.first_failure is not None and diagnosis in result.first_failure


def test_theta_stats_names_the_wrong_quantity() -> None:
    assert "the angle (degrees)" in (
        failed(lesson06.check_theta_stats, student_theta_stats("radians")).first_failure or ""
    )
    assert "the shift" in (
        failed(lesson06.check_theta_stats, student_theta_stats("shift_yx")).first_failure or ""
    )


def test_theta_stats_may_return_a_list() -> None:
    assert lesson06.check_theta_stats(student_theta_stats("list"), quiet=True).status is Status.PASSED


# ---------------------------------------------------------------------------------------------- ink_kept


def student_ink_kept(variant: str) -> Callable[..., Any]:
    """A student's ink_kept with one typical mistake (or, for "solve", a correct one written another way)."""

    def ink_kept(theta: torch.Tensor, images: torch.Tensor) -> Any:
        n, _, h, w = images.shape
        rows, columns = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        if variant == "align_corners":
            x, y = 2 * columns / (w - 1) - 1, 2 * rows / (h - 1) - 1
        elif variant == "swap_xy":
            x, y = (2 * rows + 1) / h - 1, (2 * columns + 1) / w - 1
        else:
            x, y = (2 * columns + 1) / w - 1, (2 * rows + 1) / h - 1
        p = torch.stack([x, y], dim=-1).reshape(1, -1, 2).to(theta.dtype)  # (1, H*W, 2)
        a, t = theta[:, :, :2], theta[:, None, :, 2]
        if variant == "forward":
            u = p @ a.transpose(1, 2) + t
        elif variant == "no_translation":
            u = p @ torch.linalg.inv(a).transpose(1, 2)
        elif variant == "translation_after":
            u = p @ torch.linalg.inv(a).transpose(1, 2) - t
        elif variant == "solve":
            u = torch.linalg.solve(a.unsqueeze(1), (p - t).unsqueeze(-1)).squeeze(-1)
        else:
            u = (p - t) @ torch.linalg.inv(a).transpose(1, 2)
        inside = ((u[..., 0].abs() <= 1) & (u[..., 1].abs() <= 1)).to(images.dtype)
        ink = (images[:, 0] if variant == "first_channel" else images.sum(dim=1)).reshape(n, -1)
        if variant == "pixel_count":
            ink = (ink > 0).to(images.dtype)
        if variant == "canvas":
            return inside.mean(dim=1)
        return (ink * inside).sum(dim=1) / ink.sum(dim=1)

    return ink_kept


def test_ink_cases_keep_every_pixel_off_the_regions_border() -> None:
    """No pixel centre lies within 1e-4 of a region's edge, so inv, solve and window_contains agree."""
    for case in lesson06._ink_cases():
        theta, images = case.args
        _, _, h, w = images.shape
        centres = lesson06._pixel_centres((h, w), torch.float64, torch.device("cpu"))
        a, t = theta[:, :, :2].double(), theta[:, :, 2].double()
        u = torch.linalg.solve(a.unsqueeze(1), (centres.unsqueeze(0) - t.unsqueeze(1)).unsqueeze(-1)).squeeze(
            -1
        )
        assert (u.abs().amax(dim=-1) - 1).abs().min() > 1e-4, case.name
        kept = lesson06.ink_kept(theta, images)
        assert kept.dtype == images.dtype and ((kept > 0) & (kept <= 1)).all(), case.name


def test_ink_kept_of_a_centred_zoom_on_a_uniform_image_is_the_regions_area() -> None:
    images = torch.ones(1, 1, 20, 20)
    assert lesson06.ink_kept(geometry.affine_theta(scale=0.5), images).item() == pytest.approx(0.25)
    assert lesson06.ink_kept(geometry.affine_theta(scale=2.0), images).item() == pytest.approx(1.0)


def test_ink_kept_written_with_solve_passes() -> None:
    assert lesson06.check_ink_kept(student_ink_kept("solve"), quiet=True).status is Status.PASSED


@pytest.mark.parametrize(
    ("variant", "diagnosis"),
    [
        ("forward", "do not apply θ to p"),
        ("no_translation", "subtract the translation t before undoing A"),
        ("translation_after", "subtract t first, then apply A⁻¹"),
        ("align_corners", "align_corners=True pixel centres"),
        ("swap_xy", "x runs along the width"),
        ("pixel_count", "you counted the pixels with ink"),
        ("canvas", "the share of the canvas the region covers"),
        ("first_channel", "only the first channel"),
    ],
)
def test_wrong_ink_kept_fails_with_its_diagnosis(variant: str, diagnosis: str) -> None:
    result = failed(lesson06.check_ink_kept, student_ink_kept(variant))
    assert result.status is Status.FAILED
    assert result.first_failure is not None and diagnosis in result.first_failure


def test_ink_kept_returning_none_is_wrong_type() -> None:
    result = failed(lesson06.check_ink_kept, lambda theta, images: None)
    assert result.status is Status.WRONG_TYPE
