"""stnlib.train: device choice, seeding, mixed precision, optimiser recipes, fit, evaluate and History."""

from __future__ import annotations

import doctest
import math
import os
import random
import warnings
from collections import namedtuple

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stnlib import train
from stnlib.train import (
    History,
    autocast_context,
    evaluate,
    fit,
    make_grad_scaler,
    make_optimizer,
    make_scheduler,
    move_to_device,
    optimizer_param_groups,
    seed_everything,
    select_device,
)
from stnlib.train import device as device_module

matplotlib.use("Agg")
CPU = torch.device("cpu")


def blobs(n: int = 256, seed: int = 0, batch: int = 32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Four well separated Gaussian blobs in 2-D, one class each, as a list of (x, y) batches."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    centres = torch.tensor([[2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0], [2.0, -2.0]])
    x = centres[y] + 0.5 * torch.randn(n, 2, generator=g)
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, n, batch)]


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 4))


class WithLocalization(nn.Module):
    """A classifier with a submodule named ``localization``, like a hand-written STN."""

    def __init__(self) -> None:
        super().__init__()
        self.localization = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
        self.classifier = nn.Linear(2, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x + self.localization(x))


# ---- device -----------------------------------------------------------------------------------------------------


def test_select_device_prefers_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module, "_mps_available", lambda: False)
    assert select_device() == CPU
    monkeypatch.setattr(device_module, "_mps_available", lambda: True)
    assert select_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device() == torch.device("cuda")


def test_select_device_explains_missing_or_unknown_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module, "_mps_available", lambda: False)
    assert select_device("cpu") == CPU and select_device(torch.device("cpu")) == CPU
    with pytest.raises(ValueError, match=r"CUDA is not available.*device=None"):
        select_device("cuda")
    with pytest.raises(ValueError, match="MPS backend is not available"):
        select_device("mps")
    with pytest.raises(ValueError, match="not a device torch knows"):
        select_device("gpu")
    with pytest.raises(TypeError, match="device name"):
        select_device(0)  # type: ignore[arg-type]


def test_seed_everything_repeats_python_numpy_and_torch_draws() -> None:
    def draws() -> tuple[float, float, torch.Tensor]:
        return random.random(), np.random.rand(), torch.rand(3)  # noqa: NPY002 — the global generator is the point

    g1 = seed_everything(123)
    first, first_g = draws(), torch.rand(3, generator=g1)
    g2 = seed_everything(123)
    second, second_g = draws(), torch.rand(3, generator=g2)
    assert first[:2] == second[:2] and torch.equal(first[2], second[2]) and torch.equal(first_g, second_g)
    seed_everything(124)
    assert not torch.equal(draws()[2], first[2])
    with pytest.raises(ValueError, match="non-negative"):
        seed_everything(-1)
    with pytest.raises(TypeError, match="int"):
        seed_everything(1.5)  # type: ignore[arg-type]


def test_seed_everything_changes_global_determinism_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    # A spy instead of the real switch: its first call imports torch._inductor (seconds), and it is process-wide.
    calls: list[tuple[bool, bool]] = []
    monkeypatch.setattr(
        torch, "use_deterministic_algorithms", lambda mode, warn_only=False: calls.append((mode, warn_only))
    )
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    seed_everything(0)
    assert calls == [] and not torch.backends.cudnn.deterministic and torch.backends.cudnn.benchmark
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    seed_everything(0, deterministic=True)
    assert calls == [(True, True)]
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_autocast_context_matches_torch_autocast_on_cpu() -> None:
    layer = nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with autocast_context("cpu", "bf16"):
        ours = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        theirs = layer(x)
    assert ours.dtype == torch.bfloat16 and torch.equal(ours, theirs)
    with autocast_context(CPU, "fp32"):
        assert layer(x).dtype == torch.float32
    with pytest.raises(ValueError, match="use 'bf16'"):
        autocast_context("cpu", "bfloat16")  # type: ignore[arg-type]


def test_grad_scaler_is_enabled_only_for_fp16_on_cuda_and_passes_through_otherwise() -> None:
    for precision in ("fp32", "bf16", "fp16"):
        scaler = make_grad_scaler("cpu", precision)
        assert not scaler.is_enabled()
        loss = torch.tensor(2.0)
        assert scaler.scale(loss) is loss
    if torch.cuda.is_available():
        assert make_grad_scaler("cuda", "fp16").is_enabled()
        assert not make_grad_scaler("cuda", "bf16").is_enabled()


