"""stnlib.experiments: the paper's numbers, recipes, runs that write results, resume, the table and the CLI."""

from __future__ import annotations

import dataclasses
import doctest
import json
import statistics
import warnings

import pytest
import torch
import torch.nn.functional as F

from stnlib.budget import BUDGETS, Budget
from stnlib.data import DISTORTIONS, DistortedMNIST, MNISTUnavailableError, load_mnist
from stnlib.experiments import (
    DATASETS,
    EXPERIMENT_GROUPS,
    EXPERIMENTS,
    FILM_DIGITS,
    TC_OUTPUT_SIZE,
    ExperimentInterrupted,
    ExperimentResult,
    build_experiment_model,
    canonical_model,
    experiment_dir,
    film_digits,
    load_results,
    paper,
    paper_error,
    paper_results,
    plan_sweep,
    recipe_for,
    recipes,
    render_film,
    results_table,
    run_experiment,
    run_sweep,
    runner,
)
from stnlib.experiments import __main__ as cli
from stnlib.models import FeatureMapSTClassifier
from stnlib.train import evaluate, fit, loop

CPU = "cpu"
# Two epochs of two steps: long enough to interrupt in the middle, short enough for a unit test.
TINY = Budget("tiny", train_samples=256, test_samples=128, epochs=2, batch_size=128, description="tests")


@pytest.fixture(scope="module", autouse=True)
def mnist_available() -> None:
    try:
        load_mnist("test")
    except MNISTUnavailableError as error:  # `make test` prepares it; a bare checkout may not have it
        pytest.skip(f"MNIST is not prepared ({error}); run `python -m stnlib.data fetch`")


def test_doctests() -> None:
    for module in (paper, recipes, runner):
        failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert tried > 0 and failures == 0, module.__name__


# ---------------------------------------------------------------------------------------------------------------
# The paper's numbers and the experiments they define


def test_paper_results_hold_the_papers_numbers() -> None:
    paper = paper_results()
    # A few cells of Table 1 (Jaderberg et al. 2015), of cluttered MNIST and of MNIST addition.
    assert paper["R"]["FCN"] == 2.1
    assert paper["RTS"]["CNN"] == 0.8
    assert paper["RTS"]["ST-CNN-Aff"] == 0.5
    assert paper["RTS"]["ST-CNN-Proj"] == 0.6
    assert paper["P"]["ST-FCN-Proj"] == 1.4
    assert paper["E"]["ST-FCN-TPS"] == 2.4
    assert paper["E"]["ST-CNN-TPS"] == 1.1
    assert paper["TC"] == {"FCN": 13.2, "CNN": 3.5, "ST-FCN": 2.0, "ST-CNN": 1.7}
    assert paper["ADD"] == {"FCN": 47.7, "CNN": 14.7, "ST-FCN": 18.5, "2xST-FCN": 5.8}
    table1 = (
        "FCN",
        "CNN",
        "ST-FCN-Aff",
        "ST-FCN-Proj",
        "ST-FCN-TPS",
        "ST-CNN-Aff",
        "ST-CNN-Proj",
        "ST-CNN-TPS",
    )
    assert all(tuple(paper[d]) == table1 for d in ("R", "RTS", "P", "E"))
    # In every column of Table 1 an ST-CNN has the lowest error.
    assert all(min(paper[d], key=paper[d].get).startswith("ST-CNN") for d in ("R", "RTS", "P", "E"))


def test_paper_results_is_a_copy() -> None:
    paper_results()["RTS"]["CNN"] = 99.0
    assert paper_results()["RTS"]["CNN"] == 0.8


def test_experiments_match_the_registry_of_datasets() -> None:
    assert DATASETS == ("R", "RTS", "P", "E", "TC", "ADD")
    assert all(d in DISTORTIONS for d in DATASETS)
    groups = {d: g for g in EXPERIMENT_GROUPS.values() for d in g.datasets}
    assert {d: tuple(m) for d, m in paper_results().items()} == {d: groups[d].models for d in DATASETS}
    # the course's own models follow the paper's, and the paper has no error for them
    assert EXPERIMENTS == {d: groups[d].models + groups[d].course_models for d in DATASETS}
    assert EXPERIMENTS["TC"][-1] == "ST-CNN-FM" and paper_error("ST-CNN-FM", "TC") is None


