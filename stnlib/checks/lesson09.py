"""Checkers for Lesson 09 — when spatial transformers fail (a clinic of the bugs found in public STN code).

Three "find and fix the bug" exercises on bugs of public STN code and a diagnosis written from θ's vital
signs. Each checker verifies the *behaviour* the answer must have, so every correct fix passes, not only the
reference's, and recognises the wrong answers the usual mistakes give:

* :func:`check_theta_from_head` — θ from the six numbers of an affine head, read row by row.
* :func:`check_init_weights` — a global Xavier initialisation that leaves the localization heads at the
  identity.
* :func:`check_affine_grid_from_scratch` — the affine grid generator, with its base grid indexed ``(H, W)``.
* :func:`check_diagnose_theta` — one of :data:`DIAGNOSES` for a batch of θ, from its vital signs.

Example (in the lesson)::

    checks.lesson09.check_theta_from_head(theta_from_head)
    theta_from_head = checks.use_or_fallback(theta_from_head, checks.lesson09.theta_from_head)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stnlib import geometry
from stnlib._validation import check_size, check_tensor
from stnlib.checks._core import (
    CASE_SEED,
    Candidate,
    Case,
    Comparison,
    Exercise,
    Status,
    case_generator,
    compare_tensors,
    first_matching_message,
    probe_problem,
    random_affine_theta,
    random_uniform,
    reported_as,
)
from stnlib.models import (
    CNN,
    FCN,
    SpatialTransformer,
    STClassifier,
    TwoTransformerClassifier,
    identity_params,
    params_from_head,
)

__all__ = [
    "COLLAPSE_BELOW",
    "DIAGNOSES",
    "DRIFT_ABOVE",
    "ZOOM_OUT_ABOVE",
    "affine_grid_from_scratch",
    "check_affine_grid_from_scratch",
    "check_diagnose_theta",
    "check_init_weights",
    "check_theta_from_head",
    "diagnose_theta",
    "init_weights_",
    "theta_from_head",
    "theta_vitals",
    "weights_init",
]


# -------------------------------------------------------------------- exercise 1: θ from the head's numbers


def theta_from_head(params: Tensor) -> Tensor:
    """θ from the six outputs of an affine localization head: the numbers are θ **row by row**.

    ``params[:, :3]`` is the first row of θ, the one that gives ``x_s``, and ``params[:, 3:]`` the second, which
    gives ``y_s``; so the identity bias ``[1, 0, 0, 0, 1, 0]`` is θ = ``[[1, 0, 0], [0, 1, 0]]``. Reading them
    column by column instead (``view(-1, 3, 2).transpose(1, 2)``, the layout of column-major code) puts numbers
    meant for y into the x row: the identity bias becomes ``[[1, 0, 1], [0, 0, 0]]``, a collapse.

    Args:
        params: ``(N, 6)``, the head's output.

    Returns:
        θ, ``(N, 2, 3)``; gradients flow back to ``params``.

    Example:
        >>> theta_from_head(torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]]))
        tensor([[[1., 0., 0.],
                 [0., 1., 0.]]])
    """
    check_tensor(params, "params", "N 6")
    return params.reshape(params.shape[0], 2, 3)


@reported_as("stnlib.models.localization.params_from_head")
def _stnlib_params_from_head(params: Tensor) -> Tensor:
    return params_from_head(params, "affine")


def _head_outputs(n: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Six numbers per item, all different, around the identity (as a head's outputs are early in training)."""
    noise = 0.3 * torch.randn(n, 6, generator=case_generator(1), dtype=torch.float64)
    return (identity_params("affine").to(torch.float64) + noise).to(dtype)


def _theta_cases() -> list[Case]:
    turned = geometry.affine_theta(
        rotation=torch.tensor([0.4, -0.9, 1.2]), scale=(0.7, 0.9), translation=(0.2, -0.3)
    )
    return [
        Case("batch of 4 head outputs near the identity", (_head_outputs(4),)),
        Case("the identity bias [1, 0, 0, 0, 1, 0], batch of 1", (identity_params("affine")[None],)),
        Case("three turned, scaled and shifted θ, flattened row by row", (turned.reshape(3, 6),)),
        Case("batch of 7, float64", (_head_outputs(7, torch.float64),)),
    ]


