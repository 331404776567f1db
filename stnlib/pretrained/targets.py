"""Do the course's converged models do what the paper shows? The model zoo's targets, measured on its weights.

The model zoo (:mod:`stnlib.pretrained`) ships one converged network per experiment. The functions
here load each one (float32, on the CPU) and measure it against the targets the course sets for it:

* **Table 1 ordering** — in every column (R, RTS, P, E): ST-CNN-Aff < CNN < FCN, every ST-FCN < FCN, and every
  ST-CNN within twice the paper's error.
* **RTS** — ST-CNN-Aff at most 0.7 % test error, and its transformer undoes at least 0.7 of a digit's turn
  (:func:`stnlib.probes.share_of_turn_undone`: 1,000 upright MNIST test digits on the 42x42 canvas, turned by
  angles uniform in ±45°).
* **Cluttered MNIST (TC)** — ST-CNN at most 2.5 % and below the CNN; its attention window holds the digit's centre
  (ink centre of the same canvas without clutter) on at least 95 % of the test canvases, with a mean side of at
  most half the canvas.
* **MNIST addition (ADD)** — 2xST-FCN at most half the FCN's error, and the two transformers split the work: when
  only one channel's digit is swapped for another, each transformer's θ moves mostly (at least two thirds of its
  change) for a different channel (:func:`stnlib.probes.channel_sensitivity`, 2,000 test pairs).
* **TPS on E** — the spline transformer's per-digit displacements follow the ideal undo of each digit's own
  elastic warp with a correlation of at least 0.3 (:func:`stnlib.probes.tps_undo_correlation`, 1,000 test digits).

A target whose models are not in the zoo yet is listed as such (``met`` is ``None``). ``benchmarks/bench_zoo.py``
prints them all; the training lessons show the ones of their experiments.

Example:
    >>> targets = report(groups=("tps",))  # doctest: +SKIP
    >>> print(targets_table(targets))  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from stnlib import geometry
from stnlib.data import DistortedMNIST, load_mnist
from stnlib.experiments import EXPERIMENT_GROUPS
from stnlib.models import STClassifier, TwoTransformerClassifier
from stnlib.pretrained import PretrainedError, ZooRecord, load_pretrained
from stnlib.probes import (
    channel_sensitivity,
    ink_centre,
    share_of_turn_undone,
    tps_undo_correlation,
    window_contains,
    window_side,
)

PROBE_DIGITS = 1_000
ADDITION_PAIRS = 2_000
RTS_ERROR, TURN_UNDONE = 0.7, 0.7
TC_ERROR, TC_HITS, TC_SIDE = 2.5, 0.95, 0.5
ADD_RATIO, ADD_SHARE = 0.5, 2 / 3
TPS_CORRELATION = 0.3
PAPER_FACTOR = 2.0


__all__ = [
    "Target",
    "ZooModels",
    "addition_targets",
    "report",
    "rts_targets",
    "table1_targets",
    "targets_table",
    "tc_targets",
    "tps_targets",
]


@dataclass(frozen=True)
class Target:
    """One line of the report: what is measured, the value, the goal, and whether it is met (None: not measurable)."""

    name: str
    measured: str
    goal: str
    met: bool | None

    def row(self) -> str:
        verdict = {True: "yes", False: "**no**", None: "—"}[self.met]
        return f"| {self.name} | {self.measured} | {self.goal} | {verdict} |"


class ZooModels:
    """Loads zoo models once each and remembers which are missing."""

    def __init__(self, zoo_dir: str | os.PathLike[str] | None = None) -> None:
        self.zoo_dir = None if zoo_dir is None else Path(zoo_dir)
        self._cache: dict[tuple[str, str], tuple[nn.Module, ZooRecord] | None] = {}

    def get(self, model: str, dataset: str) -> tuple[nn.Module, ZooRecord] | None:
        key = (model, dataset)
        if key not in self._cache:
            try:
                self._cache[key] = load_pretrained(model, dataset, zoo_dir=self.zoo_dir)
            except PretrainedError:
                self._cache[key] = None
        return self._cache[key]

    def error(self, model: str, dataset: str) -> float | None:
        found = self.get(model, dataset)
        return None if found is None else found[1].test_error


def _missing(name: str, goal: str, *needed: str) -> Target:
    return Target(name, f"not in the zoo yet ({', '.join(needed)})", goal, None)


def _compare(name: str, goal: str, errors: dict[str, float | None], holds: Callable[..., bool]) -> Target:
    absent = [k for k, v in errors.items() if v is None]
    if absent:
        return _missing(name, goal, *absent)
    measured = ", ".join(f"{k} {v:.2f} %" for k, v in errors.items())
    return Target(name, measured, goal, holds(*errors.values()))


def table1_targets(zoo: ZooModels) -> list[Target]:
    models = EXPERIMENT_GROUPS["distorted"].models
    targets = []
    for dataset in EXPERIMENT_GROUPS["distorted"].datasets:
        e = {m: zoo.error(m, dataset) for m in models}
        targets.append(
            _compare(
                f"{dataset}: ST-CNN-Aff < CNN < FCN",
                "ordered",
                {m: e[m] for m in ("ST-CNN-Aff", "CNN", "FCN")},
                lambda st, cnn, fcn: st < cnn < fcn,
            )
        )
        st_fcns = [m for m in models if m.startswith("ST-FCN")]
        targets.append(
            _compare(
                f"{dataset}: every ST-FCN < FCN",
                "each below the FCN",
                {m: e[m] for m in [*st_fcns, "FCN"]},
                lambda *errors: all(x < errors[-1] for x in errors[:-1]),
            )
        )
        for model in (m for m in models if m.startswith("ST-CNN")):
            found = zoo.get(model, dataset)
            goal = f"≤ {PAPER_FACTOR:g} × paper"
            if found is None:
                targets.append(_missing(f"{dataset}: {model} vs paper", goal, model))
                continue
            record = found[1]
            assert record.paper_error is not None
            limit = PAPER_FACTOR * record.paper_error
            targets.append(
                Target(
                    f"{dataset}: {model} vs paper",
                    f"{record.test_error:.2f} % (paper {record.paper_error:g} %)",
                    f"{goal} = {limit:.2f} %",
                    record.test_error <= limit,
                )
            )
    return targets


def _test_digits(n: int) -> torch.Tensor:
    return load_mnist("test").images[:n].float().div(255)


def rts_targets(zoo: ZooModels) -> list[Target]:
    found = zoo.get("ST-CNN-Aff", "RTS")
    if found is None:
        return [
            _missing("RTS: ST-CNN-Aff test error", f"≤ {RTS_ERROR} %", "ST-CNN-Aff"),
            _missing("RTS: share of the turn undone", f"≥ {TURN_UNDONE}", "ST-CNN-Aff"),
        ]
    network, record = found
    assert isinstance(network, STClassifier)  # the zoo builds ST-CNN-Aff as an STClassifier
    share, _, _ = share_of_turn_undone(network.transformer, _test_digits(PROBE_DIGITS), canvas=42)
    return [
        Target(
            "RTS: ST-CNN-Aff test error",
            f"{record.test_error:.2f} % ({record.budget})",
            f"≤ {RTS_ERROR} %",
            record.test_error <= RTS_ERROR,
        ),
        Target("RTS: share of the turn undone", f"{share:.2f}", f"≥ {TURN_UNDONE}", share >= TURN_UNDONE),
    ]


def tc_targets(zoo: ZooModels) -> list[Target]:
    targets = [
        _compare(
            "TC: ST-CNN error, below the CNN",
            f"ST-CNN ≤ {TC_ERROR} % and < CNN",
            {"ST-CNN": zoo.error("ST-CNN", "TC"), "CNN": zoo.error("CNN", "TC")},
            lambda st, cnn: st <= TC_ERROR and st < cnn,
        )
    ]
    found = zoo.get("ST-CNN", "TC")
    names = ("TC: window holds the digit's centre", "TC: mean window side / canvas")
    goals = (f"≥ {TC_HITS:.0%} of canvases", f"≤ {TC_SIDE}")
    if found is None:
        return [*targets, *(_missing(n, g, "ST-CNN") for n, g in zip(names, goals, strict=True))]
    network, record = found
    assert isinstance(network, STClassifier)  # the zoo builds TC's ST-CNN as an STClassifier
    test = DistortedMNIST("TC", "test", n_samples=record.test_samples, batch_size=500, seed=0, device="cpu")
    canvases, _ = test.sample_batch(record.test_samples)
    centres = ink_centre(test.without_clutter().sample_batch(record.test_samples)[0])
    with torch.no_grad():
        _, params = network.transformer(canvases)
    theta = geometry.attention_theta(params)
    hits = window_contains(theta, centres, (60, 60)).float().mean().item()
    side = window_side(theta).mean().item()
    return [
        *targets,
        Target(names[0], f"{hits:.1%}", goals[0], hits >= TC_HITS),
        Target(names[1], f"{side:.2f}", goals[1], side <= TC_SIDE),
    ]


def addition_targets(zoo: ZooModels) -> list[Target]:
    targets = [
        _compare(
            "ADD: 2xST-FCN error / FCN error",
            f"≤ {ADD_RATIO:g}",
            {"2xST-FCN": zoo.error("2xST-FCN", "ADD"), "FCN": zoo.error("FCN", "ADD")},
            lambda two, fcn: two <= ADD_RATIO * fcn,
        )
    ]
    found = zoo.get("2xST-FCN", "ADD")
    name, goal = (
        "ADD: the transformers split the digits",
        f"different channels, each ≥ {ADD_SHARE:.0%} of its change",
    )
    if found is None:
        return [*targets, _missing(name, goal, "2xST-FCN")]
    network, _ = found
    assert isinstance(network, TwoTransformerClassifier)  # the zoo's 2xST-FCN
    pairs, _ = DistortedMNIST("ADD", "test", n_samples=ADDITION_PAIRS, device="cpu").sample_batch(
        ADDITION_PAIRS
    )
    shares = channel_sensitivity(network.transformers, pairs)
    preferred = shares.argmax(dim=1)
    measured = "; ".join(
        f"ST{k + 1} follows channel {int(c)} ({shares[k, c]:.0%})" for k, c in enumerate(preferred)
    )
    met = bool(preferred[0] != preferred[1]) and bool(shares.max(dim=1).values.min() >= ADD_SHARE)
    return [*targets, Target(name, measured, goal, met)]


def tps_targets(zoo: ZooModels) -> list[Target]:
    name, goal = "E: TPS per-digit warp vs ideal undo", f"correlation ≥ {TPS_CORRELATION}"
    found = zoo.get("ST-CNN-TPS", "E")
    if found is None:
        return [_missing(name, goal, "ST-CNN-TPS")]
    network = found[0]
    assert isinstance(network, STClassifier)  # the zoo builds ST-CNN-TPS as an STClassifier
    measured = tps_undo_correlation(network.transformer, _test_digits(PROBE_DIGITS))
    return [
        Target(
            name,
            f"{measured['correlation']:.2f} (per digit {measured['per_digit_px']:.2f} px, shared "
            f"{measured['shared_px']:.2f} px, ideal {measured['ideal_px']:.2f} px)",
            goal,
            measured["correlation"] >= TPS_CORRELATION,
        )
    ]


_GROUPS: dict[str, Callable[[ZooModels], list[Target]]] = {
    "table1": table1_targets,
    "rts": rts_targets,
    "tc": tc_targets,
    "addition": addition_targets,
    "tps": tps_targets,
}


def report(
    zoo_dir: str | os.PathLike[str] | None = None, groups: tuple[str, ...] = tuple(_GROUPS)
) -> list[Target]:
    """The targets of ``groups`` (all by default: ``table1``, ``rts``, ``tc``, ``addition``, ``tps``), measured on
    the zoo in ``zoo_dir`` (``None``: the shipped one)."""
    unknown = [g for g in groups if g not in _GROUPS]
    if unknown:
        raise ValueError(f"unknown target group(s) {unknown}; choose from {', '.join(_GROUPS)}")
    zoo = ZooModels(zoo_dir)
    torch.manual_seed(0)
    with torch.no_grad():
        return [target for group in groups for target in _GROUPS[group](zoo)]


def targets_table(targets: list[Target]) -> str:
    """A Markdown table of ``targets`` and a last line counting those met and those not measurable yet."""
    lines = ["| target | measured | goal | met |", "|---|---|---|---|", *(t.row() for t in targets)]
    met = sum(t.met is True for t in targets)
    missing = sum(t.met is None for t in targets)
    lines.append(
        f"\n{met} of {len(targets)} targets met; {missing} not measurable yet (models not in the zoo)"
    )
    return "\n".join(lines)
