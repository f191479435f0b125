"""Write the reference masks that tests/engine/test_speed_levers.py compares every speed lever with.

They pin the engine's mask with the built-in cards' tile geometry (docs/speed-levers.md says how it was
chosen), without the shadow check, which refines the mask after the model and is no speed lever. A lever
that is on by default must keep them (>= 99 % of pixels, hand-label scores not lower). Run again only when
the mask is meant to change (a new geometry or model), with the checkout of that state:

    /usr/bin/python3 tools/reference_masks.py tests/data/reference

Writes patch_l1c.tif (labelled_6band_patch.npz as an L1C raster, 30 m) and t29unu_window.tif (mask_product on the
real product's 7.68 km test window, 10 m).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"


def main(out: Path) -> None:
    root = Path(tempfile.mkdtemp())
    (root / "s2cloudmask").symlink_to(REPO, target_is_directory=True)
    sys.path[:0] = [str(root), str(REPO / "tests")]
    from s2cloudmask.packages.activation import activate

    activate()
    import numpy as np
    from model_helpers import utm_grid, write_raster
    from real_product import WINDOW
    from s2cloudmask.inference.masking.engine import mask_product, mask_raster

    out.mkdir(parents=True, exist_ok=True)
    with np.load(DATA / "arrays" / "labelled_6band_patch.npz") as data:
        patch = np.moveaxis(data["img"], -1, 0).astype(np.float32)
    raster = write_raster(root / "patch.tif", patch, utm_grid(512, 512))
    bands = dict(zip(["blue", "green", "red", "nir", "swir16", "swir22"], range(1, 7)))
    mask_raster(raster, out / "patch_l1c.tif", bands=bands, scale=1.0, offset=0.0, level="l1c", device="cpu")
    product = DATA / "sentinel2" / "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"
    mask_product(product, out / "t29unu_window.tif", extent=WINDOW, device="cpu", shadow_check=False)
    for path in out.glob("*.aux.xml"):
        path.unlink()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