def test_the_papers_groups_split_the_datasets_and_hold_their_models() -> None:
    assert list(EXPERIMENT_GROUPS) == ["distorted", "cluttered", "addition"]
    assert sum((g.datasets for g in EXPERIMENT_GROUPS.values()), ()) == DATASETS
    assert EXPERIMENT_GROUPS["distorted"].datasets == ("R", "RTS", "P", "E")
    for group in EXPERIMENT_GROUPS.values():
        assert group.title and all(
            EXPERIMENTS[d][: len(group.models)] == group.models for d in group.datasets
        )


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_experiment_builds_a_model_for_its_data(dataset: str) -> None:
    distortion = DISTORTIONS[dataset]
    x = torch.rand(2, *distortion.output_shape, generator=torch.Generator().manual_seed(0))
    for model in EXPERIMENTS[dataset]:
        torch.manual_seed(0)
        net = build_experiment_model(model, dataset)
        assert net(x).shape == (2, distortion.num_classes), (model, dataset)


def test_the_feature_map_experiment_puts_an_attention_transformer_after_the_first_block() -> None:
    net = build_experiment_model("st cnn fm", "tc")
    assert isinstance(net, FeatureMapSTClassifier) and net.transformer.transform == "attention"
    assert net.transformer.in_shape == (32, 26, 26)
    assert recipe_for("ST-CNN-FM", "TC", "gpu") == recipe_for("ST-CNN", "TC", "gpu")
    with pytest.raises(ValueError, match="ST-CNN-FM on RTS is not one of"):
        build_experiment_model("ST-CNN-FM", "RTS")


def test_cluttered_transformers_are_downsampling_attention() -> None:
    for model in ("ST-FCN", "ST-CNN"):
        net = build_experiment_model(model, "TC")
        assert net.transformer.transform == "attention"
        x = torch.rand(3, 1, 60, 60)
        out, params = net.transformer(x)
        assert out.shape == (3, 1, *TC_OUTPUT_SIZE) and params.shape == (3, 3)
        # At initialisation the attention is the identity: the output is the whole canvas, resampled.
        expected = torch.nn.functional.interpolate(
            x, size=TC_OUTPUT_SIZE, mode="bilinear", align_corners=False
        )
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_addition_models() -> None:
    assert len(build_experiment_model("2xST-FCN", "ADD").transformers) == 2
    assert build_experiment_model("ST-FCN", "ADD").transformer.transform == "affine"


def test_names_are_forgiving_but_checked() -> None:
    assert canonical_model("st cnn aff") == "ST-CNN-Aff"
    assert canonical_model("2XST_FCN") == "2xST-FCN"
    with pytest.raises(ValueError, match=r"unknown model 'ST-CNN-Foo'.*ST-CNN-Aff"):
        canonical_model("ST-CNN-Foo")
    with pytest.raises(ValueError, match=r"ST-CNN-Aff on TC is not one of the paper's experiments"):
        build_experiment_model("ST-CNN-Aff", "TC")
    with pytest.raises(ValueError, match=r"unknown dataset 'X'.*RTS"):
        build_experiment_model("CNN", "X")


def test_plan_sweep_keeps_the_papers_pairs() -> None:
    pairs, skipped = plan_sweep(["ST-CNN-Aff", "cnn"], ["rts", "TC"])
    assert pairs == [("ST-CNN-Aff", "RTS"), ("CNN", "RTS"), ("CNN", "TC")]
    assert skipped == ["ST-CNN-Aff on TC"]
    with pytest.raises(ValueError, match=r"2xST-FCN is not run on R, RTS"):
        plan_sweep(["CNN", "2xST-FCN"], ["R", "RTS"])


# ---------------------------------------------------------------------------------------------------------------
# Recipes


