"""The true-colour context layer's look: red, green and blue stretched between the view's limits.

The view itself (a VRT of the product cut to the mask) is built by the engine
(inference/reading/context_views.py) in the background task; styling happens
on the main thread once the layer exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qgis.core import QgsRasterLayer

from ..toolbelt.layers import style_rgb

if TYPE_CHECKING:  # the engine's reading room needs rasterio; this module must load without it
    from ..inference.reading.context_views import ContextView


def style_true_colour(layer: QgsRasterLayer, view: ContextView) -> None:
    """Red, green, blue from bands 1-3, stretched linearly between the view's limits."""
    style_rgb(layer, (1, 2, 3), view.minimum, view.maximum)
