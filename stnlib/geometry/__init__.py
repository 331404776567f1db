"""Transformation families and grid generators (the paper's "grid generator", Sec. 3.2).

Every grid maps *output* pixels to *input* sampling positions, in normalised coordinates (see
:mod:`stnlib.geometry.coords`), with ``(x, y)`` in the last dimension: ``grid: (N, H_out, W_out, 2)``.

* :mod:`~stnlib.geometry.coords` — normalised <-> pixel coordinates for both ``align_corners`` conventions.
* :mod:`~stnlib.geometry.affine` — affine ``theta: (N, 2, 3)`` (eq. 1), attention (eq. 2), pixel matrices.
* :mod:`~stnlib.geometry.projective` — homographies from 8 parameters ``(N, 8)``, e.g. from four corners.
* :mod:`~stnlib.geometry.tps` — thin-plate splines through a ``K x K`` lattice of control points.
"""

from stnlib.geometry.affine import (
    affine_grid,
    affine_theta,
    attention_theta,
    base_grid,
    compose_affine,
    from_homogeneous,
    identity_affine,
    identity_attention,
    invert_affine,
    pixel_matrix_to_theta,
    theta_to_pixel_matrix,
    to_homogeneous,
)
from stnlib.geometry.coords import (
    normalized_linspace,
    normalized_to_pixel,
    normalized_to_pixel_matrix,
    pixel_to_normalized,
    pixel_to_normalized_matrix,
)
from stnlib.geometry.projective import (
    identity_projective,
    projective_grid,
    projective_matrix,
    projective_params_from_corners,
)
from stnlib.geometry.tps import (
    identity_tps,
    radial_basis,
    tps_coefficients,
    tps_control_points,
    tps_grid,
    tps_transform,
)

__all__ = [
    "affine_grid",
    "affine_theta",
    "attention_theta",
    "base_grid",
    "compose_affine",
    "from_homogeneous",
    "identity_affine",
    "identity_attention",
    "identity_projective",
    "identity_tps",
    "invert_affine",
    "normalized_linspace",
    "normalized_to_pixel",
    "normalized_to_pixel_matrix",
    "pixel_matrix_to_theta",
    "pixel_to_normalized",
    "pixel_to_normalized_matrix",
    "projective_grid",
    "projective_matrix",
    "projective_params_from_corners",
    "radial_basis",
    "theta_to_pixel_matrix",
    "to_homogeneous",
    "tps_coefficients",
    "tps_control_points",
    "tps_grid",
    "tps_transform",
]
