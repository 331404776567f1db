"""Checkers for Lesson 05 — assembling a spatial transformer network (Sec. 3 and Fig. 2 of the paper).

The exercises, one checker each:

* :func:`check_spatial_transformer` — the module: localization net → θ → grid (eq. 1) → sampler (eq. 5).
* :func:`check_region_corners` — the four input pixels where the output's corners read.
* :func:`check_st_cnn` — a classifier on the transformer's output.
* :func:`check_parameter_groups` — the localization network's own learning rate.
* :func:`check_training_step` — zero the gradients, cross-entropy, backward, optimiser step.
* :func:`check_train_and_watch` — the epochs around it, one logged row per epoch.

The checkers of the two classes build the student's class themselves on several cases and record the result
on the class, so ``use_or_fallback(SpatialTransformer, checks.lesson05.SpatialTransformer)`` works as for a
function.

Example (in the lesson)::

    checks.lesson05.check_region_corners(region_corners)
    region_corners = checks.use_or_fallback(region_corners, checks.lesson05.region_corners)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stnlib import geometry, sampling
from stnlib._validation import check_size, check_tensor
from stnlib.checks._classifier_wiring import (
    ClassifierProbe,
    compare_classifier_probes,
    diagnose_classifier_wiring,
    probe_classifier,
)
from stnlib.checks._core import (
    CASE_SEED,
    Case,
    Comparison,
    Exercise,
    ParamsTable,
    Status,
    build_seeded,
    case_generator,
    compare_probe,
    first_matching_message,
    gradient_of_weighted_sum,
    not_a_module,
    probe_problem,
    random_affine_theta,
    random_uniform,
    refuse_instance,
    reported_as,
    tensors_close,
)
from stnlib.geometry.coords import normalized_to_pixel
from stnlib.models import CNN, LocalizationNet, localization_parameter_names, parameter_groups
from stnlib.models import SpatialTransformer as LibrarySpatialTransformer

__all__ = [
    "STCNN",
    "SpatialTransformer",
    "check_parameter_groups",
    "check_region_corners",
    "check_spatial_transformer",
    "check_st_cnn",
    "check_train_and_watch",
    "check_training_step",
    "parameter_groups",
    "region_corners",
    "train_and_watch",
    "training_step",
]


def _random_localization(in_shape: tuple[int, int, int], dtype: torch.dtype) -> LocalizationNet:
    """stnlib's localization network with a small random head, so that θ depends on the image."""
    net = build_seeded(LocalizationNet, in_shape, "affine", kind="conv")
    with torch.no_grad():
        net.head.weight.copy_(0.05 * torch.randn(net.head.weight.shape, generator=case_generator()))
    return net.to(dtype)


