"""stnlib.pretrained: exporting a trained experiment, loading it back safely, and the shipped zoo's recorded errors."""

from __future__ import annotations

import dataclasses
import doctest
import json
import shlex

import pytest
import torch

from stnlib.budget import Budget
from stnlib.data import DistortedMNIST, MNISTUnavailableError, load_mnist
from stnlib.experiments import __main__ as cli
from stnlib.experiments import run_experiment
from stnlib.pretrained import (
    INDEX_FILE,
    STORAGE_DTYPE,
    SUBSET_SAMPLES,
    ZOO_DIR,
    PretrainedError,
    available,
    evaluate_record,
    export_experiment,
    load_pretrained,
    record_for,
    zoo,
    zoo_table,
)

TINY = Budget("tiny", train_samples=256, test_samples=300, epochs=1, batch_size=128, description="tests")
ZOO_SIZE_LIMIT = 30 * 2**20  # bytes: the weights ship inside the package
SHIPPED = available()


@pytest.fixture(scope="module", autouse=True)
def mnist_available() -> None:
    try:
        load_mnist("test")
    except MNISTUnavailableError as error:
        pytest.skip(f"MNIST is not prepared ({error}); run `python -m stnlib.data fetch`")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny ST-CNN-Aff on R, trained for two steps and exported into a zoo of its own."""
    root = tmp_path_factory.mktemp("zoo")
    result = run_experiment(
        "ST-CNN-Aff", "R", budget=TINY, run_dir=root / "runs", device="cpu", progress=False
    )
    record = export_experiment(result, zoo_dir=root / "zoo")
    return root / "zoo", record, result


def test_doctests() -> None:
    failures, tried = doctest.testmod(zoo, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


def test_an_export_records_how_the_model_was_made(exported) -> None:
    folder, record, result = exported
    assert (record.model, record.dataset, record.budget, record.seed) == ("ST-CNN-Aff", "R", "tiny", 0)
    assert record.recipe == result.recipe and record.steps == result.steps == 2
    assert record.train_time_s == result.train_time_s and record.hardware == result.hardware != "unknown"
    assert record.command.startswith("python -m stnlib.experiments --models ST-CNN-Aff --datasets R ")
    assert record.command.endswith("--export")
    assert (record.test_samples, record.subset_samples) == (300, 300)  # the subset is capped by the test set
    assert record.paper_error == 0.7 and record.storage_dtype == "float16"
    assert len(record.sha256) == 64 and (folder / record.file).is_file()
    assert json.loads((folder / INDEX_FILE).read_text())["R/ST-CNN-Aff"]["sha256"] == record.sha256
    assert [r.key for r in available(folder)] == ["R/ST-CNN-Aff"]
    assert record.film == result.film and record.film["epochs"] == [1]  # the training film travels with it
    assert available(folder)[0].film == record.film


def test_the_file_holds_half_precision_weights_only(exported) -> None:
    folder, record, result = exported
    state = torch.load(folder / record.file, weights_only=True)
    assert set(state) == set(result.network.state_dict())
    parameters = dict(result.network.named_parameters())
    for name, value in state.items():
        if name in parameters:
            assert value.dtype == STORAGE_DTYPE, name
            torch.testing.assert_close(value, parameters[name].detach().to(STORAGE_DTYPE))


def test_loading_gives_the_stored_weights_in_float32_in_eval_mode(exported) -> None:
    folder, record, result = exported
    network, loaded = load_pretrained("st cnn aff", "r", zoo_dir=folder)
    assert loaded == record and not network.training
    assert all(p.dtype == torch.float32 for p in network.parameters())
    for (name, mine), (_, trained) in zip(
        network.named_parameters(), result.network.named_parameters(), strict=True
    ):
        torch.testing.assert_close(mine, trained.detach().float(), atol=1e-3, rtol=1e-3, msg=name)
    # The recorded errors are those of the stored (half-precision) weights, evaluated in float32.
    assert evaluate_record(network, record) == record.subset_error
    assert evaluate_record(network, record, subset=False) == record.test_error


def test_a_missing_file_names_the_file_and_the_command_that_retrains_it(exported, tmp_path) -> None:
    folder, record, _ = exported
    (tmp_path / INDEX_FILE).write_text((folder / INDEX_FILE).read_text())
    with pytest.raises(PretrainedError, match="missing") as error:
        load_pretrained("ST-CNN-Aff", "R", zoo_dir=tmp_path)
    assert record.file in str(error.value) and record.command in str(error.value)


def test_an_altered_file_is_refused(exported, tmp_path) -> None:
    folder, record, _ = exported
    (tmp_path / INDEX_FILE).write_text((folder / INDEX_FILE).read_text())
    data = bytearray((folder / record.file).read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / record.file).write_bytes(bytes(data))
    with pytest.raises(PretrainedError, match="does not match its record") as error:
        load_pretrained("ST-CNN-Aff", "R", zoo_dir=tmp_path)
    assert record.file in str(error.value) and record.command in str(error.value)


def test_a_model_not_in_the_zoo_says_what_is_there_and_how_to_add_it(exported) -> None:
    folder, _, _ = exported
    with pytest.raises(PretrainedError, match=r"no CNN on TC \(it has: R/ST-CNN-Aff\).*--export"):
        record_for("CNN", "TC", folder)
    with pytest.raises(ValueError, match="unknown model"):
        record_for("ResNet", "TC", folder)


def test_a_result_without_its_network_cannot_be_exported(exported, tmp_path) -> None:
    _, _, result = exported
    with pytest.raises(ValueError, match=r"no trained network.*--export"):
        export_experiment(dataclasses.replace(result, network=None), zoo_dir=tmp_path)
    with pytest.raises(ValueError, match="diverged"):
        export_experiment(dataclasses.replace(result, status="diverged"), zoo_dir=tmp_path)


def test_the_cli_exports_into_the_zoo(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path / "zoo")
    argv = ["--models", "FCN", "--datasets", "R", "--budget", "smoke", "--run-dir", str(tmp_path / "runs")]
    assert cli.main([*argv, "--no-progress", "--export"]) == 0
    assert "added to the model zoo (R_FCN.pt): FCN on R" in capsys.readouterr().out
    _, record = load_pretrained("FCN", "R", zoo_dir=tmp_path / "zoo")
    assert record.budget == "smoke" and record.command.split("--budget ")[1].startswith("smoke --seeds 0")


def test_the_fixed_subset_is_the_start_of_the_fixed_test_set() -> None:
    subset = DistortedMNIST("RTS", "test", n_samples=SUBSET_SAMPLES, batch_size=500, seed=0, device="cpu")
    full = DistortedMNIST("RTS", "test", n_samples=2 * SUBSET_SAMPLES, batch_size=500, seed=0, device="cpu")
    first = torch.cat([x for x, _ in subset]), torch.cat([y for _, y in subset])
    both = torch.cat([x for x, _ in full]), torch.cat([y for _, y in full])
    torch.testing.assert_close(first[0], both[0][:SUBSET_SAMPLES])
    assert torch.equal(first[1], both[1][:SUBSET_SAMPLES])


def test_the_listing_shows_every_model(exported, capsys) -> None:
    folder, record, _ = exported
    table = zoo_table(available(folder))
    assert "| R | ST-CNN-Aff |" in table and f"{record.test_error:.2f}" in table and "| tiny |" in table
    assert zoo_table([]) == "(the model zoo is empty)\n"
    from stnlib.pretrained import __main__ as listing

    assert listing.main(["--commands"]) == 0
    out = capsys.readouterr().out
    assert f"{len(SHIPPED)} model" in out and all(r.command in out for r in SHIPPED)


# ---------------------------------------------------------------------------------------------------------------
# The shipped zoo


def test_the_shipped_zoo_fits_its_size_limit_and_every_file_has_a_record() -> None:
    files = {p.name for p in ZOO_DIR.glob("*.pt")}
    assert files == {r.file for r in SHIPPED}
    assert sum((ZOO_DIR / name).stat().st_size for name in files) <= ZOO_SIZE_LIMIT


@pytest.mark.parametrize("record", SHIPPED, ids=[r.key for r in SHIPPED])
def test_a_shipped_record_names_the_command_that_made_it(record) -> None:
    words = shlex.split(record.command)
    assert words[:3] == ["python", "-m", "stnlib.experiments"] and "--export" in words
    args = cli.build_parser().parse_args(words[3:])
    assert (args.models, args.datasets, args.seeds) == ([record.model], [record.dataset], [record.seed])
    assert record.budget in (args.budget, f"{args.budget}-{args.epochs}ep")
    assert args.precision == record.precision
    assert record.budget.split("-")[0] in (
        "gpu",
        "paper",
    )  # a cpu-budget model is a student's run, not the zoo's


@pytest.mark.parametrize("record", SHIPPED, ids=[r.key for r in SHIPPED])
def test_a_shipped_model_still_has_its_recorded_error_on_the_fixed_subset(record) -> None:
    network, _ = load_pretrained(record.model, record.dataset)
    error = evaluate_record(network, record)
    tolerance = 100 * 2 / record.subset_samples  # two digits: convolutions round differently on other CPUs
    assert abs(error - record.subset_error) <= tolerance + 1e-9, (error, record.subset_error)


@pytest.mark.slow
@pytest.mark.parametrize("record", SHIPPED, ids=[r.key for r in SHIPPED])
def test_a_shipped_model_still_has_its_recorded_error_on_the_whole_test_set(record) -> None:
    network, _ = load_pretrained(record.model, record.dataset)
    error = evaluate_record(network, record, subset=False)
    assert abs(error - record.test_error) <= 100 * 2 / record.test_samples + 1e-9, (error, record.test_error)


def _queue() -> list[str]:
    path = ZOO_DIR.parents[2] / "tools" / "zoo_queue.txt"
    return [
        line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]


def test_the_zoo_queue_trains_each_experiment_once_with_a_command_the_cli_accepts() -> None:
    queue = _queue()
    experiments = []
    for line in queue:
        args = cli.build_parser().parse_args(shlex.split(line))
        assert len(args.models) == len(args.datasets) == len(args.seeds) == 1, line
        assert args.budget in ("gpu", "paper"), line
        experiments.append((args.models[0], args.datasets[0]))
    assert len(set(experiments)) == len(experiments)
    for record in SHIPPED:  # what ships was trained by a line of the queue
        assert record.command.removeprefix("python -m stnlib.experiments ").split(" --run-dir")[0] in queue
