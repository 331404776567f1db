"""Checkers for Lesson 08 — attention and many transformers (Sec. 4.1 of the paper: cluttered MNIST, MNIST
addition, transformers inside a network).

Four exercises, four checkers, and the reference each is compared with:

* :func:`check_window_box` — ``window_box(params, input_size, align_corners=False)``: the pixel box of the
  input that an attention transformer (eq. 2, ``(s, t_x, t_y)``) reads, ``(x_left, y_top, x_right, y_bottom)``;
  compared with :func:`window_box` and with the corners of a 2x2 ``F.affine_grid`` of the attention θ, values
  and gradients with respect to the parameters.
* :func:`check_stack_transformers` — ``stack_transformers(x, transformers)``: run every transformer on the same
  input and stack the outputs as channels, ``(N, K*C, H_out, W_out)``, as the paper's 2xST-FCN does; compared
  with :func:`stack_transformers` and with :class:`stnlib.models.TwoTransformerClassifier`'s own stacking,
  outputs, parameters, and the gradient reaching every localization network.
* :func:`check_classifier_flops` — ``classifier_flops(in_shape, num_classes=10, channels=(32, 64))``: the
  floating-point operations of one forward pass of :class:`stnlib.models.CNN` (conv 9x9 → pool → conv 7x7 →
  pool → linear; 2 per multiply-add, biases, ReLU and pooling not counted); compared with
  :func:`classifier_flops` and with PyTorch's :class:`torch.utils.flop_counter.FlopCounterMode` on the real
  network.
* :func:`check_addition_examples` — ``addition_examples(images, labels, partner)``: MNIST addition inputs, the
  digit in channel 0 and its partner ``images[partner]`` in channel 1, label = the sum of both labels.

Example (in the lesson)::

    checks.lesson08.check_window_box(window_box)
    window_box = checks.use_or_fallback(window_box, checks.lesson08.window_box)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from stnlib import geometry
from stnlib._validation import check_size, check_tensor
from stnlib.checks._core import (
    CASE_SEED,
    Case,
    CheckResult,
    Comparison,
    case_generator,
    check_function,
    compare_probe,
    first_matching_message,
    gradient_of_weighted_sum,
    run_and_record,
    tensors_close,
)
from stnlib.geometry.coords import normalized_to_pixel
from stnlib.models import CNN, SpatialTransformer

__all__ = [
    "addition_examples",
    "check_addition_examples",
    "check_classifier_flops",
    "check_stack_transformers",
    "check_window_box",
    "classifier_flops",
    "stack_transformers",
    "window_box",
]


def _attention_params(n: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``n`` attention parameters ``(s, t_x, t_y)``: zooms between 0.3 and 0.7, windows off the centre."""
    generator = case_generator()
    scale = torch.empty(n, 1, dtype=torch.float64).uniform_(0.3, 0.7, generator=generator)
    shift = torch.empty(n, 2, dtype=torch.float64).uniform_(-0.5, 0.5, generator=generator)
    return torch.cat([scale, shift], dim=1).to(dtype)


# ---------------------------------------------------------------------- exercise 1: the attention window


def window_box(params: Tensor, input_size: Sequence[int], align_corners: bool = False) -> Tensor:
    """The box of input pixels an attention transformer reads (eq. 2): ``(x_left, y_top, x_right, y_bottom)``.

    The attention θ is ``[[s, 0, t_x], [0, s, t_y]]``. The output's top-left corner, the normalised point
    ``(-1, -1)``, reads the input at ``(t_x - s, t_y - s)``, its bottom-right corner ``(1, 1)`` at
    ``(t_x + s, t_y + s)``; :func:`stnlib.geometry.normalized_to_pixel` turns both into input pixels. The output's
    size plays no part: it only sets how densely the box is sampled.

    Args:
        params: ``(N, 3)`` rows ``(s, t_x, t_y)``.
        input_size: ``(H, W)`` of the **input**.
        align_corners: the convention the transformer uses (with ``False`` the identity's box is the whole
            image edge to edge, ``(-0.5, -0.5, W - 0.5, H - 0.5)``).

    Returns:
        ``(N, 4)`` pixel coordinates ``(x_left, y_top, x_right, y_bottom)``.

    Example:
        >>> window_box(torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.0, 0.0]]), (60, 60))
        tensor([[-0.5000, -0.5000, 59.5000, 59.5000],
                [14.5000, 14.5000, 44.5000, 44.5000]])
    """
    check_tensor(params, "params", "N 3")
    height, width = check_size(input_size, "input_size", "H W")
    scale, centre = params[:, :1], params[:, 1:]  # (N, 1), (N, 2) normalised (t_x, t_y)
    corners = torch.stack([centre - scale, centre + scale], dim=1)  # (N, 2, 2): top-left, bottom-right
    return normalized_to_pixel(corners, (height, width), align_corners).reshape(-1, 4)