def _thetas(n: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``n`` clearly-not-identity affine θ: zooms in, turns and shifts differently for every sample."""
    return random_affine_theta(n, case_generator(), turn=0.8, scale=(0.45, 0.8), shift=0.3, dtype=dtype)


# ------------------------------------------------------------------------------ exercise 1: the module


class SpatialTransformer(nn.Module):
    """The lesson's spatial transformer (affine): ``V = sample(U, grid(localization(U)))`` (Sec. 3, Fig. 2).

    The three parts of the paper in one module: the localization network predicts ``theta: (N, 2, 3)`` from the
    input; the grid generator (:func:`stnlib.geometry.affine_grid`, eq. 1) maps every output pixel to an input
    position; the sampler (:func:`stnlib.sampling.grid_sample`, eq. 5, zero padding) reads the input there.
    :class:`stnlib.models.SpatialTransformer` is the library's full version (other families, padding modes,
    PyTorch's fast kernels).

    Args:
        localization: any module mapping ``x: (N, C, H, W)`` to ``theta: (N, 2, 3)``, started at the identity.
        output_size: ``(H_out, W_out)``; ``None`` keeps the input's ``(H, W)``.
        align_corners: the normalised-coordinate convention, used by the grid generator and the sampler alike.

    Shapes:
        ``forward(x)``: ``x: (N, C, H, W)`` → ``(output: (N, C, H_out, W_out), theta: (N, 2, 3))``.

    Example:
        >>> from stnlib.checks.lesson04 import SmallLocalizationNet
        >>> st = SpatialTransformer(SmallLocalizationNet((1, 42, 42)))
        >>> x = torch.rand(2, 1, 42, 42)
        >>> output, theta = st(x)
        >>> bool(torch.allclose(output, x, atol=1e-5))  # identity at initialisation
        True
    """

    def __init__(
        self,
        localization: nn.Module,
        output_size: tuple[int, int] | None = None,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(localization, nn.Module):
            raise TypeError(f"localization must be a torch.nn.Module; got {type(localization).__name__}")
        if output_size is not None and (
            len(output_size) != 2 or not all(isinstance(s, int) and s > 0 for s in output_size)
        ):
            raise ValueError(f"output_size must be (H_out, W_out), two positive ints; got {output_size!r}")
        self.localization = localization
        self.output_size = output_size
        self.align_corners = align_corners

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Transform ``x: (N, C, H, W)``; returns ``(output, theta)``."""
        dims = check_tensor(x, "x", "N C H W")
        theta = self.localization(x)  # θ = f_loc(U)
        check_tensor(theta, "theta (the localization network's output)", "N 2 3", dims)
        n, c, height, width = x.shape
        out_height, out_width = self.output_size or (height, width)
        grid = geometry.affine_grid(theta, (n, c, out_height, out_width), align_corners=self.align_corners)
        output = sampling.grid_sample(x, grid, align_corners=self.align_corners)
        return output, theta

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, align_corners={self.align_corners}"


class _TransformerProbe(NamedTuple):
    """What the checker measures on one spatial transformer (the student's or a reference)."""

    output: Any = None
    theta: Any = None
    localization_grad: Tensor | None = None  # of a weighted sum of the output, w.r.t. the loc. net
    problem: str | None = None  # a structural problem that makes the rest meaningless


def _probe_transformer(result: Any, localization: nn.Module, gradient: bool = True) -> _TransformerProbe:
    """Measure what a transformer's ``forward`` returned. With ``gradient=False`` the gradient is only tested
    for existence (at the identity every sampling point is a pixel centre, where the bilinear kernel has a
    kink and samplers may pick different sub-gradients)."""
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        what = (
            f"a tensor of shape {tuple(result.shape)}"
            if isinstance(result, Tensor)
            else type(result).__name__
        )
        return _TransformerProbe(
            problem=f"forward must return the pair (output, theta); got {what}. End forward with "
            "`return output, theta`."
        )
    output, theta = result
    grad = gradient_of_weighted_sum(output, localization.parameters()) if isinstance(output, Tensor) else None
    if grad is not None and not gradient:
        grad = torch.zeros(0, dtype=grad.dtype)  # it exists; its values are not compared
    return _TransformerProbe(output, theta, grad)


def _transformer_runner(cls: Any) -> Callable[..., _TransformerProbe]:
    def run(
        localization: nn.Module, x: Tensor, output_size: Any, align_corners: bool, gradient: bool = True
    ) -> _TransformerProbe:
        refuse_instance(cls, "check_spatial_transformer(SpatialTransformer)")
        module = cls(localization, output_size=output_size, align_corners=align_corners)
        return _probe_transformer(module(x), localization, gradient)

    return run


@reported_as("stnlib.models.SpatialTransformer (F.affine_grid + F.grid_sample)")
def _torch_transformer(
    localization: nn.Module, x: Tensor, output_size: Any, align_corners: bool, gradient: bool = True
) -> _TransformerProbe:
    module = LibrarySpatialTransformer(
        (x.shape[1], x.shape[2], x.shape[3]),
        "affine",
        output_size=output_size,
        sampler="torch",
        align_corners=align_corners,
        localization=localization,
    )
    return _probe_transformer(module(x), localization, gradient)


def _transformer_cases() -> list[Case]:
    from stnlib.checks.lesson04 import SmallLocalizationNet

    identity_net = build_seeded(SmallLocalizationNet, (1, 28, 28), "affine")
    f64 = torch.float64
    return [
        Case(
            "RTS canvas 1x42x42, θ zooms in and turns, batch of 3, align_corners=False",
            (ParamsTable(_thetas(3)), random_uniform(3, 1, 42, 42), None, False),
        ),
        Case(
            "the same with align_corners=True",
            (ParamsTable(_thetas(3)), random_uniform(3, 1, 42, 42), None, True),
        ),
        Case(
            "non-square 2x30x50 (H != W), θ depends on the image, batch of 2",
            (_random_localization((2, 30, 50), torch.float32), random_uniform(2, 2, 30, 50), None, False),
        ),
        Case(
            "output_size=(20, 24), smaller than the 1x42x42 input",
            (ParamsTable(_thetas(2)), random_uniform(2, 1, 42, 42), (20, 24), False),
        ),
        Case(
            "float64, 3x16x20, output_size=(10, 30), align_corners=True",
            (ParamsTable(_thetas(2, f64)), random_uniform(2, 3, 16, 20, dtype=f64), (10, 30), True),
        ),
        Case(
            "MNIST 1x28x28, Lesson 04's localization net at initialisation (identity), batch of 2",
            (identity_net, random_uniform(2, 1, 28, 28), None, False, False),
        ),
    ]


def _compare_transformer(actual: Any, expected: _TransformerProbe) -> Comparison:
    return compare_probe(
        actual,
        expected,
        fields=[("theta", "θ (the second item forward returns)"), ("output", "the output V")],
        gradient_name="the gradient reaching the localization network",
        no_gradient="no gradient reaches the localization network: θ must stay connected to the output (no "
        ".detach(), .item(), torch.tensor(...) or torch.no_grad() between them), or the localization net never "
        "learns.",
    )


def _diagnose_transformer(case: Case, actual: Any, expected: _TransformerProbe) -> str | None:
    if not isinstance(actual, _TransformerProbe) or not isinstance(actual.output, Tensor):
        return None
    _, x, output_size, align_corners = case.args[:4]
    if tensors_close(actual.output, expected.output):
        return None  # the output is right; the report already says what is wrong (θ or the gradient)
    theta = expected.theta.detach()
    n, c, height, width = x.shape
    size = (n, c, *(output_size or (height, width)))
    if (
        output_size is not None
        and tuple(actual.output.shape[-2:]) == (height, width)
        and (height, width) != tuple(output_size)
    ):
        return "the output has the input's size: build the grid for (N, C, *self.output_size) when it is set."

    def sample(theta_: Tensor, grid_corners: bool, sample_corners: bool) -> Tensor:
        grid = F.affine_grid(theta_, list(size), align_corners=grid_corners)
        return F.grid_sample(x, grid, align_corners=sample_corners)

    other = not align_corners
    return first_matching_message(
        actual.output,
        [
            (
                lambda: x,
                "the output is the input itself: sample x at the grid, and return the sampled image.",
            ),
            (
                lambda: sample(theta, other, other),
                f"this is the output for align_corners={other}: pass self.align_corners to the grid generator "
                "and to the sampler.",
            ),
            (
                lambda: sample(theta, align_corners, other),
                "the sampler used another align_corners than the grid generator: pass self.align_corners to both, "
                "or the grid's coordinates are read in the wrong convention.",
            ),
            (
                lambda: sample(theta, other, align_corners),
                "the grid generator used another align_corners than the sampler: pass self.align_corners to both.",
            ),
            (
                lambda: sample(geometry.invert_affine(theta), align_corners, align_corners),
                "you sampled with the inverse of θ. θ already maps each OUTPUT pixel to the INPUT position it reads "
                "(eq. 1): use it as it is.",
            ),
        ],
    )


check_spatial_transformer = Exercise(
    "SpatialTransformer",
    SpatialTransformer,
    _transformer_cases,
    runner=_transformer_runner,
    torch_fn=_torch_transformer,
    compare=_compare_transformer,
    diagnose=_diagnose_transformer,
    hint=(
        "theta = self.localization(x); grid = geometry.affine_grid(theta, (N, C, H_out, W_out), "
        "align_corners=self.align_corners); output = sampling.grid_sample(x, grid, "
        "align_corners=self.align_corners), with (H_out, W_out) = self.output_size or the input's (H, W)."
    ),
).checker(
    """Check the class ``SpatialTransformer(localization, output_size=None, align_corners=False)``.

    For each case the checker builds the student's module around a localization network (fixed θ, or θ that
    depends on the image). ``forward(x)`` must return ``(output, theta)``; both, and the gradient that the
    output sends back to the localization network's parameters, are compared with :class:`SpatialTransformer`
    and with :class:`stnlib.models.SpatialTransformer` running ``F.affine_grid`` and ``F.grid_sample``.
    """
)


# ----------------------------------------------------------------------- exercise 2: the sampled region


_CORNERS = (
    (-1.0, -1.0),
    (1.0, -1.0),
    (1.0, 1.0),
    (-1.0, 1.0),
)  # top-left, top-right, bottom-right, bottom-left


def region_corners(theta: Tensor, size: Sequence[int], align_corners: bool = False) -> Tensor:
    """The four input pixels where the output's corners read: the corners of the sampled region.

    The output's corners are the normalised points ``(±1, ±1)`` (with ``align_corners=False`` the outer edges of
    its corner pixels, with ``True`` their centres). Eq. (1) maps each to the input,
    ``(x_s, y_s) = θ (x_t, y_t, 1)``, and :func:`stnlib.geometry.normalized_to_pixel` turns the result into
    input pixel coordinates (pixel ``i``'s centre at ``i``).

    Args:
        theta: ``(N, 2, 3)``.
        size: ``(H, W)`` of the **input**.
        align_corners: the convention θ is used with.

    Returns:
        ``(N, 4, 2)`` pixel ``(x, y)``: top-left, top-right, bottom-right, bottom-left (clockwise on screen).

    Example:
        >>> region_corners(geometry.identity_affine(1), (28, 42))[0]
        tensor([[-0.5000, -0.5000],
                [41.5000, -0.5000],
                [41.5000, 27.5000],
                [-0.5000, 27.5000]])
    """
    check_tensor(theta, "theta", "N 2 3")
    height, width = check_size(size, "size", "H W")
    corners = torch.tensor(_CORNERS, dtype=theta.dtype, device=theta.device)  # (4, 2) normalised (x_t, y_t)
    source = corners @ theta[:, :, :2].transpose(1, 2) + theta[:, None, :, 2]  # eq. (1) for four points
    return normalized_to_pixel(source, (height, width), align_corners)


@reported_as("the corners of F.affine_grid")
def _corners_of_affine_grid(theta: Tensor, size: Sequence[int], align_corners: bool = False) -> Tensor:
    """The same corners read from PyTorch: a 2x2 ``F.affine_grid`` with ``align_corners=True`` has its points
    exactly at the output's corners ±1."""
    grid = F.affine_grid(theta, [theta.shape[0], 1, 2, 2], align_corners=True)
    clockwise = grid[:, [0, 0, 1, 1], [0, 1, 1, 0]]
    return normalized_to_pixel(clockwise, (int(size[0]), int(size[1])), align_corners)


def _corner_cases() -> list[Case]:
    identity = geometry.identity_affine(1)
    zoom = geometry.affine_theta(scale=0.5, translation=(0.2, -0.3)).expand(2, 2, 3).clone()
    zoom[1] = geometry.affine_theta(scale=0.7, translation=(-0.25, 0.1))[0]
    turn = geometry.affine_theta(rotation=math.radians(30), scale=(0.8, 0.6), translation=(0.1, 0.05))
    random = _thetas(3, torch.float64)
    return [
        Case("zoom and shift on the 42x42 RTS canvas, batch of 2", (zoom, (42, 42))),
        Case("rotation and scale, non-square H=30, W=50", (turn, (30, 50))),
        Case(
            "rotation and scale, non-square H=30, W=50, align_corners=True",
            (turn, (30, 50)),
            {"align_corners": True},
        ),
        Case("identity θ, 28x28, align_corners=False: the image's outer edges", (identity, (28, 28))),
        Case(
            "identity θ, 28x28, align_corners=True: the corner pixels' centres",
            (identity, (28, 28)),
            {"align_corners": True},
        ),
        Case("batch of 3 random θ, float64, H=17, W=23", (random, (17, 23)), {"align_corners": False}),
    ]


def _diagnose_corners(case: Case, actual: Any, expected: Tensor) -> str | None:
    if not isinstance(actual, Tensor) or actual.shape != expected.shape:
        if isinstance(actual, Tensor) and tuple(actual.shape[-2:]) == (2, 4):
            return "the result holds (x, y) per row: return (N, 4, 2), one corner per row, not (N, 2, 4)."
        return None
    theta, size = case.args
    align_corners = case.kwargs.get("align_corners", False)
    height, width = size
    corners = torch.tensor(_CORNERS, dtype=theta.dtype)

    def through(theta_: Tensor) -> Tensor:  # eq. (1) for the four corners
        return corners @ theta_[:, :, :2].transpose(1, 2) + theta_[:, None, :, 2]

    normalised = through(theta)
    return first_matching_message(
        actual,
        [
            (
                lambda: normalised,
                "these are normalised coordinates in [-1, 1]; convert them to input pixels with "
                "geometry.normalized_to_pixel(points, size, align_corners).",
            ),
            (
                lambda: normalized_to_pixel(normalised, (height, width), not align_corners),
                f"this is the align_corners={not align_corners} convention: pass align_corners on to "
                "normalized_to_pixel.",
            ),
            (
                lambda: normalized_to_pixel(normalised, (width, height), align_corners),
                "height and width are swapped: size is (H, W), and normalized_to_pixel takes it in that order "
                "(it scales x with W and y with H).",
            ),
            (
                lambda: expected.flip(-1),
                "x and y are swapped: every corner is an (x, y) pair, x first.",
            ),
            (
                lambda: expected[:, [0, 1, 3, 2]],
                "the corners are in reading order (top-left, top-right, bottom-left, bottom-right); go round "
                "clockwise instead: top-left, top-right, bottom-right, bottom-left.",
            ),
            (
                lambda: expected[:, [0, 3, 2, 1]],
                "the corners go round anticlockwise on screen; go clockwise: top-left, top-right, bottom-right, "
                "bottom-left (y grows downwards).",
            ),
            (
                lambda: normalized_to_pixel(through(geometry.invert_affine(theta)), size, align_corners),
                "you mapped the corners with θ⁻¹. θ maps OUTPUT coordinates to INPUT coordinates (eq. 1), which "
                "is exactly the direction needed here: use θ itself.",
            ),
            (
                lambda: normalized_to_pixel(corners @ theta[:, :, :2].transpose(1, 2), size, align_corners),
                "the translation is missing: θ multiplies (x_t, y_t, 1) — append the 1, or add θ's last column.",
            ),
        ],
    )


check_region_corners = Exercise(
    "region_corners",
    region_corners,
    _corner_cases,
    torch_fn=_corners_of_affine_grid,
    grad_wrt=(0,),
    diagnose=_diagnose_corners,
    hint=(
        "take the normalised corners (-1, -1), (1, -1), (1, 1), (-1, 1) in this order, map each with θ "
        "(x_s, y_s) = θ (x_t, y_t, 1), then geometry.normalized_to_pixel(points, size, align_corners)."
    ),
).checker(
    """Check ``region_corners(theta, size, align_corners=False)``: values and gradients with respect to θ.

    Compared with :func:`region_corners` and with the corners of a 2x2 ``F.affine_grid``.
    """
)


# ------------------------------------------------------------------------------ exercise 3: the ST-CNN


class STCNN(nn.Module):
    """A spatial transformer followed by a classifier: ``logits = classifier(transformer(x)[0])``.

    The classifier sees only the transformer's output. Feeding it the input instead is a classic bug:
    the network still trains — it is then an ordinary CNN — but no gradient reaches
    the localization network, which stays at the identity forever.

    Args:
        transformer: a module returning ``(output, theta)``, e.g. :class:`SpatialTransformer`.
        classifier: a module mapping the transformer's output to logits ``(N, classes)``.

    Shapes:
        ``forward(x)``: ``x: (N, C, H, W)`` → logits ``(N, classes)``.

    Example:
        >>> from stnlib.checks.lesson04 import SmallLocalizationNet
        >>> st = SpatialTransformer(SmallLocalizationNet((1, 42, 42)))
        >>> model = STCNN(st, CNN((1, 42, 42), channels=(4, 8)))
        >>> model(torch.rand(3, 1, 42, 42)).shape
        torch.Size([3, 10])
    """

    def __init__(self, transformer: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.transformer = transformer
        self.classifier = classifier

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, classes)`` for ``x: (N, C, H, W)``."""
        output, _ = self.transformer(x)
        return self.classifier(output)


def _construction_problem(model: Any, transformer: nn.Module, classifier: nn.Module) -> str | None:
    """What is wrong with how the student's ``STCNN(transformer, classifier)`` keeps its two parts."""
    if not isinstance(model, nn.Module):
        return not_a_module("STCNN", model)
    parts = {"transformer": transformer, "classifier": classifier}
    registered = {id(p) for p in model.parameters()}
    if not {id(p) for part in parts.values() for p in part.parameters()} <= registered:
        return (
            "the model does not own the transformer's and the classifier's parameters, so an optimiser built "
            "from model.parameters() would never train them: store both as attributes, self.transformer = "
            "transformer and self.classifier = classifier, after super().__init__()."
        )
    if any(getattr(model, name, None) is not part for name, part in parts.items()):
        return (
            "store the two parts under the names self.transformer and self.classifier: the lesson's code "
            "(and the parameter names 'transformer.localization...' that parameter_groups reads) rely on them."
        )
    return None


def _st_cnn_runner(cls: Any) -> Callable[..., ClassifierProbe]:
    def run(transformer: nn.Module, classifier: nn.Module, x: Tensor) -> ClassifierProbe:
        refuse_instance(
            cls, "check_st_cnn(STCNN)", "model", "its own around several transformers and classifiers"
        )
        model = cls(transformer, classifier)
        problem = _construction_problem(model, transformer, classifier)
        if problem:
            return ClassifierProbe(problem=problem)
        logits = model(x)
        if isinstance(logits, (tuple, list)):
            return ClassifierProbe(
                problem=f"forward returns a {type(logits).__name__}; return only the classifier's logits (N, classes), "
                "which F.cross_entropy and the training loop expect.",
            )
        return probe_classifier(logits, transformer)

    return run


class _LinearClassifier(nn.Sequential):
    def __init__(self, in_shape: tuple[int, int, int], classes: int, dtype: torch.dtype) -> None:
        super().__init__(nn.Flatten(), nn.Linear(math.prod(in_shape), classes, dtype=dtype))


def _st_cnn_cases() -> list[Case]:
    f64 = torch.float64
    return [
        Case(
            "RTS canvas 1x42x42, θ zooms in and turns, a CNN classifier, batch of 4",
            (
                SpatialTransformer(ParamsTable(_thetas(4))),
                build_seeded(CNN, (1, 42, 42), channels=(4, 8)),
                random_uniform(4, 1, 42, 42),
            ),
        ),
        Case(
            "non-square 1x30x50, θ depends on the image, a linear classifier with 3 classes",
            (
                SpatialTransformer(_random_localization((1, 30, 50), torch.float32)),
                build_seeded(_LinearClassifier, (1, 30, 50), 3, torch.float32),
                random_uniform(2, 1, 30, 50),
            ),
        ),
        Case(
            "align_corners=True, 2 channels 2x24x24, batch of 3",
            (
                SpatialTransformer(ParamsTable(_thetas(3)), align_corners=True),
                build_seeded(_LinearClassifier, (2, 24, 24), 10, torch.float32),
                random_uniform(3, 2, 24, 24),
            ),
        ),
        Case(
            "the transformer outputs 20x20 from a 1x42x42 input (the classifier expects 20x20)",
            (
                SpatialTransformer(ParamsTable(_thetas(2)), output_size=(20, 20)),
                build_seeded(_LinearClassifier, (1, 20, 20), 10, torch.float32),
                random_uniform(2, 1, 42, 42),
            ),
        ),
        Case(
            "float64, 1x28x28, batch of 2",
            (
                SpatialTransformer(ParamsTable(_thetas(2, f64))),
                build_seeded(_LinearClassifier, (1, 28, 28), 10, f64),
                random_uniform(2, 1, 28, 28, dtype=f64),
            ),
        ),
    ]


def _compare_st_cnn(actual: Any, expected: ClassifierProbe) -> Comparison:
    return compare_classifier_probes(
        actual,
        expected,
        no_gradient="the logits are right, but no gradient reaches the localization network: the transformer's "
        "output must stay connected to the loss (no .detach(), no torch.no_grad() around the transformer).",
    )


_UNTRANSFORMED_BUG = (
    "the classifier was given the untransformed input x. This is the classic STN bug: the model still trains "
    "(as an ordinary CNN), but the loss no longer depends on θ, so the localization network gets no gradient and "
    "the transformer never learns. Classify the transformer's output: output, theta = self.transformer(x)."
)


def _diagnose_st_cnn(case: Case, actual: Any, expected: ClassifierProbe) -> str | None:
    return diagnose_classifier_wiring(case, actual, expected, untransformed=_UNTRANSFORMED_BUG)


check_st_cnn = Exercise(
    "STCNN",
    STCNN,
    _st_cnn_cases,
    runner=_st_cnn_runner,
    compare=_compare_st_cnn,
    diagnose=_diagnose_st_cnn,
    hint=(
        "forward: output, theta = self.transformer(x), then return self.classifier(output). The "
        "classifier must see the transformer's output; if it complains about the input size, it is being "
        "given x."
    ),
    check_name="check_st_cnn",
).checker(
    """Check the class ``STCNN(transformer, classifier)``.

    For each case the checker builds the student's model around a transformer whose θ clearly moves the image
    (so that classifying the input instead of the output gives other logits) and a classifier. The logits and
    the gradient they send to the localization network are compared with :class:`STCNN`; feeding the
    untransformed image to the classifier is recognised and explained.
    """
)


# -------------------------------------------------------------------------- exercise 4: parameter groups


class _GroupsProbe(NamedTuple):
    """The learning rate the groups give each parameter, by the parameter's name (or what is wrong with them)."""

    lrs: dict[str, float] | None
    problem: str | None = None


def _names(items: list[str], limit: int = 3) -> str:
    """The first ``limit`` names and how many more: ``"a, b, c and 2 more"``."""
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _probe_groups(groups: Any, model: nn.Module, lr: float) -> _GroupsProbe:
    if groups is None:
        return _GroupsProbe(None, "the function returned None: did it forget to `return` the groups?")
    if isinstance(groups, dict) or not isinstance(groups, (list, tuple)):
        return _GroupsProbe(
            None,
            f"return a list of dicts such as [{{'params': [...], 'lr': lr}}, ...]; got {type(groups).__name__}.",
        )
    materialised = []
    for group in groups:
        if not isinstance(group, dict) or "params" not in group:
            return _GroupsProbe(
                None,
                f"every group must be a dict with a 'params' entry; got {type(group).__name__} {group!r:.80}.",
            )
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        if any(not isinstance(p, Tensor) for p in params):
            return _GroupsProbe(
                None,
                "a group's 'params' must hold the parameters themselves (from model.parameters() or "
                "model.named_parameters()), not their names.",
            )
        if params:
            materialised.append({**group, "params": params})
    name_of = {id(p): name for name, p in model.named_parameters()}
    seen: dict[int, int] = {}
    for group in materialised:
        for p in group["params"]:
            seen[id(p)] = seen.get(id(p), 0) + 1
    twice = [name_of.get(i, "?") for i, count in seen.items() if count > 1]
    if twice:
        return _GroupsProbe(
            None,
            f"some parameters are in more than one group ({_names(twice)}); PyTorch refuses that. Put each "
            "parameter in exactly one group: the localization group, or the rest.",
        )
    foreign = [i for i in seen if i not in name_of]
    if foreign:
        return _GroupsProbe(None, f"{len(foreign)} tensor(s) in the groups are not parameters of this model.")
    if not materialised:
        return _GroupsProbe(None, "the groups hold no parameters at all: nothing would be trained.")
    lrs: dict[str, float] = {}
    for group in materialised:
        rate = group.get("lr", lr)  # a group without "lr" takes the optimiser's default, here lr
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            return _GroupsProbe(
                None, f"a group's 'lr' must be a number; got {type(rate).__name__} {rate!r:.40}."
            )
        lrs.update({name_of[id(p)]: float(rate) for p in group["params"]})
    missing = [name for name, p in model.named_parameters() if p.requires_grad and name not in lrs]
    if missing:
        return _GroupsProbe(
            None,
            f"{len(missing)} parameter(s) are in no group and would never be trained: {_names(missing)}. Every "
            "parameter goes into one of the two groups.",
        )
    return _GroupsProbe(lrs)


def _groups_runner(fn: Callable[..., Any]) -> Callable[..., _GroupsProbe]:
    def run(model: nn.Module, lr: float, multiplier: float) -> _GroupsProbe:
        return _probe_groups(fn(model, lr, multiplier), model, lr)

    return run


def _groups_cases() -> list[Case]:
    from stnlib.checks.lesson04 import SmallLocalizationNet
    from stnlib.models import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(CASE_SEED)
        lesson_model = STCNN(
            SpatialTransformer(SmallLocalizationNet((1, 42, 42))), CNN((1, 42, 42), channels=(4, 8))
        )
        library_model = build_model("ST-CNN-Aff", (1, 42, 42))
        two_transformers = build_model("2xST-FCN", (2, 42, 42))
        plain_cnn = build_model("CNN", (1, 42, 42))
    return [
        Case("this lesson's ST-CNN, lr 0.01, multiplier 0.1", (lesson_model, 0.01, 0.1)),
        Case("this lesson's ST-CNN, lr 3e-3, multiplier 0.5", (lesson_model, 3e-3, 0.5)),
        Case("stnlib's ST-CNN-Aff, lr 0.01, multiplier 0.1", (library_model, 0.01, 0.1)),
        Case("two transformers (2xST-FCN), lr 0.02, multiplier 0.25", (two_transformers, 0.02, 0.25)),
        Case("a plain CNN (no localization network): everything at lr", (plain_cnn, 0.01, 0.1)),
    ]


def _compare_groups(actual: Any, expected: _GroupsProbe) -> Comparison:
    problem = probe_problem(actual, expected, problem_status=Status.FAILED)
    if problem is not None:
        return problem
    assert actual.lrs is not None and expected.lrs is not None
    worst = 0.0
    for name, want in expected.lrs.items():
        got = actual.lrs[name]
        error = abs(got - want)
        if error > 1e-12 + 1e-9 * abs(want):
            return Comparison(
                Status.FAILED,
                f"{name} trains at lr {got:g}; expected {want:g}.",
                max_error=error,
                actual=got,
                expected=want,
            )
        worst = max(worst, error)
    return Comparison(Status.PASSED, max_error=worst)


def _diagnose_groups(case: Case, actual: Any, expected: _GroupsProbe) -> str | None:
    if not isinstance(actual, _GroupsProbe) or actual.lrs is None or expected.lrs is None:
        return None
    model, lr, multiplier = case.args
    in_localization = localization_parameter_names(model)
    localization = [n for n in expected.lrs if n in in_localization]
    rest = [n for n in expected.lrs if n not in in_localization]
    actual_lrs = actual.lrs

    def at(name: str, value: float) -> bool:
        return math.isclose(actual_lrs[name], value, rel_tol=1e-9)

    def all_at(names: list[str], value: float) -> bool:
        return bool(names) and all(at(n, value) for n in names)

    if all_at(localization, lr) and all_at(rest, lr):
        return "every parameter trains at lr: the localization group needs lr * localization_lr_multiplier."
    if all_at(localization, lr) and all_at(rest, lr * multiplier):
        return "the two rates are swapped: the localization network is the part that must learn slowly."
    if multiplier and all_at(localization, lr / multiplier):
        return (
            "you divided by the multiplier; the localization group's rate is lr * localization_lr_multiplier."
        )
    slow = [n for n in localization if at(n, lr * multiplier)]
    if slow and len(slow) < len(localization):
        fast = [n for n in localization if n not in slow]
        return (
            f"only some of the localization network's parameters are in the slow group; {_names(fast)} are not. "
            "Use every parameter whose name has a part 'localization'."
        )
    wrongly_slow = [n for n in rest if at(n, lr * multiplier)]
    if wrongly_slow and multiplier != 1:
        return (
            f"{_names(wrongly_slow)} belong to no localization network but train at the slow rate; test the parts "
            "of the name (name.split('.')), not a substring of the whole name."
        )
    return None


check_parameter_groups = Exercise(
    "parameter_groups",
    parameter_groups,
    _groups_cases,
    runner=_groups_runner,
    compare=_compare_groups,
    diagnose=_diagnose_groups,
    hint=(
        "loop over model.named_parameters(); a parameter whose name has a part 'localization' "
        "('localization' in name.split('.')) goes to the group with lr * localization_lr_multiplier, "
        "every other one to the group with lr. Return [{'params': rest, 'lr': lr}, {'params': loc, "
        "'lr': ...}]."
    ),
).checker(
    """Check ``parameter_groups(model, lr, localization_lr_multiplier=1.0)``.

    The learning rate the groups give each parameter (a group may leave out ``"lr"`` and take the optimiser's
    default, ``lr``: build the optimiser as ``torch.optim.SGD(groups, lr=lr)``) is compared with
    :func:`parameter_groups`, on models with one, two or no localization networks. Every parameter must be in
    exactly one group.
    """
)


# --------------------------------------------------------------------------- exercise 5: the training step


def training_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, images: Tensor, labels: Tensor
) -> float:
    """One optimisation step of a classifier: forward, cross-entropy loss, backward, optimiser step.

    The gradients are cleared first, so the step uses this batch's gradient only; the optimiser's parameter
    groups (the localization network's own learning rate, :func:`parameter_groups`) decide how far each
    parameter moves.

    Args:
        model: maps ``images`` to logits ``(N, classes)``.
        optimizer: built from ``model``'s parameters (or parameter groups).
        images: ``(N, C, H, W)``.
        labels: ``(N,)`` class indices.

    Returns:
        The batch's loss before the step, as a Python float.

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        >>> x, y = torch.randn(8, 1, 2, 2), torch.randint(0, 3, (8,))
        >>> first = training_step(model, optimizer, x, y)
        >>> later = [training_step(model, optimizer, x, y) for _ in range(20)]
        >>> later[-1] < first
        True
    """
    optimizer.zero_grad()
    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


