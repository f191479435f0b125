"""Semi-transparent cloud (code 3) from the cirrus band, for models that have no such class.

The ukis-csmask models know clear, cloud and cloud shadow only. Thin cirrus is
what Sentinel-2's band 10 (1.375 um) sees best: water vapour absorbs this
wavelength so strongly that the surface and low clouds barely reach the
sensor, and any signal comes from ice crystals high in the atmosphere.

L1C rule (B10 top-of-atmosphere reflectance), with the cirrus thresholds of
the Sen2Cor Level-2A ATBD (Main-Knorn et al., "Sen2Cor for Sentinel-2",
Proc. SPIE 10427, 2017, and S2-PDGS-MPC-L2A-ATBD, cirrus cloud detection):
B10 above 0.012 means cirrus is present, above 0.035 the cirrus is thick
enough to count as cloud.

* model says clear and B10 > 0.012: semi-transparent cloud (3);
* model says cloud, 0.012 < B10 <= 0.035 and red (B04) reflectance < 0.25:
  semi-transparent cloud (3). 0.25 is Sen2Cor's upper red threshold
  (T2_B04 in its L2A_GIPP), above which its cloud probability from
  brightness is 1; a cloud pixel below it is not bright enough to be an
  opaque cloud, so the thin cirrus is what the model saw;
* everything else (shadow, opaque cloud, B10 > 0.035) stays as the model said.

L2A rule: the product's own cirrus flag (MSK_CLASSI_B00, band 2, from
baseline 04.00) replaces "0.012 < B10 <= 0.035" above (L2A products carry no
B10); the red test uses BOA reflectance. The SCL is never used: it is what
the mask is compared against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ..classes import CLEAR, CLOUD, SEMI_TRANSPARENT
from ..reading.metadata import baseline_tuple

THIN_CIRRUS = 0.012  # B10 TOA reflectance: cirrus present (Sen2Cor ATBD)
OPAQUE_CIRRUS = 0.035  # B10 TOA reflectance: cirrus thick enough to be cloud (Sen2Cor ATBD)
BRIGHT_RED = 0.25  # B04 reflectance: Sen2Cor's T2_B04, opaque-cloud brightness
CIRRUS_FLAG = "cirrus_flag"  # band name of the MSK_CLASSI_B00 cirrus layer (0/1) in a band source
CIRRUS_LAYER_BASELINE = (4, 0)  # L2A products carry MSK_CLASSI_B00 from this processing baseline on


def l1c_semi_transparent(codes: np.ndarray, b10: np.ndarray, red: np.ndarray) -> np.ndarray:
    """Where the L1C rule turns the model's clear or cloud into semi-transparent cloud (bool)."""
    hit = b10 > THIN_CIRRUS  # cirrus; in place from here on (this runs on every output row)
    thin_dim_cloud = red < BRIGHT_RED
    thin_dim_cloud &= b10 <= OPAQUE_CIRRUS
    thin_dim_cloud &= codes == CLOUD
    hit &= (codes == CLEAR) | thin_dim_cloud
    return hit


def l2a_semi_transparent(codes: np.ndarray, flag: np.ndarray, red: np.ndarray) -> np.ndarray:
    """Where the L2A rule (product cirrus flag) turns clear or cloud into semi-transparent cloud (bool)."""
    hit = flag >= 0.5  # cirrus; in place from here on, as above
    dim_cloud = red < BRIGHT_RED
    dim_cloud &= codes == CLOUD
    hit &= (codes == CLEAR) | dim_cloud
    return hit


@dataclass(frozen=True)
class Class3Rule:
    """How a run derives class 3: the extra bands it reads and the function that applies it."""

    description: str  # goes into the CLASS3_SOURCE tag and MaskResult.class3_source
    bands: tuple[str, ...]  # band names the rule reads, model bands or extra ones
    where: Callable[..., np.ndarray]

    def apply(self, codes: np.ndarray, values: dict[str, np.ndarray]) -> np.ndarray:
        """New codes: SEMI_TRANSPARENT where the rule holds, `codes` elsewhere."""
        hit = self.where(codes, *(values[name] for name in self.bands))
        # uint8 arithmetic wraps, so this is exact; a masked assignment costs about 20 times more
        return codes + hit.view(np.uint8) * (np.uint8(SEMI_TRANSPARENT) - codes)