def test_move_to_device_keeps_structure_and_uses_non_blocking_only_for_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    Batch = namedtuple("Batch", "x y")
    x, y = torch.zeros(2, 3), torch.tensor([1, 0])
    moved = move_to_device({"a": (x, [y, "label"]), "b": Batch(x, y), "n": 3}, "cpu")
    assert (
        moved["a"][0] is x and moved["a"][1][0] is y and moved["a"][1][1] == "label"
    )  # no copy on the same device
    assert isinstance(moved["b"], Batch) and moved["b"].y is y and moved["n"] == 3
    assert move_to_device(x, "meta").device.type == "meta"  # a real copy to another device
    calls: list[tuple[str, bool]] = []
    real_to = torch.Tensor.to

    def spy(self: torch.Tensor, device: torch.device, non_blocking: bool = False) -> torch.Tensor:
        calls.append((device.type, non_blocking))
        return real_to(self, "cpu")  # pretend; this machine may have no GPU

    monkeypatch.setattr(torch.Tensor, "to", spy)
    move_to_device((x, y), "cpu")
    move_to_device((x, y), "cuda")
    assert calls == [("cpu", False), ("cpu", False), ("cuda", True), ("cuda", True)]
    assert train.loader_options("cpu") == {"pin_memory": False}
    assert train.loader_options("cuda") == {"pin_memory": True}


# ---- optimiser and schedule ------------------------------------------------------------------------------------


def test_param_groups_scale_localization_lr_and_skip_decay_on_biases() -> None:
    model = WithLocalization()
    groups = optimizer_param_groups(model, 0.1, weight_decay=0.01, localization_lr_multiplier=0.1)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"main", "main/no_decay", "localization", "localization/no_decay"}
    assert by_name["localization"]["lr"] == pytest.approx(0.01) and by_name["main"]["lr"] == pytest.approx(
        0.1
    )
    assert all(p.ndim == 1 for n in ("main/no_decay", "localization/no_decay") for p in by_name[n]["params"])
    assert by_name["main/no_decay"]["weight_decay"] == 0.0 and by_name["main"]["weight_decay"] == 0.01
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())  # each parameter exactly once
    loc_ids = {id(p) for p in model.localization.parameters()}
    assert {id(p) for n in ("localization", "localization/no_decay") for p in by_name[n]["params"]} == loc_ids


def test_param_groups_find_the_course_localization_net_under_any_name() -> None:
    models = pytest.importorskip("stnlib.models")

    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.where = models.LocalizationNet((1, 12, 12), "affine", kind="fc", hidden=(8,))
            self.head = nn.Linear(6, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.where(x).flatten(1))

    model = Custom()
    groups = optimizer_param_groups(model, 1.0, localization_lr_multiplier=0.5)
    loc = {id(p) for g in groups if g["name"].startswith("localization") for p in g["params"]}
    assert loc == {id(p) for p in model.where.parameters()}


def test_make_optimizer_and_frozen_models() -> None:
    sgd = make_optimizer(mlp(), "sgd", 0.01)
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9
    adamw = make_optimizer(mlp(), "adamw", 1e-3)
    assert isinstance(adamw, torch.optim.AdamW)
    assert {g["weight_decay"] for g in adamw.param_groups} == {0.0, 0.01}
    frozen = mlp().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        make_optimizer(frozen)
    with pytest.raises(ValueError, match="'adamw', 'sgd'"):
        make_optimizer(mlp(), "adam")  # type: ignore[arg-type]


def test_paper_schedule_decays_tenfold_after_a_third_and_two_thirds_of_the_steps() -> None:
    opt = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.01)
    scheduler = make_scheduler(opt, "paper", total_steps=30)
    lrs = []
    for _ in range(30):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    assert lrs[:10] == pytest.approx([0.01] * 10)
    assert lrs[10:20] == pytest.approx([0.001] * 10)
    assert lrs[20:] == pytest.approx([0.0001] * 10)


