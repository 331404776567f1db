"""Checkers for Lesson 06 — reproducing Table 1 of the paper (distorted MNIST, Sec. 4.1): testing the paper's
claims on a table of test errors, and reading from θ what a trained transformer does.

* :func:`check_ordering_verdicts` — which of the paper's orderings a table of test errors shows, per dataset.
* :func:`check_theta_stats` — the scale, closest rotation and shift of each affine θ.
* :func:`check_ink_kept` — the share of each image's ink inside the region its θ samples.

Example (in the lesson)::

    checks.lesson06.check_theta_stats(theta_stats)
    theta_stats = checks.use_or_fallback(theta_stats, checks.lesson06.theta_stats)
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from stnlib import geometry
from stnlib.checks._core import (
    Candidate,
    Case,
    Comparison,
    Exercise,
    Status,
    case_generator,
    close_for_dtype,
    compare_tensors,
    first_matching_message,
    reported_as,
)
from stnlib.experiments import paper_results
from stnlib.probes import rotation_degrees, window_contains, window_side

__all__ = [
    "PAPER_CLAIMS",
    "TABLE1_DATASETS",
    "check_ink_kept",
    "check_ordering_verdicts",
    "check_theta_stats",
    "ink_kept",
    "ordering_verdicts",
    "theta_stats",
]

TABLE1_DATASETS: tuple[str, ...] = ("R", "RTS", "P", "E")
"""The columns of Table 1, in the paper's order."""

PAPER_CLAIMS: dict[str, tuple[tuple[str, str], ...]] = {
    "ST-CNN-Aff < CNN < FCN": (("ST-CNN-Aff", "CNN"), ("CNN", "FCN")),
    "every ST-FCN < FCN": (("ST-FCN-Aff", "FCN"), ("ST-FCN-Proj", "FCN"), ("ST-FCN-TPS", "FCN")),
}
"""The orderings Table 1 shows in every column, as pairs ``(lower error, higher error)`` (the claims of
:func:`stnlib.pretrained.targets.table1_targets`)."""

Table = Mapping[str, Mapping[str, float]]
Claims = Mapping[str, Sequence[tuple[str, str]]]


# ----------------------------------------------------------------------- exercise 1: the paper's ordering


def ordering_verdicts(
    errors: Table, claims: Claims, datasets: Sequence[str] = TABLE1_DATASETS
) -> dict[str, dict[str, bool | None]]:
    """Which claims of the paper a table of test errors shows, per dataset.

    A claim is a list of pairs ``(lower, higher)`` of models; on a dataset it holds when, for every pair,
    ``errors[lower][dataset] < errors[higher][dataset]`` — strictly: a tie is not an ordering. If a cell that
    one of its pairs needs is missing (the model is not in ``errors``, or has no error for the dataset), the
    table cannot tell: the verdict is ``None``, "not measured", which is neither a success nor a failure. This is
    the rule :mod:`stnlib.pretrained.targets` applies to the model zoo.

    Args:
        errors: ``{model: {dataset: test error %}}``; any subset of the cells.
        claims: ``{name: [(lower, higher), ...]}``, e.g. :data:`PAPER_CLAIMS`.
        datasets: the columns to judge; every one gets an entry, trained or not.

    Returns:
        ``{dataset: {claim name: True | False | None}}``.

    Example:
        >>> table = {"FCN": {"R": 2.1}, "CNN": {"R": 1.2}, "ST-CNN-Aff": {"R": 0.7}}
        >>> ordering_verdicts(table, {"ST-CNN-Aff < CNN < FCN": [("ST-CNN-Aff", "CNN"), ("CNN", "FCN")]}, ("R", "E"))
        {'R': {'ST-CNN-Aff < CNN < FCN': True}, 'E': {'ST-CNN-Aff < CNN < FCN': None}}
    """
    return _verdicts(errors, claims, datasets)


