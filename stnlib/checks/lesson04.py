"""Checkers for Lesson 04 — the localization network (Sec. 3.1 of the paper and its appendix).

The lesson builds a localization network piece by piece and trains it. The references the checkers compare
with are defined here, and the lesson falls back to them:

* :func:`check_conv_output_size` — :func:`conv_output_size`, one side's length after a convolution or pooling.
* :func:`check_identity_head` — :func:`identity_head`, the regression layer started at the identity.
* :func:`check_localization_net` — :class:`SmallLocalizationNet`, sized from its input.
* :func:`check_train_alignment` — :func:`train_alignment`, the training loop with :func:`alignment_loss`.

Example (in the lesson)::

    checks.lesson04.check_identity_head(identity_head)
    identity_head = checks.use_or_fallback(identity_head, checks.lesson04.identity_head)
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stnlib._validation import check_choice, check_tensor
from stnlib.checks._core import (
    CASE_SEED,
    Candidate,
    Case,
    Comparison,
    Exercise,
    Status,
    build_seeded,
    case_generator,
    compare_tensors,
    first_matching_message,
    not_a_module,
    probe_problem,
    random_uniform,
    refuse_instance,
    reported_as,
    tensors_close,
)
from stnlib.geometry import tps_control_points
from stnlib.models import LocalizationNet, conv_output_size, identity_head

if TYPE_CHECKING:
    from stnlib.models import SpatialTransformer

__all__ = [
    "LOCALIZATION_NET_TRANSFORMS",
    "SmallLocalizationNet",
    "alignment_loss",
    "check_conv_output_size",
    "check_identity_head",
    "check_localization_net",
    "check_train_alignment",
    "conv_output_size",
    "identity_head",
    "train_alignment",
]

LOCALIZATION_NET_TRANSFORMS: tuple[str, ...] = ("affine", "attention", "projective")
"""Families :class:`SmallLocalizationNet` supports (thin plate splines also need their control points added,
which :class:`stnlib.models.LocalizationNet` does)."""


# --------------------------------------------------------------------------------- exercise 1: output size


@reported_as("the output length of F.conv1d")
def _conv1d_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """What PyTorch's own convolution produces: the length of ``F.conv1d`` applied to ``size`` zeros."""
    signal, kernel = torch.zeros(1, 1, size), torch.zeros(1, 1, kernel_size)
    return int(F.conv1d(signal, kernel, stride=stride, padding=padding).shape[-1])


def _conv_cases() -> list[Case]:
    return [
        Case("28 pixels through a 5x5 convolution", (28, 5)),
        Case("24 pixels through a 2x2 max-pool (stride 2)", (24, 2), {"stride": 2}),
        Case("27 pixels (odd) through a 2x2 max-pool: rounds down", (27, 2), {"stride": 2}),
        Case("42-pixel RTS canvas through the paper's 9x9 convolution", (42, 9)),
        Case("14 pixels, 5x5 convolution with padding 2 ('same')", (14, 5), {"padding": 2}),
        Case("60 pixels, 3x3 convolution, stride 2, padding 1", (60, 3), {"stride": 2, "padding": 1}),
        Case("7 pixels, 7x7 kernel: exactly one position", (7, 7)),
        Case("5 pixels, 3x3 kernel, stride 3: the last pixels are skipped", (5, 3), {"stride": 3}),
    ]


def _compare_size(actual: Any, expected: Any) -> Comparison:
    if isinstance(actual, bool) or not isinstance(actual, numbers.Integral):
        if isinstance(actual, float) and math.isfinite(actual) and actual == expected:
            return Comparison(
                Status.WRONG_TYPE,
                f"the result is the float {actual!r}; return an int (use // for the division): layer sizes such "
                "as nn.Linear(in_features, ...) must be integers.",
            )
        if isinstance(actual, Tensor):
            return Comparison(
                Status.WRONG_TYPE,
                "the result is a tensor; sizes are plain Python ints — compute with ints and //, not torch.",
            )
        return compare_tensors(actual, expected, name="the output size")
    return compare_tensors(int(actual), expected, name="the output size")


