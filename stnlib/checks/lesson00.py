"""Checkers for Lesson 00 — welcome, and the problem spatial transformers solve.

Three warm-up exercises; each is compared with its answer key here and with a second computation of the same
thing (stnlib's training loop, torchvision, PyTorch's own functions):

* :func:`check_accuracy` — the fraction of items whose largest logit is the true class.
* :func:`check_rotate_digits` — turn square images about their centres (eq. (1) with a rotation matrix).
* :func:`check_pooled_similarity` — the cosine similarity of two batches of max-pooled feature maps.

Example (in the lesson)::

    checks.lesson00.check_accuracy(accuracy)
    accuracy = checks.use_or_fallback(accuracy, checks.lesson00.accuracy)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stnlib._validation import check_same_device, check_tensor
from stnlib.checks._core import (
    Case,
    Comparison,
    Exercise,
    Status,
    case_generator,
    compare_tensors,
    first_matching_message,
    random_uniform,
    reported_as,
)
from stnlib.geometry import affine_theta

__all__ = [
    "accuracy",
    "check_accuracy",
    "check_pooled_similarity",
    "check_rotate_digits",
    "pooled_similarity",
    "rotate_digits",
]

_COSINE_EPS = 1e-8  # F.cosine_similarity's default: an all-zero map has similarity 0, not NaN


def _close(actual: object, candidate: Any) -> bool:
    """Whether the student's ``actual`` equals a candidate wrong answer (a tensor or a number)."""
    if isinstance(candidate, Tensor) and candidate.numel() != 1:
        if not isinstance(actual, Tensor) or actual.shape != candidate.shape:
            return False
        a = actual.detach().to("cpu", torch.float64)
        c = candidate.detach().to("cpu", torch.float64)
        return bool(torch.allclose(a, c, atol=1e-5, rtol=1e-4, equal_nan=True))
    if isinstance(actual, Tensor):
        if actual.numel() != 1:
            return False
        actual = actual.item()
    if not isinstance(actual, (int, float)) or isinstance(actual, bool):
        return False
    value = candidate.item() if isinstance(candidate, Tensor) else candidate
    return abs(float(actual) - float(value)) <= 1e-6


# ------------------------------------------------------------------------------ exercise 1: accuracy


def accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """The fraction of items whose largest logit is the true class.

    The predicted class of item ``n`` is ``argmax_k logits[n, k]`` (log-probabilities or probabilities give
    the same answer: softmax and log do not change which entry is largest).

    Args:
        logits: ``(N, K)`` scores, one row per item, one column per class.
        labels: ``(N,)`` true classes, integers in ``[0, K)``.

    Returns:
        A 0-dim float tensor in [0, 1] (multiply by 100 for percent; the paper reports the error,
        ``1 - accuracy``).

    Example:
        >>> accuracy(torch.tensor([[2.0, 0.1], [0.3, 0.9], [1.0, 0.0]]), torch.tensor([0, 1, 1]))
        tensor(0.6667)
    """
    dims = check_tensor(logits, "logits", "N K")
    check_tensor(labels, "labels", "N", dims, floating=False)
    if labels.device != logits.device:
        raise ValueError(
            f"labels are on {labels.device} but logits on {logits.device}; move them, e.g. "
            "labels = labels.to(logits.device)."
        )
    return (logits.argmax(dim=1) == labels).float().mean()


@reported_as("stnlib.train.evaluate")
def _accuracy_by_evaluate(logits: Tensor, labels: Tensor) -> float:
    """The accuracy :func:`stnlib.train.evaluate` reports for a "model" that returns ``logits`` unchanged."""
    from stnlib.train import evaluate  # imported here: stnlib.train is heavier than the checkers need

    return evaluate(nn.Identity(), [(logits, labels)], device=logits.device)["accuracy"]


