"""Checkers for Lesson 06 — reproducing Table 1 of the paper (distorted MNIST, Sec. 4.1).

Three exercises, three checkers, and the reference each is compared with:

* :func:`check_test_error` — ``test_error(model, data)``: the percentage of misclassified digits over every batch
  of ``data``, the number in every cell of Table 1; compared with :func:`test_error` and with
  :func:`stnlib.train.evaluate` (``100 * evaluate(model, data)["error"]``). Diagnoses a fraction instead of a
  percent, the accuracy instead of the error, an average of per-batch errors (uneven batches), a model left in
  training mode (batch norm) and counting only the first batch.
* :func:`check_mean_and_std` — ``mean_and_std(errors)``: the mean and the sample standard deviation (divide by
  ``n - 1``) of the test errors of several seeds; ``nan`` for the spread of a single seed. Compared with
  :func:`mean_and_std` (:mod:`statistics`) and with ``torch.std_mean(..., correction=1)``.
* :func:`check_table1_row` — ``table1_row(model, errors, datasets=("R", "RTS", "P", "E"))``: one Markdown row of
  Table 1, each trained cell as ``"ours (paper)"``, untrained cells ``"—"``; compared cell by cell with
  :func:`table1_row`.

Example (in the lesson)::

    checks.lesson06.check_test_error(test_error)
    test_error = checks.use_or_fallback(test_error, checks.lesson06.test_error)
"""

from __future__ import annotations

import copy
import math
import statistics
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from stnlib.checks._core import (
    CASE_SEED,
    Case,
    CheckResult,
    Comparison,
    Status,
    case_generator,
    check_function,
    compare_tensors,
)
from stnlib.experiments import paper_error
from stnlib.models import build_model
from stnlib.train import evaluate

__all__ = [
    "TABLE1_DATASETS",
    "check_mean_and_std",
    "check_table1_row",
    "check_test_error",
    "mean_and_std",
    "table1_row",
    "test_error",
]

TABLE1_DATASETS: tuple[str, ...] = ("R", "RTS", "P", "E")
"""The columns of Table 1, in the paper's order."""


# --------------------------------------------------------------------------- exercise 1: the test error


def test_error(model: nn.Module, data: Iterable[tuple[Tensor, Tensor]]) -> float:
    """The test error in percent: misclassified samples over all batches of ``data``, as in Table 1.

    The model runs in eval mode (batch norm uses its running statistics, dropout is off) without gradients;
    its previous mode is restored. Wrong predictions are *counted* over all batches and divided by the number
    of samples, so a smaller last batch weighs no more than its samples.

    Args:
        model: a classifier mapping ``x: (N, ...)`` to logits ``(N, classes)``.
        data: an iterable of ``(x, y)`` batches with ``y: (N,)`` class indices (e.g. a ``DistortedMNIST``).

    Returns:
        ``100 * wrong / total`` as a Python float.

    Example:
        >>> model = nn.Linear(2, 2)
        >>> with torch.no_grad():
        ...     _ = model.weight.copy_(torch.eye(2)), model.bias.zero_()
        >>> batches = [(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])), (torch.tensor([[2.0, 1.0]]), torch.tensor([0]))]
        >>> round(test_error(model, batches), 4)
        33.3333
    """
    was_training = model.training
    model.eval()
    wrong = total = 0
    try:
        with torch.no_grad():
            for x, y in data:
                predictions = model(x).argmax(dim=1)
                wrong += int((predictions != y).sum())
                total += y.numel()
    finally:
        model.train(was_training)
    return 100.0 * wrong / total


def _evaluate_percent(model: nn.Module, data: Iterable[tuple[Tensor, Tensor]]) -> float:
    return 100.0 * evaluate(model, data)["error"]


# How reports name it ("compared with ... and 100 * stnlib.train.evaluate(model, data)['error']").
_evaluate_percent.__module__ = ""
_evaluate_percent.__qualname__ = "100 * stnlib.train.evaluate(model, data)['error']"


def _mistakes(model: nn.Module, data: list[tuple[Tensor, Tensor]], training: bool = False) -> list[Tensor]:
    """Per batch, a bool tensor marking the wrong predictions (on a copy of the model, in the chosen mode)."""
    probe = copy.deepcopy(model).train(training)
    with torch.no_grad():
        return [probe(x).argmax(dim=1) != y for x, y in data]