def _diagnose_size(case: Case, actual: Any, expected: Any) -> str | None:
    size, kernel = case.args
    stride, padding = case.kwargs.get("stride", 1), case.kwargs.get("padding", 0)
    return first_matching_message(
        actual,
        [
            (
                lambda: (size + 2 * padding - kernel) / stride + 1,
                "you divided with / : PyTorch drops a last, incomplete kernel position, so round down with //.",
            ),
            (
                lambda: math.ceil((size + 2 * padding - kernel) / stride) + 1,
                "you rounded up; PyTorch rounds down (its layers default to ceil_mode=False): use //.",
            ),
            (
                lambda: (size + 2 * padding - kernel) // stride,
                "off by one: a kernel that fits exactly once still gives one output, so add 1 after dividing.",
            ),
            (
                lambda: (size + padding - kernel) // stride + 1,
                "padding is added on BOTH sides of the input: the padded length is size + 2 * padding.",
            ),
            (
                lambda: (size - kernel) // stride + 1,
                "the padding is missing: the padded length is size + 2 * padding.",
            ),
            (
                lambda: size + 2 * padding - kernel + 1,
                "the stride is missing: the kernel moves `stride` pixels at a time, so divide by it.",
            ),
        ],
        lambda a, c: isinstance(a, (int, float)) and not isinstance(a, bool) and a == c,
    )


check_conv_output_size = Exercise(
    "conv_output_size",
    conv_output_size,
    _conv_cases,
    torch_fn=_conv1d_output_size,
    compare=_compare_size,
    diagnose=_diagnose_size,
    hint="out = (size + 2 * padding - kernel_size) // stride + 1 — padding on both sides, round down, plus 1.",
).checker(
    """Check ``conv_output_size(size, kernel_size, stride=1, padding=0)``.

    Compared with :func:`conv_output_size` and with the length ``F.conv1d`` actually produces.
    """
)


# ---------------------------------------------------------------------------------- exercise 2: the head


def _head_cases() -> list[Case]:
    return [
        Case("affine head on 32 features", (32, "affine")),
        Case("attention head (eq. 2) on 20 features", (20, "attention")),
        Case("projective head on 50 features", (50, "projective")),
        Case("TPS head, 4x4 control points, on 32 features", (32, "tps"), {"tps_grid_size": 4}),
        Case("TPS head, 3x3 control points, on 8 features", (8, "tps"), {"tps_grid_size": 3}),
        Case("affine head on a single feature", (1, "affine")),
    ]


def _compare_head(actual: Any, expected: nn.Linear) -> Comparison:
    if not isinstance(actual, nn.Linear):
        return Comparison(
            Status.WRONG_TYPE,
            f"the result should be a torch.nn.Linear layer; got {type(actual).__name__}. Build it with "
            "nn.Linear(in_features, number_of_parameters) and return the layer.",
        )
    if (actual.in_features, actual.out_features) != (expected.in_features, expected.out_features):
        return Comparison(
            Status.WRONG_SHAPE,
            f"the layer maps {actual.in_features} -> {actual.out_features} numbers; expected "
            f"{expected.in_features} -> {expected.out_features} (the family's number of parameters).",
        )
    for name in ("weight", "bias"):
        parameter = getattr(actual, name)
        if not isinstance(parameter, nn.Parameter) or not parameter.requires_grad:
            return Comparison(
                Status.FAILED,
                f"the head's {name} no longer learns (it is not a Parameter that requires gradients). Change its "
                "values in place under torch.no_grad() instead of replacing or freezing it.",
            )
    weight = compare_tensors(actual.weight.detach(), expected.weight.detach(), name="the head's weight")
    if weight.status is Status.FAILED:
        largest = float(actual.weight.detach().abs().max())
        return Comparison(
            Status.FAILED,
            f"the head's weight is not zero (largest |w| = {largest:.3g}): θ then depends on the input from the "
            "first step, and the transformer does not start as the identity.",
            max_error=largest,
        )
    if not weight.ok:
        return weight
    return compare_tensors(actual.bias.detach(), expected.bias.detach(), name="the head's bias")


