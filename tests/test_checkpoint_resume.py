"""Checkpoints: atomic writes, weights-only loading, and resume that reproduces an uninterrupted run exactly."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from stnlib.train import (
    History,
    atomic_save,
    fit,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    rng_state,
    set_rng_state,
)
from stnlib.train import checkpoint as checkpoint_module


def dataset(n: int = 128, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 6, 6, generator=g)
    y = (x.mean(dim=(1, 2, 3)) > 0).long() + 2 * (x[:, 0, 0, 0] > 0).long()
    return TensorDataset(x, y)


def small_cnn(seed: int = 0) -> nn.Module:
    """Convolution, dropout (so that resumed runs must restore the generator) and a classifier."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Dropout(0.3), nn.Linear(64, 4))


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


class InterruptAfter:
    """A callback that presses Ctrl-C after the given epoch."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def __call__(self, epoch: int, model: nn.Module, history: History) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


# ---- atomic writes and generator states --------------------------------------------------------------------------


def test_atomic_save_writes_a_file_that_loads_weights_only(tmp_path: Path) -> None:
    path = atomic_save({"w": torch.arange(3), "meta": {"epoch": 2, "name": "x"}}, tmp_path / "sub" / "a.pt")
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["w"], torch.arange(3)) and loaded["meta"] == {"epoch": 2, "name": "x"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.pt"]


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_atomic_save_leaves_no_partial_file_when_the_write_fails_midway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    path = tmp_path / "epoch-0001.pt"
    atomic_save({"version": 1}, path)
    before = path.read_bytes()
    real_save = torch.save

    def half_then_fail(obj: object, f) -> None:
        real_save(obj, f)
        f.truncate(10)  # a partial file on disk ...
        raise failure  # ... and then the failure

    monkeypatch.setattr(checkpoint_module.torch, "save", half_then_fail)
    with pytest.raises(type(failure)):
        atomic_save({"version": 2, "big": torch.zeros(1000)}, path)
    with pytest.raises(type(failure)):
        atomic_save({"version": 2}, tmp_path / "epoch-0002.pt")
    assert path.read_bytes() == before  # the old checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0001.pt"]  # no new or temporary file
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"version": 1}


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(1)  # noqa: NPY002 — the global generator is the point
    torch.manual_seed(1)
    random.gauss(0, 1)  # leaves a cached Gaussian in Python's state
    atomic_save({"rng": rng_state()}, tmp_path / "rng.pt")
    expected = (random.random(), random.gauss(0, 1), np.random.rand(3), np.random.randn(), torch.rand(3))  # noqa: NPY002
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    got = (random.random(), random.gauss(0, 1), np.random.rand(3), np.random.randn(), torch.rand(3))  # noqa: NPY002
    assert got[:2] == expected[:2] and np.array_equal(got[2], expected[2]) and got[3] == expected[3]
    assert torch.equal(got[4], expected[4])


def test_load_checkpoint_rejects_foreign_files(tmp_path: Path) -> None:
    torch.save({"state_dict": {}}, tmp_path / "epoch-0001.pt")
    with pytest.raises(ValueError, match="not an stnlib checkpoint"):
        load_checkpoint(tmp_path / "epoch-0001.pt")


# ---- fit with checkpoints ----------------------------------------------------------------------------------------


def test_history_round_trips_through_a_checkpoint(tmp_path: Path) -> None:
    loader = DataLoader(dataset(), batch_size=32, shuffle=True)
    history = fit(
        small_cnn(), loader, val_data=loader, epochs=2, device="cpu", progress=False, checkpoint_dir=tmp_path
    )
    state = load_checkpoint(latest_checkpoint(tmp_path))
    assert state["epoch"] == 2
    restored = History.from_state_dict(state["history"])
    assert restored == history and restored.as_dict() == history.as_dict()
    assert set(restored.metrics) >= {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time"}


def test_only_the_newest_checkpoints_are_kept(tmp_path: Path) -> None:
    data = [(dataset(32)[:][0], dataset(32)[:][1])]
    fit(small_cnn(), data, epochs=4, device="cpu", progress=False, checkpoint_dir=tmp_path, keep_last=2)
    assert [epoch for epoch, _ in list_checkpoints(tmp_path)] == [3, 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0003.pt", "epoch-0004.pt"]


def test_resume_continues_from_the_right_epoch_and_matches_an_uninterrupted_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(checkpoint_dir: Path, callbacks: list, resume: bool = False) -> tuple[nn.Module, History]:
        model = small_cnn()
        loader = DataLoader(dataset(), batch_size=32, shuffle=True)
        kwargs = {
            "epochs": 4,
            "device": "cpu",
            "progress": False,
            "seed": 3,
            "checkpoint_dir": checkpoint_dir,
        }
        return model, fit(model, loader, callbacks=callbacks, resume=resume, **kwargs)

    reference, reference_history = run(tmp_path / "reference", [])
    _, partial = run(tmp_path / "run", [InterruptAfter(2)])
    assert partial.epochs == [1, 2]
    out = capsys.readouterr().out
    assert "resume=True" in out and "epoch 2" in out
    epochs_trained: list[int] = []
    resumed, history = run(tmp_path / "run", [lambda epoch, *_: epochs_trained.append(epoch)], resume=True)
    assert "resuming from" in capsys.readouterr().out
    assert epochs_trained == [3, 4]
    assert history.epochs == [1, 2, 3, 4]
    assert history["train_loss"] == reference_history["train_loss"]
    assert_same_weights(resumed, reference)


def test_resume_restores_private_data_generators_and_data_state(tmp_path: Path) -> None:
    class ShuffledBatches:
        """Data with its own generator, exposing its state like stnlib.data.DistortedMNIST."""

        def __init__(self) -> None:
            self.data = dataset()
            self.generator = torch.Generator().manual_seed(7)  # not reached by the global seed

        def __iter__(self):
            order = torch.randperm(len(self.data), generator=self.generator)
            for i in range(0, len(order), 32):
                yield self.data[order[i : i + 32]]

        def __len__(self) -> int:
            return 4

        def state_dict(self) -> dict:
            return {"generator": self.generator.get_state()}

        def load_state_dict(self, state: dict) -> None:
            self.generator.set_state(state["generator"])

    def loader_with_generator() -> DataLoader:
        return DataLoader(dataset(), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(11))

    for make_data in (ShuffledBatches, loader_with_generator):
        reference = small_cnn()
        kwargs = {"epochs": 3, "device": "cpu", "progress": False, "schedule": "none"}
        fit(reference, make_data(), **kwargs)
        directory = tmp_path / make_data.__name__
        fit(small_cnn(), make_data(), checkpoint_dir=directory, callbacks=[InterruptAfter(1)], **kwargs)
        resumed = small_cnn()
        fit(resumed, make_data(), checkpoint_dir=directory, resume=True, **kwargs)  # fresh data object
        assert_same_weights(resumed, reference)


def test_resume_with_distorted_mnist_replays_the_same_epochs(tmp_path: Path) -> None:
    """DistortedMNIST draws epoch e's shuffle and distortions from (seed, e); fit tells it e via set_epoch."""
    data_module = pytest.importorskip("stnlib.data")
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(48, 1, 28, 28, generator=g) > 0.8).to(torch.uint8) * 255
    labels = torch.arange(48) % 4

    def data():
        return data_module.DistortedMNIST.from_tensors(
            images, labels, "R", batch_size=16, device="cpu", seed=2
        )

    def model() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.AvgPool2d(4), nn.Flatten(), nn.Linear(49, 4))

    kwargs = {"epochs": 3, "device": "cpu", "progress": False, "checkpoint_dir": None}
    reference = model()
    fit(reference, data(), **kwargs)
    kwargs["checkpoint_dir"] = tmp_path
    fit(model(), data(), callbacks=[InterruptAfter(1)], **kwargs)
    resumed = model()
    fit(resumed, data(), resume=True, **kwargs)  # a new DistortedMNIST starts at epoch 0
    assert_same_weights(resumed, reference)