def _labels_with_errors(model: nn.Module, x: Tensor, every: int, classes: int) -> Tensor:
    """Labels that agree with the model's eval-mode prediction except for every ``every``-th sample."""
    with torch.no_grad():
        predictions = model.eval()(x).argmax(dim=1)
    labels = predictions.clone()
    labels[::every] = (labels[::every] + 1) % classes
    return labels


def _batches(x: Tensor, y: Tensor, sizes: Sequence[int]) -> list[tuple[Tensor, Tensor]]:
    return list(zip(x.split(list(sizes)), y.split(list(sizes)), strict=True))


def _batch_norm_model(features: int, classes: int) -> nn.Module:
    """A linear classifier with batch norm whose running statistics differ from any batch's: its predictions
    in training mode (batch statistics) differ from those in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(CASE_SEED)
        model = nn.Sequential(nn.Flatten(), nn.Linear(features, classes), nn.BatchNorm1d(classes))
    norm = model[2]
    assert isinstance(norm, nn.BatchNorm1d)
    norm.running_mean.copy_(torch.linspace(-1.0, 1.0, classes))
    norm.running_var.copy_(torch.linspace(0.2, 3.0, classes))
    return model.eval()


def _test_error_cases() -> list[Case]:
    generator = case_generator()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(CASE_SEED)
        linear = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
        st_fcn = build_model("ST-FCN-Aff", (1, 28, 20))
        linear64 = nn.Sequential(nn.Flatten(), nn.Linear(12, 4)).double()
    x = torch.rand(24, 1, 4, 4, generator=generator)
    y = _labels_with_errors(linear, x, 4, 3)
    x_uneven = torch.rand(23, 1, 4, 4, generator=generator)
    y_uneven = _labels_with_errors(linear, x_uneven, 3, 3)
    y_uneven[-3:] = _labels_with_errors(linear, x_uneven[-3:], 1, 3)  # the small last batch is all wrong
    bn = _batch_norm_model(16, 5)
    x_bn = torch.randn(20, 1, 4, 4, generator=generator)
    y_bn = _labels_with_errors(bn, x_bn, 5, 5)
    x_st = torch.rand(17, 1, 28, 20, generator=generator)
    y_st = _labels_with_errors(st_fcn, x_st, 4, 10)
    x64 = torch.rand(9, 1, 3, 4, generator=generator, dtype=torch.float64)
    y64 = _labels_with_errors(linear64, x64, 2, 4)
    for model in (linear, st_fcn, linear64, bn):
        model.train()  # as after training: test_error must switch to eval mode itself
    return [
        Case("a linear classifier, 3 batches of 8", (linear, _batches(x, y, (8, 8, 8)))),
        Case("uneven batches of 10, 10 and 3 (the last all wrong)", (linear, _batches(x_uneven, y_uneven, (10, 10, 3)))),
        Case("a model with batch norm (eval mode matters), batches of 8, 8, 4", (bn, _batches(x_bn, y_bn, (8, 8, 4)))),
        Case("stnlib's ST-FCN-Aff on 28x20 inputs, batches of 12 and 5", (st_fcn, _batches(x_st, y_st, (12, 5)))),
        Case("float64 model and data, one batch of 9", (linear64, _batches(x64, y64, (9,)))),
    ]  # fmt: skip


def _close_to(actual: Any, value: float) -> bool:
    if isinstance(actual, Tensor) and actual.numel() == 1:
        actual = actual.item()
    return (
        isinstance(actual, (int, float))
        and not isinstance(actual, bool)
        and math.isclose(float(actual), value, rel_tol=1e-6, abs_tol=1e-9)
    )


def _diagnose_test_error(case: Case, actual: Any, expected: Any) -> str | None:
    model, data = case.args
    mistakes = _mistakes(model, data)
    total = sum(m.numel() for m in mistakes)
    per_batch = statistics.fmean(100.0 * float(m.float().mean()) for m in mistakes)
    candidates: list[tuple[Callable[[], float], str]] = [
        (lambda: expected / 100, "this is a fraction; Table 1 reports the error in percent: multiply by 100."),
        (lambda: 100 - expected, "this is the accuracy; the error is the share of *wrong* predictions."),
        (lambda: 1 - expected / 100, "this is the accuracy as a fraction; return the error in percent."),
        (
            lambda: per_batch,
            "you averaged the error of each batch; the last batch is smaller, so it weighs too much. Count the "
            "wrong predictions over all batches and divide by the number of samples.",
        ),
        (
            lambda: 100.0 * sum(int(m.sum()) for m in _mistakes(model, data, training=True)) / total,
            "the model ran in training mode (here batch norm used each batch's statistics): call model.eval() "
            "before predicting, and model.train(was_training) afterwards.",
        ),
        (lambda: 100.0 * float(mistakes[0].float().mean()), "only the first batch was counted: loop over all of data."),
    ]  # fmt: skip
    for value, message in candidates:
        if _close_to(actual, value()) and not _close_to(actual, expected):
            return message
    return None


def check_test_error(student_fn: Callable[..., Any], *, quiet: bool = False) -> CheckResult:
    """Check ``test_error(model, data)``: the test error in percent over all batches of ``data``.

    Compared with :func:`test_error` and with ``100 * stnlib.train.evaluate(model, data)["error"]`` on a linear
    classifier, uneven batches, a batch-norm model (eval mode matters), stnlib's ST-FCN-Aff on non-square inputs
    and a float64 model.
    """
    return check_function(
        "test_error",
        student_fn,
        test_error,
        _test_error_cases(),
        torch_fn=_evaluate_percent,
        diagnose=_diagnose_test_error,
        hint=(
            "switch the model to eval mode, then for every (x, y) in data count (model(x).argmax(dim=1) != y).sum() "
            "and y.numel(); return 100 * wrong / total as a float."
        ),
        quiet=quiet,
    )


# ------------------------------------------------------------------------- exercise 2: mean ± std over seeds


def mean_and_std(errors: Sequence[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation of the test errors of several seeds.

    The paper reports the mean of three runs; the spread says how much of a difference between two models is
    luck. The sample standard deviation divides by ``n - 1`` (Bessel's correction), like :func:`statistics.stdev`
    and ``torch.std``'s default; with one seed there is no spread to measure and it is ``nan``.

    Args:
        errors: test errors (%) of one model on one dataset, one per seed; at least one.

    Returns:
        ``(mean, std)`` as Python floats.

    Example:
        >>> mean, std = mean_and_std([0.5, 0.7, 0.6])
        >>> round(mean, 6), round(std, 6)
        (0.6, 0.1)
        >>> mean_and_std([0.8])
        (0.8, nan)
    """
    values = [float(e) for e in errors]
    if not values:
        raise ValueError("errors is empty: pass the test error of at least one seed")
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else math.nan)


