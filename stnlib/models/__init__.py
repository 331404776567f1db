"""Localization networks, the spatial transformer module and the paper's classifiers.

The paper's localization network (Sec. 3.1) is :class:`LocalizationNet`; :class:`SpatialTransformer` joins it to
a grid generator (:mod:`stnlib.geometry`) and a sampler (:mod:`stnlib.sampling` or PyTorch's); the classifiers
of the distorted-MNIST experiments are built by name with :func:`build_model`.
"""

from stnlib.models.classifiers import (
    CNN,
    FCN,
    MODEL_NAMES,
    FeatureMapSTClassifier,
    STClassifier,
    TutorialSTN,
    TwoTransformerClassifier,
    build_model,
)
from stnlib.models.families import (
    TRANSFORM_FAMILIES,
    TRANSFORMS,
    TransformFamily,
    identity_params,
    num_params,
    param_shape,
    params_from_head,
    register_transform_family,
    transform_family,
    transform_grid,
)
from stnlib.models.localization import LOCALIZATION_KINDS, LocalizationNet, conv_output_size, identity_head
from stnlib.models.transformer import (
    SAMPLERS,
    TRANSFORMER_PADDING_MODES,
    SpatialTransformer,
    border_background,
    localization_parameter_names,
    parameter_groups,
)

__all__ = [
    "CNN",
    "FCN",
    "LOCALIZATION_KINDS",
    "MODEL_NAMES",
    "SAMPLERS",
    "TRANSFORMER_PADDING_MODES",
    "TRANSFORMS",
    "TRANSFORM_FAMILIES",
    "FeatureMapSTClassifier",
    "LocalizationNet",
    "STClassifier",
    "SpatialTransformer",
    "TransformFamily",
    "TutorialSTN",
    "TwoTransformerClassifier",
    "border_background",
    "build_model",
    "conv_output_size",
    "identity_head",
    "identity_params",
    "localization_parameter_names",
    "num_params",
    "param_shape",
    "parameter_groups",
    "params_from_head",
    "register_transform_family",
    "transform_family",
    "transform_grid",
]