class _StepProbe(NamedTuple):
    """What a training step did over a few batches: the returned losses, then the localization network's and
    the other parameters after the last step (flattened), or what is wrong with the returned losses."""

    losses: Tensor | None = None
    localization: Tensor | None = None
    rest: Tensor | None = None
    problem: str | None = None


def _returned_loss(loss: Any) -> tuple[float | None, str | None]:
    if loss is None:
        return None, "the function returned None: return the batch's loss, loss.item()."
    if isinstance(loss, Tensor):
        if loss.numel() != 1:
            return (
                None,
                f"return one number, the mean loss of the batch; got a tensor of shape {tuple(loss.shape)}.",
            )
        if loss.requires_grad:
            return None, (
                "return loss.item(), a Python number: the loss tensor keeps the step's whole graph alive, and a "
                "loop that collects it holds every batch's graph in memory."
            )
        return float(loss), None
    if isinstance(loss, bool) or not isinstance(loss, (int, float)):
        return None, f"return the loss as a number (loss.item()); got {type(loss).__name__}."
    return float(loss), None


def _split_parameters(model: nn.Module) -> tuple[Tensor, Tensor]:
    names = localization_parameter_names(model)
    localization = [p.detach().reshape(-1) for n, p in model.named_parameters() if n in names]
    rest = [p.detach().reshape(-1) for n, p in model.named_parameters() if n not in names]
    return torch.cat(localization).clone(), torch.cat(rest).clone()