_FAMILY_BIAS_MISTAKES: dict[str, tuple[Callable[[int], Tensor], str]] = {
    "affine": (
        lambda k: torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]),
        "the bias [1, 0, 0, 1, 0, 0] reads as θ = [[1, 0, 0], [1, 0, 0]] after .view(2, 3): the six "
        "numbers are θ row by row, so the identity is [1, 0, 0, 0, 1, 0].",
    ),
    "projective": (
        lambda k: torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]),
        "stnlib's 8 projective parameters are H - I (the homography minus the identity), so 'do "
        "nothing' is all zeros.",
    ),
    "tps": (
        lambda k: tps_control_points(k).flatten(),
        "the bias holds the control points themselves, but the head predicts OFFSETS of the control "
        "points from their rest positions: no offset, no warp — the identity is all zeros.",
    ),
    "attention": (
        lambda k: torch.tensor([0.0, 0.0, 1.0]),
        "the parameters are in the order (s, t_x, t_y): the scale comes first.",
    ),
}
"""Per family, a wrong identity bias students write, and what is wrong with it."""


def _diagnose_head(case: Case, actual: Any, expected: nn.Linear) -> str | None:
    if not isinstance(actual, nn.Linear) or actual.bias is None or actual.bias.shape != expected.bias.shape:
        return None
    transform = case.args[1]
    grid_size = case.kwargs.get("tps_grid_size", 4)
    candidates: list[Candidate] = [
        (
            lambda: torch.zeros_like(expected.bias),
            "the bias is all zeros. For the affine family that is θ = 0: every output pixel reads the centre of "
            "the input, so the output is one flat colour. The bias must hold the identity transformation.",
        )
    ]
    wrong_bias = _FAMILY_BIAS_MISTAKES.get(transform)
    if wrong_bias is not None:
        make, message = wrong_bias
        candidates.append((lambda: make(grid_size), message))

    def same(a: Any, c: Tensor) -> bool:
        bias = a.bias.detach().to("cpu", torch.float64)
        return bias.shape == c.shape and bool(torch.allclose(bias, c.to(torch.float64), atol=1e-6))

    return first_matching_message(actual, candidates, same)


check_identity_head = Exercise(
    "identity_head",
    identity_head,
    _head_cases,
    compare=_compare_head,
    diagnose=_diagnose_head,
    hint=(
        "create nn.Linear(in_features, P) with P = 6, 3, 8 or 2*K*K; then, inside `with torch.no_grad():`, "
        "set head.weight to zero and copy the family's identity into head.bias (affine: 1, 0, 0, 0, 1, 0)."
    ),
).checker(
    """Check ``identity_head(in_features, transform, tps_grid_size=4)`` for all four families.

    The result must be an ``nn.Linear`` with the family's number of outputs, zero weights, the identity as its
    bias (compared with :func:`identity_head`, i.e. :func:`stnlib.models.identity_params`), and both still
    trainable.
    """
)


# ----------------------------------------------------------------------- exercise 3: the localization net


class SmallLocalizationNet(LocalizationNet):
    """A small convolutional localization network, sized from its input (the lesson's reference solution).

    ``conv 5x5 (8 filters) -> max-pool 2 -> ReLU -> conv 5x5 (10 filters) -> max-pool 2 -> ReLU -> flatten
    -> fc 32 -> ReLU -> head``, the layout of PyTorch's STN tutorial; the flattened size comes from
    :func:`conv_output_size`, so any input of at least 16x16 works, and the head is :func:`identity_head`.
    It is the library's ``LocalizationNet(in_shape, transform, kind="small")`` under the lesson's name and
    signature.

    Args:
        in_shape: ``(C, H, W)`` of the input.
        transform: ``"affine"``, ``"attention"`` or ``"projective"``.

    Shapes:
        ``forward(x)``: ``x: (N, C, H, W)`` -> ``(N, 2, 3)`` (affine), ``(N, 3)`` or ``(N, 8)``.

    Example:
        >>> net = SmallLocalizationNet((1, 42, 42), "affine")
        >>> net(torch.rand(2, 1, 42, 42))[0]
        tensor([[1., 0., 0.],
                [0., 1., 0.]], grad_fn=<SelectBackward0>)
    """

    def __init__(self, in_shape: tuple[int, int, int], transform: str = "affine") -> None:
        check_choice(transform, "transform", LOCALIZATION_NET_TRANSFORMS)
        super().__init__(in_shape, transform, kind="small")