def _box_of_affine_grid(params: Tensor, input_size: Sequence[int], align_corners: bool = False) -> Tensor:
    """The same box read from PyTorch: a 2x2 ``F.affine_grid`` with ``align_corners=True`` has its points
    exactly at the output's corners ±1."""
    theta = geometry.attention_theta(params)
    grid = F.affine_grid(theta, [params.shape[0], 1, 2, 2], align_corners=True)
    corners = torch.stack([grid[:, 0, 0], grid[:, 1, 1]], dim=1)
    return normalized_to_pixel(corners, (int(input_size[0]), int(input_size[1])), align_corners).reshape(
        -1, 4
    )


_box_of_affine_grid.__module__ = ""
_box_of_affine_grid.__qualname__ = "the corners of F.affine_grid"


def _window_box_cases() -> list[Case]:
    f64 = torch.float64
    return [
        Case("TC canvas 60x60, batch of 3, align_corners=False", (_attention_params(3), (60, 60))),
        Case(
            "TC canvas 60x60, batch of 3, align_corners=True",
            (_attention_params(3), (60, 60)),
            {"align_corners": True},
        ),
        Case(
            "the identity (1, 0, 0) on 42x42: the whole canvas", (torch.tensor([[1.0, 0.0, 0.0]]), (42, 42))
        ),
        Case("non-square 40x90 (H != W), float64, batch of 2", (_attention_params(2, f64), (40, 90))),
        Case(
            "non-square 90x40, float64, align_corners=True",
            (_attention_params(2, f64), (90, 40)),
            {"align_corners": True},
        ),
    ]


def _diagnose_window_box(case: Case, actual: Any, expected: Tensor) -> str | None:
    if not isinstance(actual, Tensor) or actual.shape != expected.shape:
        return None
    params, (height, width) = case.args[0], case.args[1]
    align_corners = bool(case.kwargs.get("align_corners", False))
    scale, centre = params[:, :1], params[:, 1:]

    def box(half: Tensor, size: tuple[int, int], corners: bool) -> Tensor:
        points = torch.stack([centre - half, centre + half], dim=1)
        return normalized_to_pixel(points, size, corners).reshape(-1, 4)

    return first_matching_message(
        actual,
        [
            (
                lambda: torch.cat([centre - scale, centre + scale], dim=1),
                "these are the corners in normalised coordinates: convert them to input pixels with "
                "geometry.normalized_to_pixel(points, input_size, align_corners).",
            ),
            (
                lambda: box(scale, (height, width), not align_corners),
                f"this is the box for align_corners={not align_corners}: pass align_corners on to "
                "normalized_to_pixel.",
            ),
            (
                lambda: box(scale, (width, height), align_corners),
                "H and W are swapped: x runs along the width W and y along the height H; pass input_size as "
                "(H, W).",
            ),
            (
                lambda: box(scale, (height, width), align_corners)[:, [1, 0, 3, 2]],
                "x and y are swapped: t_x is params[:, 1] and t_y is params[:, 2]; return (x, y, x, y).",
            ),
            (
                lambda: box(scale / 2, (height, width), align_corners),
                "the box is half as wide as it should be: the output spans -1 to 1, a width of 2, so the window "
                "spans t - s to t + s (a width of 2 s), not t ± s/2.",
            ),
        ],
    )


