"""TrainConfig: one object holds a run's settings, validated once, compared as a whole on resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stnlib.experiments import recipe_for
from stnlib.train import TrainConfig, fit, load_checkpoint
from stnlib.train.config import record_differences


def _model_and_batches() -> tuple[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]:
    torch.manual_seed(0)
    batches = [(torch.randn(8, 1, 2, 2), torch.randint(0, 3, (8,))) for _ in range(3)]
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), batches


def test_defaults_are_resolved_when_the_config_is_made() -> None:
    assert TrainConfig(epochs=2).as_dict() == {
        "epochs": 2,
        "optimizer": "adamw",
        "lr": 3e-3,
        "schedule": "onecycle",
        "localization_lr_multiplier": 1.0,
        "weight_decay": 0.01,
        "label_smoothing": 0.0,
        "precision": "fp32",
        "compile": False,
        "seed": 0,
        "steps_per_epoch": None,
    }
    paper = TrainConfig(epochs=2, schedule="Paper")
    assert (paper.schedule, paper.optimizer, paper.lr, paper.weight_decay) == ("paper", "sgd", 0.01, 0.0)
    assert TrainConfig(epochs=2, schedule="none").lr == 1e-3


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epochs": 0}, "epochs must be an int > 0"),
        ({"epochs": 2.5}, "epochs must be an int > 0"),
        ({"epochs": 2, "lr": -1}, "lr must be a number > 0"),
        ({"epochs": 2, "optimizer": "adam"}, "optimizer must be one of"),
        ({"epochs": 2, "schedule": "cosine"}, "schedule must be one of"),
        ({"epochs": 2, "label_smoothing": 1.0}, r"label_smoothing must be a number in \[0, 1\)"),
        ({"epochs": 2, "precision": "float16"}, "use 'bf16' for bfloat16 or 'fp16'"),
        ({"epochs": 2, "seed": -1}, "seed must be an int >= 0"),
        ({"epochs": 2, "localization_lr_multiplier": -0.1}, "localization_lr_multiplier must be"),
    ],
)
def test_bad_settings_are_refused_once_by_name(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings)
    model, batches = _model_and_batches()
    with pytest.raises(ValueError, match=message):
        fit(model, batches, progress=False, **settings)


def test_replace_validates_and_names_unknown_settings() -> None:
    config = TrainConfig(epochs=2)
    assert config.replace(lr=0.1).lr == 0.1 and config.lr == 3e-3
    with pytest.raises(TypeError, match="no setting learning_rate"):
        config.replace(learning_rate=0.1)
    with pytest.raises(ValueError, match="lr must be"):
        config.replace(lr=0)


def test_fit_takes_a_config_or_settings_not_both() -> None:
    model, batches = _model_and_batches()
    with pytest.raises(ValueError, match="either config or the settings lr, not both"):
        fit(model, batches, TrainConfig(epochs=1), lr=0.1, progress=False)
    with pytest.raises(ValueError, match="fit needs epochs"):
        fit(model, batches, progress=False)
    with pytest.raises(TypeError, match=r"config must be a stnlib\.train\.TrainConfig"):
        fit(model, batches, {"epochs": 1}, progress=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="label_smoothing applies to the default loss"):
        fit(model, batches, epochs=1, label_smoothing=0.1, loss_fn=nn.functional.nll_loss, progress=False)
    own = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="lr cannot be combined with your own optimizer"):
        fit(model, batches, epochs=1, optimizer=own, lr=0.1, progress=False)


def test_a_config_and_the_same_settings_train_the_same_weights() -> None:
    config = recipe_for("FCN", "R", "cpu").train_config(epochs=2)
    model_a, batches = _model_and_batches()
    fit(model_a, batches, config, device="cpu", progress=False)
    model_b, batches = _model_and_batches()
    fit(model_b, batches, device="cpu", progress=False, **{**config.as_dict(), "steps_per_epoch": None})
    for a, b in zip(model_a.parameters(), model_b.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_checkpoint_stores_the_config_and_a_resume_compares_all_of_it(tmp_path) -> None:
    model, batches = _model_and_batches()
    fit(model, batches, epochs=3, lr=0.01, checkpoint_dir=tmp_path, progress=False)
    saved = load_checkpoint(sorted(tmp_path.glob("epoch-*.pt"))[-1])["config"]
    assert saved == TrainConfig(epochs=3, lr=0.01, steps_per_epoch=3).as_dict()
    model, batches = _model_and_batches()
    with pytest.raises(ValueError, match=r"label_smoothing: checkpoint 0\.0, now 0\.1"):
        fit(model, batches, epochs=4, lr=0.01, label_smoothing=0.1, checkpoint_dir=tmp_path, resume=True)


def test_settings_a_checkpoint_predates_count_as_defaults_and_speed_settings_may_change() -> None:
    current = TrainConfig(epochs=3, steps_per_epoch=5).record()
    old = {k: v for k, v in current.items() if k not in ("label_smoothing", "precision", "compile")}
    assert record_differences(old, current) == []
    assert record_differences({**current, "precision": "bf16", "compile": True}, current) == []
    assert record_differences({**current, "epochs": 6}, current) == ["epochs: checkpoint 6, now 3"]
    constant = TrainConfig(epochs=3, schedule="none").record()
    assert record_differences({**constant, "epochs": 6}, constant) == []
