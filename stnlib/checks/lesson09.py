"""Checkers for Lesson 09 — when spatial transformers fail (a clinic of the problems users report).

Four "find and fix the bug" exercises, four checkers. Each checker verifies the *behaviour* the fix must restore,
so every correct cure passes, not only the reference's:

* :func:`check_identity_init` — ``identity_init_(head)``: the regression head of a localization network must
  start at the identity transformation. Verified on randomly initialised ``nn.Linear(F, 6)`` heads: afterwards
  θ = ``head(features).view(-1, 2, 3)`` is the identity for *any* features, and the head still trains.
  Compared with :func:`identity_init_` (built on :func:`stnlib.models.identity_params`).
* :func:`check_warp_normalised` — ``warp_normalised(x, theta)``: an affine warp of MNIST images normalised with
  :data:`~stnlib.data.MNIST_MEAN` / :data:`~stnlib.data.MNIST_STD`, whose background (−0.42) must be preserved
  when θ zooms out. Compared with :func:`warp_normalised` (pad with the background value) and with
  ``F.grid_sample(..., padding_mode="border")``; both agree on images whose outer ring is background, and so
  does "un-normalise, sample with zero padding, normalise again".
* :func:`check_spatial_transform` — ``spatial_transform(x, theta, align_corners=False)``: grid generator and
  sampler must use the same ``align_corners``, so that the identity θ reproduces the input for both values.
  Compared with :func:`spatial_transform` (stnlib's grid generator and sampler) and with ``F.affine_grid`` +
  ``F.grid_sample``, values and gradients.
* :func:`check_st_net` — the class ``STNet(transformer, classifier)``: the classifier must see the transformer's
  output, so that the classification loss reaches the localization network (non-zero gradient, equal to the
  reference's). Compared with :class:`STNet`.

Example (in the lesson)::

    checks.lesson09.check_spatial_transform(spatial_transform)
    spatial_transform = checks.use_or_fallback(spatial_transform, checks.lesson09.spatial_transform)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stnlib import geometry, sampling
from stnlib._validation import check_tensor
from stnlib.checks._classifier_wiring import (
    ClassifierProbe,
    compare_classifier_probes,
    diagnose_classifier_wiring,
    probe_classifier,
)
from stnlib.checks._core import (
    CASE_SEED,
    Case,
    CheckResult,
    Comparison,
    Status,
    case_generator,
    check_function,
    compare_tensors,
    first_matching_message,
    run_and_record,
)
from stnlib.data import MNIST_MEAN, MNIST_STD
from stnlib.models import CNN, FCN, SpatialTransformer, identity_params

__all__ = [
    "NORMALISED_BACKGROUND",
    "STNet",
    "check_identity_init",
    "check_spatial_transform",
    "check_st_net",
    "check_warp_normalised",
    "identity_init_",
    "spatial_transform",
    "warp_normalised",
]

NORMALISED_BACKGROUND = (0.0 - MNIST_MEAN) / MNIST_STD
"""The value of MNIST's black background after normalising: ``(0 - 0.1307) / 0.3081 ≈ -0.4242``."""


def _named(run: Callable[..., Any], like: Any, default: str) -> Callable[..., Any]:
    """Give a runner the name and module of the student's object (for "line N of your cell" reports)."""
    run.__name__ = run.__qualname__ = getattr(like, "__name__", default)
    run.__module__ = getattr(like, "__module__", "")
    return run


# ------------------------------------------------------------------------ exercise 1: identity initialisation


def identity_init_(head: nn.Linear) -> nn.Linear:
    """Start an affine localization head at the identity, in place: zero weights, identity bias (Sec. 3.1).

    With zero weights θ does not depend on the input yet, and the bias ``[1, 0, 0, 0, 1, 0]`` is θ =
    ``[[1, 0, 0], [0, 1, 0]]`` read row by row: the transformer starts by passing its input through unchanged.
    Without it the head starts wherever its random initialisation puts it — a random zoom, shear, mirror
    image or shift (paper-facts problem #1).

    Args:
        head: the last ``nn.Linear(F, 6)`` of a localization network.

    Returns:
        ``head`` itself, changed in place (its parameters stay trainable).

    Example:
        >>> head = identity_init_(nn.Linear(20, 6))
        >>> head(torch.randn(2, 20)).view(2, 2, 3)[1]
        tensor([[1., 0., 0.],
                [0., 1., 0.]], grad_fn=<SelectBackward0>)
    """
    if not isinstance(head, nn.Linear) or head.out_features != 6 or head.bias is None:
        raise TypeError(f"head must be an nn.Linear(F, 6) with a bias; got {head!r}")
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(identity_params("affine"))
    return head