def test_onecycle_schedule_peaks_at_each_groups_lr_and_anneals() -> None:
    opt = make_optimizer(WithLocalization(), "adamw", 0.01, localization_lr_multiplier=0.1)
    peaks = [g["lr"] for g in opt.param_groups]
    scheduler = make_scheduler(opt, "onecycle", total_steps=100)
    history = []
    for _ in range(100):
        history.append([g["lr"] for g in opt.param_groups])
        opt.step()
        scheduler.step()
    per_group = list(zip(*history, strict=True))
    for peak, lrs in zip(peaks, per_group, strict=True):
        assert max(lrs) == pytest.approx(peak, rel=1e-3)
        assert lrs[0] < peak / 10 and lrs[-1] < peak / 1000
    assert make_scheduler(opt, "none", total_steps=100) is None


# ---- fit and evaluate ------------------------------------------------------------------------------------------


def test_fit_lowers_the_loss_on_a_separable_problem(capsys: pytest.CaptureFixture[str]) -> None:
    model = mlp()
    history = fit(model, blobs(), val_data=blobs(seed=1), epochs=4, lr=0.05, device="cpu", progress=False)
    assert capsys.readouterr() == ("", "")  # progress=False prints nothing
    assert history.epochs == [1, 2, 3, 4]
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history.last["val_acc"] >= 0.95
    assert set(history.metrics) == {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time"}
    # the history's validation numbers are evaluate()'s
    assert evaluate(model, blobs(seed=1))["loss"] == pytest.approx(history.last["val_loss"], rel=1e-6)


def test_fit_with_progress_bar_shows_loss_and_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    fit(mlp(), blobs(), epochs=1, device="cpu", progress=True, schedule="none")
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "train_loss=" in err and "train_acc=" in err


def test_fit_keeps_one_progress_bar_for_the_whole_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tqdm.auto

    bars: list[tqdm.auto.tqdm] = []

    class CountingBar(tqdm.auto.tqdm):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(tqdm.auto, "tqdm", CountingBar)
    fit(mlp(), blobs(), epochs=3, device="cpu", progress=True, schedule="none")
    assert len(bars) == 1  # restarted each epoch, not one bar per epoch
    assert bars[0].desc.startswith("epoch 3/3") and bars[0].n == bars[0].total  # ends on the full last epoch
    err = capsys.readouterr().err
    assert "epoch 1/3" in err and "epoch 2/3" in err and "epoch 3/3" in err


def test_evaluate_matches_cross_entropy_on_a_hand_made_case() -> None:
    model = nn.Linear(2, 3)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
        model.bias.zero_()
    x = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 1.0], [-1.0, -1.0], [1.0, 3.0]])
    y = torch.tensor([0, 1, 1, 2, 1])  # predictions: 0, 1, 0, 2, 1 -> 4 of 5 right
    batches = [(x[:2], y[:2]), (x[2:], y[2:])]  # unequal batch sizes: the mean must be per sample
    model.train()
    result = evaluate(model, batches)
    assert result["accuracy"] == pytest.approx(0.8) and result["error"] == pytest.approx(0.2)
    assert result["loss"] == pytest.approx(F.cross_entropy(model(x), y).item(), rel=1e-6)
    assert model.training  # the mode is restored


def test_evaluate_turns_dropout_off_and_reports_nan_accuracy_for_regression() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Dropout(0.5), nn.Linear(2, 4))
    data = blobs(64)
    assert evaluate(model, data) == evaluate(model, data)
    regression = [(torch.randn(4, 2), torch.randn(4, 1))]
    result = evaluate(nn.Linear(2, 1), regression, loss_fn=F.mse_loss)
    assert math.isnan(result["accuracy"]) and result["loss"] >= 0
    with pytest.raises(ValueError, match="no batches"):
        evaluate(model, [])


def test_bf16_autocast_path_runs_on_cpu() -> None:
    model = mlp()
    dtypes: set[torch.dtype] = set()
    model[0].register_forward_hook(lambda _m, _i, out: dtypes.add(out.dtype))
    history = fit(model, blobs(), epochs=2, lr=0.05, precision="bf16", device="cpu", progress=False)
    assert dtypes == {torch.bfloat16}
    assert model[0].weight.dtype == torch.float32  # master weights stay float32
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert evaluate(model, blobs(seed=1), precision="bf16")["accuracy"] >= 0.9


