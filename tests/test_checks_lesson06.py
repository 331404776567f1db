"""The checkers of Lesson 06 (reproducing Table 1): the references pass and agree with stnlib.train.evaluate,
statistics / torch.std_mean and stnlib.experiments; typical wrong answers fail with the expected status and the
diagnosis aimed at that mistake; unfinished exercises report "not implemented"."""

from __future__ import annotations

import doctest
import math
import statistics
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from stnlib.checks import CheckFailed, CheckResult, Status, lesson06, use_or_fallback
from stnlib.experiments import paper_error, paper_results
from stnlib.models import build_model
from stnlib.train import evaluate


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
        (lesson06.check_test_error, lesson06.test_error),
        (lesson06.check_mean_and_std, lesson06.mean_and_std),
        (lesson06.check_table1_row, lesson06.table1_row),
    ],
)
def test_reference_passes_and_stub_is_not_implemented(
    checker: Callable[..., CheckResult], reference: Any
) -> None:
    result = checker(reference, quiet=True)
    assert result.status is Status.PASSED and result.passed == result.total >= 5
    stub = checker(not_implemented, quiet=True)
    assert stub.status is Status.NOT_IMPLEMENTED
    assert use_or_fallback(not_implemented, reference) is reference


# ------------------------------------------------------------------------------------------- test_error


def student_test_error(variant: str) -> Callable[..., Any]:
    """A student's test_error with one typical mistake."""

    def test_error(model: nn.Module, data: Any) -> Any:
        if variant != "train_mode":
            model.eval()
        rates, wrong, total = [], 0, 0
        with torch.no_grad():
            for i, (x, y) in enumerate(data):
                if variant == "first_batch" and i > 0:
                    break
                hits = model(x).argmax(dim=1) == y
                wrong += int((~hits).sum())
                total += y.numel()
                rates.append(float((~hits).float().mean()))
        error = 100.0 * wrong / total
        if variant == "fraction":
            return error / 100
        if variant == "accuracy":
            return 100.0 - error
        if variant == "batch_mean":
            return 100.0 * statistics.fmean(rates)
        if variant == "tensor":
            return torch.tensor(error, dtype=torch.float64)
        return error

    return test_error


def test_reference_test_error_matches_evaluate_on_an_stnlib_model() -> None:
    generator = torch.Generator().manual_seed(0)
    model = build_model("CNN", (1, 30, 26))
    x = torch.rand(13, 1, 30, 26, generator=generator)
    y = torch.randint(0, 10, (13,), generator=generator)
    data = [(x[:8], y[:8]), (x[8:], y[8:])]
    model.train()
    assert lesson06.test_error(model, data) == pytest.approx(100 * evaluate(model, data)["error"])
    assert model.training  # the mode is restored


def test_cases_tell_the_mistakes_apart() -> None:
    """Each mistake changes the number on at least one case (otherwise its diagnosis could never fire)."""
    cases = lesson06._test_error_cases()
    for variant in ("fraction", "accuracy", "batch_mean", "train_mode", "first_batch"):
        wrong = student_test_error(variant)
        assert any(
            not math.isclose(wrong(*c.args), lesson06.test_error(*c.args), abs_tol=1e-9) for c in cases
        ), variant
    for case in cases:  # errors strictly between 0 and 100 %: neither "all right" nor "all wrong"
        assert 0 < lesson06.test_error(*case.args) < 100, case.name


@pytest.mark.parametrize(
    ("variant", "diagnosis"),
    [
        ("fraction", "multiply by 100"),
        ("accuracy", "accuracy"),
        ("batch_mean", "averaged the error of each batch"),
        ("train_mode", "model.eval()"),
        ("first_batch", "first batch"),
    ],
)
def test_wrong_test_error_fails_with_its_diagnosis(variant: str, diagnosis: str) -> None:
    result = failed(lesson06.check_test_error, student_test_error(variant))
    assert result.status is Status.FAILED
    assert result.first_failure is not None and diagnosis in result.first_failure


def test_test_error_may_return_a_scalar_tensor() -> None:
    assert lesson06.check_test_error(student_test_error("tensor"), quiet=True).status is Status.PASSED


def test_test_error_returning_none_is_wrong_type() -> None:
    result = failed(lesson06.check_test_error, lambda model, data: None)
    assert result.status is Status.WRONG_TYPE


# ----------------------------------------------------------------------------------------- mean_and_std