def test_resume_of_a_finished_run_loads_it_without_training(tmp_path: Path) -> None:
    data = [dataset(64)[:]]
    trained = small_cnn()
    history = fit(trained, data, epochs=2, device="cpu", progress=False, checkpoint_dir=tmp_path)
    calls: list[int] = []
    fresh = small_cnn(seed=1)
    again = fit(
        fresh,
        data,
        epochs=2,
        device="cpu",
        progress=False,
        checkpoint_dir=tmp_path,
        resume=True,
        callbacks=[calls.append],
    )
    assert calls == [] and again == history
    assert_same_weights(fresh, trained)


def test_resume_without_checkpoint_starts_fresh_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = fit(
        small_cnn(),
        [dataset(32)[:]],
        epochs=1,
        device="cpu",
        progress=False,
        checkpoint_dir=tmp_path,
        resume=True,
    )
    assert len(history) == 1 and "no checkpoint" in capsys.readouterr().out
    assert [e for e, _ in list_checkpoints(tmp_path)] == [1]


def test_existing_checkpoints_are_not_overwritten_or_resumed_with_other_settings(tmp_path: Path) -> None:
    data = [dataset(32)[:]]
    kwargs = {"device": "cpu", "progress": False, "checkpoint_dir": tmp_path}
    fit(small_cnn(), data, epochs=3, callbacks=[InterruptAfter(1)], **kwargs)
    with pytest.raises(FileExistsError, match="resume=True"):
        fit(small_cnn(), data, epochs=3, **kwargs)
    with pytest.raises(ValueError, match=r"lr: checkpoint 0\.003, now 0\.1"):
        fit(small_cnn(), data, epochs=3, lr=0.1, resume=True, **kwargs)
    with pytest.raises(ValueError, match="epochs: checkpoint 3, now 5"):  # OneCycle is laid out over the run
        fit(small_cnn(), data, epochs=5, resume=True, **kwargs)