def check_window_box(student_fn: Any, *, quiet: bool = False) -> CheckResult:
    """Check ``window_box(params, input_size, align_corners=False)`` on the 60x60 cluttered canvas, the identity,
    non-square inputs and float64, with both ``align_corners``; values and gradients with respect to ``params``."""
    return check_function(
        "window_box",
        student_fn,
        window_box,
        _window_box_cases(),
        torch_fn=_box_of_affine_grid,
        grad_wrt=(0,),
        diagnose=_diagnose_window_box,
        hint=(
            "corners = torch.stack([centre - s, centre + s], dim=1) with s = params[:, :1] and centre = "
            "params[:, 1:]; then geometry.normalized_to_pixel(corners, input_size, align_corners).reshape(-1, 4)."
        ),
        quiet=quiet,
    )


# ------------------------------------------------------------------- exercise 4: transformers in parallel


def stack_transformers(x: Tensor, transformers: Sequence[nn.Module]) -> tuple[Tensor, list[Tensor]]:
    """Run every spatial transformer on the same input; stack their outputs as channels (the paper's 2xST).

    Each transformer sees the whole input ``x`` (not another transformer's output) and returns ``(output,
    params)``; the outputs are concatenated along the channel dimension, transformer by transformer, so the
    classifier after them sees ``K * C`` channels. This is :class:`stnlib.models.TwoTransformerClassifier`'s
    forward pass without the classifier.

    Args:
        x: ``(N, C, H, W)``.
        transformers: ``K`` modules mapping ``x`` to ``(output: (N, C, H_out, W_out), params)``, e.g.
            :class:`stnlib.models.SpatialTransformer`, all with the same output size.

    Returns:
        ``(stacked: (N, K*C, H_out, W_out), [params_1, ..., params_K])``.

    Example:
        >>> sts = [SpatialTransformer((2, 42, 42), "attention", output_size=(20, 20)) for _ in range(2)]
        >>> stacked, params = stack_transformers(torch.rand(3, 2, 42, 42), sts)
        >>> tuple(stacked.shape), [tuple(p.shape) for p in params]
        ((3, 4, 20, 20), [(3, 3), (3, 3)])
    """
    check_tensor(x, "x", "N C H W")
    results = [transformer(x) for transformer in transformers]
    return torch.cat([output for output, _ in results], dim=1), [params for _, params in results]


class _StackProbe(NamedTuple):
    """What the checker measures on one ``stack_transformers`` (the student's or a reference)."""

    stacked: Any
    params: Any
    localization_grad: Tensor | None
    problem: str | None = None


def _localization_gradient(output: Tensor, transformers: Sequence[nn.Module]) -> Tensor | None:
    """The gradient that ``output`` sends to every localization network's parameters, one flat vector."""
    return gradient_of_weighted_sum(output, [p for t in transformers for p in t.localization.parameters()])


def _stack_runner(fn: Callable[..., Any]) -> Callable[..., _StackProbe]:
    def run(x: Tensor, transformers: Sequence[nn.Module]) -> _StackProbe:
        result = fn(x, transformers)
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            return _StackProbe(
                None,
                None,
                None,
                "return the pair (stacked, params): the stacked outputs and the list of each transformer's "
                f"parameters; got {type(result).__name__}.",
            )
        stacked, params = result
        grad = _localization_gradient(stacked, transformers) if isinstance(stacked, Tensor) else None
        return _StackProbe(stacked, list(params) if isinstance(params, (tuple, list)) else params, grad)

    run.__name__ = run.__qualname__ = getattr(fn, "__name__", "stack_transformers")
    run.__module__ = getattr(fn, "__module__", "")
    return run