def _verdicts(
    errors: Table,
    claims: Claims,
    datasets: Sequence[str],
    *,
    lower_than: Callable[[float, float], bool] = operator.lt,
    missing: str = "none",
    first_pair_only: bool = False,
) -> dict[str, dict[str, bool | None]]:
    """:func:`ordering_verdicts`; the keywords, changed from their defaults, make the usual mistakes: another
    comparison, a claim with a missing cell judged ``False`` (``missing="false"``) or on its other pairs
    (``"skip"``), only its first pair checked."""
    verdicts: dict[str, dict[str, bool | None]] = {}
    for dataset in datasets:
        verdicts[dataset] = {}
        for name, pairs in claims.items():
            checked = list(pairs)[:1] if first_pair_only else list(pairs)
            known = [
                (lo, hi)
                for lo, hi in checked
                if dataset in errors.get(lo, {}) and dataset in errors.get(hi, {})
            ]
            if len(known) < len(checked) and missing != "skip":
                verdicts[dataset][name] = None if missing == "none" else False
                continue
            verdicts[dataset][name] = all(
                lower_than(errors[lo][dataset], errors[hi][dataset]) for lo, hi in known
            )
    return verdicts


def _table1_errors() -> dict[str, dict[str, float]]:
    """The paper's Table 1 as ``{model: {dataset: error}}``."""
    table: dict[str, dict[str, float]] = {}
    for dataset, row in paper_results().items():
        if dataset in TABLE1_DATASETS:
            for model, error in row.items():
                table.setdefault(model, {})[dataset] = error
    return table


def _changed(table: Table, cells: Mapping[tuple[str, str], float]) -> dict[str, dict[str, float]]:
    """A copy of ``table`` with the cells ``{(model, dataset): error}`` changed."""
    copy = {model: dict(row) for model, row in table.items()}
    for (model, dataset), error in cells.items():
        copy[model][dataset] = error
    return copy


def _ordering_cases() -> list[Case]:
    paper = _table1_errors()
    ties = _changed(
        paper, {("ST-CNN-Aff", "RTS"): paper["CNN"]["RTS"], ("ST-FCN-Aff", "P"): paper["FCN"]["P"]}
    )
    fails = _changed(paper, {("ST-CNN-Aff", "R"): 1.5, ("ST-FCN-TPS", "E"): 3.5})
    short_run = {  # a cpu-budget run: R only, the four models it trains
        "FCN": {"R": 26.09},
        "CNN": {"R": 9.34},
        "ST-FCN-Aff": {"R": 21.07},
        "ST-CNN-Aff": {"R": 8.02},
    }
    zoo_like = {model: {d: e for d, e in row.items() if d != "P"} for model, row in paper.items()}
    del zoo_like["ST-CNN-Proj"]["E"]
    own_claims = {
        "TPS best of the ST-CNNs": [("ST-CNN-TPS", "ST-CNN-Aff"), ("ST-CNN-TPS", "ST-CNN-Proj")],
        "ST-CNN-Aff < ST-FCN-Aff": [("ST-CNN-Aff", "ST-FCN-Aff")],
    }
    claims = {name: list(pairs) for name, pairs in PAPER_CLAIMS.items()}
    return [
        Case("the paper's Table 1: every claim holds", (paper, claims, TABLE1_DATASETS)),
        Case("ties: ST-CNN-Aff = CNN on RTS, ST-FCN-Aff = FCN on P", (ties, claims, TABLE1_DATASETS)),
        Case("orderings that fail: ST-CNN-Aff above the CNN on R, ST-FCN-TPS above the FCN on E", (fails, claims, TABLE1_DATASETS)),
        Case("a short run's table: R only, four models (missing cells)", (short_run, claims, TABLE1_DATASETS)),
        Case("claims of our own on columns E, P and R; P not trained, ST-CNN-Proj missing on E", (zoo_like, own_claims, ("E", "P", "R"))),
    ]  # fmt: skip


