"""Checkers for Lesson 08 — attention and many transformers (Sec. 4.1 of the paper: cluttered MNIST, MNIST
addition, transformers inside a network).

* :func:`check_window_box` — the pixel box an attention transformer reads.
* :func:`check_attention_transformer` — the downsampling attention transformer of cluttered MNIST (a class).
* :func:`check_stack_transformers` — several transformers on one input, their outputs stacked as channels.
* :func:`check_two_transformer_net` — the 2xST-FCN of MNIST addition (a class).

The checkers of the two classes build the student's class themselves on several cases and record the result
on the class, so ``use_or_fallback(AttentionTransformer, checks.lesson08.AttentionTransformer)`` works as for a
function.

Example (in the lesson)::

    checks.lesson08.check_window_box(window_box)
    window_box = checks.use_or_fallback(window_box, checks.lesson08.window_box)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stnlib import geometry
from stnlib._validation import check_size, check_tensor
from stnlib.checks._core import (
    Case,
    Comparison,
    Exercise,
    ParamsTable,
    Status,
    build_seeded,
    case_generator,
    compare_probe,
    compare_tensors,
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
from stnlib.models import FCN, LocalizationNet, SpatialTransformer, TwoTransformerClassifier

__all__ = [
    "AttentionTransformer",
    "TwoTransformerNet",
    "check_attention_transformer",
    "check_stack_transformers",
    "check_two_transformer_net",
    "check_window_box",
    "stack_transformers",
    "window_box",
]


def _attention_params(n: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``n`` attention parameters ``(s, t_x, t_y)``: zooms between 0.3 and 0.7, windows off the centre."""
    generator = case_generator()
    scale = torch.empty(n, 1, dtype=torch.float64).uniform_(0.3, 0.7, generator=generator)
    shift = torch.empty(n, 2, dtype=torch.float64).uniform_(-0.5, 0.5, generator=generator)
    return torch.cat([scale, shift], dim=1).to(dtype)


def _module_cases(
    specs: Sequence[tuple[str, tuple[int, int, int], Any, int, torch.dtype]],
    draw_params: Callable[[int, torch.dtype], Any],
) -> list[Case]:
    """The cases ``(in_shape, setting, x, params)`` of a class exercise, from ``(name, in_shape, setting,
    batch, dtype)``: ``setting`` is the class's second argument, ``params`` what the checker's localization
    networks return, ``draw_params(batch, dtype)``."""
    return [
        Case(name, (in_shape, setting, random_uniform(n, *in_shape, dtype=dtype), draw_params(n, dtype)))
        for name, in_shape, setting, n, dtype in specs
    ]


def _built(cls: Any, *args: Any) -> Any:
    """The student's ``cls(*args)``, with the layers seeded, without touching the lesson's random numbers."""
    refuse_instance(cls, type(cls).__name__)
    return build_seeded(cls, *args)