def _step_model(dtype: torch.dtype, size: int = 16) -> nn.Module:
    """A small ST classifier whose θ depends on the image, the same every time it is built."""
    classifier = build_seeded(_LinearClassifier, (1, size, size), 10, dtype)
    return STCNN(SpatialTransformer(_random_localization((1, size, size), dtype)), classifier)


def _make_optimizer(model: nn.Module, kind: str, lr: float, multiplier: float) -> torch.optim.Optimizer:
    groups = parameter_groups(model, lr, multiplier)
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lr)
    return torch.optim.AdamW(groups, lr=lr, weight_decay=0.0)


def _step_runner(fn: Callable[..., Any]) -> Callable[..., _StepProbe]:
    def run(
        dtype: torch.dtype, kind: str, lr: float, multiplier: float, batches: list[tuple[Tensor, Tensor]]
    ) -> _StepProbe:
        model = _step_model(dtype)
        optimizer = _make_optimizer(model, kind, lr, multiplier)
        losses = []
        for images, labels in batches:
            loss, problem = _returned_loss(fn(model, optimizer, images, labels))
            if problem:
                return _StepProbe(problem=problem)
            losses.append(loss)
        return _StepProbe(torch.tensor(losses, dtype=torch.float64), *_split_parameters(model))

    return run


