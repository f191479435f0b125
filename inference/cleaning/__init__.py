"""Clean pixels: a mask applied to a product's bands, and cloud-free composites of many products.

Above masking in the flow: these read bands through the reading layer (the
one DN -> reflectance conversion), read masks of this plugin (or an L2A's SCL)
as "keep or remove" on any grid, and write Cloud-Optimised GeoTIFFs block by
block, so memory follows the block size, never the area.

    bands.py       a product's (or a band raster's) bands on any block grid, reprojected where the CRS differs
    masks.py       a mask or SCL as unusable pixels on any block grid: classes removed, buffer, no data
    apply.py       apply_mask: one product, one mask, one cleaned band stack
    folders.py     where a composite keeps the masks it makes (light: the Processing side reads it too)
    footprints.py  the composite's output grid: the user's extent, CRS and resolution, or the union of footprints
    scoring.py     pure per-pixel choices: the median of clear observations, best-available-pixel scores
    composite.py   composite: many products, their masks (made where missing), one composite
"""
