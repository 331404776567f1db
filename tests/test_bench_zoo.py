"""stnlib.pretrained.targets and benchmarks.bench_zoo: every target is measured on the models a zoo has, and named as missing for the rest."""

from __future__ import annotations

import pytest

from benchmarks import bench_zoo
from stnlib.budget import Budget
from stnlib.data import MNISTUnavailableError, load_mnist
from stnlib.experiments import run_experiment
from stnlib.pretrained import export_experiment, targets

TINY = Budget("tiny", train_samples=256, test_samples=500, epochs=1, batch_size=128, description="tests")
IN_ZOO = [
    ("ST-CNN-Aff", "RTS"),
    ("CNN", "RTS"),
    ("FCN", "RTS"),
    ("ST-CNN", "TC"),
    ("2xST-FCN", "ADD"),
    ("ST-CNN-TPS", "E"),
]


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    try:
        load_mnist("test")
    except MNISTUnavailableError as error:
        pytest.skip(f"MNIST is not prepared ({error})")
    root = tmp_path_factory.mktemp("bench-zoo")
    for model, dataset in IN_ZOO:
        result = run_experiment(
            model, dataset, budget=TINY, run_dir=root / "runs", device="cpu", progress=False
        )
        export_experiment(result, zoo_dir=root / "zoo")
    return root / "zoo"


def test_the_report_measures_what_the_zoo_has(zoo_dir) -> None:
    measured = {t.name: t for t in targets.report(zoo_dir)}
    assert measured["RTS: ST-CNN-Aff < CNN < FCN"].met is not None
    assert (
        measured["R: ST-CNN-Aff < CNN < FCN"].met is None
        and "not in the zoo" in measured["R: ST-CNN-Aff < CNN < FCN"].measured
    )
    turn = measured["RTS: share of the turn undone"]
    assert turn.met is False and float(turn.measured) < 0.5  # two steps of training undo almost nothing
    hits = measured["TC: window holds the digit's centre"]
    assert hits.met is not None and hits.measured.endswith("%")
    side = measured["TC: mean window side / canvas"]
    assert side.met is False and float(side.measured) > 0.9  # near the identity: the whole canvas
    assert measured["TC: ST-CNN error, below the CNN"].met is None  # no CNN on TC in this zoo
    assert "ST1 follows channel" in measured["ADD: the transformers split the digits"].measured
    assert measured["E: TPS per-digit warp vs ideal undo"].met is not None
    assert all(t.met is None for name, t in measured.items() if name.startswith(("R:", "P:")))


def test_a_report_can_be_limited_to_groups_of_targets(zoo_dir) -> None:
    tps_only = targets.report(zoo_dir, groups=("tps",))
    assert [t.name for t in tps_only] == ["E: TPS per-digit warp vs ideal undo"]
    with pytest.raises(ValueError, match="unknown target group"):
        targets.report(zoo_dir, groups=("svhn",))


def test_the_benchmark_prints_a_markdown_table(zoo_dir, capsys) -> None:
    assert bench_zoo.main(["--zoo-dir", str(zoo_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| target | measured | goal | met |") and "targets met" in out