def _as_verdict(value: Any) -> tuple[bool, bool | None]:
    """``(valid, verdict)``: ``None``, a bool, a NumPy bool or a one-element bool tensor."""
    if value is None or isinstance(value, bool):
        return True, value
    if isinstance(value, Tensor) and value.numel() == 1 and value.dtype == torch.bool:
        return True, bool(value)
    if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):  # NumPy's bools
        return True, bool(value)
    return False, None


def _same_verdicts(actual: Any, expected: Mapping[str, Mapping[str, bool | None]]) -> bool:
    return _compare_verdicts(actual, expected).ok


def _compare_verdicts(actual: Any, expected: Mapping[str, Mapping[str, bool | None]]) -> Comparison:
    if not isinstance(actual, Mapping):
        return Comparison(
            Status.WRONG_TYPE,
            f"the result should be a dict {{dataset: {{claim: verdict}}}}; got {type(actual).__name__}"
            + (": did your function forget to `return` it?" if actual is None else "."),
        )
    absent = [d for d in expected if d not in actual]
    extra = [d for d in actual if d not in expected]
    if absent or extra:
        parts = ([f"no entry for dataset(s) {', '.join(map(repr, absent))}"] if absent else []) + (
            [f"unexpected key(s) {', '.join(map(repr, extra))}"] if extra else []
        )
        return Comparison(
            Status.FAILED, f"{'; '.join(parts)}. The keys are the datasets of `datasets`: {list(expected)}."
        )
    for dataset, row in expected.items():
        got = actual[dataset]
        if not isinstance(got, Mapping):
            return Comparison(
                Status.WRONG_TYPE,
                f"result[{dataset!r}] should be a dict {{claim: verdict}}; got {type(got).__name__}.",
            )
        if set(got) != set(row):
            return Comparison(
                Status.FAILED, f"result[{dataset!r}] has the claims {sorted(got)}; expected {sorted(row)}."
            )
        for claim, verdict in row.items():
            valid, value = _as_verdict(got[claim])
            if not valid:
                return Comparison(
                    Status.WRONG_TYPE,
                    f"a verdict is True, False or None; result[{dataset!r}][{claim!r}] is {got[claim]!r}.",
                )
            if value is not verdict:
                return Comparison(
                    Status.FAILED, f"result[{dataset!r}][{claim!r}] is {value}; expected {verdict}."
                )
    return Comparison(Status.PASSED)


def _diagnose_ordering(case: Case, actual: Any, expected: Any) -> str | None:
    errors, claims, datasets = case.args
    if isinstance(actual, Mapping) and set(actual) == set(claims) and set(claims) != set(datasets):
        return "the result is keyed by dataset first, {dataset: {claim: verdict}}; yours is keyed by claim."
    trained = {d for d in datasets if any(d in row for row in errors.values())}
    if isinstance(actual, Mapping) and set(actual) == trained != set(datasets):
        return (
            "every dataset of `datasets` gets an entry, also a column nobody trained (its verdicts are None)."
        )
    candidates: list[Candidate] = [
        (
            lambda: _verdicts(errors, claims, datasets, lower_than=operator.le),
            "a tie counts as not ordered: the paper's claim is a *lower* error, so compare with <, not <=.",
        ),
        (
            lambda: _verdicts(errors, claims, datasets, lower_than=operator.gt),
            "the comparison runs the wrong way: a pair (lower, higher) holds when errors[lower][dataset] < "
            "errors[higher][dataset] — a lower error is better.",
        ),
        (
            lambda: _verdicts(errors, claims, datasets, missing="false"),
            "a missing cell is not a failure: when a model the claim needs has no error for the dataset, the "
            "table cannot tell, and the verdict is None.",
        ),
        (
            lambda: _verdicts(errors, claims, datasets, missing="skip"),
            "you skipped the pairs with a missing cell and judged the rest; a claim with a missing cell is not "
            "measured: its verdict is None.",
        ),
        (
            lambda: _verdicts(errors, claims, datasets, first_pair_only=True),
            "only the first pair of each claim was checked: a claim holds when every one of its pairs is ordered.",
        ),
    ]
    return first_matching_message(actual, candidates, _same_verdicts, expected=expected)