class _NetProbe(NamedTuple):
    """What the checker measures on one localization network (the student's or the reference)."""

    params: Any  # the forward's output at initialisation
    n_parameters: int
    input_sensitivity: float  # how much θ changes between two inputs once the head has random weights
    gradient_reaches_conv: bool  # whether a gradient arrives at the first convolution's weight
    problem: str | None = None  # a structural problem that makes the rest meaningless


def _probe(cls: Any, in_shape: tuple[int, int, int], transform: str, x: Tensor, other: Tensor) -> _NetProbe:
    """Build ``cls(in_shape, transform)`` in the dtype of ``x`` and measure it (see :class:`_NetProbe`)."""
    refuse_instance(
        cls, "check_localization_net(SmallLocalizationNet)", "network", "its own for several input sizes"
    )
    net = build_seeded(cls, in_shape, transform)
    if not isinstance(net, nn.Module):
        raise TypeError(not_a_module(getattr(cls, "__name__", cls), net))
    net = net.to(x.dtype)
    params = net(x)
    n_parameters = sum(p.numel() for p in net.parameters())
    head = getattr(net, "head", None)
    if not isinstance(head, nn.Linear):
        return _NetProbe(
            params,
            n_parameters,
            math.nan,
            False,
            "the regression layer must be an nn.Linear stored as self.head.",
        )
    with torch.no_grad():  # give the head random weights: θ must now depend on the image
        head.weight.copy_(
            0.5 * torch.randn(head.weight.shape, generator=case_generator(), dtype=torch.float64)
        )
    net.zero_grad(set_to_none=True)
    probe = net(torch.cat([x[:1], other[:1]]))
    if not isinstance(probe, Tensor):
        return _NetProbe(params, n_parameters, math.nan, False)
    sensitivity = float((probe[0] - probe[1]).detach().abs().max()) if probe.shape[0] == 2 else math.nan
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    reaches = False
    if probe.requires_grad and convs:
        probe.sum().backward()
        grad = convs[0].weight.grad
        reaches = grad is not None and bool(grad.abs().sum() > 0)
    return _NetProbe(params, n_parameters, sensitivity, reaches)


def _net_cases() -> list[Case]:
    generator = case_generator()
    cases = []
    for name, shape, transform, n, dtype in [
        ("MNIST 1x28x28, affine, batch of 2", (1, 28, 28), "affine", 2, torch.float32),
        ("RTS canvas 1x42x42 (odd sizes after the first pool), attention, batch of 3", (1, 42, 42),
         "attention", 3, torch.float32),
        ("non-square 2x36x60 (H != W), projective, batch of 2", (2, 36, 60), "projective", 2, torch.float32),
        ("colour 3x32x32, affine, float64", (3, 32, 32), "affine", 2, torch.float64),
        ("smallest input 1x16x24 (one feature row left), affine, one image", (1, 16, 24), "affine", 1,
         torch.float32),
    ]:  # fmt: skip
        x = random_uniform(n, *shape, dtype=dtype, generator=generator)
        other = random_uniform(1, *shape, dtype=dtype, generator=generator)
        cases.append(Case(name, (shape, transform, x, other)))
    return cases