def _diagnose_theta_from_head(case: Case, actual: Any, expected: Tensor) -> str | None:
    (params,) = case.args
    n = params.shape[0]
    if isinstance(actual, Tensor) and tuple(actual.shape) == (n, 3, 2):
        return (
            "θ must be (N, 2, 3): two rows, one for x_s and one for y_s, of three numbers each. "
            "params.view(-1, 3, 2) gives three rows of two."
        )
    p = params.to(torch.float64)
    candidates: list[Candidate] = [
        (
            lambda: p.view(-1, 3, 2).transpose(1, 2),
            "your θ is read column by column: view(-1, 3, 2).transpose(1, 2) gives θ = [[p0, p2, p4], "
            "[p1, p3, p5]], so the x row of θ takes numbers meant for y and the x and y parts are mixed — the "
            "identity bias [1, 0, 0, 0, 1, 0] becomes [[1, 0, 1], [0, 0, 0]], a collapse onto one row. The head's "
            "numbers are θ row by row: view(-1, 2, 3).",
        ),
        (
            lambda: p.view(-1, 2, 3).flip(1),
            "your θ's x and y rows are swapped: the first row of θ gives x_s (params[:, :3]), the second y_s "
            "(params[:, 3:]).",
        ),
        (
            lambda: torch.cat([p[:, :4].view(-1, 2, 2), p[:, 4:, None]], dim=-1),
            "you read the numbers as A row by row followed by t = (t_x, t_y); the head's layout is θ row by row, "
            "[a, b, t_x, c, d, t_y]: view(-1, 2, 3).",
        ),
        (
            lambda: p.view(-1, 2, 3)[:, :, [1, 0, 2]],
            "the first two columns of θ are swapped: column 0 multiplies x_t and column 1 multiplies y_t.",
        ),
    ]
    return first_matching_message(actual, candidates, expected=expected)


check_theta_from_head = Exercise(
    "theta_from_head",
    theta_from_head,
    _theta_cases,
    torch_fn=_stnlib_params_from_head,
    grad_wrt=(0,),
    diagnose=_diagnose_theta_from_head,
    hint=(
        "the six numbers are θ row by row, [a, b, t_x, c, d, t_y]: params.view(-1, 2, 3) (or reshape) — no "
        "transpose."
    ),
).checker(
    """Check ``theta_from_head(params)``: ``(N, 6) -> (N, 2, 3)``, θ read row by row; values and gradients.

    Compared with :func:`theta_from_head` and stnlib's own ``params_from_head``; reading θ column by column,
    swapping its rows or its first two columns, reading A then t, and a ``(N, 3, 2)`` result are recognised.
    """
)


# ---------------------------------------------------------------- exercise 2: a global init and the heads


def weights_init(module: nn.Module) -> None:
    """The initialisation many STN repositories apply to every layer: Xavier-uniform weights, zero biases.

    Meant for ``model.apply(weights_init)``, which calls it on every submodule — the localization heads
    included, so on its own it overwrites their identity initialisation (the bug of the lesson's exercise).

    Example:
        >>> layer = nn.Linear(4, 3)
        >>> weights_init(layer)
        >>> layer.bias.tolist()
        [0.0, 0.0, 0.0]
    """
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _transformers(model: nn.Module) -> list[SpatialTransformer]:
    return [m for m in model.modules() if isinstance(m, SpatialTransformer)]


def _head(transformer: SpatialTransformer) -> nn.Linear:
    """``transformer.localization.head``, the regression head (an ``nn.Linear`` in stnlib's localization
    networks; the localization network is typed as any ``nn.Module``)."""
    return cast(nn.Linear, transformer.localization.head)