def _compare_number(actual: Any, expected: Any) -> Comparison:
    """Compare as plain numbers: a 0-dim tensor of any float dtype and a Python float are both accepted."""
    if isinstance(actual, Tensor) and actual.numel() > 1:
        return Comparison(
            Status.WRONG_SHAPE,
            f"the result is a tensor of shape {tuple(actual.shape)}; expected one number for the whole batch. "
            "Average the per-item correctness with .mean().",
        )
    value = expected.item() if isinstance(expected, Tensor) else expected
    return compare_tensors(actual, float(value), atol=1e-6, rtol=0.0)


def _logits_with_labels(
    n: int, k: int, correct: int, generator: torch.Generator, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """Random ``(n, k)`` logits without ties and labels of which exactly ``correct`` equal the argmax."""
    logits = torch.randn(n, k, generator=generator, dtype=torch.float64)
    predicted = logits.argmax(dim=1)
    shift = torch.randint(1, k, (n,), generator=generator)
    wrong = (predicted + shift) % k  # any class but the predicted one
    order = torch.randperm(n, generator=generator)
    is_correct = torch.zeros(n, dtype=torch.bool)
    is_correct[order[:correct]] = True
    return logits.to(dtype), torch.where(is_correct, predicted, wrong)


def _accuracy_cases() -> list[Case]:
    g = case_generator(0)
    four = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0], [1.5, 1.4, 0.0], [-2.0, 0.0, -1.0]])
    square, square_labels = _logits_with_labels(10, 10, 7, g, torch.float32)
    batch, batch_labels = _logits_with_labels(256, 10, 201, g, torch.float32)
    addition, addition_labels = _logits_with_labels(33, 19, 20, g, torch.float64)
    hopeless, hopeless_labels = _logits_with_labels(6, 10, 0, g, torch.float32)
    return [
        Case("4 items, 3 classes: 3 of 4 right", (four, torch.tensor([0, 2, 1, 1]))),
        Case("a batch of 256 digits, 10 classes (201 right)", (batch, batch_labels)),
        Case("10 items and 10 classes (argmax over the wrong dimension would run without an error)",
             (square, square_labels)),
        Case("19 classes (the sums of MNIST addition), float64", (addition, addition_labels)),
        Case("log-probabilities instead of logits", (F.log_softmax(batch[:50], dim=1), batch_labels[:50])),
        Case("one item", (batch[:1], batch_labels[:1])),
        Case("every prediction wrong", (hopeless, hopeless_labels)),
    ]  # fmt: skip


def _diagnose_accuracy(case: Case, actual: object, expected: object) -> str | None:
    logits, labels = case.args
    right = logits.argmax(dim=1) == labels
    fraction = right.double().mean()
    return first_matching_message(
        actual,
        [
            (
                lambda: right.sum(),
                "this is the NUMBER of correct predictions; divide by the batch size (or use .float().mean()).",
            ),
            (lambda: 100 * fraction, "this is a percentage; return a fraction in [0, 1]."),
            (lambda: 1 - fraction, "this is the error rate, 1 - accuracy."),
            (
                lambda: (logits.argmax(dim=0) == labels).double().mean(),
                "you took the argmax over dim=0, the batch; the classes run along dim=1.",
            ),
            (
                lambda: (logits.argmin(dim=1) == labels).double().mean(),
                "you took the argmin; the predicted class has the LARGEST logit.",
            ),
        ],
        _close,
    )


check_accuracy = Exercise(
    "accuracy",
    accuracy,
    _accuracy_cases,
    torch_fn=_accuracy_by_evaluate,
    compare=_compare_number,
    diagnose=_diagnose_accuracy,
    hint="the prediction is logits.argmax(dim=1) (dim 1 holds the classes); compare it with labels and "
    "average: (predictions == labels).float().mean() — a bool tensor needs .float() before .mean().",
).checker(
    """Check ``accuracy(logits, labels)``: ``logits: (N, K)``, ``labels: (N,)`` -> the fraction correct.

    A 0-dim tensor or a Python number is accepted. Compared with :func:`accuracy` and with the accuracy of
    :func:`stnlib.train.evaluate`.
    """
)


# ------------------------------------------------------------------------ exercise 2: rotate digits