check_ordering_verdicts = Exercise(
    "ordering_verdicts",
    ordering_verdicts,
    _ordering_cases,
    compare=_compare_verdicts,
    diagnose=_diagnose_ordering,
    hint=(
        "for each dataset in `datasets` and each (name, pairs) in claims: None if any model of the pairs "
        "lacks a cell for the dataset (`dataset not in errors.get(model, {})`), else "
        "all(errors[lower][dataset] < errors[higher][dataset] for lower, higher in pairs)."
    ),
).checker(
    """Check ``ordering_verdicts(errors, claims, datasets)``: ``{dataset: {claim: True | False | None}}``.

    Compared with :func:`ordering_verdicts`: a tie is not an ordering, and a claim with a missing cell is
    ``None``.
    """
)


# -------------------------------------------------------------------------- exercise 2: θ statistics


def theta_stats(theta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """What each affine θ does: its scale, the angle of its closest rotation, and its shift.

    ``θ = [A | t]`` maps output coordinates to input coordinates (eq. 1), so the output's square ``[-1, 1]²``
    samples a parallelogram of the input, of area ``|det A|`` times the input's: its side, the **scale**
    ``sqrt(|det A|)``, is below 1 when the transformer zooms in. The **angle** of the rotation closest to ``A``
    is ``atan2(a21 - a12, a11 + a22)`` — for ``A = s R(φ)`` it is ``φ``; it uses both columns of ``A``, where
    ``atan2(a21, a11)`` follows only the first, which a shear or a mirror tilts. The **shift** ``t`` is where
    the output's centre samples the input (normalised coordinates, ``(0, 0)`` the input's centre).

    Args:
        theta: ``(N, 2, 3)``.

    Returns:
        ``(scale, degrees, shift)``: ``(N,)``, ``(N,)`` in (-180, 180], ``(N, 2)`` as ``(t_x, t_y)``, in θ's dtype.

    Example:
        >>> import math
        >>> theta = geometry.affine_theta(rotation=math.radians(30), scale=0.5, translation=(0.2, -0.1))
        >>> scale, degrees, shift = theta_stats(theta)
        >>> round(scale.item(), 4), round(degrees.item(), 4), shift
        (0.5, 30.0, tensor([[ 0.2000, -0.1000]]))
    """
    a11, a12, a21, a22 = theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1]
    scale = (a11 * a22 - a12 * a21).abs().sqrt()
    degrees = torch.rad2deg(torch.atan2(a21 - a12, a11 + a22))
    return scale, degrees, theta[:, :, 2]