L1C_RULE = Class3Rule(
    f"B10 cirrus band (TOA reflectance > {THIN_CIRRUS} on clear pixels; {THIN_CIRRUS}-{OPAQUE_CIRRUS} on cloud "
    f"pixels with B04 < {BRIGHT_RED}; Sen2Cor ATBD thresholds)",
    ("cirrus", "red"),
    l1c_semi_transparent,
)
L2A_RULE = Class3Rule(
    f"MSK_CLASSI_B00 cirrus layer (on clear pixels; on cloud pixels with B04 < {BRIGHT_RED})",
    (CIRRUS_FLAG, "red"),
    l2a_semi_transparent,
)


@dataclass(frozen=True)
class Class3Plan:
    """How one run gets class 3, and what it must read for it.

    A plan is returned, never applied to the caller's band mapping: the caller
    adds `bands` (model band name -> Sentinel-2 band id, for products) and
    `layers` (band name -> (mask file key, band)) to what it reads.
    """

    rule: Class3Rule | None  # None: the model has class 3 itself, or nothing can give it
    source: str  # the CLASS3_SOURCE tag: how class 3 is obtained, or why it is absent
    warning: str | None = None  # for the user when class 3 is absent
    bands: dict[str, str] = field(default_factory=dict)
    layers: dict[str, tuple[str, int]] = field(default_factory=dict)


def _why_no_layer(baseline: str | None) -> str:
    """Why an L2A product has no MSK_CLASSI_B00: its baseline is older than the layer, or the file is missing."""
    if baseline_tuple(baseline) >= CIRRUS_LAYER_BASELINE:
        return (f"baseline {baseline} products carry it, so this one is incomplete; download it again to get "
                "semi-transparent cloud")
    if baseline_tuple(baseline) == (0, 0):
        return "its processing baseline is unknown; products carry the layer from baseline 04.00 on"
    return f"baseline {baseline}, before 04.00, which introduced the layer"


def plan_class3(model_classes: Iterable[int], level: str, *, b10: bool, cirrus_layer: bool,
                product_id: str | None = None, baseline: str | None = None) -> Class3Plan:
    """The one place that decides where class 3 comes from.

    model_classes: the mask codes the model's outputs vote for; b10: the input
    has the B10 cirrus band (a product's B10 file, or a raster's band mapped
    as "cirrus"); cirrus_layer: the product has MSK_CLASSI_B00; product_id:
    the product's id, None for a plain raster (the messages say which);
    baseline: the product's processing baseline, which tells why an L2A
    product lacks MSK_CLASSI_B00 (before 04.00 none has it; from 04.00 on it
    is missing from an incomplete product).
    """
    if SEMI_TRANSPARENT in set(model_classes):
        return Class3Plan(None, "model")
    level = level.upper()
    if level == "L1C" and b10:
        return Class3Plan(L1C_RULE, L1C_RULE.description, bands={"red": "B04", "cirrus": "B10"})
    if level == "L2A" and cirrus_layer:
        return Class3Plan(L2A_RULE, L2A_RULE.description, bands={"red": "B04"},
                          layers={CIRRUS_FLAG: ("MSK_CLASSI_B00", 2)})
    if product_id is None:
        source = ("absent: no cirrus band mapped (L1C B10 needed)" if level == "L1C" else
                  "absent: a plain L2A raster carries no MSK_CLASSI_B00 cirrus layer")
        return Class3Plan(None, source, "No cirrus information: class 3 (semi-transparent cloud) is absent.")
    source = (f"absent: product {product_id} has no B10 cirrus band" if level == "L1C" else
              f"absent: product {product_id} has no MSK_CLASSI_B00 cirrus layer ({_why_no_layer(baseline)})")
    return Class3Plan(None, source, f"No cirrus information: class 3 (semi-transparent cloud) is absent ({source}).")