def test_paper_recipe_fits_in_a_twentieth_of_the_papers_iterations() -> None:
    recipe = recipe_for("ST-CNN-Aff", "RTS", "paper")
    assert recipe.batch_size == 256 and recipe.train_samples == 50_000
    assert recipe.steps <= 150_000 // 20
    assert (recipe.optimizer, recipe.schedule) == ("adamw", "onecycle")


def test_localization_trains_at_the_full_rate_on_distorted_mnist_and_a_tenth_elsewhere() -> None:
    budgets = [*BUDGETS.values(), BUDGETS["paper"].with_epochs(48), BUDGETS["cpu"].with_epochs(38)]
    for budget in budgets:
        for dataset in ("R", "RTS", "p", "E"):
            for model in ("ST-CNN-Aff", "ST-FCN-TPS"):
                assert recipe_for(model, dataset, budget).localization_lr_multiplier == 1.0, (budget, dataset)
        assert recipe_for("ST-CNN", "TC", budget).localization_lr_multiplier == 0.1
        assert recipe_for("2xST-FCN", "ADD", budget).localization_lr_multiplier == 0.1
    with pytest.raises(ValueError, match="unknown dataset 'SVHN'; choose one of R, RTS, P, E, TC, ADD"):
        recipe_for("ST-CNN-Aff", "SVHN", "cpu")


def test_only_the_long_budgets_on_distorted_mnist_smooth_their_labels() -> None:
    for dataset in ("R", "rts", "P", "E"):
        for budget in (BUDGETS["paper"], BUDGETS["paper"].with_epochs(48), BUDGETS["gpu"]):
            recipe = recipe_for("ST-CNN-Aff", dataset, budget)
            assert recipe.label_smoothing == 0.1 and recipe.as_dict()["label_smoothing"] == 0.1
            assert recipe.train_config().label_smoothing == 0.1
    for model, dataset in (("ST-CNN", "TC"), ("2xST-FCN", "ADD")):
        assert recipe_for(model, dataset, "paper").label_smoothing == 0.0
    for name in ("smoke", "cpu"):
        recipe = recipe_for("ST-CNN-Aff", "RTS", name)
        assert recipe.label_smoothing == 0.0 and recipe.train_config().label_smoothing == 0.0


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_fit_trains_with_the_configs_label_smoothing(smoothing: float) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x, y = torch.randn(16, 1, 2, 2), torch.randint(0, 3, (16,))
    with torch.no_grad():
        before = F.cross_entropy(model(x), y, label_smoothing=smoothing)
    config = recipe_for("FCN", "RTS", "gpu").train_config(epochs=1, label_smoothing=smoothing)
    history = fit(model, [(x, y)], config, device="cpu", progress=False)
    assert history.last["train_loss"] == pytest.approx(before.item(), rel=1e-6)


def test_a_result_from_before_label_smoothing_is_reused_without_a_warning(tmp_path) -> None:
    run_experiment("FCN", "R", budget=TINY, run_dir=tmp_path, device=CPU, progress=False)
    path = experiment_dir(tmp_path, "FCN", "R", TINY, 0) / "result.json"
    stored = json.loads(path.read_text())
    del stored["recipe"]["label_smoothing"]  # what results written before the field existed hold
    path.write_text(json.dumps(stored))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = run_experiment("FCN", "R", budget=TINY, run_dir=tmp_path, device=CPU, progress=False)
    assert again.recipe == stored["recipe"]


def test_addition_trains_sixteen_times_the_epochs_at_the_higher_rate_under_every_budget() -> None:
    for name, budget in BUDGETS.items():
        for model in EXPERIMENTS["ADD"]:
            recipe = recipe_for(model, "add", name)
            assert (recipe.epochs, recipe.lr) == (16 * budget.epochs, 3e-3), (name, model)
            assert recipe.steps == 16 * budget.steps
        assert recipe_for("FCN", "RTS", name).epochs == budget.epochs  # other datasets keep the budget's
    assert recipe_for("FCN", "RTS", "cpu").lr == 1e-3  # and their family's rate
    assert recipe_for("2xST-FCN", "ADD", BUDGETS["cpu"].with_epochs(2)).epochs == 32