def init_weights_(model: nn.Module) -> nn.Module:
    """:func:`weights_init` for every layer of ``model``, then every localization head back at the identity.

    ``model.apply(weights_init)`` reaches every ``nn.Linear`` — also the last layer of each transformer's
    localization network, whose zero weights and identity bias (Sec. 3.1, appendix) it replaces by random
    weights and a zero bias: θ = W f is then a random matrix near 0, and the transformer starts collapsed. So
    each head (``transformer.localization.head`` of every :class:`~stnlib.models.SpatialTransformer` in the
    model) is set back to zero weights and the identity bias afterwards, in place and still trainable.

    Args:
        model: any module; its spatial transformers are found with ``model.modules()``.

    Returns:
        ``model`` itself, changed in place.

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> model = init_weights_(STClassifier(SpatialTransformer((1, 28, 28), loc_kind="fc"), FCN((1, 28, 28))))
        >>> model.transformer.localization(torch.rand(1, 1, 28, 28))[0]
        tensor([[1., 0., 0.],
                [0., 1., 0.]], grad_fn=<SelectBackward0>)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    model.apply(weights_init)
    for transformer in _transformers(model):
        head = _head(transformer)
        with torch.no_grad():
            head.weight.zero_()
            head.bias.copy_(identity_params(transformer.transform, transformer.tps_grid_size))
    return model


class _LayerState(NamedTuple):
    """One layer outside the heads after the initialisation: what the checker needs to know about it."""

    name: str
    kept_default: bool
    largest_bias: float
    largest_weight: float
    xavier_bound: float


class _InitProbe(NamedTuple):
    """What the checker measures on an initialised model (or what is wrong with it)."""

    thetas: Tensor | None = None  # (T, 4, 2, 3): θ of every transformer for four random inputs
    heads: tuple[tuple[float, Tensor], ...] = ()  # per transformer: (largest |w|, bias) of its head
    layers: tuple[_LayerState, ...] = ()
    problem: str | None = None


def _xavier_bound(weight: Tensor) -> float:
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
    return math.sqrt(6.0 / (fan_in + fan_out))


def _probe_init(fn: Callable[..., Any], build: Callable[[], nn.Module]) -> _InitProbe:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(CASE_SEED)
        model = build()
        heads = {id(st.localization.head) for st in _transformers(model)}
        before = {
            name: module.weight.detach().clone()
            for name, module in model.named_modules()
            if isinstance(module, (nn.Linear, nn.Conv2d)) and id(module) not in heads
        }
        result = fn(model)
    if result is not None and not isinstance(result, nn.Module):
        return _InitProbe(problem=f"return the model (an nn.Module) or nothing; got {type(result).__name__}.")
    model = result if isinstance(result, nn.Module) else model  # changing the model in place is enough
    transformers = _transformers(model)
    if not transformers:
        return _InitProbe(problem="the model no longer holds its spatial transformers: change it in place.")
    heads_state = []
    for k, transformer in enumerate(transformers):
        head = _head(transformer)
        for name in ("weight", "bias"):
            parameter = getattr(head, name, None)
            if not isinstance(parameter, nn.Parameter) or not parameter.requires_grad:
                return _InitProbe(
                    problem=f"the head's {name} (transformer {k}) no longer learns: it is not a Parameter that "
                    "requires gradients. Change its values in place under torch.no_grad() instead of replacing or "
                    "freezing it.",
                )
        heads_state.append(
            (float(head.weight.detach().abs().max()), head.bias.detach().to("cpu", torch.float64))
        )
    generator = case_generator(2)
    thetas = []
    with torch.no_grad():
        for transformer in transformers:
            dtype = _head(transformer).weight.dtype
            x = random_uniform(4, *transformer.in_shape, dtype=dtype, generator=generator)
            thetas.append(transformer.localization(x))
    layers = []
    for name, module in model.named_modules():
        if name in before:
            weight = module.weight.detach()
            layers.append(
                _LayerState(
                    name,
                    kept_default=bool(torch.equal(weight, before[name])),
                    largest_bias=0.0 if module.bias is None else float(module.bias.detach().abs().max()),
                    largest_weight=float(weight.abs().max()),
                    xavier_bound=_xavier_bound(weight),
                )
            )
    return _InitProbe(torch.stack(thetas), tuple(heads_state), tuple(layers))


def _init_runner(fn: Any) -> Callable[..., _InitProbe]:
    def run(build: Callable[[], nn.Module]) -> _InitProbe:
        if isinstance(fn, nn.Module):
            raise TypeError(
                "pass the function itself, e.g. check_init_weights(init_weights_), not a model it initialised: "
                "the checker builds its own models."
            )
        return _probe_init(fn, build)

    return run


def _st_fcn(size: int, dtype: torch.dtype) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        shape = (1, size, size)
        return STClassifier(SpatialTransformer(shape, "affine", loc_kind="fc"), FCN(shape)).to(dtype)

    return build


def _st_cnn() -> nn.Module:
    shape = (1, 28, 28)
    return STClassifier(SpatialTransformer(shape, "affine", loc_kind="conv"), CNN(shape, channels=(4, 8)))


def _two_transformers() -> nn.Module:
    return TwoTransformerClassifier((2, 42, 42), num_classes=19)


def _init_cases() -> list[Case]:
    return [
        Case("the lesson's ST-FCN on 1x42x42", (_st_fcn(42, torch.float32),)),
        Case("ST-CNN on 1x28x28 (a convolutional localization network and classifier)", (_st_cnn,)),
        Case("two transformers side by side (Lesson 08's 2xST-FCN on 2x42x42)", (_two_transformers,)),
        Case("ST-FCN on 1x28x28 in float64", (_st_fcn(28, torch.float64),)),
    ]


def _compare_init(actual: Any, expected: _InitProbe) -> Comparison:
    problem = probe_problem(actual, expected, problem_status=Status.FAILED)
    if problem is not None:
        return problem
    theta = compare_tensors(actual.thetas, expected.thetas, name="θ at initialisation (for random inputs)")
    if not theta.ok:
        return theta
    for layer in actual.layers:
        if layer.kept_default:
            return Comparison(
                Status.FAILED,
                f"layer {layer.name!r} kept PyTorch's default initialisation: every layer except the heads must "
                "get weights_init (model.apply(weights_init)).",
            )
        if layer.largest_bias > 0:
            return Comparison(
                Status.FAILED,
                f"the bias of layer {layer.name!r} is not zero (largest |b| = {layer.largest_bias:.3g}): "
                "weights_init sets every bias outside the heads to zero.",
            )
        if layer.largest_weight > layer.xavier_bound * (1 + 1e-5):
            return Comparison(
                Status.FAILED,
                f"the weights of layer {layer.name!r} are not Xavier-uniform: the largest |w| is "
                f"{layer.largest_weight:.3g}, above the bound sqrt(6 / (fan_in + fan_out)) = "
                f"{layer.xavier_bound:.3g}. Use weights_init for every layer except the heads.",
            )
    return theta


def _diagnose_init(case: Case, actual: Any, expected: _InitProbe) -> str | None:
    if not isinstance(actual, _InitProbe) or actual.thetas is None:
        return None
    identity = expected.heads[0][1]
    wrong = [
        k
        for k, (largest, bias) in enumerate(actual.heads)
        if largest > 1e-8
        or bias.shape != identity.shape
        or not bool(torch.allclose(bias, identity, atol=1e-6))
    ]
    if not wrong:
        return None
    if len(actual.heads) > 1 and len(wrong) < len(actual.heads):
        return (
            f"this model has {len(actual.heads)} spatial transformers and the head of transformer "
            f"{wrong[0]} is not at the identity: re-set every one of them (loop over model.modules() and "
            "pick each SpatialTransformer)."
        )
    largest, bias = actual.heads[wrong[0]]
    if largest > 1e-8 and not bool(bias.abs().max() > 0):
        return (
            "model.apply(weights_init) reached the localization head: it gave the head Xavier weights and a zero "
            "bias, so θ = W f is a random matrix near 0 — det A close to 0, and the transformer starts collapsed. "
            "After the global initialisation, set every head back to zero weights and the identity bias."
        )
    if largest > 1e-8:
        return (
            f"the head's weights are not zero (largest |w| = {largest:.3g}): θ then depends on the features from "
            "the first step, so every digit starts with its own random transformation. Zero them."
        )
    if not bool(bias.abs().max() > 0):
        return (
            "the head's bias is zero: θ = 0 sends every output pixel to the centre of the input — the transformer "
            "starts collapsed. The bias must be the identity θ read row by row, [1, 0, 0, 0, 1, 0]."
        )
    return None


check_init_weights = Exercise(
    "init_weights_",
    init_weights_,
    _init_cases,
    runner=_init_runner,
    check_name="check_init_weights",
    compare=_compare_init,
    diagnose=_diagnose_init,
    hint=(
        "first model.apply(weights_init); then, for every SpatialTransformer in model.modules(), inside "
        "`with torch.no_grad():` zero transformer.localization.head.weight and copy the identity "
        "[1., 0., 0., 0., 1., 0.] into its bias."
    ),
).checker(
    """Check ``init_weights_(model)`` on freshly built models with one and two transformers.

    The function may change the model in place and return it, or return nothing. Afterwards θ must be the
    identity for random inputs (every transformer), the heads' weight and bias must still be trainable, and
    every other ``nn.Linear`` / ``nn.Conv2d`` must have been re-initialised by :func:`weights_init`: zero bias,
    weights within the Xavier-uniform bound. A head overwritten by the global initialisation, a zero bias,
    non-zero head weights and a second transformer left out are recognised.
    """
)


# ------------------------------------------------------------- exercise 3: a grid generator from scratch


def affine_grid_from_scratch(theta: Tensor, size: Any, align_corners: bool = False) -> Tensor:
    """The affine grid of eq. (1), written out: ``F.affine_grid(theta, size, align_corners)``.

    The base grid holds the normalised ``(x_t, y_t, 1)`` of every output pixel, indexed ``[row, column]`` =
    ``(H, W)``: ``torch.meshgrid(ys, xs, indexing="ij")`` gives the y values down the rows and the x values
    along the columns. Every point is multiplied by θ; the last dimension of the result is ``(x_s, y_s)``, the
    order ``F.grid_sample`` reads.

    Args:
        theta: ``(N, 2, 3)``.
        size: the output size ``(N, C, H, W)``.
        align_corners: the normalised-coordinate convention (Lesson 01).

    Returns:
        ``(N, H, W, 2)``.

    Example:
        >>> theta = geometry.affine_theta(rotation=0.3, scale=0.8)
        >>> grid = affine_grid_from_scratch(theta, (1, 1, 3, 5))
        >>> bool(torch.allclose(grid, F.affine_grid(theta, [1, 1, 3, 5], align_corners=False), atol=1e-6))
        True
    """
    n, _, height, width = check_size(size, "size", "N C H W")
    check_tensor(theta, "theta", "N 2 3")
    xs = geometry.normalized_linspace(width, align_corners, dtype=theta.dtype, device=theta.device)
    ys = geometry.normalized_linspace(height, align_corners, dtype=theta.dtype, device=theta.device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each: rows first
    base = torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1)  # (H, W, 3): (x_t, y_t, 1)
    return (base.reshape(1, -1, 3) @ theta.transpose(1, 2)).reshape(n, height, width, 2)


@reported_as("torch.nn.functional.affine_grid")
def _torch_affine_grid(theta: Tensor, size: Any, align_corners: bool = False) -> Tensor:
    return F.affine_grid(theta, list(size), align_corners=align_corners)


def _transposed_base_grid(theta: Tensor, size: Any, align_corners: bool) -> Tensor:
    """The lesson's buggy grid: the base grid built (W, H) with meshgrid(xs, ys, indexing="ij"), read as (H, W)."""
    n, _, height, width = size
    xs = geometry.normalized_linspace(width, align_corners, dtype=theta.dtype)
    ys = geometry.normalized_linspace(height, align_corners, dtype=theta.dtype)
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="ij")  # (W, H) each
    base = torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1)
    return (base.reshape(1, -1, 3) @ theta.transpose(1, 2)).reshape(n, height, width, 2)