def _torch_mean_and_std(errors: Sequence[float]) -> tuple[float, float]:
    with warnings.catch_warnings():  # one value: torch warns that there are no degrees of freedom, gives nan
        warnings.simplefilter("ignore")
        std, mean = torch.std_mean(torch.tensor(list(errors), dtype=torch.float64), correction=1)
    return float(mean), float(std)


_torch_mean_and_std.__module__ = ""
_torch_mean_and_std.__qualname__ = "torch.std_mean(..., correction=1)"


def _mean_std_cases() -> list[Case]:
    return [
        Case("three seeds, like the paper", ([0.52, 0.61, 0.47],)),
        Case("two seeds", ([9.34, 8.1],)),
        Case("five seeds, as a tuple", ((28.0, 26.4, 27.1, 29.9, 25.5),)),
        Case("identical errors: no spread", ([1.2, 1.2, 1.2],)),
        Case("integers", ([1, 2, 4],)),
        Case("one seed: the spread is unknown (nan)", ([0.8],)),
    ]


def _compare_pair(actual: Any, expected: tuple[float, float]) -> Comparison:
    if isinstance(actual, (tuple, list)) and len(actual) == 2:
        actual = tuple(a.item() if isinstance(a, Tensor) and a.numel() == 1 else a for a in actual)
    return compare_tensors(actual, expected, name="(mean, std)")


