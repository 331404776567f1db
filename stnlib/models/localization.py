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

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from stnlib import geometry
from stnlib._validation import Dims, check_choice, check_size, check_tensor
from stnlib.models.families import identity_params, num_params, params_from_head, transform_family

__all__ = ["LOCALIZATION_KINDS", "LocalizationNet"]

LOCALIZATION_KINDS: tuple[str, ...] = ("conv", "fc")
"""``conv``: the paper's ST-CNN localization net; ``fc``: the ST-FCN one."""

_KERNEL = 5  # the paper's ST-CNN localization net uses 5x5 filters
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


def _conv_out(side: int, padding: int) -> int:
    return side + 2 * padding - _KERNEL + 1


class LocalizationNet(nn.Module):
    """A localization network that regresses the parameters of one transformation family.

    Args:
        in_shape: ``(C, H, W)`` of its input (an image or a feature map); every layer size is derived from it.
        transform: ``"affine"``, ``"attention"``, ``"projective"`` or ``"tps"``.
        kind: ``"conv"`` — the paper's ST-CNN localization net: a 2x2 max-pool (halving the input), two 5x5
            convolutions with ``conv_channels`` filters and ReLUs, then fully connected layers of ``hidden``
            widths (default ``(20,)``). A convolution is unpadded while its output stays at least 4 pixels wide
            and uses "same" padding otherwise, so small feature maps (e.g. 20x12x12) work too.
            ``"fc"`` — the ST-FCN localization net: fully connected layers of ``hidden`` widths (default
            ``(32, 32)``) with ReLUs.
        hidden: widths of the hidden fully connected layers (see ``kind`` for the defaults).
        tps_grid_size: ``K`` of the ``K x K`` thin-plate-spline control grid (only for ``transform="tps"``).
        conv_channels: filters of the two convolutions for ``kind="conv"``.

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
        conv_channels: tuple[int, int] = (20, 20),
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
        conv_filters = check_size(conv_channels, "conv_channels", "C1 C2")
        widths = tuple(hidden) if hidden is not None else ((20,) if kind == "conv" else (32, 32))
        if not widths or not all(isinstance(w, int) and w > 0 for w in widths):
            raise ValueError(f"hidden must be a non-empty sequence of positive ints; got {hidden!r}")

        channels, height, width = self.in_shape
        layers: list[nn.Module] = []
        if kind == "conv":
            if height >= 2 and width >= 2:  # the paper's 2x downsampling of the input
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            for out_channels in conv_filters:
                too_small = min(_conv_out(height, 0), _conv_out(width, 0)) < _MIN_VALID_SIDE
                padding = _KERNEL // 2 if too_small else 0
                layers += [nn.Conv2d(channels, out_channels, _KERNEL, padding=padding), nn.ReLU()]
                channels, height, width = out_channels, _conv_out(height, padding), _conv_out(width, padding)
        layers.append(nn.Flatten())
        features = channels * height * width
        for w in widths:
            layers += [nn.Linear(features, w), nn.ReLU()]
            features = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(features, num_params(transform, tps_grid_size))
        self.reset_head()

        if transform_family(transform).uses_control_points:
            self.register_buffer("control_points", geometry.tps_control_points(tps_grid_size))
        else:
            self.control_points = None

    def reset_head(self) -> None:
        """Set the regression head to the identity transformation: zero weights, identity bias."""
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.copy_(identity_params(self.transform, self.tps_grid_size))

    def forward(self, x: Tensor) -> Tensor:
        """Predict transformation parameters for a batch ``x: (N, C, H, W)`` (shapes in the module docstring)."""
        check_input(x, self.in_shape)
        raw = self.head(self.features(x))
        return params_from_head(raw, self.transform, self.control_points)

    def extra_repr(self) -> str:
        return f"in_shape={self.in_shape}, transform={self.transform!r}, kind={self.kind!r}"