def _compare_net(actual: Any, expected: _NetProbe) -> Comparison:
    problem = probe_problem(actual, expected, problem_status=Status.FAILED)
    if problem is not None:
        return problem
    params = compare_tensors(actual.params, expected.params, name="θ at initialisation")
    if not params.ok:
        return params
    if actual.n_parameters != expected.n_parameters:
        return Comparison(
            Status.FAILED,
            f"the network has {actual.n_parameters} parameters; the one described has {expected.n_parameters}. "
            "Check the layers: 5x5 convolutions without padding (8, then 10 filters), 2x2 max-pools, "
            "a fully connected layer of 32, then the head.",
        )
    if not actual.input_sensitivity > 0:
        return Comparison(
            Status.FAILED,
            "θ does not depend on the input: after the checker gave the head random weights, two different "
            "images still gave the same θ. forward must pass x through the features and then the head.",
        )
    if not actual.gradient_reaches_conv:
        return Comparison(
            Status.FAILED,
            "no gradient reaches the first convolution: the features must stay connected to θ (no .detach(), "
            "no torch.no_grad() in forward).",
        )
    return params


def _diagnose_net(case: Case, actual: Any, expected: _NetProbe) -> str | None:
    if not isinstance(actual, _NetProbe) or not isinstance(actual.params, Tensor):
        return None
    transform, n = case.args[1], case.args[2].shape[0]
    if transform == "affine" and tuple(actual.params.shape) == (n, 6):
        return "the head's 6 numbers must be reshaped into θ: params.view(-1, 2, 3)."
    if transform != "affine" and actual.params.ndim == 3:
        return f"only the affine family is reshaped to (N, 2, 3); {transform} parameters stay flat (N, P)."
    return None


check_localization_net = Exercise(
    "SmallLocalizationNet",
    SmallLocalizationNet,
    _net_cases,
    compare=_compare_net,
    diagnose=_diagnose_net,
    hint=(
        "compute the flattened size from in_shape with conv_output_size (conv 5 -> pool 2, twice), so "
        "that every input size works; an error like 'mat1 and mat2 shapes cannot be multiplied' means "
        "a hard-coded size. The last layer is self.head = identity_head(32, transform)."
    ),
    runner=lambda cls: functools.partial(_probe, cls),
    check_name="check_localization_net",
).checker(
    """Check the class ``SmallLocalizationNet(in_shape, transform)``.

    For each case the checker builds a network with ``student_cls(in_shape, transform)`` and checks: θ at
    initialisation has the family's shape and is the identity for every image; the number of parameters
    matches the layout described; after the checker gives ``self.head`` random weights, θ depends on the image
    and a gradient reaches the first convolution.
    """
)


# ------------------------------------------------------------------------------ exercise 4: the training loop


def alignment_loss(output: Tensor, target: Tensor) -> Tensor:
    """Mean squared pixel error between the transformer's output and the upright digit.

    ``L = (1 / (N C H W)) * sum (output - target)²`` — the same as ``F.mse_loss(output, target)``: a mean, so
    its size does not change with the batch or the image size.

    Args:
        output: ``(N, C, H, W)``, the spatial transformer's output.
        target: ``(N, C, H, W)``, what it should look like.

    Returns:
        A scalar tensor (differentiable with respect to ``output``).

    Example:
        >>> alignment_loss(torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3))
        tensor(1.)
    """
    dims = check_tensor(output, "output", "N C H W")
    check_tensor(target, "target", "N C H W", dims)
    return ((output - target) ** 2).mean()