def _grid_thetas(n: int, dtype: torch.dtype = torch.float32) -> Tensor:
    return random_affine_theta(n, case_generator(3), turn=0.8, scale=(0.6, 1.3), shift=0.3, dtype=dtype)


def _grid_cases() -> list[Case]:
    off, on = {"align_corners": False}, {"align_corners": True}
    identity = geometry.identity_affine(1)
    return [
        Case(
            "batch of 3 turned, scaled, shifted θ; 5x8, align_corners=True",
            (_grid_thetas(3), (3, 1, 5, 8)),
            on,
        ),
        Case("identity θ, non-square 4x7 output (H != W)", (identity, (1, 1, 4, 7)), off),
        Case("identity θ, square 6x6 output", (identity, (1, 1, 6, 6)), off),
        Case("batch of 2, float64, 9x3", (_grid_thetas(2, torch.float64), (2, 3, 9, 3)), off),
        Case("batch of 2, square 12x12, align_corners=True", (_grid_thetas(2), (2, 1, 12, 12)), on),
    ]


def _diagnose_grid(case: Case, actual: Any, expected: Tensor) -> str | None:
    if not isinstance(actual, Tensor):
        return None
    theta, size = case.args
    align_corners = bool(case.kwargs.get("align_corners", False))
    n, _, height, width = size
    if height != width and tuple(actual.shape) == (n, width, height, 2):
        return (
            "your grid is (N, W, H, 2): it must be indexed [row, column] = (H, W) like the image, (N, H, W, 2) — "
            "rows (y, H values) first."
        )
    linear, offset = theta[:, :, :2], theta[:, :, 2:]

    def grid(t: Tensor, corners: bool = align_corners) -> Tensor:
        return F.affine_grid(t, list(size), align_corners=corners)

    return first_matching_message(
        actual,
        [
            (
                lambda: _transposed_base_grid(theta, size, align_corners),
                "your base grid is built (W, H) and read as (H, W): torch.meshgrid(xs, ys, indexing='ij') indexes "
                "its results [x, y] — its first input runs down the rows — unlike NumPy's np.meshgrid(xs, ys), "
                "which is 'xy'. On a square image output pixel (row i, column j) then reads the point (x_i, y_j), so "
                "the image comes out transposed; on a non-square one the rows are scrambled. Use "
                "torch.meshgrid(ys, xs, indexing='ij') (rows first), or indexing='xy'.",
            ),
            (
                lambda: expected.flip(-1),
                "your grid's last dimension is (y, x): F.grid_sample reads (x, y) — x along the width first — so "
                "stack x_s before y_s.",
            ),
            (
                lambda: grid(torch.cat([linear.flip(-1), offset], dim=-1)),
                "your base grid holds (y_t, x_t, 1): θ's first column multiplies x_t, so stack (x_t, y_t, 1) — "
                "x from the column index, y from the row index.",
            ),
            (
                lambda: grid(theta, not align_corners),
                f"this is the align_corners={not align_corners} grid: use the convention you were given, e.g. "
                f"geometry.normalized_linspace(width, align_corners) (torch.linspace(-1, 1, W) is only right for "
                "align_corners=True).",
            ),
            (
                lambda: grid(torch.cat([linear.transpose(1, 2), offset], dim=-1)),
                "you multiplied by the transpose of A: (x_s, y_s) = A (x_t, y_t) + t, so with points as rows "
                "compute points @ theta.transpose(1, 2).",
            ),
        ],
        expected=expected,
    )


