"""What the checker of lesson 05's ``STCNN`` measures: ``classifier(transformer(x)[0])``.

The exercise asks for this forward pass. The classifier must see the transformer's *output*: then the loss
depends on θ and a gradient reaches the localization network. Given the untransformed ``x`` instead, the model
still trains, as a plain classifier, but the transformer never learns.

The lesson's runner builds the student's model around the ``(transformer, classifier, x)`` of a case, with its
checks on how the model is built, and measures it with :func:`probe_classifier`; the functions here compare that
measurement with the reference model's and diagnose wrong logits, with messages the lesson passes in.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from stnlib.checks._core import (
    Case,
    Comparison,
    compare_probe,
    first_matching_message,
    gradient_of_weighted_sum,
)

__all__ = [
    "TRANSFORMED_TWICE",
    "ClassifierProbe",
    "compare_classifier_probes",
    "diagnose_classifier_wiring",
    "probe_classifier",
]

TRANSFORMED_TWICE = "the input went through the transformer twice: call it once and classify its output."


class ClassifierProbe(NamedTuple):
    """What the checker measures on a model: its logits and the gradient they send to the localization network."""

    logits: Any = None
    localization_grad: Tensor | None = None  # flattened; None when no gradient arrives
    problem: str | None = None  # how the model is built is wrong, which makes the rest meaningless


def probe_classifier(logits: Any, transformer: nn.Module) -> ClassifierProbe:
    """Measure a model's ``logits``: the gradient they send to the localization network of ``transformer`` (or to
    ``transformer`` itself, if it has none)."""
    localization = getattr(transformer, "localization", transformer)
    grad = gradient_of_weighted_sum(logits, localization.parameters()) if isinstance(logits, Tensor) else None
    return ClassifierProbe(logits, grad)


def compare_classifier_probes(actual: Any, expected: ClassifierProbe, *, no_gradient: str) -> Comparison:
    """Compare the student's model with the reference: the logits first, then the gradient reaching the
    localization network, which must not be missing or zero (``no_gradient`` tells the student so)."""
    return compare_probe(
        actual,
        expected,
        fields=[("logits", "the logits")],
        gradient_name="the gradient reaching the localization network",
        no_gradient=no_gradient,
        zero_gradient_fails=True,
    )


def diagnose_classifier_wiring(
    case: Case, actual: Any, expected: ClassifierProbe, *, untransformed: str
) -> str | None:
    """Recognise the usual wiring mistakes behind wrong logits: classifying the untransformed input (explained
    by ``untransformed``) or sending the input through the transformer twice.

    ``None`` when the logits are right: then the report already says what is wrong with the gradient.
    """
    if not isinstance(actual, ClassifierProbe) or not isinstance(actual.logits, Tensor):
        return None
    transformer, classifier, x = case.args
    with torch.no_grad():
        return first_matching_message(
            actual.logits,
            [
                (lambda: classifier(x), untransformed),
                (lambda: classifier(transformer(transformer(x)[0])[0]), TRANSFORMED_TWICE),
            ],
            expected=expected.logits,
        )