def train_alignment(
    transformer: nn.Module, optimizer: torch.optim.Optimizer, batches: Iterable[tuple[Tensor, Tensor]]
) -> list[float]:
    """Train ``transformer`` to undo distortions: one optimisation step per ``(x, upright)`` batch.

    Each step runs the transformer on the distorted digits ``x``, computes :func:`alignment_loss` between its
    output and the upright digits, and updates the parameters: ``zero_grad``, ``backward``, ``step``.

    Args:
        transformer: a module returning ``(output, params)`` (e.g. :class:`stnlib.models.SpatialTransformer`).
        optimizer: an optimiser over the parameters to train (the localization network's).
        batches: an iterable of ``(x, upright)`` pairs of ``(N, C, H, W)`` tensors.

    Returns:
        The loss of every step, as Python floats (computed before that step's update).

    Example:
        >>> from stnlib.models import SpatialTransformer
        >>> _ = torch.manual_seed(0)
        >>> st = SpatialTransformer((1, 16, 16), "affine", loc_kind="fc")
        >>> optimizer = torch.optim.SGD(st.localization.parameters(), lr=0.1)
        >>> x = torch.rand(2, 1, 16, 16)
        >>> losses = train_alignment(st, optimizer, [(x, x.flip(-1))] * 3)
        >>> len(losses), type(losses[0]).__name__
        (3, 'float')
    """
    losses = []
    for x, upright in batches:
        output, _ = transformer(x)
        loss = alignment_loss(output, upright)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


class _TinyLocalization(nn.Module):
    """The checker's localization network: fc -> ReLU -> identity-initialised affine head (fast, and every
    parameter is reached by the gradient from the second step on)."""

    def __init__(self, in_shape: tuple[int, int, int], hidden: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), hidden), nn.ReLU())
        self.head = identity_head(hidden, "affine")

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).view(-1, 2, 3)


class _TrainingProbe(NamedTuple):
    """What the checker measures on one run of a training loop (the student's or the reference)."""

    losses: Any  # what the loop returned
    parameters: Tensor  # every trainable parameter after training, flattened into one vector
    moved: tuple[str, ...]  # names of the parameters that changed
    reached: tuple[str, ...]  # names of the parameters a non-zero gradient reached at least once
    forwards: int  # how often the transformer ran
    batches: int  # how many batches the loop took
    repeated: bool = False  # whether every batch was the same one
    problem: str | None = None


def _training_problem(
    shape: tuple[int, int, int], n: int, steps: int, repeat: bool, seed: int
) -> tuple[SpatialTransformer, list[tuple[Tensor, Tensor]]]:
    """A seeded toy version of the lesson's task: smooth random "digits", distorted by small random affine
    maps, and a small spatial transformer at the identity."""
    from stnlib.models import SpatialTransformer  # stnlib.models imports stnlib.checks' neighbours lazily

    generator = case_generator(seed)
    batches = []
    for _ in range(1 if repeat else steps):
        upright = F.avg_pool2d(torch.rand(n, *shape, generator=generator), 3, stride=1, padding=1)
        noise = 0.15 * torch.randn(n, 2, 3, generator=generator)
        theta_d = torch.eye(2, 3).expand(n, 2, 3) + noise
        x = F.grid_sample(
            upright, F.affine_grid(theta_d, list(upright.shape), align_corners=False), align_corners=False
        )
        batches.append((x, upright))
    with torch.random.fork_rng(devices=[]):  # seed the layers without touching the lesson's RNG
        torch.manual_seed(CASE_SEED + seed)
        transformer = SpatialTransformer(shape, "affine", localization=_TinyLocalization(shape))
    return transformer, batches * steps if repeat else batches