def _step_batches(
    n_batches: int, batch: int, dtype: torch.dtype, repeat_first: bool = False
) -> list[tuple[Tensor, Tensor]]:
    generator = case_generator(5)
    batches = []
    for _ in range(n_batches):
        images = random_uniform(batch, 1, 16, 16, dtype=dtype, generator=generator)
        labels = torch.randint(0, 10, (batch,), generator=generator)
        batches.append((images, labels))
    return [batches[0]] * n_batches if repeat_first else batches


def _step_cases() -> list[Case]:
    f32, f64 = torch.float32, torch.float64
    return [
        Case(
            "SGD, lr 0.1, localization at x0.1, three batches of 8",
            (f32, "sgd", 0.1, 0.1, _step_batches(3, 8, f32)),
        ),
        Case(
            "SGD, lr 0.05, localization at x3, two batches of 5",
            (f32, "sgd", 0.05, 3.0, _step_batches(2, 5, f32)),
        ),
        Case(
            "AdamW, lr 3e-3, localization at x1, three batches of 8",
            (f32, "adamw", 3e-3, 1.0, _step_batches(3, 8, f32)),
        ),
        Case(
            "float64, SGD, lr 0.2, localization at x0.5, two batches of 4",
            (f64, "sgd", 0.2, 0.5, _step_batches(2, 4, f64)),
        ),
        Case(
            "twelve steps on one fixed batch of 16 (the loss must fall)",
            (f32, "adamw", 1e-2, 1.0, _step_batches(12, 16, f32, repeat_first=True)),
        ),
    ]