def test_fp16_without_cuda_warns_and_trains_in_fp32() -> None:
    model = mlp()
    dtypes: set[torch.dtype] = set()
    model[0].register_forward_hook(lambda _m, _i, out: dtypes.add(out.dtype))
    with pytest.warns(UserWarning, match="fp16.*CUDA"):
        fit(model, blobs(64), epochs=1, precision="fp16", device="cpu", progress=False)
    assert dtypes == {torch.float32}


def test_fit_takes_tuple_outputs_dataloaders_and_own_optimizers() -> None:
    class WithTheta(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = mlp()

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.net(x), torch.zeros(x.shape[0], 2, 3)

    x = torch.cat([b[0] for b in blobs()])
    y = torch.cat([b[1] for b in blobs()])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=True)
    model = WithTheta()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(model, loader, epochs=3, optimizer=opt, schedule="paper", device="cpu", progress=False)
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.001)  # two tenfold decays over the run
    with pytest.raises(ValueError, match="lr cannot be combined with your own optimizer"):
        fit(model, loader, epochs=1, optimizer=opt, lr=0.1, device="cpu", progress=False)


def test_fit_calls_callbacks_after_every_epoch_and_they_can_log() -> None:
    seen = []

    def callback(epoch: int, model: nn.Module, history: History) -> None:
        seen.append((epoch, len(history), isinstance(model, nn.Module)))
        history.log(weight_norm=model[0].weight.norm())

    history = fit(mlp(), blobs(64), epochs=3, device="cpu", progress=False, callbacks=[callback])
    assert seen == [(1, 1, True), (2, 2, True), (3, 3, True)]
    assert len(history["weight_norm"]) == 3 and all(v > 0 for v in history["weight_norm"])


def test_fit_stops_with_a_hint_when_the_loss_is_nan(tmp_path) -> None:
    def nan_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y) * torch.tensor(float("nan"))

    with pytest.warns(UserWarning, match="localization_lr_multiplier"):
        history = fit(
            mlp(),
            blobs(64),
            epochs=3,
            loss_fn=nan_loss,
            device="cpu",
            progress=False,
            checkpoint_dir=tmp_path,
        )
    assert len(history) == 1 and math.isnan(history.last["train_loss"])
    assert train.list_checkpoints(tmp_path) == []


@pytest.mark.parametrize("progress", [False, True])
def test_fit_returns_history_on_keyboard_interrupt_without_checkpoints(
    capsys: pytest.CaptureFixture[str], progress: bool
) -> None:
    class Interrupting:
        def __init__(self) -> None:
            self.epoch = 0

        def __iter__(self):
            self.epoch += 1
            for i, batch in enumerate(blobs(64)):
                if self.epoch == 3 and i == 1:
                    raise KeyboardInterrupt
                yield batch

        def __len__(self) -> int:
            return 2

    history = fit(mlp(), Interrupting(), epochs=5, device="cpu", progress=progress)
    assert history.epochs == [1, 2]
    out = capsys.readouterr().out
    assert "interrupted during epoch 3 of 5" in out and "checkpoint_dir" in out


def test_compile_falls_back_to_eager_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_compile(model: nn.Module, **_: object):
        def run(*args: object) -> object:
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    reference = mlp()
    fit(reference, blobs(64), epochs=2, device="cpu", progress=False)
    model = mlp()
    with pytest.warns(UserWarning, match="torch.compile is not usable here.*no C\\+\\+ compiler"):
        fit(model, blobs(64), epochs=2, device="cpu", progress=False, compile=True)
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(a, b)  # the failed first step left no trace

    def unavailable(model: nn.Module, **_: object):
        raise RuntimeError("torch.compile is not supported on Python 3.99")

    monkeypatch.setattr(torch, "compile", unavailable)
    with pytest.warns(UserWarning, match="not supported"):
        fit(mlp(), blobs(64), epochs=1, device="cpu", progress=False, compile=True)


