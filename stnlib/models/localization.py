"""The localization network: the part of a spatial transformer that looks at the input and predicts θ (Sec. 3.1).

A localization network is an ordinary regressor whose last layer outputs the parameters of one transformation
family. Its final layer starts with zero weights and a bias equal to the identity transformation, so that at
initialisation the transformer passes its input through unchanged (the paper's appendix; without it the
transformer often collapses).

What it returns for each family, and the identity its head starts at: :mod:`stnlib.models.families`.

For thin plate splines the regression head predicts *offsets* of the control points (bias zero, so an output of
zero is the identity); :meth:`LocalizationNet.forward` adds the fixed control points, so it returns the target
points that :func:`stnlib.geometry.tps_grid` expects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from stnlib import geometry
from stnlib._validation import Dims, check_choice, check_int, check_size, check_tensor
from stnlib.models.families import identity_params, num_params, params_from_head, transform_family

__all__ = ["LOCALIZATION_KINDS", "LocalizationNet", "conv_output_size", "identity_head"]

_KERNEL = 5  # every convolution of these localization nets is 5x5, as in the paper's ST-CNN
_MIN_VALID_SIDE = 4  # below this, a further unpadded 5x5 convolution would leave almost nothing


def check_in_shape(in_shape: object, name: str = "in_shape") -> tuple[int, int, int]:
    """Return ``in_shape`` as a ``(C, H, W)`` tuple of positive ints, else raise a helpful error."""
    if not isinstance(in_shape, Sequence) or isinstance(in_shape, str):
        raise TypeError(
            f"{name} must be a tuple (C, H, W) such as (1, 28, 28); got {type(in_shape).__name__}"
        )
    shape = tuple(in_shape)
    if len(shape) == 4:
        raise ValueError(
            f"{name} must be (C, H, W) without the batch dimension; got {shape} — use {name}={shape[1:]}"
        )
    if len(shape) == 2:
        raise ValueError(
            f"{name} must be (C, H, W) with a channel count; got {shape} — use {name}=(1, *{shape})"
        )
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ValueError(f"{name} must be three positive ints (C, H, W) such as (1, 28, 28); got {shape}")
    return shape


def check_input(x: object, in_shape: tuple[int, int, int], name: str = "x") -> Dims:
    """Check that ``x`` is a batch ``(N, C, H, W)`` matching the ``in_shape`` a module was built for."""
    dims = Dims()
    for dim, size in zip("CHW", in_shape, strict=True):
        dims.bind(dim, size, "in_shape")
    return check_tensor(x, name, "N C H W", dims)


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """The length of one side after a convolution or pooling layer (PyTorch's rule, ``ceil_mode=False``).

    ``out = floor((size + 2 * padding - kernel_size) / stride) + 1``: the kernel fits at positions
    ``0, stride, 2 * stride, ...`` of the padded input, as long as it does not run past its end.

    Args:
        size: input length (height or width) in pixels.
        kernel_size: side of the (square) kernel or pooling window.
        stride: step between kernel positions (``nn.MaxPool2d(2)`` has stride 2).
        padding: pixels added on **each** side.

    Returns:
        The output length, an int ``>= 1``.

    Raises:
        ValueError: the kernel does not fit into the padded input even once.

    Example:
        >>> conv_output_size(28, 5), conv_output_size(24, 2, stride=2), conv_output_size(27, 2, stride=2)
        (24, 12, 13)
    """
    size, kernel_size = check_int(size, "size"), check_int(kernel_size, "kernel_size")
    stride, padding = check_int(stride, "stride"), check_int(padding, "padding", minimum=0)
    padded = size + 2 * padding
    if kernel_size > padded:
        raise ValueError(
            f"a kernel of {kernel_size} does not fit into an input of {size} with padding {padding} "
            f"({padded} pixels): the input is too small for this layer; use a smaller kernel or more padding"
        )
    return (padded - kernel_size) // stride + 1


def _reset_to_identity(head: nn.Linear, transform: str, tps_grid_size: int) -> None:
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(identity_params(transform, tps_grid_size))


def identity_head(in_features: int, transform: str, tps_grid_size: int = 4) -> nn.Linear:
    """The regression layer of a localization network, started at the identity transformation.

    ``nn.Linear(in_features, P)`` with ``P`` = 6 (affine), 3 (attention), 8 (projective) or ``2 K²`` (TPS),
    **zero weights** (so θ does not depend on the input yet) and the family's "do nothing" parameters as
    **bias** (:func:`stnlib.models.identity_params`): ``[1, 0, 0, 0, 1, 0]`` for affine θ read row by row,
    ``(s, t_x, t_y) = (1, 0, 0)`` for attention, zeros for projective (stnlib's 8 numbers are ``H - I``) and
    zeros for TPS (the head predicts offsets of the control points).

    Example:
        >>> head = identity_head(32, "affine")
        >>> head(torch.randn(2, 32)).view(2, 2, 3)[1]
        tensor([[1., 0., 0.],
                [0., 1., 0.]], grad_fn=<SelectBackward0>)
    """
    head = nn.Linear(check_int(in_features, "in_features"), num_params(transform, tps_grid_size))
    _reset_to_identity(head, transform, tps_grid_size)
    return head


Shape = tuple[int, int, int]


def _paper_convolutions(shape: Shape, filters: tuple[int, ...]) -> tuple[list[nn.Module], Shape]:
    """A 2x2 max-pool (the paper's 2x downsampling), then two 5x5 convolutions with ReLUs; a convolution is
    unpadded while its output stays at least 4 pixels wide and uses "same" padding otherwise."""
    channels, height, width = shape
    layers: list[nn.Module] = []
    if height >= 2 and width >= 2:
        layers.append(nn.MaxPool2d(2))
        height, width = height // 2, width // 2
    for out_channels in filters:
        too_small = min(height, width) - (_KERNEL - 1) < _MIN_VALID_SIDE  # what an unpadded 5x5 would leave
        padding = _KERNEL // 2 if too_small else 0
        layers += [nn.Conv2d(channels, out_channels, _KERNEL, padding=padding), nn.ReLU()]
        channels = out_channels
        height = conv_output_size(height, _KERNEL, padding=padding)
        width = conv_output_size(width, _KERNEL, padding=padding)
    return layers, (channels, height, width)


def _small_convolutions(shape: Shape, filters: tuple[int, ...]) -> tuple[list[nn.Module], Shape]:
    """Per stage, an unpadded 5x5 convolution, a 2x2 max-pool and a ReLU (PyTorch's STN tutorial layout)."""
    channels, height, width = shape
    layers: list[nn.Module] = []
    for out_channels in filters:
        layers += [nn.Conv2d(channels, out_channels, _KERNEL), nn.MaxPool2d(2), nn.ReLU()]
        channels = out_channels
        height = conv_output_size(conv_output_size(height, _KERNEL), 2, stride=2)
        width = conv_output_size(conv_output_size(width, _KERNEL), 2, stride=2)
    return layers, (channels, height, width)


@dataclass(frozen=True)
class _Kind:
    """One kind of localization network: its convolutional stages (none: fully connected only) and defaults."""

    convolutions: Callable[[Shape, tuple[int, ...]], tuple[list[nn.Module], Shape]] | None
    conv_channels: tuple[int, int]
    hidden: tuple[int, ...]


_KINDS = {
    "conv": _Kind(_paper_convolutions, (20, 20), (20,)),
    "fc": _Kind(None, (20, 20), (32, 32)),
    "small": _Kind(_small_convolutions, (8, 10), (32,)),
}

LOCALIZATION_KINDS: tuple[str, ...] = tuple(_KINDS)
"""``conv``: the paper's ST-CNN localization net; ``fc``: the ST-FCN one; ``small``: the lessons' network
(Lessons 04 and 05)."""


class LocalizationNet(nn.Module):
    """A localization network that regresses the parameters of one transformation family.

    Args:
        in_shape: ``(C, H, W)`` of its input (an image or a feature map); every layer size is derived from it.
        transform: ``"affine"``, ``"attention"``, ``"projective"`` or ``"tps"``.
        kind: ``"conv"`` — the paper's ST-CNN localization net: a 2x2 max-pool (halving the input), two 5x5
            convolutions with ``conv_channels`` filters (default ``(20, 20)``) and ReLUs, then fully connected
            layers of ``hidden`` widths (default ``(20,)``). A convolution is unpadded while its output stays at
            least 4 pixels wide and uses "same" padding otherwise, so small feature maps (e.g. 20x12x12) work too.
            ``"fc"`` — the ST-FCN localization net: fully connected layers of ``hidden`` widths (default
            ``(32, 32)``) with ReLUs.
            ``"small"`` — the lessons' network (Lesson 04 builds it): two stages of an unpadded 5x5 convolution
            (default ``(8, 10)`` filters), a 2x2 max-pool and a ReLU, then ``hidden`` (default ``(32,)``), the
            layout of PyTorch's STN tutorial; inputs of at least 16x16.
        hidden: widths of the hidden fully connected layers (see ``kind`` for the defaults).
        tps_grid_size: ``K`` of the ``K x K`` thin-plate-spline control grid (only for ``transform="tps"``).
        conv_channels: filters of the two convolutions (``kind="conv"`` or ``"small"``; see ``kind``).

    Shapes:
        ``forward(x)``: ``x: (N, C, H, W)`` → params of the family (see the module docstring).

    Example:
        >>> loc = LocalizationNet((1, 28, 28), "affine")
        >>> loc(torch.zeros(2, 1, 28, 28))[0]
        tensor([[1., 0., 0.],
                [0., 1., 0.]], grad_fn=<SelectBackward0>)
    """

    control_points: Tensor | None

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        transform: str = "affine",
        kind: str = "conv",
        hidden: Sequence[int] | None = None,
        tps_grid_size: int = 4,
        conv_channels: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.in_shape = check_in_shape(in_shape)
        self.transform = transform_family(transform).name
        self.kind = check_choice(kind, "kind", LOCALIZATION_KINDS)
        if not isinstance(tps_grid_size, int) or tps_grid_size < 2:
            raise ValueError(
                f"tps_grid_size must be an int >= 2 (a K x K control grid); got {tps_grid_size!r}"
            )
        self.tps_grid_size = tps_grid_size
        spec = _KINDS[self.kind]
        conv_filters = check_size(
            spec.conv_channels if conv_channels is None else conv_channels, "conv_channels", "C1 C2"
        )
        widths = tuple(hidden) if hidden is not None else spec.hidden
        if not widths or not all(isinstance(w, int) and w > 0 for w in widths):
            raise ValueError(f"hidden must be a non-empty sequence of positive ints; got {hidden!r}")

        layers: list[nn.Module] = []
        channels, height, width = self.in_shape
        if spec.convolutions is not None:
            layers, (channels, height, width) = spec.convolutions(self.in_shape, conv_filters)
        layers.append(nn.Flatten())
        features = channels * height * width
        for w in widths:
            layers += [nn.Linear(features, w), nn.ReLU()]
            features = w
        self.features = nn.Sequential(*layers)
        self.head = identity_head(features, self.transform, tps_grid_size)

        if transform_family(transform).uses_control_points:
            self.register_buffer("control_points", geometry.tps_control_points(tps_grid_size))
        else:
            self.control_points = None

    def reset_head(self) -> None:
        """Set the regression head to the identity transformation: zero weights, identity bias."""
        _reset_to_identity(self.head, self.transform, self.tps_grid_size)

    def forward(self, x: Tensor) -> Tensor:
        """Predict transformation parameters for a batch ``x: (N, C, H, W)`` (shapes in the module docstring)."""
        check_input(x, self.in_shape)
        raw = self.head(self.features(x))
        return params_from_head(raw, self.transform, self.control_points)

    def extra_repr(self) -> str:
        return f"in_shape={self.in_shape}, transform={self.transform!r}, kind={self.kind!r}"