def test_constant_lr_runs_may_be_extended(tmp_path: Path) -> None:
    data = [dataset(32)[:]]
    kwargs = {"device": "cpu", "progress": False, "checkpoint_dir": tmp_path, "schedule": "none"}
    fit(small_cnn(), data, epochs=2, **kwargs)
    history = fit(small_cnn(), data, epochs=4, resume=True, **kwargs)
    assert history.epochs == [1, 2, 3, 4]


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path: Path) -> None:
    data = [dataset(32)[:]]
    kwargs = {"device": "cpu", "progress": False, "checkpoint_dir": tmp_path}
    fit(small_cnn(), data, epochs=4, callbacks=[InterruptAfter(3)], **kwargs)
    (tmp_path / "epoch-0003.pt").write_bytes(b"truncated by a sync client")
    seen: list[int] = []
    with pytest.warns(UserWarning, match="could not load checkpoint"):
        fit(small_cnn(), data, epochs=4, resume=True, callbacks=[lambda e, *_: seen.append(e)], **kwargs)
    assert seen == [3, 4]


def test_interrupt_before_the_checkpoint_is_written_saves_that_epoch(tmp_path: Path) -> None:
    """Ctrl-C in a callback lands after the epoch but before its checkpoint: fit saves it on the way out."""
    history = fit(
        small_cnn(),
        [dataset(32)[:]],
        epochs=3,
        device="cpu",
        progress=False,
        checkpoint_dir=tmp_path,
        callbacks=[InterruptAfter(2)],
    )
    assert history.epochs == [1, 2]
    assert load_checkpoint(latest_checkpoint(tmp_path))["epoch"] == 2


# ---- a real kill ------------------------------------------------------------------------------------------------
#
# The training processes are forked from the test process rather than started as new interpreters: they then
# share its already imported torch (a fresh interpreter spends ~10 s importing torch and torch._dynamo on a busy
# 2-core machine), yet each is a separate process that can only see what the killed one left on disk. Like a
# DataLoader worker, each child runs with one thread, which also makes the float arithmetic of all three
# processes identical.


class _Slow(nn.Module):
    """Makes every batch take a while, so that a kill lands in the middle of an epoch."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.delay)
        return x


def _train_in_child(directory: Path, out: Path, delay: float) -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 1, 6, 6, generator=g)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    torch.manual_seed(0)
    model = nn.Sequential(
        _Slow(delay), nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Dropout(0.3), nn.Linear(64, 2)
    )
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    trained: list[int] = []

    def record_and_linger(epoch: int, *_: object) -> None:
        trained.append(epoch)
        time.sleep(delay)

    history = fit(
        model,
        loader,
        epochs=5,
        device="cpu",
        progress=False,
        seed=5,
        checkpoint_dir=directory,
        resume=True,
        callbacks=[record_and_linger],
    )
    torch.save({"model": model.state_dict(), "epochs": history.epochs, "trained": trained}, out)


@pytest.mark.skipif(sys.platform != "linux", reason="forks training processes (Linux only)")
def test_a_run_killed_mid_epoch_resumes_to_identical_weights(tmp_path: Path) -> None:
    fork = multiprocessing.get_context("fork")
    import torch._dynamo

    def start(name: str, delay: float) -> multiprocessing.process.BaseProcess:
        process = fork.Process(target=_train_in_child, args=(tmp_path / name, tmp_path / f"{name}.pt", delay))
        process.start()
        return process

    reference = start("reference", 0.0)
    victim = start("run", 0.05)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "run" / "epoch-0002.pt").exists():
            assert victim.is_alive(), f"the training process died (exit code {victim.exitcode})"
            assert time.monotonic() < deadline, "the training process wrote no second checkpoint in 60 s"
            time.sleep(0.005)
        time.sleep(0.05)  # into epoch 3: each of its 8 batches sleeps 0.05 s
        assert victim.is_alive(), "the run finished before it could be killed"
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(timeout=30)
    finally:
        if victim.is_alive():
            victim.kill()
    assert victim.exitcode == -signal.SIGKILL
    assert list_checkpoints(tmp_path / "run")[-1][0] in (2, 3)  # epoch 3 (8 batches, >= 0.4 s) is rarely done
    assert not (tmp_path / "run.pt").exists()

    resumed = fork.Process(target=_train_in_child, args=(tmp_path / "run", tmp_path / "resumed.pt", 0.0))
    resumed.start()
    resumed.join(timeout=120)
    reference.join(timeout=120)
    assert resumed.exitcode == 0 and reference.exitcode == 0
    final = torch.load(tmp_path / "resumed.pt", weights_only=True)
    expected = torch.load(tmp_path / "reference.pt", weights_only=True)
    assert expected["trained"] == [1, 2, 3, 4, 5]
    assert final["trained"][-1] == 5 and final["trained"][0] in (
        3,
        4,
    )  # the resumed process trained the rest ...
    assert final["epochs"] == [1, 2, 3, 4, 5]  # ... and its history holds the whole run
    assert final["model"].keys() == expected["model"].keys()
    for key in expected["model"]:
        assert torch.equal(final["model"][key], expected["model"][key]), key
