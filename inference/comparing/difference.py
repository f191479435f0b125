"""Difference codes: what each (mask class, reference class) pair means to a user.

Users pick a cloud mask by where it beats the one they already have, so the
codes answer two questions first: where does the reference let bad pixels
through (cloud or shadow it misses), and where does it throw good pixels away
(cloud or shadow only it sees). The SCL is compared through
`classes.SCL_TO_MASK`; its ambiguous codes (dark area 2, water 6,
unclassified 7, snow or ice 11) keep their own matrix columns and difference
categories, so "ambiguous" is never folded silently into agreement.

Difference raster codes (uint8, GDAL nodata 0; "reference" reads "SCL" when
the reference is an SCL):

====  ==============================  ==========================================  =============
code  name                            meaning                                     colour
====  ==============================  ==========================================  =============
0     No data                         either side has no data                     transparent
1     Both clear                      mask clear, reference clear                 light grey
2     Both cloud                      same cloud class on both sides              mid grey
                                      (cloud/cloud or thin/thin)
3     Both cloud shadow               shadow on both sides                        dark grey
4     Cloud missed by SCL             mask cloud or thin cloud, reference clear   red
5     Shadow missed by SCL            mask shadow, reference clear                dark red
6     Cloud only in SCL               reference cloud or thin cloud, mask clear   blue
7     Shadow only in SCL              reference shadow, mask clear                orange
8     Thin cloud against cloud        one semi-transparent, the other opaque      pale yellow
9     Cloud against shadow            one cloud (any), the other shadow           brown
10    SCL ambiguous, mask cloud       SCL 2/6/7/11, mask cloud or thin cloud      dark purple
11    SCL ambiguous, mask shadow      SCL 2/6/7/11, mask shadow                   purple
12    SCL ambiguous, mask clear       SCL 2/6/7/11, mask clear                    light purple
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..classes import (
    CLASS_NAMES,
    CLEAR,
    CLOUD,
    CLOUD_SHADOW,
    MASK_CLASS_KEYS,
    MASK_CODES,
    NODATA,
    SCL_AMBIGUOUS,
    SCL_NAMES,
    SCL_TO_MASK,
    SEMI_TRANSPARENT,
)

BOTH_CLEAR = 1
BOTH_CLOUD = 2
BOTH_SHADOW = 3
CLOUD_MISSED = 4
SHADOW_MISSED = 5
CLOUD_ONLY_IN_REFERENCE = 6
SHADOW_ONLY_IN_REFERENCE = 7
THIN_AGAINST_CLOUD = 8
CLOUD_AGAINST_SHADOW = 9
AMBIGUOUS_MASK_CLOUD = 10
AMBIGUOUS_MASK_SHADOW = 11
AMBIGUOUS_MASK_CLEAR = 12

DIFFERENCE_CODES: tuple[int, ...] = tuple(range(1, 13))

# Pixels the reference lets through / throws away: the two questions users ask.
LET_THROUGH_CODES = (CLOUD_MISSED, SHADOW_MISSED)
THROWN_AWAY_CODES = (CLOUD_ONLY_IN_REFERENCE, SHADOW_ONLY_IN_REFERENCE)


def difference_names(reference: str = "SCL") -> dict[int, str]:
    """Category names of the difference raster; `reference` names the other side ("SCL", "reference mask")."""
    names = {
        NODATA: "No data",
        BOTH_CLEAR: "Both clear",
        BOTH_CLOUD: "Both cloud",
        BOTH_SHADOW: "Both cloud shadow",
        CLOUD_MISSED: f"Cloud missed by {reference}",
        SHADOW_MISSED: f"Shadow missed by {reference}",
        CLOUD_ONLY_IN_REFERENCE: f"Cloud only in {reference}",
        SHADOW_ONLY_IN_REFERENCE: f"Shadow only in {reference}",
        THIN_AGAINST_CLOUD: "Thin cloud against cloud",
        CLOUD_AGAINST_SHADOW: "Cloud against shadow",
        AMBIGUOUS_MASK_CLOUD: f"{reference} ambiguous, mask cloud",
        AMBIGUOUS_MASK_SHADOW: f"{reference} ambiguous, mask shadow",
        AMBIGUOUS_MASK_CLEAR: f"{reference} ambiguous, mask clear",
    }
    return {code: name[0].upper() + name[1:] for code, name in names.items()}


DIFFERENCE_NAMES: dict[int, str] = difference_names("SCL")

# RGBA. Greys: agreement; reds: the reference lets bad pixels through; blue and
# orange: it throws good pixels away; purples: the SCL cannot tell.
DIFFERENCE_COLOURS: dict[int, tuple[int, int, int, int]] = {
    NODATA: (0, 0, 0, 0),
    BOTH_CLEAR: (228, 228, 228, 255),
    BOTH_CLOUD: (168, 168, 168, 255),
    BOTH_SHADOW: (92, 92, 92, 255),
    CLOUD_MISSED: (228, 26, 28, 255),
    SHADOW_MISSED: (140, 10, 40, 255),
    CLOUD_ONLY_IN_REFERENCE: (33, 113, 181, 255),
    SHADOW_ONLY_IN_REFERENCE: (253, 141, 60, 255),
    THIN_AGAINST_CLOUD: (250, 225, 140, 255),
    CLOUD_AGAINST_SHADOW: (150, 95, 40, 255),
    AMBIGUOUS_MASK_CLOUD: (106, 38, 140, 255),
    AMBIGUOUS_MASK_SHADOW: (158, 110, 190, 255),
    AMBIGUOUS_MASK_CLEAR: (212, 190, 232, 255),
}

MASK_CODE_TEXT = "0-4 (no data, clear, cloud shadow, semi-transparent cloud, cloud)"
RAW_CODES = 16  # reference codes are counted raw (SCL 0-11, masks 0-4) before any mapping


@dataclass(frozen=True)
class Column:
    """One confusion-matrix column: the reference codes it gathers and what they are compared as."""

    key: str
    name: str
    codes: tuple[int, ...]
    compared_as: int
    ambiguous: bool


SCL_COLUMNS: tuple[Column, ...] = tuple(
    Column(key, name, codes, SCL_TO_MASK[codes[0]], codes[0] in SCL_AMBIGUOUS)
    for key, name, codes in (
        ("clear", "Clear", (4, 5)),
        ("cloud_shadow", "Cloud shadow", (3,)),
        ("semi_transparent_cloud", "Semi-transparent cloud", (10,)),
        ("cloud", "Cloud", (8, 9)),
        ("dark_area", SCL_NAMES[2], (2,)),
        ("water", SCL_NAMES[6], (6,)),
        ("unclassified", SCL_NAMES[7], (7,)),
        ("snow_or_ice", SCL_NAMES[11], (11,)),
    )
)
MASK_COLUMNS: tuple[Column, ...] = tuple(
    Column(MASK_CLASS_KEYS[code], CLASS_NAMES[code], (code,), code, False) for code in MASK_CODES
)


def _difference_code(mask_class: int, reference_class: int, ambiguous: bool) -> int:
    if NODATA in (mask_class, reference_class):
        return NODATA
    mask_cloud = mask_class in (SEMI_TRANSPARENT, CLOUD)
    reference_cloud = reference_class in (SEMI_TRANSPARENT, CLOUD)
    if ambiguous:
        if mask_class == CLEAR:
            return AMBIGUOUS_MASK_CLEAR
        return AMBIGUOUS_MASK_SHADOW if mask_class == CLOUD_SHADOW else AMBIGUOUS_MASK_CLOUD
    if mask_class == reference_class:
        return {CLEAR: BOTH_CLEAR, CLOUD_SHADOW: BOTH_SHADOW}.get(mask_class, BOTH_CLOUD)
    if reference_class == CLEAR:
        return CLOUD_MISSED if mask_cloud else SHADOW_MISSED
    if mask_class == CLEAR:
        return CLOUD_ONLY_IN_REFERENCE if reference_cloud else SHADOW_ONLY_IN_REFERENCE
    if mask_cloud and reference_cloud:
        return THIN_AGAINST_CLOUD
    return CLOUD_AGAINST_SHADOW


def difference_lut(columns: tuple[Column, ...]) -> np.ndarray:
    """(5, 16) uint8 table: difference code for (mask code, raw reference code)."""
    lut = np.zeros((len(CLASS_NAMES), RAW_CODES), dtype=np.uint8)
    for column in columns:
        for code in column.codes:
            for mask_class in MASK_CODES:
                lut[mask_class, code] = _difference_code(mask_class, column.compared_as, column.ambiguous)
    return lut

