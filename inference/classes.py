"""Class codes of the mask, their names and colours, and Sen2Cor SCL's mapping onto them.

Codes 1-4 are KappaMask's, so masks from either tool compare directly.
"""

from __future__ import annotations

import numpy as np

NODATA = 0
CLEAR = 1
CLOUD_SHADOW = 2
SEMI_TRANSPARENT = 3
CLOUD = 4

CLASS_NAMES: dict[int, str] = {
    NODATA: "No data",
    CLEAR: "Clear",
    CLOUD_SHADOW: "Cloud shadow",
    SEMI_TRANSPARENT: "Semi-transparent cloud",
    CLOUD: "Cloud",
}

# RGBA; the QML style resources/styles/mask.qml and the mask's colour table use the same palette.
# Clear is transparent, so the image shows through where it is usable; the masked classes are saturated and
# partly see-through, so they read over bright cloud tops, dark ground and an empty white canvas alike.
CLASS_COLOURS: dict[int, tuple[int, int, int, int]] = {
    NODATA: (0, 0, 0, 0),
    CLEAR: (76, 175, 80, 0),
    CLOUD_SHADOW: (204, 0, 204, 170),
    SEMI_TRANSPARENT: (0, 190, 255, 140),
    CLOUD: (255, 196, 0, 160),
}
# Clear as shown on request (the mask layer's "clear shown" style): the same green, opaque.
CLEAR_SHOWN_COLOUR: tuple[int, int, int, int] = (76, 175, 80, 255)

MASK_CODES = (CLEAR, CLOUD_SHADOW, SEMI_TRANSPARENT, CLOUD)
# The classes as keys of JSON, CSV columns and the patch manifest.
MASK_CLASS_KEYS: dict[int, str] = {
    CLEAR: "clear",
    CLOUD_SHADOW: "cloud_shadow",
    SEMI_TRANSPARENT: "semi_transparent_cloud",
    CLOUD: "cloud",
}

# Sen2Cor Scene Classification Layer codes and names.
SCL_NAMES: dict[int, str] = {
    0: "No data",
    1: "Saturated or defective",
    2: "Dark area pixels",
    3: "Cloud shadows",
    4: "Vegetation",
    5: "Not vegetated",
    6: "Water",
    7: "Unclassified",
    8: "Cloud medium probability",
    9: "Cloud high probability",
    10: "Thin cirrus",
    11: "Snow or ice",
}

# Official SCL palette (ESA Sen2Cor user manual).
SCL_COLOURS: dict[int, tuple[int, int, int, int]] = {
    0: (0, 0, 0, 0),
    1: (255, 0, 0, 255),
    2: (47, 47, 47, 255),
    3: (100, 50, 0, 255),
    4: (0, 160, 0, 255),
    5: (255, 230, 90, 255),
    6: (0, 0, 255, 255),
    7: (128, 128, 128, 255),
    8: (192, 192, 192, 255),
    9: (255, 255, 255, 255),
    10: (100, 200, 255, 255),
    11: (255, 150, 255, 255),
}

# SCL code -> mask code it is compared as (DESIGN.md, "SCL to the four classes").
SCL_TO_MASK: dict[int, int] = {
    0: NODATA,
    1: NODATA,
    2: CLEAR,
    3: CLOUD_SHADOW,
    4: CLEAR,
    5: CLEAR,
    6: CLEAR,
    7: CLEAR,
    8: CLOUD,
    9: CLOUD,
    10: SEMI_TRANSPARENT,
    11: CLEAR,
}

# SCL codes mapped to "clear" that often hide a shadow, water or snow: kept visible as ambiguous.
SCL_AMBIGUOUS: frozenset[int] = frozenset({2, 6, 7, 11})


def scl_to_mask(scl: np.ndarray) -> np.ndarray:
    """Map SCL codes onto mask codes; codes outside 0-11 become no data."""
    return code_lut(SCL_TO_MASK)[scl.astype(np.uint8, copy=False)]


# Other masks' codes -> mask codes, so any of them can be scored against a reference.
# KappaMask: 0 missing, 1 clear, 2 cloud shadow, 3 semi-transparent cloud, 4 cloud, 5 undefined.
KAPPAMASK_TO_MASK: dict[int, int] = {0: NODATA, 1: CLEAR, 2: CLOUD_SHADOW, 3: SEMI_TRANSPARENT, 4: CLOUD, 5: NODATA}
# Fmask 4: 0 clear land, 1 clear water, 2 cloud shadow, 3 snow, 4 cloud, 255 no observation (no thin-cloud class).
FMASK_TO_MASK: dict[int, int] = {0: CLEAR, 1: CLEAR, 2: CLOUD_SHADOW, 3: CLEAR, 4: CLOUD, 255: NODATA}

# Names a person may type for a class (lower case, "_" and "-" read as spaces), e.g. in a sample layer.
CLASS_ALIASES: dict[str, int] = {
    **{name.lower(): code for code, name in CLASS_NAMES.items() if code != NODATA},
    "shadow": CLOUD_SHADOW,
    "thin cloud": SEMI_TRANSPARENT,
    "semi transparent": SEMI_TRANSPARENT,
    "semi transparent cloud": SEMI_TRANSPARENT,
    "cirrus": SEMI_TRANSPARENT,
    "opaque cloud": CLOUD,
    "land": CLEAR,
}


def code_lut(mapping: dict[int, int]) -> np.ndarray:
    """256-entry lookup table: raw code -> mask code; codes the mapping does not name become no data."""
    lut = np.zeros(256, dtype=np.uint8)
    for code, target in mapping.items():
        lut[code] = target
    return lut