class _HeadProbe(NamedTuple):
    """What the checker measures on an initialised head: θ for random features (or what is wrong)."""

    theta: Tensor | None
    head: nn.Linear | None = None
    problem: str | None = None


def _random_head(in_features: int, dtype: torch.dtype) -> nn.Linear:
    """A freshly built ``nn.Linear(in_features, 6)`` with PyTorch's random initialisation (seeded)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(CASE_SEED + in_features)
        return nn.Linear(in_features, 6).to(dtype)


def _probe_head(fn: Callable[..., Any], in_features: int, dtype: torch.dtype) -> _HeadProbe:
    head = _random_head(in_features, dtype)
    result = fn(head)
    layer = result if isinstance(result, nn.Linear) else head  # changing the head in place is enough
    if result is not None and not isinstance(result, nn.Linear):
        return _HeadProbe(
            None,
            problem=f"return the head (an nn.Linear) or nothing; got {type(result).__name__}.",
        )
    if (layer.in_features, layer.out_features) != (in_features, 6) or layer.bias is None:
        return _HeadProbe(
            None,
            problem=f"the head must stay an nn.Linear({in_features}, 6) with a bias; got {layer!r}.",
        )
    for name in ("weight", "bias"):
        parameter = getattr(layer, name)
        if not isinstance(parameter, nn.Parameter) or not parameter.requires_grad:
            return _HeadProbe(
                None,
                problem=f"the head's {name} no longer learns (it is not a Parameter that requires gradients): "
                "change its values in place under torch.no_grad() instead of replacing or freezing it.",
            )
    features = torch.randn(4, in_features, generator=case_generator(), dtype=torch.float64).to(dtype)
    with torch.no_grad():
        theta = layer(features).view(-1, 2, 3)
    return _HeadProbe(theta, layer)


def _head_runner(fn: Any) -> Any:
    if not callable(fn):
        return fn

    def run(in_features: int, dtype: torch.dtype) -> _HeadProbe:
        return _probe_head(fn, in_features, dtype)

    return _named(run, fn, "identity_init_")


def _head_cases() -> list[Case]:
    return [
        Case("nn.Linear(20, 6), the paper's ST-CNN head", (20, torch.float32)),
        Case("nn.Linear(32, 6), the ST-FCN head", (32, torch.float32)),
        Case("nn.Linear(1, 6), a single feature", (1, torch.float32)),
        Case("nn.Linear(50, 6) in float64", (50, torch.float64)),
    ]


def _compare_head(actual: Any, expected: _HeadProbe) -> Comparison:
    if not isinstance(actual, _HeadProbe):  # pragma: no cover - the runner always returns a probe
        return Comparison(Status.WRONG_TYPE, f"unexpected result {type(actual).__name__}")
    if actual.problem:
        return Comparison(Status.FAILED, actual.problem)
    return compare_tensors(
        actual.theta, expected.theta, name="θ of the initialised head (for random features)"
    )


def _diagnose_head(case: Case, actual: Any, expected: _HeadProbe) -> str | None:
    if not isinstance(actual, _HeadProbe) or actual.head is None or actual.theta is None:
        return None
    weight = actual.head.weight.detach()
    bias = actual.head.bias.detach().to("cpu", torch.float64)
    if bool(weight.abs().max() > 1e-8):
        return (
            f"the head's weights are not zero (largest |w| = {float(weight.abs().max()):.3g}), so θ depends on "
            "the features from the first step: every digit starts with its own random transformation. Zero "
            "the weights; only the bias should hold the identity."
        )
    candidates = [
        (
            lambda: torch.zeros(6, dtype=torch.float64),
            "the bias is all zeros: θ = 0 maps every output pixel to the centre of the input, so the output is "
            "one flat colour — the transformer starts collapsed. 'Zero' is not 'identity' for θ: the bias "
            "must be [1, 0, 0, 0, 1, 0].",
        ),
        (
            lambda: torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64),
            "the bias [1, 0, 0, 1, 0, 0] is θ = [[1, 0, 0], [1, 0, 0]] after .view(2, 3): the six numbers are "
            "θ row by row, so the identity is [1, 0, 0, 0, 1, 0].",
        ),
        (
            lambda: torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 0.0], dtype=torch.float64),
            "the third and sixth numbers are the translation (t_x, t_y); the identity has no translation: "
            "[1, 0, 0, 0, 1, 0].",
        ),
    ]
    return first_matching_message(bias, candidates)


def check_identity_init(student_fn: Callable[..., Any], *, quiet: bool = False) -> CheckResult:
    """Check ``identity_init_(head)`` on randomly initialised ``nn.Linear(F, 6)`` heads.

    After the call (the function may change the head in place and return it, or return nothing), θ =
    ``head(features).view(-1, 2, 3)`` must be the identity for random features, in float32 and float64, and
    the head's weight and bias must still be trainable parameters. A random weight, a zero bias ("zero = do
    nothing" is true for the weights, not for θ) and a bias in the wrong order are recognised.
    """

    def run() -> CheckResult:
        return check_function(
            "identity_init_",
            _head_runner(student_fn),
            _head_runner(identity_init_),
            _head_cases(),
            compare=_compare_head,
            diagnose=_diagnose_head,
            hint=(
                "inside `with torch.no_grad():` set head.weight to zero (head.weight.zero_()) and copy the identity "
                "θ, read row by row, into the bias: head.bias.copy_(torch.tensor([1., 0., 0., 0., 1., 0.]))."
            ),
            quiet=quiet,
        )

    return run_and_record(run, student_fn)


# ------------------------------------------------------------------------------- exercise 2: padding


def warp_normalised(x: Tensor, theta: Tensor) -> Tensor:
    """Warp normalised MNIST images with θ, padding with their own background instead of zero.

    Images normalised with :data:`~stnlib.data.MNIST_MEAN` and :data:`~stnlib.data.MNIST_STD` have a background
    of :data:`NORMALISED_BACKGROUND` (≈ −0.42), not 0. Zero padding — the PyTorch default, and the tutorial's —
    therefore draws a lighter frame wherever θ reads outside the image (when it zooms out, shifts or turns far).
    Sampling ``x - b`` with zero padding and adding ``b`` back pads with ``b`` and leaves the inside unchanged,
    because bilinear sampling is linear and its weights sum to one. Grid and sampler use PyTorch's defaults
    (``align_corners=False``), like the tutorial.

    Args:
        x: ``(N, C, H, W)`` normalised images.
        theta: ``(N, 2, 3)``.

    Returns:
        ``(N, C, H, W)``.

    Example:
        >>> x = torch.full((1, 1, 8, 8), NORMALISED_BACKGROUND)
        >>> zoom_out = geometry.affine_theta(scale=2.0)
        >>> bool(torch.allclose(warp_normalised(x, zoom_out), x))  # the background stays the background
        True
    """
    dims = check_tensor(x, "x", "N C H W")
    check_tensor(theta, "theta", "N 2 3", dims)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    b = NORMALISED_BACKGROUND
    return F.grid_sample(x - b, grid, padding_mode="zeros", align_corners=False) + b


def _border_warp(x: Tensor, theta: Tensor) -> Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


_border_warp.__module__ = ""
_border_warp.__qualname__ = "F.grid_sample(padding_mode='border')"


def _normalised_digits(n: int, channels: int, height: int, width: int, dtype: torch.dtype) -> Tensor:
    """Synthetic "digits": bright strokes inside a dark frame at least two pixels wide, then normalised."""
    generator = case_generator()
    raw = torch.zeros(n, channels, height, width, dtype=torch.float64)
    strokes = torch.rand(n, channels, height - 4, width - 4, generator=generator, dtype=torch.float64)
    raw[..., 2:-2, 2:-2] = (strokes > 0.6).double() * (0.5 + 0.5 * strokes)
    return ((raw - MNIST_MEAN) / MNIST_STD).to(dtype)


def _zoom_out_thetas(n: int, dtype: torch.dtype, scale: tuple[float, float] = (1.4, 2.2)) -> Tensor:
    generator = case_generator()
    angle = torch.empty(n, dtype=torch.float64).uniform_(-0.6, 0.6, generator=generator)
    factor = torch.empty(n, 1, dtype=torch.float64).uniform_(*scale, generator=generator).expand(n, 2)
    shift = torch.empty(n, 2, dtype=torch.float64).uniform_(-0.4, 0.4, generator=generator)
    return geometry.affine_theta(rotation=angle, scale=factor, translation=shift).to(dtype)


def _padding_cases() -> list[Case]:
    f64 = torch.float64
    return [
        Case(
            "zoom out by 1.4-2.2 with a turn and a shift, 1x28x28, batch of 3",
            (_normalised_digits(3, 1, 28, 28, torch.float32), _zoom_out_thetas(3, torch.float32)),
        ),
        Case(
            "zoom out on a non-square 1x28x40 image (H != W), batch of 2",
            (_normalised_digits(2, 1, 28, 40, torch.float32), _zoom_out_thetas(2, torch.float32)),
        ),
        Case(
            "zoom in (scale 0.5-0.8): nothing is read from outside",
            (
                _normalised_digits(2, 1, 28, 28, torch.float32),
                _zoom_out_thetas(2, torch.float32, scale=(0.5, 0.8)),
            ),
        ),
        Case(
            "zoom out, 2 channels, float64", (_normalised_digits(2, 2, 24, 24, f64), _zoom_out_thetas(2, f64))
        ),
    ]


def _diagnose_padding(case: Case, actual: Any, expected: Tensor) -> str | None:
    x, theta = case.args
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)

    def padded(value: float) -> Tensor:
        return F.grid_sample(x - value, grid, align_corners=False) + value

    candidates = [
        (
            lambda: padded(0.0),
            "this is zero padding: wherever θ reads outside the image the output is 0, but 0 is not the "
            f"background of a normalised digit ({NORMALISED_BACKGROUND:.4f}) — it is a lighter grey, so a "
            "zoomed-out digit sits in a visible frame. Pad with the background instead (or padding_mode='border', "
            "or un-normalise, sample, normalise again).",
        ),
        (
            lambda: F.grid_sample(x, grid, padding_mode="reflection", align_corners=False),
            "padding_mode='reflection' mirrors the image into the padding: a zoomed-out digit is surrounded by "
            "mirrored copies of itself. Pad with the background value, or use padding_mode='border'.",
        ),
        (
            lambda: padded(-NORMALISED_BACKGROUND),
            f"the padding is +{-NORMALISED_BACKGROUND:.4f}: the background of a normalised image is "
            f"(0 - mean) / std = {NORMALISED_BACKGROUND:.4f}, a negative number.",
        ),
        (
            lambda: padded(-MNIST_MEAN),
            f"the padding is -mean = {-MNIST_MEAN}: the background of a normalised image is (0 - mean) / std = "
            f"{NORMALISED_BACKGROUND:.4f}; divide by the standard deviation too.",
        ),
    ]
    return first_matching_message(actual, candidates)


def check_warp_normalised(student_fn: Callable[..., Any], *, quiet: bool = False) -> CheckResult:
    """Check ``warp_normalised(x, theta)`` on normalised images: the background must be preserved under zoom-out.

    Cases zoom out (so part of every output is read from outside the image), also on non-square images, with
    two channels and in float64, and zoom in (where padding plays no part). Compared with
    :func:`warp_normalised` (padding with the background value) and ``F.grid_sample(padding_mode="border")``,
    values and the gradient with respect to θ; zero and reflection padding and a wrong background value are
    recognised.
    """
    return check_function(
        "warp_normalised",
        student_fn,
        warp_normalised,
        _padding_cases(),
        torch_fn=_border_warp,
        grad_wrt=(1,),
        diagnose=_diagnose_padding,
        hint=(
            "outside the image the output must be the images' background, (0 - MNIST_MEAN) / MNIST_STD ≈ -0.42. "
            "Sample x - b with zero padding and add b back, or pass padding_mode='border' to F.grid_sample."
        ),
        quiet=quiet,
    )


# ------------------------------------------------------------------------- exercise 3: align_corners


def spatial_transform(x: Tensor, theta: Tensor, align_corners: bool = False) -> Tensor:
    """Warp ``x`` with θ: grid generator (eq. 1) and bilinear sampler (eq. 5) on **one** ``align_corners``.

    The convention says what the normalised coordinates ±1 mean — the centres of the corner pixels (``True``)
    or their outer edges (``False``, PyTorch's default). Grid generator and sampler must agree on it: otherwise
    the identity θ no longer reproduces the input, and every pixel is read up to half a pixel off.

    Args:
        x: ``(N, C, H, W)``.
        theta: ``(N, 2, 3)``.
        align_corners: the convention of both the grid and the sampler.

    Returns:
        ``(N, C, H, W)``.

    Example:
        >>> x = torch.rand(1, 1, 5, 7, generator=torch.Generator().manual_seed(0))
        >>> identity = geometry.identity_affine(1)
        >>> bool(torch.allclose(spatial_transform(x, identity, align_corners=True), x, atol=1e-6))
        True
    """
    grid = geometry.affine_grid(theta, x.shape, align_corners=align_corners)
    return sampling.grid_sample(x, grid, align_corners=align_corners)


def _torch_transform(x: Tensor, theta: Tensor, align_corners: bool = False) -> Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=align_corners)
    return F.grid_sample(x, grid, align_corners=align_corners)


_torch_transform.__module__ = ""
_torch_transform.__qualname__ = "F.affine_grid + F.grid_sample"


def _general_thetas(n: int, dtype: torch.dtype) -> Tensor:
    generator = case_generator()
    angle = torch.empty(n, dtype=torch.float64).uniform_(-0.7, 0.7, generator=generator)
    scale = torch.empty(n, 2, dtype=torch.float64).uniform_(0.6, 1.3, generator=generator)
    shift = torch.empty(n, 2, dtype=torch.float64).uniform_(-0.3, 0.3, generator=generator)
    return geometry.affine_theta(rotation=angle, scale=scale, translation=shift).to(dtype)


def _images(n: int, shape: tuple[int, int, int], dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.rand(n, *shape, generator=case_generator(), dtype=torch.float64).to(dtype)


def _align_cases() -> list[Case]:
    f64 = torch.float64
    return [
        Case(
            "identity θ, 1x6x6, align_corners=False: must reproduce the input",
            (_images(1, (1, 6, 6)), geometry.identity_affine(1)),
            {"align_corners": False},
        ),
        Case(
            "identity θ, 1x6x6, align_corners=True: must reproduce the input",
            (_images(1, (1, 6, 6)), geometry.identity_affine(1)),
            {"align_corners": True},
        ),
        Case(
            "identity θ on a non-square 2x5x9 image, align_corners=True",
            (_images(1, (2, 5, 9)), geometry.identity_affine(1)),
            {"align_corners": True},
        ),
        Case(
            "turn, scale and shift, 1x20x30, batch of 3, align_corners=False",
            (_images(3, (1, 20, 30)), _general_thetas(3, torch.float32)),
            {"align_corners": False},
        ),
        Case(
            "turn, scale and shift, 1x20x30, batch of 3, align_corners=True",
            (_images(3, (1, 20, 30)), _general_thetas(3, torch.float32)),
            {"align_corners": True},
        ),
        Case(
            "float64, 3x12x8, align_corners=True",
            (_images(2, (3, 12, 8), f64), _general_thetas(2, f64)),
            {"align_corners": True},
        ),
    ]


def _diagnose_align(case: Case, actual: Any, expected: Tensor) -> str | None:
    x, theta = case.args
    flag = case.kwargs["align_corners"]

    def mixed(grid_flag: bool, sampler_flag: bool) -> Tensor:
        return F.grid_sample(
            x, F.affine_grid(theta, list(x.shape), align_corners=grid_flag), align_corners=sampler_flag
        )

    return first_matching_message(
        actual,
        [
            (
                lambda: mixed(flag, not flag),
                f"the grid generator used align_corners={flag} but the sampler {not flag}: the sampler reads the "
                "grid's ±1 as the other convention, so every pixel is read up to half a pixel off and the identity "
                "no longer reproduces the input. Pass the same align_corners to both (F.grid_sample's default is "
                "False).",
            ),
            (
                lambda: mixed(not flag, flag),
                f"the sampler used align_corners={flag} but the grid generator {not flag}: pass the same "
                "align_corners to F.affine_grid and F.grid_sample.",
            ),
            (
                lambda: mixed(not flag, not flag),
                f"grid and sampler agree, but on align_corners={not flag}: use the function's align_corners "
                "argument, not a fixed value.",
            ),
        ],
    )


def check_spatial_transform(student_fn: Callable[..., Any], *, quiet: bool = False) -> CheckResult:
    """Check ``spatial_transform(x, theta, align_corners=False)`` for both conventions.

    The identity θ must reproduce the input for both ``align_corners`` values (square and non-square images),
    and general θ must give :func:`spatial_transform`'s and ``F.affine_grid`` + ``F.grid_sample``'s result,
    with the same gradients with respect to ``x`` and θ. A grid generator and sampler that disagree (the usual
    cause: one of them left at PyTorch's default) are recognised.
    """
    return check_function(
        "spatial_transform",
        student_fn,
        spatial_transform,
        _align_cases(),
        torch_fn=_torch_transform,
        grad_wrt=(0, 1),
        diagnose=_diagnose_align,
        hint=(
            "pass align_corners=align_corners to BOTH F.affine_grid and F.grid_sample; a function left at its "
            "default (align_corners=False) disagrees with the other as soon as align_corners=True."
        ),
        quiet=quiet,
    )


# --------------------------------------------------------------------------- exercise 4: forward wiring


class STNet(nn.Module):
    """A spatial transformer followed by a classifier, wired right: ``classifier(transformer(x)[0])``.

    The classifier must see the transformer's **output**. Handing it the untransformed ``x`` is the classic STN
    bug (paper-facts problem #6): everything runs and the classifier trains, but the loss no longer depends on θ,
    so the localization network's gradient is exactly zero and the transformer never learns. The output and θ of
    the last batch are kept, detached, in ``last_warped`` and ``last_theta`` for plots.

    Args:
        transformer: a module mapping ``x: (N, C, H, W)`` to ``(output, theta)``, e.g.
            :class:`stnlib.models.SpatialTransformer`.
        classifier: a module mapping the transformer's output to logits ``(N, classes)``.

    Example:
        >>> net = STNet(SpatialTransformer((1, 28, 28), loc_kind="fc"), FCN((1, 28, 28)))
        >>> net(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    last_warped: Tensor | None
    last_theta: Tensor | None

    def __init__(self, transformer: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.transformer = transformer
        self.classifier = classifier
        self.last_warped = None
        self.last_theta = None

    def forward(self, x: Tensor) -> Tensor:
        warped, theta = self.transformer(x)
        self.last_warped, self.last_theta = warped.detach(), theta.detach()
        return self.classifier(warped)


def _net_runner(cls: Any) -> Any:
    if not callable(cls):
        return cls

    def run(transformer: nn.Module, classifier: nn.Module, x: Tensor) -> ClassifierProbe:
        if isinstance(cls, nn.Module):
            raise TypeError(
                "pass the class itself, e.g. check_st_net(STNet), not a model built from it: the checker builds "
                "its own for several transformers and classifiers."
            )
        model = cls(transformer, classifier)
        logits = model(x)
        if not isinstance(logits, Tensor):
            return ClassifierProbe(
                None, None, f"forward must return the classifier's logits; got {type(logits).__name__}."
            )
        return probe_classifier(logits, transformer)

    return _named(run, cls, "STNet")


def _transformer(in_shape: tuple[int, int, int], dtype: torch.dtype, **kwargs: Any) -> SpatialTransformer:
    """stnlib's transformer with a small random head around a zoom, so that θ moves the image and depends on it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(CASE_SEED)
        st = SpatialTransformer(in_shape, "affine", **kwargs)
    head = st.localization.head
    with torch.no_grad():
        head.weight.copy_(0.05 * torch.randn(head.weight.shape, generator=case_generator()))
        head.bias.copy_(torch.tensor([0.8, 0.1, 0.1, -0.1, 0.8, -0.05]))
    return st.to(dtype)


def _classifier(
    kind: type[nn.Module], in_shape: tuple[int, int, int], dtype: torch.dtype, **kwargs: Any
) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(CASE_SEED + 1)
        return kind(in_shape, **kwargs).to(dtype)


def _net_cases() -> list[Case]:
    f64 = torch.float64
    s28, s42 = (1, 28, 28), (1, 42, 42)
    return [
        Case(
            "ST-FCN on 1x28x28, batch of 3",
            (
                _transformer(s28, torch.float32, loc_kind="fc"),
                _classifier(FCN, s28, torch.float32),
                _images(3, s28),
            ),
        ),
        Case(
            "ST-CNN on the RTS canvas 1x42x42, batch of 2",
            (
                _transformer(s42, torch.float32),
                _classifier(CNN, s42, torch.float32, channels=(4, 8)),
                _images(2, s42),
            ),
        ),
        Case(
            "transformer output 28x28 from a 1x42x42 input (the classifier expects 28x28)",
            (
                _transformer(s42, torch.float32, loc_kind="fc", output_size=(28, 28)),
                _classifier(FCN, s28, torch.float32),
                _images(2, s42),
            ),
        ),
        Case(
            "two channels, float64",
            (
                _transformer((2, 28, 28), f64, loc_kind="fc"),
                _classifier(FCN, (2, 28, 28), f64),
                _images(2, (2, 28, 28), f64),
            ),
        ),
    ]


def _compare_net(actual: Any, expected: ClassifierProbe) -> Comparison:
    return compare_classifier_probes(
        actual,
        expected,
        no_gradient="the logits are right, but the localization network's gradient is zero: the transformer's "
        "output must stay connected to the loss (no .detach(), no torch.no_grad() around the transformer).",
    )


_UNTRANSFORMED_BUG = (
    "the classifier was given the untransformed input x — the classic STN bug. The model still trains (as a plain "
    "classifier), but the loss does not depend on θ: the localization network's gradient is exactly zero and the "
    "transformer never moves. Classify the transformer's output."
)


def _diagnose_net(case: Case, actual: Any, expected: ClassifierProbe) -> str | None:
    return diagnose_classifier_wiring(case, actual, expected, untransformed=_UNTRANSFORMED_BUG)


def check_st_net(student_cls: Any, *, quiet: bool = False) -> CheckResult:
    """Check the class ``STNet(transformer, classifier)``: logits and the localization network's gradient.

    For each case the checker builds the student's model around a stnlib transformer whose θ clearly moves the
    image (so that classifying ``x`` instead of the output gives other logits) — ST-FCN and ST-CNN, a transformer
    with a smaller output than its input, two channels in float64 — and compares the logits and the gradient they
    send to the localization network with :class:`STNet`. The gradient must not be zero; classifying the
    untransformed input is recognised and explained.
    """

    def run() -> CheckResult:
        return check_function(
            "STNet",
            _net_runner(student_cls),
            _net_runner(STNet),
            _net_cases(),
            compare=_compare_net,
            diagnose=_diagnose_net,
            hint=(
                "in forward: output, theta = self.transformer(x), then return self.classifier(output). If the "
                "classifier complains about the size of its input, it is being given x instead of the output."
            ),
            quiet=quiet,
        )

    return run_and_record(run, student_cls)