def _library_stacking(x: Tensor, transformers: Sequence[nn.Module]) -> _StackProbe:
    """The stacking of :class:`stnlib.models.TwoTransformerClassifier`, with the given transformers."""
    from stnlib.models import TwoTransformerClassifier

    with torch.random.fork_rng(devices=[]):
        model = TwoTransformerClassifier(tuple(x.shape[1:]), output_size=transformers[0].output_size)  # type: ignore[arg-type]
    model.transformers = nn.ModuleList(transformers)
    model.classifier = nn.Identity()
    model.to(x.dtype)
    stacked = model(x)
    assert model.last_params is not None
    return _StackProbe(stacked, model.last_params, _localization_gradient(stacked, transformers))


_library_stacking.__module__ = ""
_library_stacking.__qualname__ = "stnlib.models.TwoTransformerClassifier"


def _transformer_pair(
    in_shape: tuple[int, int, int], transform: str, output_size: tuple[int, int], dtype: torch.dtype
) -> list[SpatialTransformer]:
    """Two transformers whose random heads make them look at different places, depending on the image."""
    pair = []
    generator = case_generator()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(CASE_SEED)
        for _ in range(2):
            st = SpatialTransformer(in_shape, transform, "fc", output_size=output_size, loc_hidden=(16,))
            head = st.localization.head
            with torch.no_grad():
                head.weight.copy_(0.02 * torch.randn(head.weight.shape, generator=generator))
                head.bias.add_(0.2 * torch.randn(head.bias.shape, generator=generator))
            pair.append(st.to(dtype))
    return pair