@reported_as("stnlib.probes.window_side, rotation_degrees")
def _probes_theta_stats(theta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    return window_side(theta), rotation_degrees(theta), theta[:, :, 2]


def _thetas(
    degrees: Sequence[float],
    scale: Sequence[tuple[float, float]],
    shear: Sequence[float],
    shift: Sequence[tuple[float, float]],
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    return geometry.affine_theta(
        rotation=torch.deg2rad(torch.tensor(degrees, dtype=dtype)),
        scale=torch.tensor(scale, dtype=dtype),
        shear=torch.tensor(shear, dtype=dtype),
        translation=torch.tensor(shift, dtype=dtype),
    )


def _theta_cases() -> list[Case]:
    generator = case_generator(6)
    near_identity = torch.eye(2, 3) + 0.15 * torch.randn(7, 2, 3, generator=generator)
    return [
        Case("pure turns by 0°, 30°, -75° and 150°", (_thetas([0, 30, -75, 150], [(1, 1)] * 4, [0] * 4, [(0, 0)] * 4),)),
        Case("zooms 0.5, 0.8 and 1.25 with turns and shifts", (_thetas([10, -40, 95], [(0.5, 0.5), (0.8, 0.8), (1.25, 1.25)], [0] * 3, [(0.3, -0.2), (-0.5, 0.1), (0.0, 0.4)]),)),
        Case("uneven scales and shears", (_thetas([20, -60, 5], [(0.6, 0.9), (1.1, 0.7), (0.8, 0.8)], [0.3, -0.4, 0.6], [(0.1, 0.1), (-0.2, 0.3), (0.25, -0.35)]),)),
        Case("mirrored θ (det A < 0)", (_thetas([35, -110], [(-0.5, 0.9), (0.7, -1.2)], [0.0, 0.2], [(0.2, 0.0), (-0.1, -0.3)]),)),
        Case("7 random θ near the identity, like a trained transformer's", (near_identity,)),
        Case("float64", (_thetas([-25, 170], [(0.75, 0.7), (1.0, 0.9)], [0.1, 0.0], [(0.05, -0.4), (0.6, 0.2)], torch.float64),)),
    ]  # fmt: skip


_STAT_NAMES = ("the scale", "the angle (degrees)", "the shift")


def _compare_stats(actual: Any, expected: tuple[Tensor, Tensor, Tensor]) -> Comparison:
    if not isinstance(actual, (tuple, list)) or len(actual) != 3:
        return Comparison(
            Status.WRONG_TYPE,
            "return the three results as a tuple (scale, degrees, shift); got "
            + (
                "None: did your function forget to `return` them?"
                if actual is None
                else f"a {type(actual).__name__}"
            )
            + (f" of {len(actual)} items." if isinstance(actual, (tuple, list)) else "."),
        )
    worst = Comparison(Status.PASSED, max_error=0.0)
    for got, want, name in zip(actual, expected, _STAT_NAMES, strict=True):
        comparison = compare_tensors(got, want, name=name)
        if not comparison.ok:
            return comparison
        if (comparison.max_error or 0.0) > (worst.max_error or 0.0):
            worst = comparison
    return worst


def _nan_where_mirrored(actual: Any, expected: Tensor, det: Tensor) -> bool:
    if not isinstance(actual, Tensor) or actual.shape != expected.shape:
        return False
    mirrored = det < 0
    return (
        bool(mirrored.any())
        and bool(torch.isnan(actual[mirrored]).all())
        and close_for_dtype(actual[~mirrored], expected[~mirrored])
    )


def _diagnose_theta_stats(case: Case, actual: Any, expected: Any) -> str | None:
    if not isinstance(actual, (tuple, list)) or len(actual) != 3:
        return None
    (theta,) = case.args
    a11, a12, a21, a22 = theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1]
    det = a11 * a22 - a12 * a21
    scale, degrees, shift = actual
    if not close_for_dtype(scale, expected[0]):
        if _nan_where_mirrored(scale, expected[0], det):
            return "a mirrored θ has det A < 0, and its square root is nan: take the square root of |det A|."
        return first_matching_message(
            scale,
            [
                (lambda: det.abs(), "you returned the area, not the scale: take the square root of |det A|."),
                (
                    lambda: 1 / det.abs().sqrt(),
                    "this is the zoom, 1 / scale; return the side of the sampled region, sqrt(|det A|) (the "
                    "lesson prints the zoom itself).",
                ),
                (
                    lambda: torch.sqrt(a11**2 + a21**2),
                    "the length of A's first column is the scale only without shear and with equal scales on "
                    "both axes: use sqrt(|det A|).",
                ),
                (lambda: a11, "a11 is the scale only without a turn (it is s·cos φ): use sqrt(|det A|)."),
            ],
            close_for_dtype,
        )
    if not close_for_dtype(degrees, expected[1]):
        radians = torch.atan2(a21 - a12, a11 + a22)
        return first_matching_message(
            degrees,
            [
                (lambda: radians, "angle in radians; the lesson prints degrees: convert with torch.rad2deg."),
                (
                    lambda: -expected[1],
                    "rows swapped: a12 and a21. θ[:, 0, 1] is a12 (row 0, column 1) and θ[:, 1, 0] is a21; the "
                    "angle is atan2(a21 - a12, a11 + a22).",
                ),
                (
                    lambda: torch.rad2deg(torch.atan2(a21, a11)),
                    "atan2(a21, a11) reads only A's first column, the direction of the region's x-axis, which a "
                    "shear or a mirror tilts away from its y-axis: use both columns, atan2(a21 - a12, a11 + a22).",
                ),
                (
                    lambda: torch.rad2deg(torch.atan2(a11 + a22, a21 - a12)),
                    "torch.atan2 takes (y, x): atan2(a21 - a12, a11 + a22), the sine-like part first.",
                ),
            ],
            close_for_dtype,
        )
    return first_matching_message(
        shift,
        [
            (lambda: theta[:, :, 2].flip(-1), "the shift is (t_x, t_y) = (θ[:, 0, 2], θ[:, 1, 2]); yours is (t_y, t_x)."),
            (lambda: theta[:, 0, 1:], "that is row 0 of θ; the shift is its last column, θ[:, :, 2]."),
            (
                lambda: -torch.linalg.solve(theta[:, :, :2], theta[:, :, 2:]).squeeze(-1),
                "this is where the input's centre lands in the output (-A⁻¹t); the shift is θ's last column t, "
                "where the output's centre samples the input.",
            ),
        ],
        close_for_dtype,
    )  # fmt: skip


check_theta_stats = Exercise(
    "theta_stats",
    theta_stats,
    _theta_cases,
    torch_fn=_probes_theta_stats,
    compare=_compare_stats,
    diagnose=_diagnose_theta_stats,
    hint=(
        "with a11, a12, a21, a22 = theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1]: scale = "
        "(a11 * a22 - a12 * a21).abs().sqrt(); degrees = torch.rad2deg(torch.atan2(a21 - a12, a11 + a22)); "
        "shift = theta[:, :, 2]."
    ),
).checker(
    """Check ``theta_stats(theta)``: ``(scale, degrees, shift)`` of each affine θ.

    Compared with :func:`theta_stats` and with :func:`stnlib.probes.window_side` and
    :func:`stnlib.probes.rotation_degrees`.
    """
)


# ------------------------------------------------------------------------------ exercise 3: the ink kept


def _pixel_centres(size: tuple[int, int], dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(H*W, 2)`` normalised ``(x, y)`` of every pixel centre, row by row (``align_corners=False``)."""
    h, w = size
    rows, columns = torch.meshgrid(
        torch.arange(h, dtype=dtype, device=device),
        torch.arange(w, dtype=dtype, device=device),
        indexing="ij",
    )
    return torch.stack([(2 * columns + 1) / w - 1, (2 * rows + 1) / h - 1], dim=-1).reshape(-1, 2)


def ink_kept(theta: Tensor, images: Tensor) -> Tensor:
    """The share of each image's ink inside the region that its θ samples.

    The transformer's output covers ``[-1, 1]²``; θ maps it onto a parallelogram of the input. An input pixel
    with centre ``p`` (normalised, ``align_corners=False``: ``x = (2j + 1) / W - 1`` for column ``j``) is inside
    when the output point that samples it, ``u = A⁻¹ (p - t)``, lies in ``[-1, 1]²``. Each pixel weighs as much
    as its ink (its value, summed over channels); the result is the ink inside over all the ink.

    Args:
        theta: ``(N, 2, 3)``, invertible.
        images: ``(N, C, H, W)``, non-negative, each with some ink.

    Returns:
        ``(N,)`` in [0, 1], in the images' dtype.

    Example:
        >>> images = torch.zeros(2, 1, 4, 4)
        >>> images[:, :, 1, 1] = 1.0  # ink in the top left quarter
        >>> images[:, :, 2, 2] = 3.0  # three times as much in the bottom right quarter
        >>> quarters = geometry.affine_theta(scale=0.5, translation=torch.tensor([[-0.5, -0.5], [0.5, 0.5]]))
        >>> ink_kept(quarters, images)
        tensor([0.2500, 0.7500])
    """
    n, _, h, w = images.shape
    centres = _pixel_centres((h, w), images.dtype, images.device)  # (H*W, 2)
    a, t = theta[:, :, :2].to(images.dtype), theta[:, :, 2].to(images.dtype)
    # u = A⁻¹ (p - t) for every pixel p of every sample: (N, H*W, 2)
    u = (centres.unsqueeze(0) - t.unsqueeze(1)) @ torch.linalg.inv(a).transpose(1, 2)
    inside = (u.abs() <= 1).all(dim=-1)
    ink = images.sum(dim=1).reshape(n, -1)
    return (ink * inside).sum(dim=1) / ink.sum(dim=1)


@reported_as("stnlib.probes.window_contains (pixel by pixel)")
def _ink_kept_by_window_contains(theta: Tensor, images: Tensor) -> Tensor:
    n, _, h, w = images.shape
    ink = images.sum(dim=1)
    kept = torch.zeros(n, dtype=images.dtype)
    for row in range(h):
        for column in range(w):
            point = torch.tensor([[column, row]], dtype=theta.dtype).expand(n, 2)
            kept += ink[:, row, column] * window_contains(theta, point, (h, w))
    return kept / ink.sum(dim=(1, 2))


def _blobs(
    n: int, channels: int, size: tuple[int, int], generator: torch.Generator, dtype: torch.dtype
) -> Tensor:
    """Non-negative images with ink on about half their pixels."""
    values = torch.rand(n, channels, *size, generator=generator, dtype=dtype)
    return values * (torch.rand(n, channels, *size, generator=generator, dtype=dtype) > 0.5)


def _ink_cases() -> list[Case]:
    generator = case_generator(7)
    return [
        Case("identity and a zoom ×2 on the centre, 8x8 images", (_thetas([0, 0], [(1, 1), (0.5, 0.5)], [0, 0], [(0, 0), (0, 0)]), _blobs(2, 1, (8, 8), generator, torch.float32))),
        Case("regions moved and turned, 10x14 images (H != W)", (_thetas([20, -35, 60], [(0.6, 0.6), (0.7, 0.5), (0.55, 0.8)], [0, 0.2, 0], [(0.35, -0.3), (-0.4, 0.25), (0.2, 0.45)]), _blobs(3, 1, (10, 14), generator, torch.float32))),
        Case("mirrored and sheared θ, 13x9 images", (_thetas([-15, 110], [(-0.6, 0.7), (0.8, 0.45)], [0.3, -0.25], [(-0.2, 0.3), (0.3, -0.15)]), _blobs(2, 1, (13, 9), generator, torch.float32))),
        Case("two channels: the ink of both counts", (_thetas([45, -10], [(0.5, 0.6), (0.65, 0.65)], [0, 0.1], [(0.3, 0.2), (-0.35, -0.1)]), _blobs(2, 2, (12, 11), generator, torch.float32))),
        Case("float64, 9x12 images", (_thetas([5, -70], [(0.45, 0.55), (0.9, 0.6)], [0.15, 0], [(-0.3, -0.45), (0.1, 0.3)], torch.float64), _blobs(2, 1, (9, 12), generator, torch.float64))),
    ]  # fmt: skip


def _inside_share(
    theta: Tensor,
    images: Tensor,
    *,
    forward: bool = False,
    translation: str = "before",
    align_corners: bool = False,
    swap_xy: bool = False,
    weights: str = "ink",
    first_channel: bool = False,
) -> Tensor:
    """:func:`ink_kept` with one of the usual mistakes."""
    n, _, h, w = images.shape
    if align_corners:
        rows, columns = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        centres = torch.stack([2 * columns / (w - 1) - 1, 2 * rows / (h - 1) - 1], -1).reshape(-1, 2)
    else:
        centres = _pixel_centres((h, w), torch.float64, torch.device("cpu"))
    if swap_xy:
        centres = centres.flip(-1)
    a, t = theta[:, :, :2].double(), theta[:, :, 2].double()
    p = centres.double().unsqueeze(0)
    if forward:
        u = p @ a.transpose(1, 2) + t.unsqueeze(1)
    elif translation == "none":
        u = p @ torch.linalg.inv(a).transpose(1, 2).expand(n, 2, 2)
    elif translation == "after":
        u = p @ torch.linalg.inv(a).transpose(1, 2) - t.unsqueeze(1)
    else:
        u = (p - t.unsqueeze(1)) @ torch.linalg.inv(a).transpose(1, 2)
    inside = (u.abs() <= 1).all(dim=-1).double()
    ink = (images[:, :1] if first_channel else images).sum(dim=1).reshape(n, -1).double()
    if weights == "pixels with ink":
        ink = (ink > 0).double()
    elif weights == "canvas":
        ink = torch.ones_like(ink)
    return ((ink * inside).sum(dim=1) / ink.sum(dim=1)).to(images.dtype)


def _diagnose_ink_kept(case: Case, actual: Any, expected: Any) -> str | None:
    theta, images = case.args
    return first_matching_message(
        actual,
        [
            (
                lambda: _inside_share(theta, images, forward=True),
                "θ maps output coordinates to input coordinates: to ask whether an input pixel p is sampled, "
                "solve A u + t = p for the output point, u = A⁻¹ (p - t), and test u; do not apply θ to p.",
            ),
            (lambda: _inside_share(theta, images, translation="none"), "subtract the translation t before undoing A: u = A⁻¹ (p - t)."),
            (lambda: _inside_share(theta, images, translation="after"), "subtract t first, then apply A⁻¹: u = A⁻¹ (p - t), not A⁻¹ p - t."),
            (
                lambda: _inside_share(theta, images, align_corners=True),
                "these are align_corners=True pixel centres; the course's transformers use align_corners=False: "
                "x = (2j + 1) / W - 1 for column j (and y likewise with H).",
            ),
            (lambda: _inside_share(theta, images, swap_xy=True), "x runs along the width (the column index), y along the height (the row index): yours are swapped."),
            (
                lambda: _inside_share(theta, images, weights="pixels with ink"),
                "you counted the pixels with ink; weigh each pixel by its ink (its value): the ink inside over all the ink.",
            ),
            (
                lambda: _inside_share(theta, images, weights="canvas"),
                "this is the share of the canvas the region covers; weigh each pixel by its ink: the ink inside over all the ink.",
            ),
            (lambda: _inside_share(theta, images, first_channel=True), "only the first channel counted: sum the ink over the channels."),
        ],
        close_for_dtype,
        expected=expected,
    )  # fmt: skip


check_ink_kept = Exercise(
    "ink_kept",
    ink_kept,
    _ink_cases,
    torch_fn=_ink_kept_by_window_contains,
    diagnose=_diagnose_ink_kept,
    hint=(
        "pixel centres p = ((2 * column + 1) / W - 1, (2 * row + 1) / H - 1) for every pixel; u = A⁻¹ (p - t) "
        "with torch.linalg.inv(theta[:, :, :2]); inside = (u.abs() <= 1).all(-1); ink = images.sum(1); return "
        "(ink * inside).sum over pixels / ink.sum over pixels."
    ),
).checker(
    """Check ``ink_kept(theta, images)``: the share of each image's ink inside the region its θ samples.

    Compared with :func:`ink_kept` and with :func:`stnlib.probes.window_contains` pixel by pixel.
    """
)