def _diagnose_mean_std(case: Case, actual: Any, expected: Any) -> str | None:
    values = [float(e) for e in case.args[0]]
    mean = statistics.fmean(values)
    if not (isinstance(actual, (tuple, list)) and len(actual) == 2):
        return None
    got_mean, got_std = (a.item() if isinstance(a, Tensor) and a.numel() == 1 else a for a in actual)
    if not all(isinstance(v, (int, float)) for v in (got_mean, got_std)):
        return None
    if len(values) == 1:
        if got_std == 0:
            return "with one seed the spread is unknown, not zero: return nan (torch.std does the same)."
        return "with one seed there is no spread to measure: return (the value, float('nan'))."
    if _close_to(got_mean, expected[1]) and _close_to(got_std, mean):
        return "mean and std are swapped (torch.std_mean returns (std, mean)!); return (mean, std)."
    if _close_to(got_std, statistics.pstdev(values)):
        return (
            "this is the population standard deviation (divided by n); the spread of a few seeds is estimated "
            "with n - 1 (Bessel's correction), like statistics.stdev and torch.std's default."
        )
    if _close_to(got_std, statistics.variance(values)):
        return "this is the variance: take its square root."
    return None


def check_mean_and_std(student_fn: Callable[..., Any], *, quiet: bool = False) -> CheckResult:
    """Check ``mean_and_std(errors)``: ``(mean, sample std)`` of the errors of several seeds, ``nan`` std for one.

    Compared with :func:`mean_and_std` and with ``torch.std_mean(..., correction=1)`` on three, two and five
    seeds, identical values, integers and a single seed.
    """
    return check_function(
        "mean_and_std",
        student_fn,
        mean_and_std,
        _mean_std_cases(),
        torch_fn=_torch_mean_and_std,
        compare=_compare_pair,
        diagnose=_diagnose_mean_std,
        hint=(
            "mean = sum / n; std = sqrt(sum((e - mean)**2) / (n - 1)), and float('nan') when n == 1. "
            "statistics.fmean and statistics.stdev do it for you. Return the pair (mean, std)."
        ),
        quiet=quiet,
    )


# ---------------------------------------------------------------------------- exercise 3: a row of Table 1


def _format_cell(model: str, dataset: str, errors: Sequence[float]) -> str:
    mean, std = mean_and_std(errors)
    ours = f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} ± {std:.2f}"
    return f"{ours} ({paper_error(model, dataset):g})"


def table1_row(
    model: str, errors: Mapping[str, Sequence[float]], datasets: Sequence[str] = TABLE1_DATASETS
) -> str:
    """One row of Table 1 in Markdown: our error (mean ± std over seeds) beside the paper's, per dataset.

    A trained cell reads ``"0.62 ± 0.05 (0.5)"``: our mean and sample standard deviation (:func:`mean_and_std`)
    with two decimals, then the paper's error (:func:`stnlib.experiments.paper_error`, printed with ``:g``) in
    brackets; with one seed only the mean is shown (``"9.34 (1.2)"``). A dataset not in ``errors`` was not
    trained and reads ``"—"``. The columns follow ``datasets``, whatever the order of ``errors``.

    Args:
        model: a model of Table 1, e.g. ``"ST-CNN-Aff"``.
        errors: ``{dataset: [test error % of each seed]}`` for the datasets that were trained.
        datasets: the table's columns.

    Returns:
        ``"| model | cell | cell | ... |"``.

    Example:
        >>> table1_row("ST-CNN-Aff", {"RTS": [0.7, 0.5], "R": [1.1]})
        '| ST-CNN-Aff | 1.10 (0.7) | 0.60 ± 0.14 (0.5) | — | — |'
    """
    cells = [model]
    for dataset in datasets:
        cells.append(_format_cell(model, dataset, errors[dataset]) if dataset in errors else "—")
    return "| " + " | ".join(cells) + " |"


def _cells(row: str) -> list[str]:
    text = row.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|"):
        text = text[:-1]
    return [" ".join(cell.split()) for cell in text.split("|")]