def _make_optimizer(kind: str, parameters: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    if kind == "sgd":
        return torch.optim.SGD(parameters, lr=2.0)
    return torch.optim.Adam(parameters, lr=0.01)


def _probe_training(
    loop: Callable[..., Any],
    shape: tuple[int, int, int],
    n: int,
    steps: int,
    optimizer_kind: str,
    repeat: bool,
    seed: int,
) -> _TrainingProbe:
    """Run ``loop(transformer, optimizer, batches)`` on the toy problem and measure what it did."""
    transformer, batches = _training_problem(shape, n, steps, repeat, seed)
    named = list(transformer.localization.named_parameters())
    before = [p.detach().clone() for _, p in named]
    reached: set[str] = set()
    for name, parameter in named:
        parameter.register_hook(
            lambda grad, name=name: reached.add(name) if bool(grad.abs().sum() > 0) else None
        )
    forwards = [0]
    transformer.register_forward_hook(lambda *_: forwards.__setitem__(0, forwards[0] + 1))
    taken = [0]

    def counted() -> Iterator[tuple[Tensor, Tensor]]:
        for batch in batches:
            taken[0] += 1
            yield batch

    optimizer = _make_optimizer(optimizer_kind, transformer.localization.parameters())
    losses = loop(transformer, optimizer, counted())
    moved = tuple(n for (n, p), b in zip(named, before, strict=True) if not torch.equal(p.detach(), b))
    parameters = torch.cat([p.detach().reshape(-1) for _, p in named])
    return _TrainingProbe(losses, parameters, moved, tuple(sorted(reached)), forwards[0], taken[0], repeat)


def _training_cases() -> list[Case]:
    return [
        # The fixed batch first: there a loop that does not learn shows it plainly.
        Case("the same batch 12 times (Adam): the loss must fall", ((1, 8, 8), 4, 12, "adam", True, 3)),
        Case("6 steps of SGD, fresh batches of 4 digits, 8x8", ((1, 8, 8), 4, 6, "sgd", False, 1)),
        Case("5 steps of Adam, fresh batches of 3, non-square 10x12", ((1, 10, 12), 3, 5, "adam", False, 2)),
        Case("one step of SGD, 2 channels", ((2, 8, 8), 2, 1, "sgd", False, 4)),
    ]


def _losses_tensor(losses: Any) -> Tensor | None:
    """The losses as a float64 tensor, if they are a list or tuple of Python numbers."""
    if isinstance(losses, (list, tuple)) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in losses
    ):
        return torch.tensor([float(v) for v in losses], dtype=torch.float64)
    return None


def _compare_training(actual: Any, expected: _TrainingProbe) -> Comparison:
    problem = probe_problem(actual, expected)
    if problem is not None:
        return problem
    losses = actual.losses
    if losses is None:
        return Comparison(
            Status.WRONG_TYPE, "train_alignment returned None: did it forget to `return losses`?"
        )
    if not isinstance(losses, (list, tuple)):
        return Comparison(
            Status.WRONG_TYPE,
            f"train_alignment should return a list of floats, one per step; got a {type(losses).__name__}.",
        )
    if any(isinstance(v, Tensor) for v in losses):
        return Comparison(
            Status.WRONG_TYPE,
            "the losses should be Python floats, but your list holds tensors: append loss.item(). A loss tensor "
            "still carries its graph, so keeping one per step keeps every step's activations in memory (and "
            "plots and prints want plain numbers).",
        )
    steps = len(expected.losses)
    if actual.batches != steps:
        return Comparison(
            Status.FAILED,
            f"the loop took {actual.batches} of the {steps} batches: train on every batch, once.",
        )
    if len(losses) != steps:
        return Comparison(
            Status.WRONG_SHAPE,
            f"the loop returned {len(losses)} losses for {steps} batches: append one loss per step.",
        )
    values = _losses_tensor(losses)
    if values is None:
        return Comparison(Status.WRONG_TYPE, "the losses should be Python floats: append loss.item().")
    if actual.forwards != steps:
        return Comparison(
            Status.FAILED,
            f"the transformer ran {actual.forwards} times for {steps} batches: run it once per batch, and "
            "compute the loss, the backward pass and the update from that one output.",
        )
    if not actual.moved:
        return Comparison(
            Status.FAILED,
            "the localization network did not change: each step needs loss.backward() (to compute the "
            "gradients) and then optimizer.step() (to apply them), with optimizer.zero_grad() before backward "
            "— not between backward and step, where it wipes the gradients just computed.",
        )
    expected_values = _losses_tensor(expected.losses)
    assert expected_values is not None  # the reference returns floats
    if actual.repeated and not values[-1] < values[0]:
        return Comparison(
            Status.FAILED,
            f"trained {steps} times on one and the same batch, the loss went from {values[0]:.4g} to "
            f"{values[-1]:.4g} instead of falling: the update must go against the gradient of the alignment "
            "loss (optimizer.step() after loss.backward(), on the loss itself, not its negative).",
        )
    missing = sorted(set(expected.reached) - set(actual.reached))
    if missing:
        return Comparison(
            Status.FAILED,
            f"no gradient reached {', '.join(missing)}: the loss must be computed from the transformer's output, "
            "without .detach() or torch.no_grad() in between.",
        )
    comparison = compare_tensors(values, expected_values, name="the list of losses")
    if not comparison.ok:
        return comparison
    return compare_tensors(
        actual.parameters, expected.parameters, name="the localization network's parameters after training"
    )