check_affine_grid_from_scratch = Exercise(
    "affine_grid_from_scratch",
    affine_grid_from_scratch,
    _grid_cases,
    torch_fn=_torch_affine_grid,
    grad_wrt=(0,),
    diagnose=_diagnose_grid,
    hint=(
        "torch.meshgrid(ys, xs, indexing='ij') returns grids of shape (H, W), y down the rows and x along the "
        "columns; stack them as (x, y, 1) so the base grid is (H, W, 3) with x first."
    ),
).checker(
    """Check ``affine_grid_from_scratch(theta, size, align_corners=False)``, values and gradients.

    Compared with :func:`affine_grid_from_scratch` and ``F.affine_grid`` on square and non-square sizes with
    both ``align_corners``. A base grid built ``(W, H)`` (``torch.meshgrid(xs, ys, indexing="ij")``), a result
    with ``(y, x)`` last, a base grid of ``(y, x, 1)``, the other ``align_corners`` and θ's transposed linear
    part are recognised.
    """
)


# ------------------------------------------------------------------- exercise 4: a diagnosis from θ alone


DIAGNOSES: tuple[str, ...] = ("collapsed", "mirrored", "zoomed out", "drifted off", "healthy")
"""The labels :func:`diagnose_theta` returns, in the order its rules are tried."""