def _images(n: int, shape: tuple[int, int, int], dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.rand(n, *shape, generator=case_generator(), dtype=torch.float64).to(dtype)


def _stack_cases() -> list[Case]:
    f64 = torch.float64
    return [
        Case(
            "MNIST addition 2x42x42, two attention transformers with 20x20 outputs, batch of 3",
            (_images(3, (2, 42, 42)), _transformer_pair((2, 42, 42), "attention", (20, 20), torch.float32)),
        ),
        Case(
            "cluttered 1x60x60, two affine transformers with 30x30 outputs, batch of 2",
            (_images(2, (1, 60, 60)), _transformer_pair((1, 60, 60), "affine", (30, 30), torch.float32)),
        ),
        Case(
            "non-square 3x24x40, float64, outputs 12x16, batch of 2",
            (_images(2, (3, 24, 40), f64), _transformer_pair((3, 24, 40), "affine", (12, 16), f64)),
        ),
    ]


def _compare_stack(actual: Any, expected: _StackProbe) -> Comparison:
    return compare_probe(
        actual,
        expected,
        fields=[("stacked", "the stacked outputs"), ("params", "the list of parameters")],
        gradient_name="the gradient reaching the localization networks",
        no_gradient="no gradient reaches the localization networks: keep the outputs connected to them (no "
        ".detach(), torch.no_grad() or .data), or the transformers never learn where to look.",
    )


def _diagnose_stack(case: Case, actual: Any, expected: _StackProbe) -> str | None:
    if not isinstance(actual, _StackProbe) or not isinstance(actual.stacked, Tensor):
        return None
    x, transformers = case.args
    got, want = tuple(actual.stacked.shape), tuple(expected.stacked.shape)
    n, kc = want[:2]
    if got == (2 * n, kc // 2, *want[2:]):
        return (
            "the outputs were stacked along the batch dimension (dim 0): concatenate along channels, dim=1."
        )
    if got == (n, 2, kc // 2, *want[2:]):
        return "torch.stack made a new dimension: concatenate the outputs with torch.cat(..., dim=1) instead."
    if got != want:
        return None
    outputs = [t(x)[0].detach() for t in transformers]
    return first_matching_message(
        actual.stacked,
        [
            (
                lambda: torch.cat(outputs[::-1], dim=1),
                "the outputs are in the opposite order: the first transformer's output comes first.",
            ),
            (
                lambda: torch.cat([outputs[0]] * len(outputs), dim=1),
                "every block of channels is the first transformer's output: run each transformer once.",
            ),
            (
                lambda: torch.cat([x] * len(outputs), dim=1),
                "these are copies of the input: stack the transformers' outputs, not x.",
            ),
        ],
    )


def check_stack_transformers(student_fn: Any, *, quiet: bool = False) -> CheckResult:
    """Check ``stack_transformers(x, transformers)`` with two attention or affine transformers on 2-channel
    addition inputs, the 60x60 cluttered canvas and a non-square float64 input; compares the stacked outputs,
    the parameters and the gradient reaching both localization networks with :func:`stack_transformers` and
    :class:`stnlib.models.TwoTransformerClassifier`."""

    def run() -> CheckResult:
        student = _stack_runner(student_fn) if callable(student_fn) else student_fn
        return check_function(
            "stack_transformers",
            student,
            _stack_runner(stack_transformers),
            _stack_cases(),
            torch_fn=_library_stacking,
            compare=_compare_stack,
            diagnose=_diagnose_stack,
            hint=(
                "results = [t(x) for t in transformers]; stacked = torch.cat([out for out, _ in results], dim=1); "
                "params = [p for _, p in results]; return stacked, params."
            ),
            quiet=quiet,
        )

    return run_and_record(run, student_fn)


# ------------------------------------------------------------------------ exercise 2: counting the work


def _conv_pool(size: int, kernel: int) -> int:
    """Side length after an unpadded ``kernel x kernel`` convolution and a 2x2 max-pool (floor)."""
    return (size - kernel + 1) // 2


def classifier_flops(
    in_shape: Sequence[int], num_classes: int = 10, channels: Sequence[int] = (32, 64)
) -> int:
    """Floating-point operations of one forward pass of :class:`stnlib.models.CNN` on one input.

    conv 9x9 → ReLU → max-pool 2 → conv 7x7 → ReLU → max-pool 2 → linear. A convolution with ``C_in`` input and
    ``C_out`` output channels and a ``k x k`` kernel does ``C_in k² `` multiply-adds for each of its
    ``C_out H_out W_out`` outputs, a linear layer ``in * out``; each multiply-add counts as 2 operations, as
    PyTorch's :class:`~torch.utils.flop_counter.FlopCounterMode` counts them. Biases, ReLUs and pooling are
    not counted (they are a few percent). Unpadded convolutions shrink a side by ``k - 1``; pooling halves it,
    rounding down.

    Args:
        in_shape: ``(C, H, W)`` of the classifier's input.
        num_classes: outputs of the linear layer.
        channels: filters of the two convolutions.

    Returns:
        The number of operations (an int).

    Example:
        >>> round(classifier_flops((1, 60, 60)) / classifier_flops((1, 30, 30)), 1)  # 60x60 canvas vs 30x30
        12.5
    """
    c, height, width = (int(s) for s in in_shape)
    c1, c2 = (int(s) for s in channels)
    flops = 0
    h1, w1 = height - 8, width - 8  # conv 9x9
    flops += 2 * c1 * h1 * w1 * c * 9 * 9
    h1, w1 = h1 // 2, w1 // 2
    h2, w2 = h1 - 6, w1 - 6  # conv 7x7
    flops += 2 * c2 * h2 * w2 * c1 * 7 * 7
    h2, w2 = h2 // 2, w2 // 2
    return flops + 2 * c2 * h2 * w2 * num_classes


def _counted_flops(in_shape: Sequence[int], num_classes: int = 10, channels: Sequence[int] = (32, 64)) -> int:
    """PyTorch's count: :class:`FlopCounterMode` around a forward pass of the real :class:`CNN`."""
    with torch.random.fork_rng(devices=[]):
        model = CNN(tuple(in_shape), num_classes, tuple(channels))  # type: ignore[arg-type]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, *in_shape))
    return int(counter.get_total_flops())


_counted_flops.__module__ = ""
_counted_flops.__qualname__ = "torch.utils.flop_counter.FlopCounterMode on stnlib.models.CNN"


def _flops_cases() -> list[Case]:
    return [
        Case("the 60x60 cluttered canvas", ((1, 60, 60),)),
        Case("the transformer's 30x30 output", ((1, 30, 30),)),
        Case("MNIST addition, 2x42x42, 19 classes", ((2, 42, 42), 19)),
        Case("non-square 1x28x45 (odd sizes before pooling)", ((1, 28, 45),)),
        Case("1x50x50 with channels=(16, 32)", ((1, 50, 50),), {"channels": (16, 32)}),
    ]


def _flops_variants(in_shape: Sequence[int], num_classes: int, channels: Sequence[int]) -> dict[str, int]:
    c, height, width = in_shape
    c1, c2 = channels
    h1, w1 = height - 8, width - 8
    conv1 = 2 * c1 * h1 * w1 * c * 81
    p1h, p1w = h1 // 2, w1 // 2
    conv2 = 2 * c2 * (p1h - 6) * (p1w - 6) * c1 * 49
    linear = 2 * c2 * ((p1h - 6) // 2) * ((p1w - 6) // 2) * num_classes
    same1 = 2 * c1 * height * width * c * 81
    same2 = 2 * c2 * (height // 2) * (width // 2) * c1 * 49
    same_linear = 2 * c2 * (height // 4) * (width // 4) * num_classes
    unpooled2 = 2 * c2 * (h1 - 6) * (w1 - 6) * c1 * 49
    return {
        "macs": (conv1 + conv2 + linear) // 2,
        "no_linear": conv1 + conv2,
        "no_in_channels": conv1 // c + conv2 // c1 + linear,
        "same_padding": same1 + same2 + same_linear,
        "no_pooling": conv1 + unpooled2 + 2 * c2 * (h1 - 6) * (w1 - 6) * num_classes,
    }


def _diagnose_flops(case: Case, actual: Any, expected: Any) -> str | None:
    if isinstance(actual, Tensor) and actual.numel() == 1:
        actual = actual.item()
    if not isinstance(actual, (int, float)):
        return None
    in_shape = case.args[0]
    num_classes = case.args[1] if len(case.args) > 1 else case.kwargs.get("num_classes", 10)
    channels = case.kwargs.get("channels", (32, 64))
    messages = {
        "macs": "this is the number of multiply-adds: count each as 2 operations, as FlopCounterMode does.",
        "no_linear": "the final linear layer is missing: add 2 * (C2 * H * W) * num_classes.",
        "no_in_channels": "each output of a convolution sums over ALL input channels: multiply by C_in k².",
        "same_padding": "the convolutions are unpadded: a k x k convolution shrinks each side by k - 1.",
        "no_pooling": "the max-pools halve each side (rounding down) after each convolution.",
    }
    for key, value in _flops_variants(in_shape, num_classes, channels).items():
        if value != expected and int(actual) == value:
            return messages[key]
    return None


def check_classifier_flops(student_fn: Any, *, quiet: bool = False) -> CheckResult:
    """Check ``classifier_flops(in_shape, num_classes=10, channels=(32, 64))`` on the 60x60 canvas, a 30x30
    window, the 2-channel addition input, a non-square input with odd sizes before pooling and other channel
    counts; exact, and equal to PyTorch's FlopCounterMode on the real network."""
    return check_function(
        "classifier_flops",
        student_fn,
        classifier_flops,
        _flops_cases(),
        torch_fn=_counted_flops,
        atol=0.0,
        rtol=0.0,
        diagnose=_diagnose_flops,
        hint=(
            "conv k x k: 2 * C_out * H_out * W_out * C_in * k * k with H_out = H - k + 1; pool: H // 2; "
            "linear: 2 * features * num_classes."
        ),
        quiet=quiet,
    )


# ---------------------------------------------------------------------- exercise 3: MNIST addition


def addition_examples(images: Tensor, labels: Tensor, partner: Tensor) -> tuple[Tensor, Tensor]:
    """MNIST addition inputs: each digit in channel 0, its partner in channel 1; the label is their sum.

    The paper's addition task (Sec. 4.1) shows two digits in two channels and asks for the sum, 19 classes
    0–18. :class:`stnlib.data.DistortedMNIST` (``"ADD"``) builds the same pairs and then distorts each digit on
    its own.

    Args:
        images: ``(N, 1, H, W)`` digits.
        labels: ``(N,)`` their classes 0–9.
        partner: ``(N,)`` for each digit the index (into ``images``) of the digit it is paired with.

    Returns:
        ``(x: (N, 2, H, W), y: (N,))`` with ``x[i] = (images[i], images[partner[i]])`` and
        ``y[i] = labels[i] + labels[partner[i]]``.

    Example:
        >>> x, y = addition_examples(torch.rand(3, 1, 28, 28), torch.tensor([3, 9, 4]), torch.tensor([1, 2, 0]))
        >>> tuple(x.shape), y.tolist()
        ((3, 2, 28, 28), [12, 13, 7])
    """
    dims = check_tensor(images, "images", "N 1 H W")
    check_tensor(labels, "labels", "N", dims, floating=False)
    check_tensor(partner, "partner", "N", dims, floating=False)
    return torch.cat([images, images[partner]], dim=1), labels + labels[partner]


def _addition_cases() -> list[Case]:
    generator = case_generator()

    def case(n: int, size: tuple[int, int], dtype: torch.dtype = torch.float32) -> tuple[Tensor, ...]:
        images = torch.rand(n, 1, *size, generator=generator, dtype=torch.float64).to(dtype)
        labels = torch.randint(0, 10, (n,), generator=generator)
        partner = torch.randperm(n, generator=generator)
        return images, labels, partner

    return [
        Case("8 MNIST digits 28x28, a shuffled pairing", case(8, (28, 28))),
        Case("non-square 20x30, float64, batch of 5", case(5, (20, 30), torch.float64)),
        Case(
            "a digit paired with itself and a partner used twice",
            (
                torch.rand(3, 1, 10, 10, generator=generator),
                torch.tensor([7, 2, 9]),
                torch.tensor([0, 0, 1]),
            ),
        ),
    ]


def _diagnose_addition(case: Case, actual: Any, expected: Any) -> str | None:
    if not (isinstance(actual, (tuple, list)) and len(actual) == 2):
        return "return the pair (x, y)."
    x, y = actual
    images, labels, partner = case.args
    want_x, want_y = expected
    if isinstance(x, Tensor) and x.shape != want_x.shape:
        n, _, h, w = images.shape
        if tuple(x.shape) == (n, 1, h, 2 * w):
            return "the digits are side by side: put them in two channels, torch.cat(..., dim=1)."
        if tuple(x.shape) == (2 * n, 1, h, w):
            return "the digits were stacked along the batch: put them in two channels, torch.cat(..., dim=1)."
        return None
    if tensors_close(x, torch.cat([images[partner], images], dim=1)):
        return "the channels are swapped: the digit itself goes in channel 0, its partner in channel 1."
    if not isinstance(y, Tensor) or tensors_close(y, want_y):
        return None
    return first_matching_message(
        y,
        [
            (
                lambda: 10 * labels + labels[partner],
                "this reads the two digits as a two-digit number; add them.",
            ),
            (lambda: labels + partner, "partner holds indices into images, not labels: use labels[partner]."),
            (lambda: 2 * labels, "each digit was added to itself: the partner's label is labels[partner]."),
        ],
        lambda a, b: isinstance(a, Tensor) and a.shape == b.shape and bool((a == b).all()),
    )


def check_addition_examples(student_fn: Any, *, quiet: bool = False) -> CheckResult:
    """Check ``addition_examples(images, labels, partner)`` on 28x28 digits, a non-square float64 batch and a
    pairing with repeated partners; the inputs must match exactly and the labels be the sums."""
    return check_function(
        "addition_examples",
        student_fn,
        addition_examples,
        _addition_cases(),
        diagnose=_diagnose_addition,
        hint="x = torch.cat([images, images[partner]], dim=1); y = labels + labels[partner].",
        quiet=quiet,
    )