def _rotation_theta(degrees: Tensor, images: Tensor, sign: float = 1.0) -> Tensor:
    """``(N, 2, 3)`` turns by ``sign * degrees``, in the images' dtype and on their device."""
    return affine_theta(rotation=sign * torch.deg2rad(degrees.to(images)))


def _warp(images: Tensor, theta: Tensor, grid_corners: bool = False, sample_corners: bool = False,
          mode: str = "bilinear") -> Tensor:  # fmt: skip
    grid = F.affine_grid(theta, list(images.shape), align_corners=grid_corners)
    return F.grid_sample(images, grid, mode=mode, padding_mode="zeros", align_corners=sample_corners)


def rotate_digits(images: Tensor, degrees: Tensor) -> Tensor:
    """Turn each square image about its centre by its own angle, counter-clockwise on screen for ``degrees > 0``.

    Eq. (1) with ``theta = [[cos a, -sin a, 0], [sin a, cos a, 0]]``, ``a = degrees * pi / 180``: every output
    pixel reads the input at its own position turned by ``a`` (bilinear sampling, zero padding,
    ``align_corners=False``). Corners that come from outside the input are 0.

    Args:
        images: ``(N, C, S, S)``, square.
        degrees: ``(N,)`` one angle per image, in degrees.

    Returns:
        ``(N, C, S, S)``.

    Example:
        >>> image = torch.zeros(1, 1, 3, 3)
        >>> image[0, 0, 0, 1] = 1.0  # a dot above the centre
        >>> rotate_digits(image, torch.tensor([90.0]))[0, 0]  # a quarter turn moves it to the left
        tensor([[0., 0., 0.],
                [1., 0., 0.],
                [0., 0., 0.]])
    """
    dims = check_tensor(images, "images", "N C H W")
    check_tensor(degrees, "degrees", "N", dims)
    check_same_device(images, "images", degrees.to(images.dtype), "degrees")  # any float dtype will do
    if dims["H"] != dims["W"]:
        raise ValueError(
            f"images must be square; got {dims['H']}x{dims['W']}. On a non-square image a turn in normalised "
            "coordinates is not a rigid rotation (Lesson 01): pad the images to a square first."
        )
    return _warp(images, _rotation_theta(degrees, images))


@reported_as("torchvision.transforms.v2.functional.rotate")
def _rotate_by_torchvision(images: Tensor, degrees: Tensor) -> Tensor:
    """torchvision's ``rotate`` (bilinear, zero fill, about the centre), one image at a time."""
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    turned = [
        TF.rotate(image, float(angle), interpolation=InterpolationMode.BILINEAR)
        for image, angle in zip(images, degrees.tolist(), strict=True)
    ]
    return torch.stack(turned)


