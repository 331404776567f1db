"""benchmarks.bench_zoo: every target is measured on the models a zoo has, and named as missing for the rest."""

from __future__ import annotations

import pytest

from benchmarks import bench_zoo
from stnlib.budget import Budget
from stnlib.data import MNISTUnavailableError, load_mnist
from stnlib.experiments import run_experiment
from stnlib.pretrained import export_experiment

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
    targets = {t.name: t for t in bench_zoo.report(zoo_dir)}
    assert targets["RTS: ST-CNN-Aff < CNN < FCN"].met is not None
    assert (
        targets["R: ST-CNN-Aff < CNN < FCN"].met is None
        and "not in the zoo" in targets["R: ST-CNN-Aff < CNN < FCN"].measured
    )
    turn = targets["RTS: share of the turn undone"]
    assert turn.met is False and float(turn.measured) < 0.5  # two steps of training undo almost nothing
    hits = targets["TC: window holds the digit's centre"]
    assert hits.met is not None and hits.measured.endswith("%")
    side = targets["TC: mean window side / canvas"]
    assert side.met is False and float(side.measured) > 0.9  # near the identity: the whole canvas
    assert targets["TC: ST-CNN error, below the CNN"].met is None  # no CNN on TC in this zoo
    assert "ST1 follows channel" in targets["ADD: the transformers split the digits"].measured
    assert targets["E: TPS per-digit warp vs ideal undo"].met is not None
    assert all(t.met is None for name, t in targets.items() if name.startswith(("R:", "P:")))


def test_the_benchmark_prints_a_markdown_table(zoo_dir, capsys) -> None:
    assert bench_zoo.main(["--zoo-dir", str(zoo_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| target | measured | goal | met |") and "targets met" in out
