"""The paper's classifiers for distorted MNIST, with and without spatial transformers (Sec. 4.1, appendix).

* :class:`FCN` and :class:`CNN` — the baselines of Table 1.
* :class:`STClassifier` — a spatial transformer in front of a classifier (ST-FCN, ST-CNN).
* :class:`TwoTransformerClassifier` — two transformers in parallel for MNIST addition (2xST-FCN).
* :class:`FeatureMapSTClassifier` — a transformer on a convolutional feature map instead of the image.
* :class:`TutorialSTN` — the PyTorch tutorial's network, for side-by-side comparisons.
* :func:`build_model` — any of them by the paper's name (``"ST-CNN-Aff"``).

Every size is derived from ``in_shape``; nothing assumes 28x28. Classifiers return logits (use
``nn.CrossEntropyLoss``), except :class:`TutorialSTN`, which returns log-probabilities like the tutorial.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stnlib._validation import check_size
from stnlib.models.localization import check_in_shape, check_input
from stnlib.models.transformer import SpatialTransformer

__all__ = [
    "CNN",
    "FCN",
    "MODEL_NAMES",
    "FeatureMapSTClassifier",
    "STClassifier",
    "TutorialSTN",
    "TwoTransformerClassifier",
    "build_model",
]


def _flat_size(module: nn.Module, in_shape: tuple[int, int, int]) -> int:
    """Number of features ``module`` produces per item, found by a dry run on one zero input."""
    with torch.no_grad():
        return int(module(torch.zeros(1, *in_shape)).flatten(1).shape[1])


def _mlp(features: int, hidden: Sequence[int], out: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(features, width), nn.ReLU()]
        features = width
    return [*layers, nn.Linear(features, out)]


def _check_num_classes(num_classes: object) -> int:
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}")
    return num_classes


class FCN(nn.Module):
    """The fully connected baseline: flatten → hidden layers with ReLU → linear classifier.

    The appendix's exact widths are not in our sources; the default ``hidden=(128, 128)`` is our choice.

    Args:
        in_shape: ``(C, H, W)`` of the input.
        num_classes: number of outputs (logits).
        hidden: widths of the hidden layers.

    Shapes:
        ``forward(x)``: ``x: (N, C, H, W)`` → logits ``(N, num_classes)``.
    """

    def __init__(
        self, in_shape: tuple[int, int, int], num_classes: int = 10, hidden: Sequence[int] = (128, 128)
    ) -> None:
        super().__init__()
        self.in_shape = check_in_shape(in_shape)
        c, h, w = self.in_shape
        self.net = nn.Sequential(nn.Flatten(), *_mlp(c * h * w, hidden, _check_num_classes(num_classes)))

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_shape)
        return self.net(x)


_CNN_KERNELS = (9, 7)


# Smallest input side for conv 9x9 -> pool 2 -> conv 7x7 -> pool 2 to leave a pixel: ((24 - 8) // 2 - 6) // 2 = 1.
_CNN_MIN_SIDE = 24


class CNN(nn.Module):
    """The convolutional baseline: conv 9x9 → max-pool 2 → conv 7x7 → max-pool 2 → linear classifier (ReLUs).

    The appendix gives the kernel sizes; the filter counts are not in our sources, so the default
    ``channels=(32, 64)`` is our choice (it is also what public reproductions use).

    Args:
        in_shape: ``(C, H, W)``; each side must be at least 24 pixels.
        num_classes: number of outputs (logits).
        channels: filters of the two convolutions.

    Shapes:
        ``forward(x)``: ``x: (N, C, H, W)`` → logits ``(N, num_classes)``.
    """

    def __init__(
        self, in_shape: tuple[int, int, int], num_classes: int = 10, channels: tuple[int, int] = (32, 64)
    ) -> None:
        super().__init__()
        self.in_shape = check_in_shape(in_shape)
        filters = check_size(channels, "channels", "C1 C2")
        c, h, w = self.in_shape
        if min(h, w) < _CNN_MIN_SIDE:
            raise ValueError(
                f"CNN needs inputs of at least {_CNN_MIN_SIDE}x{_CNN_MIN_SIDE} pixels (conv 9x9, pool, conv 7x7, "
                f"pool); got in_shape={self.in_shape}. Use FCN, or an output_size of at least that size."
            )
        self.features = nn.Sequential(
            nn.Conv2d(c, filters[0], _CNN_KERNELS[0]),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(filters[0], filters[1], _CNN_KERNELS[1]),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(_flat_size(self.features, self.in_shape), _check_num_classes(num_classes))

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_shape)
        return self.classifier(self.features(x))


class STClassifier(nn.Module):
    """A spatial transformer followed by a classifier: ``logits = classifier(transformer(x))``.

    The classifier sees only the transformer's output (feeding it the untransformed image is a classic bug:
    the localization net then never learns). The last batch's transformation parameters
    and output are kept, detached, in ``last_params`` and ``last_output`` for plots.

    Args:
        transformer: the :class:`SpatialTransformer`.
        classifier: any module taking ``(N, C, H_out, W_out)``.

    Shapes:
        ``forward(x)``: ``x: (N, C, H, W)`` → logits ``(N, num_classes)``.
    """

    last_params: Tensor | None
    last_output: Tensor | None

    def __init__(self, transformer: SpatialTransformer, classifier: nn.Module) -> None:
        super().__init__()
        if not isinstance(transformer, SpatialTransformer):
            raise TypeError(f"transformer must be a SpatialTransformer; got {type(transformer).__name__}")
        if not isinstance(classifier, nn.Module):
            raise TypeError(f"classifier must be a torch.nn.Module; got {type(classifier).__name__}")
        self.transformer = transformer
        self.classifier = classifier
        self.last_params = None
        self.last_output = None

    def forward(self, x: Tensor) -> Tensor:
        output, params = self.transformer(x)
        self.last_params, self.last_output = params.detach(), output.detach()
        return self.classifier(output)


def _classifier(kind: str, in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    if kind == "fc":
        return FCN(in_shape, num_classes)
    if kind == "conv":
        return CNN(in_shape, num_classes)
    raise ValueError(f"classifier must be 'fc' (FCN) or 'conv' (CNN); got {kind!r}")


class TwoTransformerClassifier(nn.Module):
    """Two spatial transformers in parallel, their outputs stacked as channels into one classifier (2xST).

    For MNIST addition (two digits in two channels, predict their sum): each transformer sees the whole
    2-channel input and warps all of it; training teaches one to attend to each digit. The outputs are
    concatenated into a ``2C``-channel map for the classifier.

    Args:
        in_shape: ``(C, H, W)``, for MNIST addition ``(2, 42, 42)``.
        num_classes: 19 for sums 0–18.
        transform: the family of both transformers.
        loc_kind: ``"fc"`` or ``"conv"`` localization networks.
        classifier: ``"fc"`` (FCN) or ``"conv"`` (CNN).
        **transformer_kw: further :class:`SpatialTransformer` arguments (``output_size``, ``sampler``, ...).

    Shapes:
        ``forward(x)``: ``x: (N, C, H, W)`` → logits ``(N, num_classes)``; ``last_output: (N, 2C, H_out, W_out)``;
        ``last_params``: a list with each transformer's parameters.
    """

    last_params: list[Tensor] | None
    last_output: Tensor | None

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        num_classes: int = 19,
        transform: str = "affine",
        loc_kind: str = "fc",
        classifier: str = "fc",
        **transformer_kw: Any,
    ) -> None:
        super().__init__()
        self.in_shape = check_in_shape(in_shape)
        transformers = [
            SpatialTransformer(self.in_shape, transform, loc_kind, **transformer_kw) for _ in range(2)
        ]
        self.transformers = nn.ModuleList(transformers)
        out_h, out_w = transformers[0].output_size
        self.classifier = _classifier(classifier, (2 * self.in_shape[0], out_h, out_w), num_classes)
        self.last_params = None
        self.last_output = None

    def forward(self, x: Tensor) -> Tensor:
        results = [st(x) for st in self.transformers]
        stacked = torch.cat([output for output, _ in results], dim=1)
        self.last_params, self.last_output = [p.detach() for _, p in results], stacked.detach()
        return self.classifier(stacked)


class FeatureMapSTClassifier(nn.Module):
    """A CNN with its spatial transformer placed on the feature map after the first conv block (Sec. 3.4).

    conv 9x9 → ReLU → max-pool 2 → **spatial transformer** → conv 7x7 → ReLU → max-pool 2 → linear. The
    localization network sees the feature map, and the transformer warps all its channels alike.

    Args:
        in_shape: ``(C, H, W)`` of the image; each side at least 24 pixels.
        num_classes: number of outputs (logits).
        transform: the transformer's family.
        loc_kind: ``"conv"`` or ``"fc"``.
        channels: filters of the two convolutions (our choice, as in :class:`CNN`).
        **transformer_kw: further :class:`SpatialTransformer` arguments.

    Shapes:
        ``forward(x)``: ``x: (N, C, H, W)`` → logits; ``last_output``: the warped feature map.
    """

    last_params: Tensor | None
    last_output: Tensor | None

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        num_classes: int = 10,
        transform: str = "affine",
        loc_kind: str = "conv",
        channels: tuple[int, int] = (32, 64),
        **transformer_kw: Any,
    ) -> None:
        super().__init__()
        self.in_shape = check_in_shape(in_shape)
        filters = check_size(channels, "channels", "C1 C2")
        c, h, w = self.in_shape
        if min(h, w) < _CNN_MIN_SIDE:
            raise ValueError(
                f"FeatureMapSTClassifier needs inputs of at least {_CNN_MIN_SIDE} pixels a side; got {self.in_shape}"
            )
        self.features = nn.Sequential(nn.Conv2d(c, filters[0], _CNN_KERNELS[0]), nn.ReLU(), nn.MaxPool2d(2))
        with torch.no_grad():
            feature_shape = tuple(self.features(torch.zeros(1, *self.in_shape)).shape[1:])
        self.transformer = SpatialTransformer(feature_shape, transform, loc_kind, **transformer_kw)
        head = nn.Sequential(
            nn.Conv2d(filters[0], filters[1], _CNN_KERNELS[1]), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()
        )
        out_shape = (filters[0], *self.transformer.output_size)
        if min(out_shape[1:]) < _CNN_KERNELS[1] + 1:
            raise ValueError(
                f"the transformer's output {out_shape} is too small for the 7x7 convolution after it"
            )
        self.head = nn.Sequential(
            *head, nn.Linear(_flat_size(head, out_shape), _check_num_classes(num_classes))
        )
        self.last_params = None
        self.last_output = None

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_shape)
        output, params = self.transformer(self.features(x))
        self.last_params, self.last_output = params.detach(), output.detach()
        return self.head(output)


class TutorialSTN(STClassifier):
    """The network of PyTorch's official STN tutorial, for side-by-side comparisons.

    Localization: conv(C→8, 7x7) → max-pool 2 → ReLU → conv(8→10, 5x5) → max-pool 2 → ReLU → FC(→32) → ReLU →
    FC(32→6), the last layer at the identity. Grid and sampler: ``F.affine_grid`` / ``F.grid_sample`` with
    PyTorch's defaults (``align_corners=False``, zero padding). Classifier: conv(C→10, 5x5) → max-pool 2 → ReLU →
    conv(10→20, 5x5) → Dropout2d → max-pool 2 → ReLU → FC(→50) → ReLU → Dropout → FC(50→classes).

    **Returns log-probabilities** (``log_softmax``), like the tutorial: train it with ``nn.NLLLoss``
    (``F.nll_loss``), not ``nn.CrossEntropyLoss``, which would apply a second softmax.

    Args:
        in_shape: ``(C, H, W)``, the tutorial's ``(1, 28, 28)`` by default; each side at least 16 pixels.
        num_classes: number of outputs.
        padding_mode: the tutorial's ``"zeros"``; pass ``"border"`` or ``"background"`` to try the cures.
    """

    def __init__(
        self, in_shape: tuple[int, int, int] = (1, 28, 28), num_classes: int = 10, padding_mode: str = "zeros"
    ) -> None:
        shape = check_in_shape(in_shape)
        c = shape[0]
        conv = nn.Sequential(
            nn.Conv2d(c, 8, 7), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(8, 10, 5), nn.MaxPool2d(2), nn.ReLU()
        )
        features = nn.Sequential(*conv, nn.Flatten())
        try:
            loc_features = _flat_size(features, shape)
        except RuntimeError as error:
            raise ValueError(
                f"TutorialSTN needs inputs of at least 16x16 pixels; got in_shape={shape}"
            ) from error
        head = nn.Linear(32, 6)
        with torch.no_grad():
            head.weight.zero_()
            head.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))
        localization = nn.Sequential(
            features, nn.Linear(loc_features, 32), nn.ReLU(), head, nn.Unflatten(1, (2, 3))
        )
        transformer = SpatialTransformer(
            shape, "affine", padding_mode=padding_mode, localization=localization
        )
        cls_features = nn.Sequential(
            nn.Conv2d(c, 10, 5),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(10, 20, 5),
            nn.Dropout2d(),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Flatten(),
        )
        classifier = nn.Sequential(
            cls_features,
            nn.Linear(_flat_size(cls_features, shape), 50),
            nn.ReLU(),
            nn.Dropout(),
            nn.Linear(50, _check_num_classes(num_classes)),
        )
        super().__init__(transformer, classifier)

    def forward(self, x: Tensor) -> Tensor:
        """Log-probabilities ``(N, num_classes)``; pair with ``F.nll_loss``."""
        return F.log_softmax(super().forward(x), dim=1)


# ----------------------------------------------------------------------------------------------------------------
# The builder: the paper's model names.

# name -> (transform, localization kind, classifier kind)
_ST_MODELS: dict[str, tuple[str, str, str]] = {
    "ST-FCN-Aff": ("affine", "fc", "fc"),
    "ST-FCN-Proj": ("projective", "fc", "fc"),
    "ST-FCN-TPS": ("tps", "fc", "fc"),
    "ST-CNN-Aff": ("affine", "conv", "conv"),
    "ST-CNN-Proj": ("projective", "conv", "conv"),
    "ST-CNN-TPS": ("tps", "conv", "conv"),
    "ST-CNN-Att": ("attention", "conv", "conv"),
}
# name -> (localization kind, classifier kind); MNIST addition
_TWO_ST_MODELS: dict[str, tuple[str, str]] = {"2xST-FCN": ("fc", "fc"), "2xST-CNN": ("conv", "conv")}
_PLAIN_MODELS: dict[str, Callable[..., nn.Module]] = {"FCN": FCN, "CNN": CNN, "TutorialSTN": TutorialSTN}


def _build_st(name: str, in_shape: tuple[int, int, int], num_classes: int, **kw: Any) -> nn.Module:
    transform, loc_kind, classifier_kind = _ST_MODELS[name]
    transformer = SpatialTransformer(in_shape, transform, loc_kind, **kw)
    classifier_shape = (transformer.in_shape[0], *transformer.output_size)
    return STClassifier(transformer, _classifier(classifier_kind, classifier_shape, num_classes))


MODEL_NAMES: tuple[str, ...] = ("FCN", "CNN", *_ST_MODELS, *_TWO_ST_MODELS, "TutorialSTN")
"""Every name :func:`build_model` accepts (case, spaces and underscores do not matter)."""


def model_name_key(name: str) -> str:
    """The key under which two spellings of a model name are the same: case, spaces, underscores and ``×`` do
    not matter. Shared by :func:`build_model` and :func:`stnlib.experiments.canonical_model` (not exported: it
    does not validate; both callers do).

    Example:
        >>> model_name_key("st cnn_aff") == model_name_key("ST-CNN-Aff"), model_name_key("2×ST-FCN")
        (True, '2XST-FCN')
    """
    return name.strip().upper().replace("_", "-").replace(" ", "-").replace("×", "X")


def build_model(
    name: str, in_shape: tuple[int, int, int], num_classes: int | None = None, **kw: Any
) -> nn.Module:
    """Build one of the paper's models by name.

    Args:
        name: one of :data:`MODEL_NAMES`: ``"FCN"``, ``"CNN"``, ``"ST-FCN-Aff"``, ``"ST-FCN-Proj"``,
            ``"ST-FCN-TPS"``, ``"ST-CNN-Aff"``, ``"ST-CNN-Proj"``, ``"ST-CNN-TPS"``, ``"ST-CNN-Att"``,
            ``"2xST-FCN"``, ``"2xST-CNN"`` (MNIST addition) or ``"TutorialSTN"``. Case, spaces and underscores do
            not matter (``"st-cnn aff"`` works).
        in_shape: ``(C, H, W)`` of the input.
        num_classes: number of classes; defaults to 19 for the ``2x`` addition models and 10 otherwise.
        **kw: passed on: to :class:`SpatialTransformer` for ST models (``output_size``, ``sampler``,
            ``padding_mode``, ``align_corners``, ``tps_grid_size``, ...), to the constructor for the others.

    Returns:
        The model; ST models are :class:`STClassifier` (or :class:`TwoTransformerClassifier`).

    Raises:
        ValueError: an unknown name (the message lists the valid ones).

    Example:
        >>> model = build_model("ST-CNN-Aff", (1, 42, 42))
        >>> model(torch.zeros(3, 1, 42, 42)).shape
        torch.Size([3, 10])
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string such as 'ST-CNN-Aff'; got {type(name).__name__}")
    by_key = {model_name_key(n): n for n in MODEL_NAMES}
    canonical = by_key.get(model_name_key(name))
    if canonical is None:
        raise ValueError(f"unknown model name {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    if num_classes is None:
        num_classes = 19 if canonical.startswith("2x") else 10
    if canonical in _ST_MODELS:
        return _build_st(canonical, in_shape, num_classes, **kw)
    if canonical in _TWO_ST_MODELS:
        loc_kind, classifier_kind = _TWO_ST_MODELS[canonical]
        return TwoTransformerClassifier(
            in_shape, num_classes, loc_kind=loc_kind, classifier=classifier_kind, **kw
        )
    return _PLAIN_MODELS[canonical](in_shape, num_classes, **kw)