def _wrong_loop(
    *, zero_grad: bool = True, target: str = "upright", reduce: str = "mean"
) -> Callable[..., list[float]]:
    """The reference loop with one usual mistake, for the diagnoses."""

    def loop(
        transformer: nn.Module, optimizer: torch.optim.Optimizer, batches: Iterable[tuple[Tensor, Tensor]]
    ) -> list[float]:
        losses = []
        for x, upright in batches:
            output, _ = transformer(x)
            errors = (output - (upright if target == "upright" else x)) ** 2
            loss = errors.mean() if reduce == "mean" else errors.sum()
            if zero_grad:
                optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses

    return loop


_WRONG_LOOPS: tuple[tuple[Callable[..., list[float]], str], ...] = (
    (
        _wrong_loop(zero_grad=False),
        "optimizer.zero_grad() is missing: loss.backward() *adds* to the .grad of every parameter, so without "
        "it each step follows the sum of all gradients so far. The first two losses agree with the reference, "
        "the third does not. Call optimizer.zero_grad() before loss.backward() in every step.",
    ),
    (
        _wrong_loop(target="input"),
        "the loss compares the output with the transformer's input x (the distorted digit): the target is the "
        "upright digit, so that the transformer learns to undo the distortion. (At the identity the output "
        "equals x, so this loss starts at 0 and teaches nothing.)",
    ),
    (
        _wrong_loop(reduce="sum"),
        "the loss is a sum over the pixels: the alignment loss is their mean, ((output - upright) ** 2).mean() "
        "(F.mse_loss), so that its size and the right learning rate do not depend on the batch or image size.",
    ),
)


def _diagnose_training(case: Case, actual: Any, expected: _TrainingProbe) -> str | None:
    if not isinstance(actual, _TrainingProbe) or actual.problem:
        return None
    values = _losses_tensor(actual.losses)
    if values is None or len(values) != len(expected.losses):
        return None
    for loop, message in _WRONG_LOOPS:
        wrong = _losses_tensor(_probe_training(loop, *case.args).losses)
        if tensors_close(values, wrong, atol=1e-6, rtol=1e-4):
            return message
    return None


check_train_alignment = Exercise(
    "train_alignment",
    train_alignment,
    _training_cases,
    compare=_compare_training,
    diagnose=_diagnose_training,
    hint="for each (x, upright) in batches: output, theta = transformer(x); loss = ((output - upright) ** "
    "2).mean(); optimizer.zero_grad(); loss.backward(); optimizer.step(); losses.append(loss.item()). "
    "Return the list.",
    runner=lambda loop: functools.partial(_probe_training, loop),
).checker(
    """Check ``train_alignment(transformer, optimizer, batches) -> list[float]``.

    Each case builds a small seeded problem (smooth random images, distorted by small random affine maps; a
    :class:`stnlib.models.SpatialTransformer` with a tiny identity-initialised localization network), runs the
    student's loop and :func:`train_alignment` on identical copies, and compares: the losses must be Python
    floats, one per batch; the transformer must run once per batch; every parameter must change and receive a
    gradient; the losses and the final parameters must match the reference (SGD and Adam); and on one batch
    repeated, the loss must fall. Diagnoses a missing ``zero_grad``, a loss against the distorted input
    instead of the upright digit, and a summed loss.
    """
)