COLLAPSE_BELOW = 0.1
"""|median det A| below this: the transformer reads a region of under a tenth of the input's area."""

ZOOM_OUT_ABOVE = 1.25
"""median det A above this: the region is a quarter larger than the input, a fifth of the output is padding."""

DRIFT_ABOVE = 0.5
"""share of output pixels read from outside the input above this: most of the output is padding."""


def theta_vitals(theta: Tensor, size: tuple[int, int] = (42, 42)) -> dict[str, float]:
    """Median det A, mean |t| and the share of output pixels read from outside the input, for θ ``(N, 2, 3)``.

    The vital signs of the lesson: ``det`` is the median over the batch of det A, the area the transformer
    reads relative to the input's; ``shift`` the mean length of the translation t; ``outside`` the share of
    all output pixels (``size``, ``align_corners=False``) whose sampling point lies outside the input.

    Example:
        >>> vitals = theta_vitals(geometry.affine_theta(scale=2.0))
        >>> round(vitals["det"], 2), round(vitals["outside"], 2)
        (4.0, 0.73)
    """
    check_tensor(theta, "theta", "N 2 3")
    grid = F.affine_grid(theta, [theta.shape[0], 1, *size], align_corners=False)
    return {
        "det": torch.linalg.det(theta[:, :, :2]).median().item(),
        "shift": theta[:, :, 2].norm(dim=-1).mean().item(),
        "outside": (grid.abs() > 1).any(dim=-1).float().mean().item(),
    }