def _compare_rows(actual: Any, expected: str) -> Comparison:
    if not isinstance(actual, str):
        return Comparison(
            Status.WRONG_TYPE,
            f"the row should be a str such as {expected!r}; got {type(actual).__name__}"
            + (": did your function forget to `return` it?" if actual is None else "."),
        )
    text = actual.strip()
    if "\n" in text:
        return Comparison(Status.FAILED, "the row spans several lines; a Markdown table row is one line.")
    if not (text.startswith("|") and text.endswith("|")):
        return Comparison(Status.FAILED, f"a Markdown row starts and ends with '|'; got {actual!r}.")
    got, want = _cells(text), _cells(expected)
    if len(got) != len(want):
        return Comparison(
            Status.FAILED,
            f"the row has {len(got)} cells; expected {len(want)} (the model, then one per dataset).",
        )
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if g != w:
            return Comparison(Status.FAILED, f"cell {i + 1} is {g!r}; expected {w!r}. Yours: {actual!r}")
    return Comparison(Status.PASSED)


def _diagnose_row(case: Case, actual: Any, expected: Any) -> str | None:
    if not isinstance(actual, str):
        return None
    model, errors = case.args[:2]
    datasets = case.args[2] if len(case.args) > 2 else TABLE1_DATASETS
    got = _cells(actual.strip())
    in_dict_order = ["| " + " | ".join([model, *(_format_cell(model, d, errors[d]) for d in errors)]) + " |"]
    if got == _cells(in_dict_order[0]):
        return "the cells follow the order of `errors`; loop over `datasets` instead (the table's columns)."
    if any("nan" in cell for cell in got):
        return "a single seed has no standard deviation (nan): print only the mean for it."
    if any(cell in ("", "-", "–", "nan", "None", "NaN") for cell in got[1:]):
        return "an untrained dataset (not in `errors`) reads '—' (an em dash)."
    if any("(" not in cell for cell in got[1:] if cell != "—"):
        return "every trained cell ends with the paper's number in brackets: paper_error(model, dataset)."
    population = []
    for d in datasets:
        values = errors.get(d)
        if values is None:
            population.append("—")
            continue
        mean, std = statistics.fmean(values), statistics.pstdev(values)
        ours = f"{mean:.2f}" if len(values) == 1 else f"{mean:.2f} ± {std:.2f}"
        population.append(f"{ours} ({paper_error(model, d):g})")
    if got == [model, *population]:
        return "the ± uses the population std (n); use mean_and_std's sample std (n - 1)."
    return None


def _row_cases() -> list[Case]:
    return [
        Case("ST-CNN-Aff: R with three seeds, RTS with one", ("ST-CNN-Aff", {"R": [0.61, 0.74, 0.69], "RTS": [0.55]})),
        Case("FCN on all four datasets, one seed each", ("FCN", {"R": [28.0], "RTS": [31.56], "P": [12.5], "E": [14.25]})),
        Case("`errors` in another order than the columns", ("ST-FCN-TPS", {"E": [2.5, 2.9], "R": [1.05, 1.15]})),
        Case("CNN on P only, two seeds", ("CNN", {"P": [1.6, 1.4]})),
        Case("columns RTS, R (a custom order)", ("ST-CNN-Proj", {"R": [0.9, 0.8, 0.85], "RTS": [0.6]}, ("RTS", "R"))),
    ]  # fmt: skip


def check_table1_row(student_fn: Callable[..., Any], *, quiet: bool = False) -> CheckResult:
    """Check ``table1_row(model, errors, datasets=("R", "RTS", "P", "E"))``: one Markdown row of Table 1.

    Compared cell by cell (spaces inside a cell do not matter) with :func:`table1_row`: several seeds and one
    seed, all four datasets, ``errors`` in another order than the columns, and a custom column order.
    """
    return check_function(
        "table1_row",
        student_fn,
        table1_row,
        _row_cases(),
        compare=_compare_rows,
        diagnose=_diagnose_row,
        hint=(
            "for each dataset in `datasets`: '—' if it is not in errors, else mean_and_std(errors[dataset]) as "
            "f'{mean:.2f} ± {std:.2f}' (only f'{mean:.2f}' when std is nan) followed by "
            "f' ({paper_error(model, dataset):g})'. Join model and cells with ' | ' between '| ' and ' |'."
        ),
        quiet=quiet,
    )
