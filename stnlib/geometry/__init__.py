"""Transformation families and grid generators (the paper's "grid generator", Sec. 3.2).

Every grid maps *output* pixels to *input* sampling positions, in normalised coordinates (see
:mod:`stnlib.geometry.coords`), with ``(x, y)`` in the last dimension: ``grid: (N, H_out, W_out, 2)``.
"""

from stnlib.geometry.coords import normalized_linspace, normalized_to_pixel, pixel_to_normalized

__all__ = ["normalized_linspace", "normalized_to_pixel", "pixel_to_normalized"]