def diagnose_theta(theta: Tensor) -> str:
    """What a batch of θ ``(N, 2, 3)`` says about its transformer: one of :data:`DIAGNOSES`.

    From the vital signs (:func:`theta_vitals`, on a 42x42 output), the rules in order:

    1. ``"collapsed"`` if |median det A| < :data:`COLLAPSE_BELOW`: the region has almost no area, whatever
       its sign (a random head gives this);
    2. ``"mirrored"`` if median det A < 0: the region is flipped;
    3. ``"zoomed out"`` if median det A > :data:`ZOOM_OUT_ABOVE`: it reads more than the input;
    4. ``"drifted off"`` if more than :data:`DRIFT_ABOVE` of the output is read from outside the input;
    5. ``"healthy"`` otherwise — nothing in θ looks broken (which does not prove the transformer learns).

    The median keeps one odd θ from deciding for the batch; a zoom out reads outside the input too, which is why
    the zoom is tested before the drift.

    Example:
        >>> diagnose_theta(geometry.affine_theta(scale=0.6, batch_size=4)), diagnose_theta(torch.zeros(4, 2, 3))
        ('healthy', 'collapsed')
    """
    vitals = theta_vitals(theta)
    return _apply_rules(vitals["det"], vitals["outside"])


def _apply_rules(det: float, outside: float) -> str:
    """The rules of :func:`diagnose_theta`, in order; kept apart so that the checker's diagnosis can apply them
    to the mean det A instead of the median, the usual mistake."""
    if abs(det) < COLLAPSE_BELOW:
        return "collapsed"
    if det < 0:
        return "mirrored"
    if det > ZOOM_OUT_ABOVE:
        return "zoomed out"
    if outside > DRIFT_ABOVE:
        return "drifted off"
    return "healthy"