def test_fit_rejects_bad_arguments_with_hints() -> None:
    data = blobs(64)
    with pytest.raises(ValueError, match="epochs must be an int > 0"):
        fit(mlp(), data, epochs=0, progress=False)
    with pytest.raises(ValueError, match="schedule must be one of"):
        fit(mlp(), data, epochs=1, schedule="cosine", progress=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="resume=True needs the checkpoint_dir"):
        fit(mlp(), data, epochs=1, resume=True, progress=False)
    with pytest.raises(TypeError, match=r"must yield \(x, y\) pairs.*DataLoader"):
        fit(mlp(), [torch.zeros(4, 2)], epochs=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match="disagree on N"):
        fit(
            mlp(),
            [(torch.zeros(4, 2), torch.zeros(3, dtype=torch.long))],
            epochs=1,
            device="cpu",
            progress=False,
        )
    generator_data = (b for b in data)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        fit(mlp(), generator_data, epochs=1, device="cpu", progress=False)


def test_fit_accepts_data_without_len_given_steps_per_epoch() -> None:
    class Stream:
        def __iter__(self):
            return iter(blobs(64))

    history = fit(mlp(), Stream(), epochs=2, steps_per_epoch=2, device="cpu", progress=False)
    assert len(history) == 2


# ---- History ---------------------------------------------------------------------------------------------------


def test_history_records_columns_best_and_state() -> None:
    h = History()
    h.append(1, train_loss=1.0, val_acc=0.5, val_loss=float("nan"))
    h.append(2, train_loss=0.4, val_acc=0.9, val_loss=0.7)
    h.append(3, train_loss=0.4, val_acc=0.9, val_loss=0.8)
    h.log(note="last")
    assert h.as_dict() == {
        "epoch": [1, 2, 3],
        "train_loss": [1.0, 0.4, 0.4],
        "val_acc": [0.5, 0.9, 0.9],
        "val_loss": pytest.approx([float("nan"), 0.7, 0.8], nan_ok=True),
        "note": pytest.approx([float("nan"), float("nan"), "last"], nan_ok=True),
    }
    assert h.best("train_loss")["epoch"] == 2  # the first of tied epochs
    assert h.best("val_acc")["epoch"] == 2 and h.best("val_acc", mode="min")["epoch"] == 1
    assert h.best("val_loss")["epoch"] == 2  # NaN never wins
    assert History.from_state_dict(h.state_dict()) == h
    copied = History.from_state_dict(
        {"records": [{**r, "val_loss": float(str(r["val_loss"]))} for r in h.records]}
    )
    assert copied == h  # a NaN read back from a file is a new float object, and still equal
    assert copied != History.from_state_dict({"records": h.records[:2]})
    assert "3 epochs" in repr(h)
    with pytest.raises(ValueError, match="not after"):
        h.append(3, train_loss=0.1)
    with pytest.raises(KeyError, match=r"no metric 'val_accuracy'.*train_loss"):
        h.best("val_accuracy")
    with pytest.raises(TypeError, match=r"\.item\(\)"):
        h.log(bad=torch.zeros(2))


def test_history_plot_returns_a_figure_with_train_and_val_together() -> None:
    import matplotlib.pyplot as plt

    h = History()
    for epoch in (1, 2, 3):
        h.append(
            epoch,
            train_loss=1 / epoch,
            val_loss=1.2 / epoch,
            train_acc=0.5,
            val_acc=0.6,
            lr=0.1,
            epoch_time=1.0,
        )
    fig = h.plot()
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert len(fig.axes) == 3 and "epoch_time" not in titles  # loss, acc, lr
    loss_axis = next(ax for ax in fig.axes if any(line.get_label() == "val_loss" for line in ax.get_lines()))
    assert {line.get_label() for line in loss_axis.get_lines()} >= {"train_loss", "val_loss"}
    plt.close(fig)


@pytest.mark.parametrize("module", ["device", "history", "loop", "checkpoint", "__init__"])
def test_docstring_examples_run(module: str) -> None:
    import importlib

    mod = importlib.import_module("stnlib.train" if module == "__init__" else f"stnlib.train.{module}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = doctest.testmod(mod, extraglobs={"torch": torch, "nn": nn}, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_describe_hardware_names_the_cpu_and_its_threads() -> None:
    from stnlib.train.device import describe_hardware

    threads = torch.get_num_threads()
    text = describe_hardware("cpu")
    assert text.endswith(f", {threads} thread{'' if threads == 1 else 's'}") and len(text) > len(", 1 thread")