def _compare_trained(
    actual: Any, expected: _StepProbe | _LoopProbe, fields: Sequence[tuple[str, str]]
) -> Comparison:
    """Compare the probes of a student's and the reference's training, field by field (``(attribute, name in
    the report)``; the first difference is reported), with float32's tolerance in every dtype: a few optimiser
    steps amplify the rounding differences of equivalent computations."""
    return compare_probe(actual, expected, fields=fields, atol=1e-5, rtol=1e-4)


def _compare_step(actual: Any, expected: _StepProbe) -> Comparison:
    return _compare_trained(
        actual,
        expected,
        [
            ("losses", "the returned losses"),
            ("localization", "the localization network's parameters after the steps"),
            ("rest", "the classifier's parameters after the steps"),
        ],
    )


def _step_without_zero_grad(
    model: nn.Module, optimizer: torch.optim.Optimizer, images: Tensor, labels: Tensor
) -> float:
    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def _step_ignoring_groups(
    model: nn.Module, optimizer: torch.optim.Optimizer, images: Tensor, labels: Tensor
) -> float:
    # every group at the base rate, as a fresh optimiser over model.parameters()
    for group in optimizer.param_groups:
        group["lr"] = optimizer.defaults["lr"]
    return training_step(model, optimizer, images, labels)