def test_recipes_follow_the_budget_and_the_family() -> None:
    for name, budget in BUDGETS.items():
        recipe = recipe_for("CNN", "R", name)
        assert (recipe.epochs, recipe.batch_size, recipe.train_samples) == (
            budget.epochs,
            budget.batch_size,
            budget.train_samples,
        )
        assert recipe.steps == budget.steps
    assert recipe_for("2xST-FCN", "ADD", "smoke").family == "fcn"
    assert recipe_for("ST-CNN-TPS", "E", "smoke").family == "cnn"
    assert BUDGETS["smoke"].steps <= 8  # the test suite's budget stays tiny


def test_a_budget_trained_longer_keeps_everything_but_the_epochs_and_is_named_apart() -> None:
    cpu = BUDGETS["cpu"]
    longer = cpu.with_epochs(16)
    assert longer.name == "cpu-16ep" and longer.steps == 4 * cpu.steps
    assert longer.base_name == cpu.base_name == "cpu"
    evenlonger = longer.with_epochs(32)  # named after the budget it comes from, not cpu-16ep-32ep
    assert (evenlonger.name, evenlonger.base_name, evenlonger.steps) == ("cpu-32ep", "cpu", 8 * cpu.steps)
    assert dataclasses.replace(longer, name=cpu.name, epochs=cpu.epochs, description=cpu.description) == cpu
    assert recipe_for("ST-CNN", "TC", longer).steps == longer.steps
    assert cpu.with_epochs(cpu.epochs) is cpu
    for bad in (0, -2, 1.5, True, "16"):
        with pytest.raises(ValueError, match="epochs must be a positive whole number"):
            cpu.with_epochs(bad)


# ---------------------------------------------------------------------------------------------------------------
# Running, results, resume


def test_smoke_run_writes_a_result_and_a_table_row(tmp_path) -> None:
    result = run_experiment(
        "ST-FCN-Aff", "R", budget="smoke", seed=0, run_dir=tmp_path, device=CPU, progress=False
    )
    where = experiment_dir(tmp_path, "ST-FCN-Aff", "R", "smoke", 0)
    stored = json.loads((where / "result.json").read_text())
    for key in (
        "model",
        "dataset",
        "budget",
        "seed",
        "test_error",
        "epochs",
        "train_time_s",
        "device",
        "torch_version",
    ):
        assert key in stored
    assert (stored["model"], stored["dataset"], stored["budget"], stored["seed"]) == (
        "ST-FCN-Aff",
        "R",
        "smoke",
        0,
    )
    assert stored["epochs"] == BUDGETS["smoke"].epochs and stored["steps"] == BUDGETS["smoke"].steps
    assert stored["torch_version"] == torch.__version__ and stored["device"] == "cpu"
    assert ExperimentResult.from_dict(stored) == result

    # The stored error is the trained network's error on the fixed test digits.
    test = DistortedMNIST("R", "test", device=CPU, n_samples=BUDGETS["smoke"].test_samples, seed=0)
    assert result.network is not None
    assert result.test_error == pytest.approx(100 * evaluate(result.network, test)["error"], abs=1e-3)

    table = (tmp_path / "results.md").read_text()
    assert table == results_table([result])
    row = f"| ST-FCN-Aff | R | {result.test_error:.2f} | 1.2 | 0 | smoke | {BUDGETS['smoke'].steps} |"
    assert row in table
    assert "| CNN |" not in table  # only cells that were trained appear