def _rotate_cases() -> list[Case]:
    g = case_generator(1)
    digit = torch.zeros(1, 1, 28, 28)
    digit[0, 0, 6:9, 8:20] = 1.0  # the bar of a 7 ...
    for row in range(9, 23):  # ... and its slanted stroke
        digit[0, 0, row, 18 - (row - 9) // 2 : 21 - (row - 9) // 2] = 1.0
    return [
        Case("a 28x28 seven turned by 30°", (digit, torch.tensor([30.0]))),
        Case("0° must change nothing (batch of 2)",
             (random_uniform(2, 1, 28, 28, generator=g), torch.zeros(2))),
        Case("a quarter turn (90°) and -90°",
             (random_uniform(2, 1, 28, 28, generator=g), torch.tensor([90.0, -90.0]))),
        Case("batch of 4 on a 42x42 canvas, each its own angle",
             (random_uniform(4, 1, 42, 42, generator=g), torch.tensor([-45.0, 10.0, 135.0, -170.0]))),
        Case("two channels, 180°, float64",
             (random_uniform(1, 2, 28, 28, dtype=torch.float64, generator=g),
              torch.tensor([180.0], dtype=torch.float64))),
        Case("batch of 3 on a 60x60 canvas, float64",
             (random_uniform(3, 1, 60, 60, dtype=torch.float64, generator=g),
              torch.tensor([-30.0, 60.0, 5.0], dtype=torch.float64))),
    ]  # fmt: skip


def _diagnose_rotate(case: Case, actual: object, expected: object) -> str | None:
    images, degrees = case.args
    theta = _rotation_theta(degrees, images)
    return first_matching_message(
        actual,
        [
            (
                lambda: _warp(images, _rotation_theta(degrees, images, sign=-1.0)),
                "your digits turn clockwise: with y pointing down, theta = [[cos a, -sin a, 0], [sin a, cos a, 0]] "
                "turns the content counter-clockwise on screen.",
            ),
            (
                lambda: _warp(images, affine_theta(rotation=degrees.to(images.dtype))),
                "torch.cos and torch.sin expect radians: convert with torch.deg2rad(degrees).",
            ),
            (
                lambda: _warp(images, affine_theta(rotation=-degrees.to(images.dtype))),
                "two mistakes: the angle is in degrees (use torch.deg2rad) and the digits turn clockwise.",
            ),
            (
                lambda: _warp(images, theta, grid_corners=True),
                "F.affine_grid used align_corners=True but F.grid_sample align_corners=False: pass the same "
                "value to both.",
            ),
            (
                lambda: _warp(images, theta, sample_corners=True),
                "F.affine_grid used align_corners=False but F.grid_sample align_corners=True: pass the same "
                "value to both.",
            ),
            (
                lambda: _warp(images, theta, mode="nearest"),
                "this is nearest-neighbour sampling; use bilinear (F.grid_sample's default mode).",
            ),
            (
                lambda: _warp(images, theta[:1].expand_as(theta)),
                "every image turned by the first angle: build one theta per image from the whole degrees tensor.",
            ),
        ],
        _close,
    )


check_rotate_digits = Exercise(
    "rotate_digits",
    rotate_digits,
    _rotate_cases,
    torch_fn=_rotate_by_torchvision,
    diagnose=_diagnose_rotate,
    hint="a = torch.deg2rad(degrees); theta = [[cos a, -sin a, 0], [sin a, cos a, 0]] stacked to (N, 2, 3) "
    "with the images' dtype and device; then grid = F.affine_grid(theta, images.shape, align_corners=False) "
    "and F.grid_sample(images, grid, align_corners=False).",
).checker(
    """Check ``rotate_digits(images, degrees)``: ``images: (N, C, S, S)``, ``degrees: (N,)`` -> ``(N, C, S, S)``.

    Compared with :func:`rotate_digits` and with torchvision's ``rotate`` (which turns counter-clockwise for
    positive angles too).
    """
)


# ------------------------------------------------------------------ exercise 3: pooled similarity


def pooled_similarity(features_a: Tensor, features_b: Tensor, pool: int) -> Tensor:
    """Max-pool two batches of feature maps and return the cosine similarity of each pair.

    Each map is max-pooled with a ``pool x pool`` window and stride ``pool`` (``F.max_pool2d(x, pool)``; rows
    and columns that do not fill a window are dropped), flattened to one vector ``a`` (resp. ``b``) per item, and

        ``cos(a, b) = a . b / max(|a| |b|, eps)``, ``eps = 1e-8``,

    so two maps that point the same way score 1 and an all-zero map scores 0 (as ``F.cosine_similarity``).

    Args:
        features_a, features_b: ``(N, C, H, W)``.
        pool: the window and stride of the max-pooling; 1 means no pooling.

    Returns:
        ``(N,)`` similarities in [-1, 1] (in [0, 1] for maps after a ReLU).

    Example:
        >>> a = torch.zeros(1, 1, 2, 4)
        >>> a[0, 0, 0, 0] = 1.0  # one active pixel
        >>> b = a.roll(1, dims=-1)  # the same, one pixel to the right
        >>> pooled_similarity(a, b, 1), pooled_similarity(a, b, 2)
        (tensor([0.]), tensor([1.]))
    """
    dims = check_tensor(features_a, "features_a", "N C H W")
    check_tensor(features_b, "features_b", "N C H W", dims)
    check_same_device(features_a, "features_a", features_b, "features_b")
    if isinstance(pool, bool) or not isinstance(pool, int) or not 1 <= pool <= min(dims["H"], dims["W"]):
        raise ValueError(f"pool must be an int between 1 and the maps' smaller side; got {pool!r}")
    a = F.max_pool2d(features_a, pool).flatten(1)
    b = F.max_pool2d(features_b, pool).flatten(1)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(_COSINE_EPS)


def _cosine(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity of each item's flattened maps, as F.cosine_similarity computes it."""
    return F.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)


@reported_as("F.max_pool2d + F.cosine_similarity")
def _pooled_similarity_by_torch(features_a: Tensor, features_b: Tensor, pool: int) -> Tensor:
    return _cosine(F.max_pool2d(features_a, pool), F.max_pool2d(features_b, pool))


def _relu_maps(*shape: int, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> Tensor:
    """Random maps that look like ReLU outputs: about half the entries zero."""
    return torch.randn(*shape, generator=generator, dtype=torch.float64).clamp_min(0).to(dtype)


def _similarity_cases() -> list[Case]:
    g = case_generator(2)
    maps = _relu_maps(4, 8, 12, 12, generator=g)
    zero_one = torch.cat([torch.zeros(1, 3, 6, 6), _relu_maps(1, 3, 6, 6, generator=g)])
    wide = _relu_maps(2, 5, 10, 14, generator=g)
    doubles = _relu_maps(3, 3, 7, 9, generator=g, dtype=torch.float64)
    return [
        Case("identical maps score 1, pool 2", (maps[:2], maps[:2].clone(), 2)),
        Case("batch of 4, 8 channels, 12x12, shifted by 1 px, pool 2", (maps, maps.roll(1, dims=-1), 2)),
        Case("pool 1: no pooling at all", (maps, maps.roll(1, dims=-1), 1)),
        Case("non-square 10x14 maps, pool 4 (the last 2 rows and columns fill no window)",
             (wide, wide.roll(3, dims=-2), 4)),
        Case("two unrelated batches, float64, 7x9, pool 3",
             (doubles, _relu_maps(3, 3, 7, 9, generator=g, dtype=torch.float64), 3)),
        Case("an all-zero map (no response after the ReLU) scores 0, not NaN", (zero_one, zero_one.flip(0), 2)),
    ]  # fmt: skip


def _diagnose_similarity(case: Case, actual: object, expected: object) -> str | None:
    a, b, pool = case.args
    return first_matching_message(
        actual,
        [
            (
                lambda: _cosine(a, b),
                "these are the similarities of the maps before pooling: max-pool both first with "
                "F.max_pool2d(x, pool).",
            ),
            (
                lambda: _cosine(F.avg_pool2d(a, pool), F.avg_pool2d(b, pool)),
                "this is average pooling; the CNN (and this exercise) use MAX pooling: F.max_pool2d(x, pool).",
            ),
            (
                lambda: _cosine(F.max_pool2d(a, pool, stride=1), F.max_pool2d(b, pool, stride=1)),
                "the windows overlap (stride 1): use stride = pool, which F.max_pool2d(x, pool) does by default.",
            ),
            (
                lambda: (F.max_pool2d(a, pool) * F.max_pool2d(b, pool)).flatten(1).sum(dim=1),
                "this is the dot product a . b without dividing by the lengths |a| |b|.",
            ),
        ],
        _close,
    )


check_pooled_similarity = Exercise(
    "pooled_similarity",
    pooled_similarity,
    _similarity_cases,
    torch_fn=_pooled_similarity_by_torch,
    diagnose=_diagnose_similarity,
    hint="pool both with F.max_pool2d(x, pool), flatten each item to one vector with .flatten(1) (keep dim 0, "
    "the batch), then a . b / (|a| |b|) per item — or F.cosine_similarity(a, b, dim=1), which also turns "
    "0 / 0 into 0 for an all-zero map.",
).checker(
    """Check ``pooled_similarity(features_a, features_b, pool)``: two ``(N, C, H, W)`` batches -> ``(N,)``.

    Compared with :func:`pooled_similarity` and with ``F.max_pool2d`` followed by ``F.cosine_similarity``.
    """
)