def _thetas(
    n: int,
    scale: tuple[float, float],
    *,
    mirror: bool = False,
    shift: tuple[float, float] = (-0.2, 0.2),
    offset: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``n`` θ turned by up to ±45°, scaled by a factor drawn from ``scale`` (x mirrored if asked), shifted by
    ``shift`` (drawn per axis, with a random sign when both ends are positive)."""
    generator = case_generator(10 + offset)
    angle = torch.empty(n, dtype=torch.float64).uniform_(-math.pi / 4, math.pi / 4, generator=generator)
    factor = torch.empty(n, 1, dtype=torch.float64).uniform_(*scale, generator=generator).expand(n, 2).clone()
    if mirror:
        factor[:, 0] = -factor[:, 0]
    t = torch.empty(n, 2, dtype=torch.float64).uniform_(*shift, generator=generator)
    if shift[0] > 0:
        t = t * torch.where(torch.rand(n, 2, generator=generator) < 0.5, -1.0, 1.0).double()
    return geometry.affine_theta(rotation=angle, scale=factor, translation=t).to(dtype)


def _with_outlier() -> Tensor:
    healthy = _thetas(16, (0.55, 0.7), offset=7)
    return torch.cat([healthy, geometry.affine_theta(scale=10.0)])


def _diagnosis_cases() -> list[Case]:
    f64 = torch.float64
    return [
        Case("the identity, batch of 4", (geometry.identity_affine(4),)),
        Case("zoom in by 0.5-0.7 with turns, batch of 8", (_thetas(8, (0.5, 0.7), offset=1),)),
        Case("a close zoom: scale 0.4, det A = 0.16, batch of 5", (_thetas(5, (0.4, 0.4), offset=2),)),
        Case("scale 0.05-0.25 with turns, batch of 8", (_thetas(8, (0.05, 0.25), offset=3),)),
        Case(
            "scale 0.2, x mirrored: det A = -0.04, batch of 6",
            (_thetas(6, (0.2, 0.2), mirror=True, offset=4),),
        ),
        Case("x mirrored, scale 0.7-0.9, batch of 6", (_thetas(6, (0.7, 0.9), mirror=True, offset=5),)),
        Case("zoom out by 1.6-2.2, batch of 6", (_thetas(6, (1.6, 2.2), offset=6),)),
        Case(
            "zoom in by 0.5, shifted 1.2-1.6 away, batch of 7",
            (_thetas(7, (0.5, 0.5), shift=(1.2, 1.6), offset=8),),
        ),
        Case("16 zooms in by 0.55-0.7 and one outlier zooming out 10x", (_with_outlier(),)),
        Case(
            "a slight zoom out, scale 1.05 (det A = 1.1), float64",
            (_thetas(6, (1.05, 1.05), offset=9, dtype=f64),),
        ),
        Case(
            "one θ, float64: zoom in by 0.6, shifted right by 1.5",
            (geometry.affine_theta(scale=0.6, translation=(1.5, 0.0), dtype=f64),),
        ),
    ]


def _compare_diagnosis(actual: Any, expected: str) -> Comparison:
    labels = ", ".join(map(repr, DIAGNOSES))
    if not isinstance(actual, str):
        got = "None (did the function forget to return?)" if actual is None else type(actual).__name__
        return Comparison(Status.WRONG_TYPE, f"the diagnosis should be a str, one of {labels}; got {got}.")
    if actual not in DIAGNOSES:
        return Comparison(
            Status.FAILED, f"{actual!r} is not one of the five diagnoses: return exactly one of {labels}."
        )
    if actual != expected:
        return Comparison(Status.FAILED, f"the diagnosis is {actual!r}; expected {expected!r}.")
    return Comparison(Status.PASSED)


def _diagnose_diagnosis(case: Case, actual: Any, expected: str) -> str | None:
    if not isinstance(actual, str) or actual not in DIAGNOSES or actual == expected:
        return None
    (theta,) = case.args
    vitals = theta_vitals(theta)
    det, outside = vitals["det"], vitals["outside"]
    mean_det = float(torch.linalg.det(theta[:, :, :2].double()).mean())
    rules = (
        f"median det A = {det:.3g}, share read from outside = {outside:.0%}: collapsed if |det A| < "
        f"{COLLAPSE_BELOW}, else mirrored if det A < 0, else zoomed out if det A > {ZOOM_OUT_ABOVE}, else drifted "
        f"off if over {DRIFT_ABOVE:.0%} is read from outside, else healthy."
    )
    pair = (expected, actual)
    if expected == "healthy" and _apply_rules(mean_det, outside) == actual:
        return (
            f"one odd θ decided for the whole batch: the mean det A is {mean_det:.3g}, the median {det:.3g}. "
            "Use the median over the batch (det.median()), as theta_vitals does; the mean follows a single outlier."
        )
    if pair == ("zoomed out", "collapsed"):
        return (
            f"you called a zoomed-out θ collapsed: det A = {det:.3g} > 1 means the transformer reads an area "
            "larger than the input (a zoom out); a collapse is det A close to 0, a region of almost no area. "
            + rules
        )
    if pair == ("collapsed", "zoomed out"):
        return f"det A = {det:.3g} is close to 0, a region of almost no area: that is a collapse. " + rules
    if pair == ("mirrored", "collapsed"):
        return (
            f"you called a mirrored θ collapsed: det A = {det:.3g} is negative but far from 0. A collapse is "
            f"|det A| < {COLLAPSE_BELOW} (compare abs(det)); a negative det A of normal size is a mirror image."
        )
    if pair == ("collapsed", "mirrored"):
        return (
            f"det A = {det:.3g} is negative, but so close to 0 that the region has almost no area: test "
            f"|det A| < {COLLAPSE_BELOW} first — a collapse is a collapse whatever its sign."
        )
    if expected == "mirrored":
        return (
            f"det A = {det:.3g} < 0: the region is mirrored. Did you use |det A|, or the absolute value of the "
            "scale? The sign of det A is what tells a mirror image. " + rules
        )
    if pair == ("zoomed out", "drifted off"):
        return (
            f"a zoom out reads outside the input too (here {outside:.0%} of the output): test det A > "
            f"{ZOOM_OUT_ABOVE} before the share read from outside, so that the cause is named. " + rules
        )
    if expected == "healthy" and actual == "zoomed out":
        return (
            f"det A = {det:.3g} is above 1 but not above {ZOOM_OUT_ABOVE}: a slight zoom out is within the "
            f"healthy range; use the threshold {ZOOM_OUT_ABOVE}."
        )
    if expected == "healthy" and actual == "collapsed":
        return (
            f"det A = {det:.3g} is small but not below {COLLAPSE_BELOW}: a close zoom on a small digit, not a "
            f"collapse; use the threshold {COLLAPSE_BELOW}."
        )
    if expected == "drifted off":
        return (
            f"{outside:.0%} of the output is read from outside the input: compute the share as theta_vitals does "
            f"(grid points with |x| > 1 or |y| > 1 on F.affine_grid) and compare it with {DRIFT_ABOVE}. "
            + rules
        )
    return rules


check_diagnose_theta = Exercise(
    "diagnose_theta",
    diagnose_theta,
    _diagnosis_cases,
    compare=_compare_diagnosis,
    diagnose=_diagnose_diagnosis,
    hint=(
        "compute vitals = theta_vitals(theta), then test in this order: abs(det) < 0.1 -> 'collapsed'; "
        "det < 0 -> 'mirrored'; det > 1.25 -> 'zoomed out'; outside > 0.5 -> 'drifted off'; else 'healthy'."
    ),
).checker(
    """Check ``diagnose_theta(theta)`` on batches of every kind: the right label of :data:`DIAGNOSES`.

    Mixing up the rules' order, |det A| against det A, the mean instead of the median and other thresholds are
    recognised.
    """
)