def _loss_after_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, images: Tensor, labels: Tensor
) -> float:
    training_step(model, optimizer, images, labels)
    with torch.no_grad():
        return F.cross_entropy(model(images), labels).item()


def _diagnose_step(case: Case, actual: Any, expected: _StepProbe) -> str | None:
    if (
        not isinstance(actual, _StepProbe)
        or actual.problem
        or actual.losses is None
        or expected.losses is None
    ):
        return None
    start_localization, start_rest = _split_parameters(_step_model(case.args[0]))
    if tensors_close(actual.localization, start_localization, atol=0, rtol=0):
        if tensors_close(actual.rest, start_rest, atol=0, rtol=0):
            return "no parameter moved: call loss.backward() and then optimizer.step()."
        return (
            "the classifier learned, the localization network did not move: use the optimizer you are given "
            "(its groups hold the localization network), and keep the transformer's output connected to the loss."
        )
    no_zero_grad = _step_runner(_step_without_zero_grad)(*case.args)
    if tensors_close(actual.localization, no_zero_grad.localization) and tensors_close(
        actual.rest, no_zero_grad.rest
    ):
        return (
            "the gradients pile up from step to step: call optimizer.zero_grad() before loss.backward() (PyTorch "
            "adds each backward's gradients to .grad)."
        )
    if tensors_close(actual.localization, _step_runner(_step_ignoring_groups)(*case.args).localization):
        return (
            "the localization network moved at the base learning rate: step the optimizer you are given, whose "
            "parameter groups give it its own rate, rather than a new one over model.parameters()."
        )
    if tensors_close(actual.losses, _step_runner(_loss_after_step)(*case.args).losses):
        return "the step is right, but return the loss computed before optimizer.step() (the one you trained on)."
    if not tensors_close(actual.losses, expected.losses) and tensors_close(actual.rest, expected.rest):
        return (
            "the parameters are right, but the returned loss is not: return loss.item() of that batch's loss."
        )
    if not tensors_close(actual.losses[:1], expected.losses[:1]):
        return "the first loss differs: use F.cross_entropy(model(images), labels), the mean over the batch."
    return None


check_training_step = Exercise(
    "training_step",
    training_step,
    _step_cases,
    runner=_step_runner,
    compare=_compare_step,
    diagnose=_diagnose_step,
    hint=(
        "four lines: optimizer.zero_grad(); loss = F.cross_entropy(model(images), labels); "
        "loss.backward(); optimizer.step() — then return loss.item()."
    ),
    timeout=30.0,
).checker(
    """Check ``training_step(model, optimizer, images, labels) -> float``.

    A small ST classifier (θ depends on the image) is trained for a few steps with SGD or AdamW built from
    :func:`parameter_groups`, and the returned losses and every parameter afterwards are compared with
    :func:`training_step`'s. Diagnoses: nothing moved, the localization network did not move, gradients
    accumulated (no ``zero_grad``), the groups' rates ignored, the loss returned after the step.
    """
)


# ------------------------------------------------------------------------ exercise 6: the training loop