def student_mean_and_std(variant: str) -> Callable[..., Any]:
    def mean_and_std(errors: Any) -> Any:
        values = torch.tensor([float(e) for e in errors], dtype=torch.float64)
        mean = values.mean().item()
        if variant == "population":
            return mean, values.std(correction=0).item()
        if variant == "variance":
            return mean, values.var().item() if len(values) > 1 else math.nan
        if variant == "zero_for_one":
            return mean, values.std().item() if len(values) > 1 else 0.0
        if variant == "swapped":
            std, mean_t = torch.std_mean(values, correction=1 if len(values) > 1 else 0)
            return std.item(), mean_t.item()
        if variant == "tensors":
            std, mean_t = torch.std_mean(values)
            return mean_t, std
        return mean, values.std().item()

    return mean_and_std


def test_mean_and_std_agrees_with_torch_and_statistics() -> None:
    values = [0.52, 0.61, 0.47, 0.66]
    mean, std = lesson06.mean_and_std(values)
    t_std, t_mean = torch.std_mean(torch.tensor(values, dtype=torch.float64))
    assert mean == pytest.approx(t_mean.item()) and std == pytest.approx(t_std.item())
    assert std == pytest.approx(statistics.stdev(values))
    assert math.isnan(lesson06.mean_and_std([3.0])[1])
    with pytest.raises(ValueError, match="at least one"):
        lesson06.mean_and_std([])


@pytest.mark.parametrize(
    ("variant", "diagnosis"),
    [
        ("population", "n - 1"),
        ("variance", "square root"),
        ("zero_for_one", "unknown, not zero"),
        ("swapped", "swapped"),
    ],
)
def test_wrong_mean_and_std_fails_with_its_diagnosis(variant: str, diagnosis: str) -> None:
    result = failed(lesson06.check_mean_and_std, student_mean_and_std(variant))
    assert result.status is Status.FAILED
    assert result.first_failure is not None and diagnosis in result.first_failure


def test_mean_and_std_may_return_scalar_tensors() -> None:
    # torch.std_mean's nan for one value (with a warning) is the expected answer there
    with pytest.warns(UserWarning):
        result = lesson06.check_mean_and_std(student_mean_and_std("tensors"), quiet=True)
    assert result.status is Status.PASSED


def test_mean_and_std_returning_one_number_is_wrong_type() -> None:
    result = failed(lesson06.check_mean_and_std, lambda errors: sum(errors) / len(errors))
    assert result.status is Status.WRONG_TYPE


# ------------------------------------------------------------------------------------------ table1_row


def student_table1_row(variant: str) -> Callable[..., Any]:
    def table1_row(model: str, errors: Any, datasets: Any = ("R", "RTS", "P", "E")) -> Any:
        columns = list(errors) if variant == "dict_order" else list(datasets)
        cells = [model]
        for dataset in columns:
            if dataset not in errors:
                cells.append("-" if variant == "hyphen" else "—")
                continue
            values = errors[dataset]
            mean = statistics.fmean(values)
            if len(values) > 1:
                std = statistics.pstdev(values) if variant == "population" else statistics.stdev(values)
            else:
                std = math.nan
            if variant == "always_std" or not math.isnan(std):
                ours = f"{mean:.2f} ± {std:.2f}"
            else:
                ours = f"{mean:.2f}"
            paper = "" if variant == "no_paper" else f" ({paper_error(model, dataset):g})"
            cells.append(ours + paper)
        if variant == "no_pipes":
            return " | ".join(cells)
        if variant == "spaces":
            return "|" + "|".join(f"  {c}   " for c in cells) + "|"
        return "| " + " | ".join(cells) + " |"

    return table1_row


def test_table1_row_uses_the_papers_numbers() -> None:
    row = lesson06.table1_row("ST-CNN-TPS", {"E": [1.0, 1.5], "R": [0.9]})
    table = paper_results()
    assert (
        row
        == f"| ST-CNN-TPS | 0.90 ({table['R']['ST-CNN-TPS']:g}) | — | — | 1.25 ± 0.35 ({table['E']['ST-CNN-TPS']:g}) |"
    )


def test_spaces_inside_cells_do_not_matter() -> None:
    assert lesson06.check_table1_row(student_table1_row("spaces"), quiet=True).status is Status.PASSED


@pytest.mark.parametrize(
    ("variant", "diagnosis"),
    [
        ("dict_order", "order of `errors`"),
        ("always_std", "nan"),
        ("no_paper", "paper's number"),
        ("hyphen", "em dash"),
        ("population", "population std"),
        ("no_pipes", "starts and ends with '|'"),
    ],
)
def test_wrong_table1_row_fails_with_its_diagnosis(variant: str, diagnosis: str) -> None:
    result = failed(lesson06.check_table1_row, student_table1_row(variant))
    assert result.status is Status.FAILED
    assert result.first_failure is not None and diagnosis in result.first_failure


def test_table1_row_returning_none_is_wrong_type() -> None:
    result = failed(lesson06.check_table1_row, lambda model, errors, datasets=None: None)
    assert result.status is Status.WRONG_TYPE
    assert "return" in (result.first_failure or "")