def test_table_is_rebuilt_from_the_run_dir(tmp_path, capsys) -> None:
    assert cli.main(["--models", "FCN", "--datasets", "R", "--budget", "smoke", "--run-dir", str(tmp_path),
                     "--device", "cpu", "--no-progress"]) == 0  # fmt: skip
    result = load_results(tmp_path)[0]
    (tmp_path / "results.md").unlink()
    capsys.readouterr()
    assert cli.main(["--table", "--run-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    table = (tmp_path / "results.md").read_text()
    assert table == results_table([result])
    assert f"| FCN | R | {result.test_error:.2f} | 2.1 | 0 | smoke |" in table and table in printed


def test_cli_trains_longer_than_the_budget_and_labels_the_result(tmp_path) -> None:
    assert cli.main(["--models", "FCN", "--datasets", "R", "--budget", "smoke", "--epochs", "2", "--run-dir",
                     str(tmp_path), "--device", "cpu", "--no-progress"]) == 0  # fmt: skip
    (result,) = load_results(tmp_path)
    assert (result.budget, result.recipe["epochs"], result.recipe["steps"]) == (
        "smoke-2ep",
        2,
        2 * BUDGETS["smoke"].steps,
    )
    assert (tmp_path / "smoke-2ep" / "R" / "FCN" / "seed-0" / "result.json").is_file()
    assert "| smoke-2ep | 8 |" in (tmp_path / "results.md").read_text()


def test_cli_trains_in_mixed_precision_and_records_it(tmp_path, capsys) -> None:
    common = ["--models", "FCN", "--datasets", "R", "--budget", "smoke", "--device", "cpu"]
    assert cli.main([*common, "--run-dir", str(tmp_path / "fp32"), "--no-progress"]) == 0
    assert cli.main([*common, "--run-dir", str(tmp_path / "bf16"), "--precision", "bf16"]) == 0
    assert "on cpu (bf16)" in capsys.readouterr().out
    (fp32,) = load_results(tmp_path / "fp32")
    (bf16,) = load_results(tmp_path / "bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    stored = json.loads(next((tmp_path / "bf16").rglob("result.json")).read_text())
    assert stored["precision"] == "bf16"
    # Same seed, same data: only bfloat16 arithmetic can make the training losses differ.
    assert bf16.history["train_loss"] != fp32.history["train_loss"]
    assert bf16.history["train_loss"] == pytest.approx(fp32.history["train_loss"], rel=0.05)


def test_fp16_without_cuda_trains_in_fp32_and_says_so(tmp_path) -> None:
    with pytest.warns(UserWarning, match="precision='fp16' needs a CUDA GPU"):
        result = run_experiment(
            "FCN", "R", budget="smoke", run_dir=tmp_path, device=CPU, precision="fp16", progress=False
        )
    assert result.precision == "fp32"
    # Reusing the stored result trains nothing, so there is nothing to warn about.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_experiment(
            "FCN", "R", budget="smoke", run_dir=tmp_path, device=CPU, precision="fp16", progress=False
        )
    with pytest.raises(ValueError, match="precision must be one of"):
        run_experiment("FCN", "R", budget="smoke", device=CPU, precision="half", progress=False)  # type: ignore[arg-type]


def test_results_written_before_precision_was_recorded_read_as_fp32() -> None:
    stored = _result("CNN", "R", 1.25).to_dict()
    del stored["precision"]
    assert ExperimentResult.from_dict(stored).precision == "fp32"


def test_foreign_result_files_are_left_out_with_a_warning(tmp_path) -> None:
    kept = run_experiment("FCN", "R", budget="smoke", run_dir=tmp_path, device=CPU, progress=False)
    foreign = tmp_path / "smoke" / "R" / "MyNet" / "seed-0" / "result.json"
    foreign.parent.mkdir(parents=True)
    foreign.write_text('{"model": "MyNet", "test_error": 1.0}')
    damaged = tmp_path / "smoke" / "R" / "CNN" / "seed-0" / "result.json"
    damaged.parent.mkdir(parents=True)
    damaged.write_text('{"model": "CN')
    with pytest.warns(UserWarning, match="left out") as record:
        assert load_results(tmp_path) == [kept]
    assert {str(foreign), str(damaged)} <= {
        str(w.message).split(": ")[0].removeprefix("left out ") for w in record
    }


def test_table_of_an_empty_run_dir_says_so(tmp_path, capsys) -> None:
    assert cli.main(["--table", "--run-dir", str(tmp_path)]) == 1
    assert "no results yet" in capsys.readouterr().out


def test_sweep_skips_finished_experiments(tmp_path, monkeypatch) -> None:
    first = run_experiment("FCN", "R", budget="smoke", run_dir=tmp_path, device=CPU, progress=False)
    trained = []
    real_fit = runner.fit
    monkeypatch.setattr(
        runner, "fit", lambda model, *a, **kw: trained.append(model) or real_fit(model, *a, **kw)
    )
    results = run_sweep(
        ["FCN", "ST-FCN-Aff"], ["R"], budget="smoke", run_dir=tmp_path, device=CPU, progress=False
    )
    assert [r.model for r in results] == ["FCN", "ST-FCN-Aff"]
    assert len(trained) == 1  # only ST-FCN-Aff was trained
    assert results[0] == first  # the stored result, unchanged (same finished_at)
    assert [r.model for r in load_results(tmp_path)] == ["FCN", "ST-FCN-Aff"]
    # A skipped experiment still hands back its trained network, loaded from its checkpoint.
    again = run_experiment("FCN", "R", budget="smoke", run_dir=tmp_path, device=CPU, progress=False)
    assert again.network is not None and first.network is not None
    for a, b in zip(again.network.state_dict().values(), first.network.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_reusing_a_result_of_another_recipe_warns(tmp_path) -> None:
    run_experiment("FCN", "R", budget=TINY, run_dir=tmp_path, device=CPU, progress=False)
    longer = dataclasses.replace(TINY, epochs=3)  # the same budget name with other numbers
    with pytest.warns(UserWarning, match=r"another recipe \(epochs: 2 then, 3 now, steps: 4 then, 6 now\)"):
        again = run_experiment("FCN", "R", budget=longer, run_dir=tmp_path, device=CPU, progress=False)
    assert again.epochs == 2


def test_interrupted_experiment_continues_from_its_checkpoint(tmp_path, monkeypatch, capsys) -> None:
    straight = run_experiment(
        "FCN", "R", budget=TINY, run_dir=tmp_path / "straight", device=CPU, progress=False
    )

    real_run_epoch = loop._Run.run_epoch

    def stop_in_second_epoch(self, epoch, *args, **kwargs):
        if epoch == 1:
            raise KeyboardInterrupt  # what Ctrl-C or Jupyter's stop button raises
        return real_run_epoch(self, epoch, *args, **kwargs)

    monkeypatch.setattr(loop._Run, "run_epoch", stop_in_second_epoch)
    with pytest.raises(ExperimentInterrupted, match="after 1 of 2 epochs"):
        run_experiment("FCN", "R", budget=TINY, run_dir=tmp_path / "resumed", device=CPU, progress=False)
    where = experiment_dir(tmp_path / "resumed", "FCN", "R", TINY, 0)
    assert not (where / "result.json").exists()
    assert [p.name for p in (where / "checkpoints").glob("epoch-*.pt")] == ["epoch-0001.pt"]

    monkeypatch.setattr(loop._Run, "run_epoch", real_run_epoch)
    capsys.readouterr()
    resumed = run_experiment(
        "FCN", "R", budget=TINY, run_dir=tmp_path / "resumed", device=CPU, progress=False
    )
    assert "resuming from" in capsys.readouterr().out
    # Resuming reproduces the uninterrupted run.
    assert resumed.history == straight.history
    assert resumed.test_error == straight.test_error and resumed.epochs == 2


def test_diverged_run_is_recorded_as_such(tmp_path, monkeypatch) -> None:
    real_recipe_for = runner.recipe_for
    # An absurd learning rate overflows the weights in the first epoch; fit stops with a warning.
    monkeypatch.setattr(runner, "recipe_for", lambda *a: dataclasses.replace(real_recipe_for(*a), lr=1e30))
    with pytest.warns(UserWarning, match="diverged"):
        result = run_experiment("FCN", "R", budget=TINY, run_dir=tmp_path, device=CPU, progress=False)
    assert result.status == "diverged" and result.epochs == 1 and result.history["train_loss"] == [None]
    stored = json.loads((experiment_dir(tmp_path, "FCN", "R", TINY, 0) / "result.json").read_text())
    assert stored["status"] == "diverged"
    assert "(1 diverged)" in (tmp_path / "results.md").read_text()


def test_run_without_run_dir_saves_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_experiment("FCN", "R", budget="smoke", device=CPU, progress=False)
    assert list(tmp_path.iterdir()) == []
    assert 0 <= result.test_error <= 100 and result.paper_error == 2.1


# ---------------------------------------------------------------------------------------------------------------
# The table


def _result(
    model: str, dataset: str, error: float, seed: int = 0, status: str = "finished"
) -> ExperimentResult:
    return ExperimentResult(
        model=model, dataset=dataset, budget="cpu", seed=seed, test_error=error, paper_error=None, epochs=1,
        steps=10, train_time_s=1.0, device="cpu", torch_version=torch.__version__, stnlib_version="0",
        status=status, recipe={}, history={}, test_samples=100, finished_at="2025-01-01T00:00:00+00:00",
    )  # fmt: skip


def test_table_reports_mean_and_std_over_seeds() -> None:
    errors = [1.0, 1.5, 3.5]
    table = results_table([_result("CNN", "RTS", e, seed=s) for s, e in enumerate(errors)])
    expected = f"{statistics.fmean(errors):.2f} ± {statistics.stdev(errors):.2f}"
    assert f"| CNN | RTS | {expected} | 0.8 | 0, 1, 2 | cpu | 10 |" in table
    assert "### Distorted MNIST (Table 1)" in table and "cluttered" not in table


def test_table_groups_rows_in_the_papers_order_and_flags_divergence() -> None:
    results = [
        _result("2xST-FCN", "ADD", 9.0),
        _result("ST-CNN-Aff", "RTS", 2.0, status="diverged"),
        _result("CNN", "RTS", 3.0),
        _result("ST-CNN", "TC", 4.0),
    ]
    table = results_table(results)
    lines = [line for line in table.splitlines() if line.startswith("| ") and "Model" not in line]
    assert [line.split(" | ")[0] for line in lines] == ["| CNN", "| ST-CNN-Aff", "| ST-CNN", "| 2xST-FCN"]
    assert "2.00 (1 diverged)" in table
    no_paper = results_table(results, paper=False)
    assert "Paper" not in no_paper and "| CNN | RTS | 3.00 | 0 | cpu | 10 |" in no_paper


def test_result_round_trips_through_json() -> None:
    result = _result("CNN", "R", 1.25)
    again = ExperimentResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result and "network" not in result.to_dict()
    with pytest.raises(ValueError, match="missing test_error"):
        ExperimentResult.from_dict({k: v for k, v in result.to_dict().items() if k != "test_error"})


# ---------------------------------------------------------------------------------------------------------------
# The command line


def test_cli_parses_names_the_experiments_way() -> None:
    args = cli.build_parser().parse_args(
        ["--models", "st cnn aff", "cnn", "--datasets", "rts", "R", "--seeds", "0", "1", "--budget", "smoke"]
    )
    assert args.models == ["ST-CNN-Aff", "CNN"] and args.datasets == ["RTS", "R"] and args.seeds == [0, 1]
    assert args.device == "auto" and args.budget == "smoke"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--models", "ResNet"], "argument --models: unknown model 'ResNet'"),
        (["--datasets", "SVHN"], "argument --datasets: unknown dataset 'SVHN'; choose one of R "),
        (["--models", "ST-CNN", "--datasets", "RTS"], "ST-CNN is not run on RTS in the paper"),
        (["--seeds", "-1"], "a seed must be a non-negative integer"),
        (["--budget", "huge"], "invalid choice: 'huge'"),
        (["--epochs", "0"], "epochs must be a positive integer; got 0"),
        (["--epochs", "many"], "epochs must be a positive integer; got 'many'"),
        (["--precision", "half"], "argument --precision: invalid choice: 'half'"),
    ],
)
def test_cli_rejects_unknown_names_with_a_clear_message(argv, message, capsys, tmp_path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--run-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing was trained


def test_cli_lists_experiments_and_budgets(capsys) -> None:
    assert cli.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "RTS" in out and "ST-CNN-Aff 0.5" in out and "2xST-FCN 5.8" in out
    assert all(name in out for name in BUDGETS)
    assert "ADD (MNIST addition) trains 16x the budget's epochs at lr 0.003" in out
    assert "localization x1, label smoothing 0.1)" in out and out.count("label smoothing") == 2  # gpu, paper


# ---------------------------------------------------------------------------------------------------------------
# Training films


def test_an_experiment_records_its_transformers_film_after_every_epoch(tmp_path) -> None:
    result = run_experiment("ST-CNN-Aff", "RTS", budget=TINY, run_dir=tmp_path, device=CPU, progress=False)
    film = result.film
    assert film is not None and film["epochs"] == [1, 2]
    assert torch.tensor(film["params"]).shape == (2, FILM_DIGITS, 2, 3)
    inputs, _ = film_digits("RTS", CPU)
    with torch.no_grad():
        _, final = result.network.eval().transformer(inputs)
    torch.testing.assert_close(torch.tensor(film["params"][-1]), final, atol=1e-4, rtol=0)
    stored = json.loads(
        (experiment_dir(tmp_path, "ST-CNN-Aff", "RTS", TINY, 0) / runner.FILM_FILE).read_text()
    )
    assert stored == film and load_results(tmp_path)[0].film == film

    images, frames, captions = render_film(result.network, "RTS", film, CPU)
    assert images.shape == (FILM_DIGITS, 1, 42, 42) and captions == ["epoch 1 of 2", "epoch 2 of 2"]
    torch.testing.assert_close(
        frames[-1], result.network.transformer.apply_params(inputs, final), atol=1e-3, rtol=0
    )


def test_the_film_recorder_uses_no_global_random_numbers_and_films_only_transformers() -> None:
    network = build_experiment_model("ST-CNN-Aff", "R")
    recorder = runner._FilmRecorder(network, "R", torch.device(CPU), None)
    state = torch.random.get_rng_state()
    recorder(1, network.train(), None)
    assert torch.equal(state, torch.random.get_rng_state()) and network.training  # mode restored
    recorder(2, network, None)
    recorder(2, network, None)  # an epoch trained again after a resume replaces its frame
    assert recorder.as_dict()["epochs"] == [1, 2]
    assert (
        runner._FilmRecorder(build_experiment_model("CNN", "R"), "R", torch.device(CPU), None).as_dict()
        is None
    )
    with pytest.raises(TypeError, match="one spatial transformer"):
        render_film(build_experiment_model("2xST-FCN", "ADD"), "ADD", {"epochs": [1], "params": [[0]]})
    with pytest.raises(ValueError, match="at least one frame"):
        render_film(network, "R", {"epochs": [], "params": []})


def test_an_interrupted_experiments_film_continues_where_it_stopped(tmp_path, monkeypatch) -> None:
    straight = run_experiment(
        "ST-FCN-Aff", "R", budget=TINY, run_dir=tmp_path / "a", device=CPU, progress=False
    )
    real_run_epoch = loop._Run.run_epoch

    def stop_in_second_epoch(self, epoch, *args, **kwargs):
        if epoch == 1:
            raise KeyboardInterrupt
        return real_run_epoch(self, epoch, *args, **kwargs)

    monkeypatch.setattr(loop._Run, "run_epoch", stop_in_second_epoch)
    with pytest.raises(ExperimentInterrupted):
        run_experiment("ST-FCN-Aff", "R", budget=TINY, run_dir=tmp_path / "b", device=CPU, progress=False)
    monkeypatch.setattr(loop._Run, "run_epoch", real_run_epoch)
    resumed = run_experiment(
        "ST-FCN-Aff", "R", budget=TINY, run_dir=tmp_path / "b", device=CPU, progress=False
    )
    assert resumed.film == straight.film and resumed.film["epochs"] == [1, 2]