def train_and_watch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data: Iterable[tuple[Tensor, Tensor]],
    epochs: int,
    watch: Callable[[nn.Module], dict[str, float]],
) -> list[dict[str, float]]:
    """Train for ``epochs`` epochs with :func:`training_step`, and watch the transformer after each.

    Each epoch trains in ``model.train()`` mode on every batch of ``data``, stepping ``scheduler`` after every
    batch (one-cycle schedules count batches); then, in ``model.eval()`` mode and without gradients, calls
    ``watch(model)`` and logs one row: ``{"epoch": e (from 1), "train_loss": mean of the epoch's losses, **watch}``.

    Returns:
        The rows, one per epoch.

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        >>> scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        >>> data = [(torch.randn(8, 1, 2, 2), torch.randint(0, 3, (8,))) for _ in range(3)]
        >>> rows = train_and_watch(model, optimizer, scheduler, data, 2, lambda m: {"bias": m[1].bias.sum().item()})
        >>> [sorted(row) for row in rows][0], rows[1]["train_loss"] < rows[0]["train_loss"]
        (['bias', 'epoch', 'train_loss'], True)
    """
    log = []
    for epoch in range(1, epochs + 1):
        model.train()
        losses = []
        for images, labels in data:
            losses.append(training_step(model, optimizer, images, labels))
            scheduler.step()
        model.eval()
        with torch.no_grad():
            log.append({"epoch": epoch, "train_loss": sum(losses) / len(losses), **watch(model)})
    return log


class _ModeRecorder(nn.Module):
    """Wraps a model and records ``self.training`` at every forward call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.modes: list[bool] = []

    def forward(self, x: Tensor) -> Tensor:
        self.modes.append(self.training)
        return self.model(x)


class _LoopProbe(NamedTuple):
    """The logged columns and the parameters after training, or what is wrong with the log or the modes."""

    epochs: Tensor | None = None
    train_loss: Tensor | None = None
    watched: Tensor | None = None
    parameters: Tensor | None = None
    problem: str | None = None


def _decaying(step: int) -> float:
    return 1.0 / (1.0 + step)


def _log_problem(log: Any, epochs: int, watch_modes: list[bool], trained_modes: list[bool]) -> str | None:
    """What is wrong with the returned rows, or with the modes the model was trained and watched in."""
    if log is None:
        return "the function returned None: return the list of rows."
    if not isinstance(log, (list, tuple)) or not all(isinstance(row, dict) for row in log):
        return "return a list with one dict per epoch."
    if len(log) != epochs:
        return f"the log has {len(log)} rows for {epochs} epochs; log one row per epoch."
    for key in ("epoch", "train_loss", "turn_undone"):
        if any(key not in row for row in log):
            return (
                f"a row has no '{key}': each row holds 'epoch', 'train_loss' and what watch(model) returned."
            )
    if len(watch_modes) != epochs:
        return f"watch was called {len(watch_modes)} times in {epochs} epochs: call it once after each epoch."
    if any(watch_modes):
        return "watch saw the model in training mode: call model.eval() before watching it."
    if not all(trained_modes):
        return (
            "some batches trained in eval mode: call model.train() at the start of every epoch (watching switched "
            "it to eval)."
        )
    return None


def _loop_runner(fn: Callable[..., Any]) -> Callable[..., _LoopProbe]:
    def run(dtype: torch.dtype, epochs: int, batches: list[tuple[Tensor, Tensor]]) -> _LoopProbe:
        recorder = _ModeRecorder(_step_model(dtype))
        optimizer = _make_optimizer(recorder, "sgd", 0.1, 1.0)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _decaying)
        watch_modes: list[bool] = []
        trained_modes: list[bool] = []

        def watch(model: nn.Module) -> dict[str, float]:
            watch_modes.append(model.training)
            trained_modes.extend(recorder.modes)
            recorder.modes.clear()
            # the localization head's bias stands in for "the share of the turn undone"
            head = recorder.get_parameter("model.transformer.localization.head.bias")
            return {"turn_undone": head.sum().item()}

        log = fn(recorder, optimizer, scheduler, batches, epochs, watch)
        problem = _log_problem(log, epochs, watch_modes, trained_modes)
        if problem:
            return _LoopProbe(problem=problem)

        def column(key: str) -> Tensor:
            return torch.tensor([float(row[key]) for row in log], dtype=torch.float64)

        parameters = torch.cat([p.detach().reshape(-1) for p in recorder.parameters()])
        return _LoopProbe(column("epoch"), column("train_loss"), column("turn_undone"), parameters)

    return run


def _loop_cases() -> list[Case]:
    f32, f64 = torch.float32, torch.float64
    return [
        Case("2 epochs of 3 batches", (f32, 2, _step_batches(3, 8, f32))),
        Case("3 epochs of 2 batches, float64", (f64, 3, _step_batches(2, 6, f64))),
        Case("1 epoch of 4 batches", (f32, 1, _step_batches(4, 5, f32))),
        Case("4 epochs of 1 batch", (f32, 4, _step_batches(1, 8, f32))),
        Case("2 epochs of 2 batches of 3", (f32, 2, _step_batches(2, 3, f32))),
    ]


def _compare_loop(actual: Any, expected: _LoopProbe) -> Comparison:
    return _compare_trained(
        actual,
        expected,
        [
            ("epochs", "the epoch numbers"),
            ("parameters", "the parameters after training"),
            ("train_loss", "the logged train_loss"),
            ("watched", "the logged numbers from watch"),
        ],
    )


def _diagnose_loop(case: Case, actual: Any, expected: _LoopProbe) -> str | None:
    if not isinstance(actual, _LoopProbe) or actual.problem or expected.epochs is None:
        return None
    if tensors_close(actual.epochs, expected.epochs - 1):
        return "number the epochs from 1, as fit does: range(1, epochs + 1)."
    if not tensors_close(actual.parameters, expected.parameters):
        return (
            "the parameters after training differ: train on every batch with training_step, and call "
            "scheduler.step() once after every batch (not once per epoch)."
        )
    if not tensors_close(actual.train_loss, expected.train_loss):
        return "log the mean of all the epoch's batch losses as train_loss, not the last one."
    return None


check_train_and_watch = Exercise(
    "train_and_watch",
    train_and_watch,
    _loop_cases,
    runner=_loop_runner,
    compare=_compare_loop,
    diagnose=_diagnose_loop,
    hint=(
        "for epoch in range(1, epochs + 1): model.train(); a training_step and a scheduler.step() per batch; "
        "then model.eval() and, under torch.no_grad(), append {'epoch': epoch, 'train_loss': mean loss, "
        "**watch(model)}."
    ),
    timeout=30.0,
).checker(
    """Check ``train_and_watch(model, optimizer, scheduler, data, epochs, watch) -> rows``.

    A small ST classifier trains for a few epochs with SGD and a decaying schedule; the parameters after
    training, the logged rows (epoch from 1, the mean training loss, what ``watch`` returned) and the modes
    (training while stepping, eval while watching) are compared with :func:`train_and_watch`'s.
    """
)