def _head_of(localization: nn.Module) -> nn.Linear | None:
    """The regression head of a localization network: its ``head``, else its last linear layer."""
    head = getattr(localization, "head", None)
    if isinstance(head, nn.Linear):
        return head
    linears = [m for m in localization.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def _pair_problem(result: Any) -> str | None:
    """Why ``result`` is not the pair ``(output, params)`` a transformer's forward returns, or ``None``."""
    if isinstance(result, (tuple, list)) and len(result) == 2:
        return None
    what = f"a tensor of shape {tuple(result.shape)}" if isinstance(result, Tensor) else type(result).__name__
    return (
        f"forward must return the pair (output, params), as stnlib's SpatialTransformer does; got {what}. End "
        "forward with `return output, params`."
    )


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


@reported_as("the corners of F.affine_grid")
def _box_of_affine_grid(params: Tensor, input_size: Sequence[int], align_corners: bool = False) -> Tensor:
    """The same box read from PyTorch: a 2x2 ``F.affine_grid`` with ``align_corners=True`` has its points
    exactly at the output's corners ±1."""
    theta = geometry.attention_theta(params)
    grid = F.affine_grid(theta, [params.shape[0], 1, 2, 2], align_corners=True)
    corners = torch.stack([grid[:, 0, 0], grid[:, 1, 1]], dim=1)
    return normalized_to_pixel(corners, (int(input_size[0]), int(input_size[1])), align_corners).reshape(
        -1, 4
    )


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
    return first_matching_message(
        actual,
        [
            (
                lambda: torch.cat([centre - scale, centre + scale], dim=1),
                "these are the corners in normalised coordinates: convert them to input pixels with "
                "geometry.normalized_to_pixel(points, input_size, align_corners).",
            ),
            (
                lambda: window_box(params, (height, width), not align_corners),
                f"this is the box for align_corners={not align_corners}: pass align_corners on to "
                "normalized_to_pixel.",
            ),
            (
                lambda: window_box(params, (width, height), align_corners),
                "H and W are swapped: x runs along the width W and y along the height H; pass input_size as "
                "(H, W).",
            ),
            (
                lambda: window_box(params, (height, width), align_corners)[:, [1, 0, 3, 2]],
                "x and y are swapped: t_x is params[:, 1] and t_y is params[:, 2]; return (x, y, x, y).",
            ),
            (
                lambda: window_box(torch.cat([scale / 2, centre], dim=1), (height, width), align_corners),
                "the box is half as wide as it should be: the output spans -1 to 1, a width of 2, so the window "
                "spans t - s to t + s (a width of 2 s), not t ± s/2.",
            ),
        ],
    )


check_window_box = Exercise(
    "window_box",
    window_box,
    _window_box_cases,
    torch_fn=_box_of_affine_grid,
    grad_wrt=(0,),
    diagnose=_diagnose_window_box,
    hint=(
        "corners = torch.stack([centre - s, centre + s], dim=1) with s = params[:, :1] and centre = "
        "params[:, 1:]; then geometry.normalized_to_pixel(corners, input_size, align_corners).reshape(-1, 4)."
    ),
).checker(
    """Check ``window_box(params, input_size, align_corners=False)``: the pixel box ``(x_left, y_top, x_right,
    y_bottom)`` an attention transformer reads, compared with :func:`window_box` and with the corners of a 2x2
    ``F.affine_grid``; values and gradients with respect to ``params``."""
)


# --------------------------------------------------- exercise 2: the downsampling attention transformer


class AttentionTransformer(nn.Module):
    """The transformer of cluttered MNIST: three attention parameters and a smaller output (Sec. 4.1, eq. 2).

    The localization network is the paper's ST-CNN one for the attention family
    (:class:`stnlib.models.LocalizationNet` with ``kind="conv"``): its head outputs ``(s, t_x, t_y)`` and starts
    with zero weights and the bias ``(1, 0, 0)``, the whole input. :func:`stnlib.geometry.attention_theta` turns
    the parameters into θ, ``F.affine_grid`` places ``output_size`` sampling points in that window and
    ``F.grid_sample`` reads the input there (``align_corners=False``, PyTorch's default). The module
    ``build_experiment_model("ST-CNN", "TC").transformer`` is the same, a :class:`stnlib.models.SpatialTransformer`.

    Args:
        in_shape: ``(C, H, W)`` of the input, ``(1, 60, 60)`` for the cluttered canvases.
        output_size: ``(H_out, W_out)``, :data:`stnlib.experiments.TC_OUTPUT_SIZE` ``(30, 30)`` for them.

    Shapes:
        ``forward(x)``: ``x: (N, C, H, W)`` → ``(output: (N, C, H_out, W_out), params: (N, 3))``.

    Example:
        >>> st = AttentionTransformer((1, 60, 60), (30, 30))
        >>> output, params = st(torch.rand(2, 1, 60, 60))
        >>> tuple(output.shape), params[0].tolist()  # at initialisation: the whole canvas
        ((2, 1, 30, 30), [1.0, 0.0, 0.0])
    """

    def __init__(
        self, in_shape: tuple[int, int, int] = (1, 60, 60), output_size: Sequence[int] = (30, 30)
    ) -> None:
        super().__init__()
        self.localization = LocalizationNet(in_shape, "attention", kind="conv")
        self.output_size = check_size(output_size, "output_size", "H W")

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Transform ``x: (N, C, H, W)``; returns ``(output, params)``."""
        check_tensor(x, "x", "N C H W")
        n, c = x.shape[:2]
        params = self.localization(x)  # (N, 3): s, t_x, t_y
        theta = geometry.attention_theta(params)  # eq. (2): [[s, 0, t_x], [0, s, t_y]]
        grid = F.affine_grid(theta, [n, c, *self.output_size], align_corners=False)
        return F.grid_sample(x, grid, align_corners=False), params

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AttentionProbe(NamedTuple):
    """What the checker measures on one attention transformer (the student's or a reference)."""

    params_at_init: Any = None
    output_at_init: Any = None
    params: Any = None  # with the checker's localization network, which zooms in on each input
    output: Any = None
    localization_grad: Tensor | None = (
        None  # the gradient of a weighted sum of the output w.r.t. that network
    )
    problem: str | None = None  # a structural problem that makes the rest meaningless
    head: nn.Linear | None = None  # the student's regression head, for the diagnosis


def _probe_attention(module: Any, x: Tensor, params: Tensor) -> _AttentionProbe:
    """Run ``module`` on ``x`` at initialisation, then with its localization network replaced by one that
    returns ``params`` (plus a learnable offset), and measure both runs."""
    if not isinstance(module, nn.Module):
        return _AttentionProbe(problem=not_a_module("AttentionTransformer", module) + ".")
    localization = getattr(module, "localization", None)
    if not isinstance(localization, nn.Module):
        problem = (
            "store the localization network as self.localization, as stnlib's SpatialTransformer does: the "
            "lesson and this check read it there."
        )
        return _AttentionProbe(problem=problem)
    module = module.to(x.dtype)
    head = _head_of(localization)
    result = module(x)
    pair_problem = _pair_problem(result)
    if pair_problem:
        return _AttentionProbe(problem=pair_problem, head=head)
    output_at_init, params_at_init = result
    if not (isinstance(params_at_init, Tensor) and params_at_init.shape == params.shape):
        # Not the three attention parameters: the checker's stand-in could not replace this localization net.
        return _AttentionProbe(params_at_init, output_at_init, head=head)
    stand_in = ParamsTable(params)
    module.localization = stand_in
    result = module(x)
    pair_problem = _pair_problem(result)
    if pair_problem:
        return _AttentionProbe(problem=pair_problem, head=head)
    output, returned = result
    grad = gradient_of_weighted_sum(output, stand_in.parameters()) if isinstance(output, Tensor) else None
    return _AttentionProbe(params_at_init, output_at_init, returned, output, grad, head=head)


def _attention_runner(cls: Any) -> Callable[..., _AttentionProbe]:
    def run(
        in_shape: tuple[int, int, int], output_size: tuple[int, int], x: Tensor, params: Tensor
    ) -> _AttentionProbe:
        return _probe_attention(_built(cls, in_shape, output_size), x, params)

    return run


@reported_as("stnlib.models.SpatialTransformer(in_shape, 'attention', output_size=...)")
def _library_attention(
    in_shape: tuple[int, int, int], output_size: tuple[int, int], x: Tensor, params: Tensor
) -> _AttentionProbe:
    """The library's transformer of the TC ST-CNN, built as :func:`stnlib.experiments.build_experiment_model`
    builds it (there for ``in_shape=(1, 60, 60)`` and ``output_size=(30, 30)``)."""
    module = build_seeded(SpatialTransformer, in_shape, "attention", "conv", output_size=output_size)
    return _probe_attention(module, x, params)


def _attention_cases() -> list[Case]:
    f32, f64, tc = torch.float32, torch.float64, (1, 60, 60)
    specs = [  # (name, in_shape, output_size, batch, dtype)
        ("TC canvas 1x60x60 to 30x30, batch of 4", tc, (30, 30), 4, f32),
        ("one canvas (batch of 1)", tc, (30, 30), 1, f32),
        ("float64, batch of 2", tc, (30, 30), 2, f64),
        ("two channels 2x42x42 to 20x20 (the sizes come from the arguments)", (2, 42, 42), (20, 20), 3, f32),
        ("non-square 1x48x64 to 24x40", (1, 48, 64), (24, 40), 2, f32),
    ]
    return _module_cases(specs, _attention_params)


def _compare_attention(actual: Any, expected: _AttentionProbe) -> Comparison:
    return compare_probe(
        actual,
        expected,
        fields=[
            ("params_at_init", "params (s, t_x, t_y), forward's second item, at initialisation"),
            ("output_at_init", "the output at initialisation"),
            ("params", "params when the localization network zooms in"),
            ("output", "the output when the localization network zooms in"),
        ],
        gradient_name="the gradient reaching the localization network",
        no_gradient="no gradient reaches the localization network: the output must stay connected to the "
        "parameters (no .detach(), .item() or torch.no_grad() between them), or the transformer never learns "
        "where to look.",
    )


def _diagnose_attention(case: Case, actual: Any, expected: _AttentionProbe) -> str | None:
    if not isinstance(actual, _AttentionProbe) or actual.problem:
        return None
    output_size, x = case.args[1], case.args[2]
    n, height, width = x.shape[0], x.shape[-2], x.shape[-1]
    head, start = actual.head, actual.params_at_init
    if isinstance(start, Tensor) and tuple(start.shape) != (n, 3):
        if head is not None and head.out_features == 6:
            return (
                "the head outputs 6 numbers: this is an affine transformer; attention needs 3, (s, t_x, t_y) "
                "(eq. 2). Build the localization network for the attention family: LocalizationNet(in_shape, "
                '"attention", kind="conv").'
            )
        if head is not None and head.out_features == 3 and start.shape[-2:] == (2, 3):
            return (
                "forward returns θ (N, 2, 3) as its second item: return the three parameters (N, 3) the "
                "localization network predicted, as SpatialTransformer does (the lesson reads the window from them)."
            )
        return None
    if isinstance(start, Tensor) and not tensors_close(start, expected.params_at_init):
        if head is not None and head.out_features == 3:
            if bool(head.weight.detach().abs().max() > 0):
                return (
                    "not the identity at initialisation: the parameters differ from image to image. Zero the "
                    "head's weight and set its bias to (1, 0, 0) — s = 1, t = 0: the whole input."
                )
            if not tensors_close(head.bias.detach().double(), torch.tensor([1.0, 0.0, 0.0])):
                return (
                    "not the identity at initialisation: set the head's bias to (1, 0, 0) — s = 1 is the whole "
                    "input (a bias of 0 would squeeze the window to a point)."
                )
        return None
    out = actual.output_at_init
    want_h, want_w = output_size
    if isinstance(out, Tensor) and out.ndim == 4 and tuple(out.shape[-2:]) != (want_h, want_w):
        if tuple(out.shape[-2:]) == (height, width):
            return (
                f"the output is {height}×{width}, the input's size: build the grid for the {want_h}×{want_w} "
                "output, (N, C, *self.output_size)."
            )
        if tuple(out.shape[-2:]) == (want_w, want_h):
            return "the output's height and width are swapped: the grid's size is (N, C, H_out, W_out)."
        return None
    if not isinstance(actual.params, Tensor) or not tensors_close(actual.params, expected.params):
        return (
            "the parameters did not come from self.localization: forward must compute them with "
            "self.localization(x), the module the checker replaced."
        )
    if not isinstance(actual.output, Tensor) or tensors_close(actual.output, expected.output):
        return None
    zoom = expected.params.detach()  # what the checker's localization network returned
    size = [n, x.shape[1], want_h, want_w]

    def sample(params: Tensor, corners: bool) -> Tensor:
        grid = F.affine_grid(geometry.attention_theta(params), size, align_corners=corners)
        return F.grid_sample(x, grid, align_corners=corners)

    return first_matching_message(
        actual.output,
        [
            (
                lambda: expected.output_at_init,
                "the output did not follow the localization network: sample with the θ of the parameters "
                "self.localization(x) returns.",
            ),
            (
                lambda: sample(zoom, True),
                "this is the output for align_corners=True: the library's transformers use PyTorch's default, "
                "align_corners=False, in the grid generator and the sampler.",
            ),
            (
                lambda: sample(zoom[:, [0, 2, 1]], False),  # (s, t_y, t_x)
                "t_x and t_y are swapped: θ = [[s, 0, t_x], [0, s, t_y]] with params = (s, t_x, t_y); "
                "geometry.attention_theta(params) builds it.",
            ),
        ],
    )


check_attention_transformer = Exercise(
    "AttentionTransformer",
    AttentionTransformer,
    _attention_cases,
    runner=_attention_runner,
    torch_fn=_library_attention,
    compare=_compare_attention,
    diagnose=_diagnose_attention,
    hint=(
        'self.localization = LocalizationNet(in_shape, "attention", kind="conv"); in forward: params = '
        "self.localization(x); theta = geometry.attention_theta(params); grid = F.affine_grid(theta, "
        "(N, C, *self.output_size), align_corners=False); output = F.grid_sample(x, grid, "
        "align_corners=False); return output, params."
    ),
).checker(
    """Check the class ``AttentionTransformer(in_shape, output_size)``.

    For each case the checker builds the student's module and compares it with :class:`AttentionTransformer`
    and with :class:`stnlib.models.SpatialTransformer` (``"attention"``): the parameters at initialisation
    (the identity ``(1, 0, 0)`` for every image, so the head has 3 outputs, zero weights and the identity
    bias) and the output then (the whole input resampled to ``output_size``); then, with ``self.localization``
    replaced by a network that zooms in on each input, the parameters forward returns, the output, and the
    gradient that reaches the localization network.
    """
)


# ------------------------------------------------------------------- exercise 3: transformers in parallel


def stack_transformers(x: Tensor, transformers: Iterable[nn.Module]) -> tuple[Tensor, list[Tensor]]:
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

    stacked: Any = None
    params: Any = None
    localization_grad: Tensor | None = None
    problem: str | None = None


def _localization_gradient(output: Tensor, transformers: Sequence[SpatialTransformer]) -> Tensor | None:
    """The gradient that ``output`` sends to every localization network's parameters, one flat vector."""
    return gradient_of_weighted_sum(output, [p for t in transformers for p in t.localization.parameters()])


def _stack_runner(fn: Callable[..., Any]) -> Callable[..., _StackProbe]:
    def run(x: Tensor, transformers: Sequence[SpatialTransformer]) -> _StackProbe:
        result = fn(x, transformers)
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            return _StackProbe(
                problem="return the pair (stacked, params): the stacked outputs and the list of each "
                f"transformer's parameters; got {type(result).__name__}."
            )
        stacked, params = result
        grad = _localization_gradient(stacked, transformers) if isinstance(stacked, Tensor) else None
        return _StackProbe(stacked, list(params) if isinstance(params, (tuple, list)) else params, grad)

    return run


@reported_as("stnlib.models.TwoTransformerClassifier")
def _library_stacking(x: Tensor, transformers: Sequence[SpatialTransformer]) -> _StackProbe:
    """The stacking of :class:`stnlib.models.TwoTransformerClassifier`, with the given transformers."""
    in_shape = (x.shape[1], x.shape[2], x.shape[3])
    model = build_seeded(TwoTransformerClassifier, in_shape, output_size=transformers[0].output_size)
    model.transformers = nn.ModuleList(transformers)
    model.classifier = nn.Identity()
    model.to(x.dtype)
    stacked = model(x)
    assert model.last_params is not None
    return _StackProbe(stacked, model.last_params, _localization_gradient(stacked, transformers))


def _transformer_pair(
    in_shape: tuple[int, int, int], transform: str, output_size: tuple[int, int], dtype: torch.dtype
) -> list[SpatialTransformer]:
    """Two transformers whose random heads make them look at different places, depending on the image."""
    pair = build_seeded(
        lambda: [
            SpatialTransformer(in_shape, transform, "fc", output_size=output_size, loc_hidden=(16,))
            for _ in range(2)
        ]
    )
    generator = case_generator()
    for st in pair:
        head = st.localization.head
        assert isinstance(head, nn.Linear)  # the "fc" localization network's regression head
        with torch.no_grad():
            head.weight.copy_(0.02 * torch.randn(head.weight.shape, generator=generator))
            head.bias.add_(0.2 * torch.randn(head.bias.shape, generator=generator))
    return [st.to(dtype) for st in pair]


def _stack_cases() -> list[Case]:
    f32, f64 = torch.float32, torch.float64
    return [
        Case(
            "MNIST addition 2x42x42, two attention transformers with 20x20 outputs, batch of 3",
            (random_uniform(3, 2, 42, 42), _transformer_pair((2, 42, 42), "attention", (20, 20), f32)),
        ),
        Case(
            "cluttered 1x60x60, two affine transformers with 30x30 outputs, batch of 2",
            (random_uniform(2, 1, 60, 60), _transformer_pair((1, 60, 60), "affine", (30, 30), f32)),
        ),
        Case(
            "non-square 3x24x40, float64, outputs 12x16, batch of 2",
            (
                random_uniform(2, 3, 24, 40, dtype=f64),
                _transformer_pair((3, 24, 40), "affine", (12, 16), f64),
            ),
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


check_stack_transformers = Exercise(
    "stack_transformers",
    stack_transformers,
    _stack_cases,
    runner=_stack_runner,
    torch_fn=_library_stacking,
    compare=_compare_stack,
    diagnose=_diagnose_stack,
    hint=(
        "results = [t(x) for t in transformers]; stacked = torch.cat([out for out, _ in results], dim=1); "
        "params = [p for _, p in results]; return stacked, params."
    ),
).checker(
    """Check ``stack_transformers(x, transformers)`` with two attention or affine transformers: compares the
    stacked outputs ``(N, K*C, H_out, W_out)``, the parameters and the gradient reaching both localization
    networks with :func:`stack_transformers` and :class:`stnlib.models.TwoTransformerClassifier`."""
)


# ---------------------------------------------------------------- exercise 4: the 2xST-FCN for addition


class TwoTransformerNet(nn.Module):
    """The 2xST-FCN of MNIST addition (Sec. 4.1): two transformers side by side, one classifier after them.

    Both transformers are affine :class:`stnlib.models.SpatialTransformer` with fully connected localization
    networks; each reads the whole ``C``-channel input and warps all of it, so each can learn to follow one
    digit. :func:`stack_transformers` concatenates their outputs along the channels, transformer 1's first,
    and an :class:`stnlib.models.FCN` classifies the ``2C`` channels. The same network as
    :class:`stnlib.models.TwoTransformerClassifier` (``build_experiment_model("2xST-FCN", "ADD")``).

    Args:
        in_shape: ``(C, H, W)``, ``(2, 42, 42)`` for MNIST addition.
        num_classes: 19 for the sums 0–18.

    Shapes:
        ``forward(x)``: ``x: (N, C, H, W)`` → logits ``(N, num_classes)``.

    Example:
        >>> net = TwoTransformerNet((2, 42, 42), 19)
        >>> net(torch.rand(3, 2, 42, 42)).shape
        torch.Size([3, 19])
    """

    def __init__(self, in_shape: tuple[int, int, int] = (2, 42, 42), num_classes: int = 19) -> None:
        super().__init__()
        channels, height, width = in_shape
        self.transformers = nn.ModuleList([SpatialTransformer(in_shape, "affine", "fc") for _ in range(2)])
        self.classifier = FCN((2 * channels, height, width), num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, num_classes)`` for ``x: (N, C, H, W)``."""
        stacked, _ = stack_transformers(x, self.transformers)
        return self.classifier(stacked)


class _AdditionProbe(NamedTuple):
    """What the checker measures on one addition network (the student's or a reference)."""

    shapes: Any = None  # the parameter shapes of transformer 1, transformer 2 and the classifier
    thetas_at_init: Any = None  # [θ_1, θ_2] at initialisation
    classifier_input_at_init: Any = None
    blocks_changed: Any = None  # (2, K): 1 where changing transformer k's θ changed block j (C channels)
    classifier_input: Any = None  # with the checker's localization networks: 1 zooms left, 2 right
    logits: Any = None
    classifier_logits: Any = None  # self.classifier(classifier_input): what forward must return
    localization_grad: Tensor | None = None  # (2, 6): a loss on the classifier's input, per transformer
    problem: str | None = None


def _addition_structure_problem(model: Any, in_shape: tuple[int, int, int]) -> str | None:
    """How the student's network is built wrong in a way that makes measuring it meaningless, or ``None``."""
    if not isinstance(model, nn.Module):
        return not_a_module("TwoTransformerNet", model) + "."
    transformers = getattr(model, "transformers", None)
    if transformers is None:
        return (
            "store the two transformers as self.transformers, an nn.ModuleList, as stnlib's "
            "TwoTransformerClassifier does: the lesson's figures read them there."
        )
    if isinstance(transformers, (list, tuple)):
        return (
            "self.transformers is a plain Python list: model.parameters() does not see the transformers in it, so "
            "an optimiser would never train them. Wrap it: nn.ModuleList([...])."
        )
    if not isinstance(transformers, nn.ModuleList) or len(transformers) != 2:
        got = len(transformers) if isinstance(transformers, nn.ModuleList) else type(transformers).__name__
        return f"self.transformers must be an nn.ModuleList of two transformers; got {got}."
    if transformers[0] is transformers[1]:
        return (
            "both entries of self.transformers are the same module, with one localization network: build two "
            "SpatialTransformers, so that each can learn to follow its own digit."
        )
    for k, transformer in enumerate(transformers, start=1):
        if not isinstance(getattr(transformer, "localization", None), nn.Module):
            return (
                f"transformer {k} has no localization network in .localization: build both with "
                'stnlib.models.SpatialTransformer(in_shape, "affine", "fc").'
            )
        built_for = getattr(transformer, "in_shape", None)
        if built_for is not None and tuple(built_for) != tuple(in_shape):
            if built_for[0] < in_shape[0] and tuple(built_for[1:]) == tuple(in_shape[1:]):
                return (
                    f"transformer {k} is built for {tuple(built_for)}, a single channel of the input: in the "
                    f"paper's 2xST-FCN each transformer reads the whole {in_shape[0]}-channel input and warps "
                    f"every channel, and learns by itself which digit to follow. Build both for in_shape."
                )
            return f"transformer {k} is built for {tuple(built_for)}; the input is {tuple(in_shape)}."
    if not isinstance(getattr(model, "classifier", None), nn.Module):
        return "store the classifier as self.classifier, as stnlib's TwoTransformerClassifier does."
    return None


def _parameter_shapes(model: nn.Module) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """The parameter shapes of transformer 1, transformer 2 and the classifier."""
    transformers, classifier = model.transformers, model.classifier
    # the library's model, or a student's that _addition_structure_problem has checked
    assert isinstance(transformers, nn.ModuleList) and isinstance(classifier, nn.Module)
    parts = (*transformers, classifier)
    return tuple(tuple(tuple(p.shape) for p in part.parameters()) for part in parts)


def _library_2xst_fcn(in_shape: tuple[int, int, int], num_classes: int) -> TwoTransformerClassifier:
    """stnlib's 2xST-FCN, as :func:`stnlib.models.build_model` builds it for ``"2xST-FCN"``."""
    return build_seeded(TwoTransformerClassifier, in_shape, num_classes, loc_kind="fc", classifier="fc")


def _probe_addition(
    model: Any, in_shape: tuple[int, int, int], num_classes: int, x: Tensor, thetas: Sequence[Tensor]
) -> _AdditionProbe:
    """Measure an addition network on ``x``: its layers' shapes, then (if they are the 2xST-FCN's) its forward
    pass at initialisation and with each transformer's localization network replaced by one that returns
    ``thetas[k]`` (plus a learnable offset)."""
    problem = _addition_structure_problem(model, in_shape)
    if problem:
        return _AdditionProbe(problem=problem)
    model = model.to(x.dtype)
    transformers, classifier = list(model.transformers), model.classifier
    shapes = _parameter_shapes(model)
    if shapes != _parameter_shapes(_library_2xst_fcn(in_shape, num_classes)):
        # Other layers than the 2xST-FCN's: the forward pass is not measured (the report names the layers).
        return _AdditionProbe(shapes)
    seen: list[Tensor] = []
    hook = classifier.register_forward_pre_hook(lambda module, args: seen.append(args[0]))

    def classifier_input(what: str) -> tuple[Any, Tensor | None, str | None]:
        seen.clear()
        logits = model(x)
        if seen:
            return logits, seen[-1], None
        problem = (
            f"forward never called self.classifier ({what}): return self.classifier(stacked), the logits."
        )
        return logits, None, problem

    try:
        with torch.no_grad():
            thetas_at_init = [transformer(x)[1] for transformer in transformers]
            _, input_at_init, problem = classifier_input("at initialisation")
        if problem:
            return _AdditionProbe(problem=problem)
        stand_ins = [ParamsTable(theta) for theta in thetas]
        for transformer, stand_in in zip(transformers, stand_ins, strict=True):
            transformer.localization = stand_in
        logits, zoomed, problem = classifier_input("with zooming transformers")
        if problem or zoomed is None:
            return _AdditionProbe(problem=problem or "")
        if not isinstance(logits, Tensor):
            return _AdditionProbe(
                problem=f"forward returns a {type(logits).__name__}; return only the classifier's logits "
                "(N, classes), which F.cross_entropy and the training loop expect."
            )
        with torch.no_grad():
            classifier_logits = classifier(zoomed.detach())
        grad = gradient_of_weighted_sum(zoomed, [s.offset for s in stand_ins])
        channels = in_shape[0]
        changed = []
        for stand_in in stand_ins:
            with torch.no_grad():
                stand_in.offset.add_(torch.tensor([[0.1, 0.0, 0.05], [0.0, -0.1, 0.05]], dtype=x.dtype))
                _, moved, _ = classifier_input("with zooming transformers")
                stand_in.offset.zero_()
            difference = (moved - zoomed.detach()).abs() if moved is not None else torch.zeros_like(zoomed)
            changed.append([float(block.max() > 1e-6) for block in difference.split(channels, dim=1)])
    finally:
        hook.remove()
    return _AdditionProbe(
        shapes,
        thetas_at_init,
        input_at_init,
        torch.tensor(changed),
        zoomed,
        logits,
        classifier_logits,
        None if grad is None else grad.view(2, -1),
    )


def _addition_runner(cls: Any) -> Callable[..., _AdditionProbe]:
    def run(
        in_shape: tuple[int, int, int], num_classes: int, x: Tensor, thetas: tuple[Tensor, Tensor]
    ) -> _AdditionProbe:
        return _probe_addition(_built(cls, in_shape, num_classes), in_shape, num_classes, x, thetas)

    return run


@reported_as("stnlib.models.TwoTransformerClassifier (the 2xST-FCN)")
def _library_addition(
    in_shape: tuple[int, int, int], num_classes: int, x: Tensor, thetas: tuple[Tensor, Tensor]
) -> _AdditionProbe:
    return _probe_addition(_library_2xst_fcn(in_shape, num_classes), in_shape, num_classes, x, thetas)


def _theta_pair(n: int, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Two batches of affine θ that zoom in and turn: the first on the input's left half, the second on its right."""
    generator = case_generator(1)
    left, right = [
        random_affine_theta(
            n, generator, turn=0.5, scale=(0.45, 0.7), shift=0.2, centre=(side, 0.0), dtype=dtype
        )
        for side in (-0.4, 0.4)
    ]
    return left, right


def _addition_cases() -> list[Case]:
    f32, f64, add = torch.float32, torch.float64, (2, 42, 42)
    specs = [  # (name, in_shape, num_classes, batch, dtype)
        ("MNIST addition 2x42x42, 19 classes, batch of 3", add, 19, 3, f32),
        ("one pair (batch of 1)", add, 19, 1, f32),
        ("float64, batch of 2", add, 19, 2, f64),
        ("non-square 2x24x36, 5 classes (the sizes come from the arguments)", (2, 24, 36), 5, 2, f32),
        ("one channel 1x28x28, 10 classes: the classifier sees 2 channels", (1, 28, 28), 10, 2, f32),
    ]
    return _module_cases(specs, _theta_pair)


def _blocks_message(changed: Tensor) -> str:
    def blocks(row: Tensor) -> str:
        hit = [str(j + 1) for j, value in enumerate(row.tolist()) if value]
        return f"block{'s' if len(hit) > 1 else ''} {' and '.join(hit)}" if hit else "nothing"

    found = ", and ".join(
        f"changing transformer {k + 1}'s θ changed {blocks(row)}" for k, row in enumerate(changed)
    )
    return (
        "changing one transformer's θ must change its own block of the classifier's input and nothing else "
        f"(block 1: channels 0 to C-1, block 2: C to 2C-1); here {found}."
    )


def _compare_addition(actual: Any, expected: _AdditionProbe) -> Comparison:
    problem = probe_problem(actual, expected)
    if problem is not None:
        return problem
    if actual.shapes != expected.shapes:
        return Comparison(
            Status.FAILED,
            'the layers differ from the 2xST-FCN\'s: two SpatialTransformer(in_shape, "affine", "fc") and '
            "FCN((2 * C, H, W), num_classes), as stnlib's TwoTransformerClassifier builds them.",
        )
    for field, name in [
        ("thetas_at_init", "θ of the two transformers at initialisation"),
        ("classifier_input_at_init", "the classifier's input at initialisation"),
    ]:
        comparison = compare_tensors(getattr(actual, field), getattr(expected, field), name=name)
        if not comparison.ok:
            return comparison
    if not torch.equal(actual.blocks_changed, expected.blocks_changed):
        return Comparison(Status.FAILED, _blocks_message(actual.blocks_changed))
    comparison = compare_tensors(
        actual.classifier_input,
        expected.classifier_input,
        name="the classifier's input when both transformers zoom in",
    )
    if not comparison.ok:
        return comparison
    if tuple(actual.logits.shape) != tuple(expected.logits.shape) or not tensors_close(
        actual.logits, actual.classifier_logits
    ):
        return Comparison(
            Status.FAILED,
            "forward must return the classifier's logits for the stacked outputs, self.classifier(stacked), "
            f"of shape {tuple(expected.logits.shape)}.",
        )
    grad = actual.localization_grad
    if grad is None:
        return Comparison(
            Status.FAILED,
            "no gradient reaches the localization networks from a loss on the classifier's input: keep the "
            "transformers' outputs connected (no .detach() or torch.no_grad()), or they never learn.",
        )
    for k, row in enumerate(grad):
        if not bool(row.abs().sum() > 0):
            return Comparison(
                Status.FAILED,
                f"no gradient reaches transformer {k + 1}'s localization network from a loss on the classifier's "
                "input: its output must reach the classifier, connected to the graph.",
            )
    return compare_tensors(
        grad, expected.localization_grad, name="the gradient reaching each localization network"
    )


def _diagnose_addition_shapes(
    actual: _AdditionProbe, in_shape: tuple[int, int, int], classes: int
) -> str | None:
    *transformer_shapes, classifier_shapes = actual.shapes
    for k, shapes in enumerate(transformer_shapes, start=1):
        if any(len(s) == 4 for s in shapes):
            return (
                f"transformer {k}'s localization network is convolutional: the 2xST-FCN's are fully connected, "
                'SpatialTransformer(in_shape, "affine", "fc").'
            )
        if shapes and shapes[-1] != (6,):
            return (
                f"transformer {k}'s head outputs {shapes[-1][0]} numbers: the 2xST-FCN's transformers are affine, "
                '6 numbers, SpatialTransformer(in_shape, "affine", "fc").'
            )
    if any(len(s) == 4 for s in classifier_shapes):
        return "the classifier is a CNN: the 2xST-FCN's is an FCN, FCN((2 * C, H, W), num_classes)."
    channels, height, width = in_shape
    first = next((s for s in classifier_shapes if len(s) == 2), None)
    if first is not None and first[1] == channels * height * width:
        return (
            f"the classifier is built for {channels} channel{'s' if channels > 1 else ''}, but it receives both "
            f"transformers' outputs stacked, {2 * channels} channels: FCN((2 * C, H, W), num_classes)."
        )
    if classifier_shapes and classifier_shapes[-1] != (classes,):
        return (
            f"the classifier has {classifier_shapes[-1][0]} outputs: there are num_classes = {classes} sums."
        )
    return None


def _diagnose_addition(case: Case, actual: Any, expected: _AdditionProbe) -> str | None:
    if not isinstance(actual, _AdditionProbe) or actual.problem:
        return None
    in_shape, classes = case.args[0], case.args[1]
    if actual.shapes != expected.shapes:
        return _diagnose_addition_shapes(actual, in_shape, classes)
    changed = actual.blocks_changed
    if not isinstance(changed, Tensor) or torch.equal(changed, expected.blocks_changed):
        return None
    for k, row in enumerate(changed):
        if not bool(row.any()):
            return (
                f"transformer {k + 1}'s output never reaches the classifier: concatenate both transformers' "
                "outputs along the channels, stack_transformers(x, self.transformers), and classify that."
            )
    if changed.shape == (2, 2) and torch.equal(changed, torch.tensor([[0.0, 1.0], [1.0, 0.0]])):
        return "the outputs are in the opposite order: transformer 1's output comes first."
    if changed.shape == (2, 2) and torch.equal(changed, torch.tensor([[1.0, 1.0], [0.0, 1.0]])):
        return (
            "transformer 2 was given transformer 1's output: run both transformers on the input x, side by side, "
            "not one after the other."
        )
    return None


check_two_transformer_net = Exercise(
    "TwoTransformerNet",
    TwoTransformerNet,
    _addition_cases,
    runner=_addition_runner,
    torch_fn=_library_addition,
    compare=_compare_addition,
    diagnose=_diagnose_addition,
    hint=(
        'self.transformers = nn.ModuleList([SpatialTransformer(in_shape, "affine", "fc") for _ in '
        "range(2)]); self.classifier = FCN((2 * C, H, W), num_classes); in forward: stacked, _ = "
        "stack_transformers(x, self.transformers); return self.classifier(stacked)."
    ),
).checker(
    """Check the class ``TwoTransformerNet(in_shape, num_classes)``.

    For each case the checker builds the student's network and compares it with :class:`TwoTransformerNet` and
    :class:`stnlib.models.TwoTransformerClassifier`: two distinct transformers in
    ``self.transformers`` (an ``nn.ModuleList``), each built for the whole input, and ``self.classifier``, with
    the parameter shapes of the 2xST-FCN; the identity θ and the classifier's input at initialisation (the input,
    twice); then, with each localization network replaced by one that zooms in on its own half, the classifier's
    input, which block of it each transformer's θ changes (its own only), the logits (the classifier's output)
    and the gradient that a loss on the classifier's input sends to each localization network.
    """
)
