"""Choices and defaults that every door shows (Processing, dock, Python API): each has its one home here."""

from __future__ import annotations

from pathlib import Path

from .classes import CLOUD, CLOUD_SHADOW, SEMI_TRANSPARENT

# Digital number -> reflectance for a plain raster: reflectance = DN * SCALE + OFFSET. These fit Level-2A
# from processing baseline 04.00 on (BOA_ADD_OFFSET -1000, quantification 10000).
DEFAULT_SCALE = 0.0001
DEFAULT_OFFSET = -0.1

# Output grids a product can be masked on, in metres (the tile's own grids).
RESOLUTIONS = (10, 20, 60)
DEFAULT_RESOLUTION = 10

DEVICES = ("auto", "cpu", "gpu")
LEVELS = ("l1c", "l2a")
DEFAULT_LEVEL = "l2a"

# The band roles a plain raster maps to (the DLR models' inputs, in their order); SWIR is optional.
RASTER_BAND_ROLES = ("blue", "green", "red", "nir", "swir16", "swir22")
OPTIONAL_BAND_ROLES = ("swir16", "swir22")

# Post-steps on the mask: the cloud-shadow geometry check (on for products, whose metadata carries the sun
# and view angles; docs/accuracy.md measures it) and buffers around clouds and shadows (0 m = none).
DEFAULT_SHADOW_CHECK = True
DEFAULT_BUFFER = 0.0
MAX_BUFFER = 5000.0  # m: a larger margin is no longer a buffer; it would hide most of any scene

# Masks that validation reads, by producer, with the codes each holds ("auto": from the file's tags and name).
MASK_TYPE_NAMES = {
    "plugin": "this plugin's mask (0 no data, 1 clear, 2 cloud shadow, 3 semi-transparent cloud, 4 cloud)",
    "kappamask": "KappaMask (0 missing, 1 clear, 2 cloud shadow, 3 semi-transparent cloud, 4 cloud, 5 undefined)",
    "scl": "Sen2Cor SCL (through the SCL mapping: 3 shadow, 8/9 cloud, 10 thin cirrus, 0/1 no data, others clear)",
    "fmask": "Fmask (0 clear land, 1 clear water, 2 cloud shadow, 3 snow, 4 cloud, 255 no data)",
}
MASK_TYPES = ("auto", *MASK_TYPE_NAMES)

# Reference masks: the fewest samples a class needs before a forest is trained on it; the grid they are made on
# by default (ALCD's: a whole tile classifies in about a minute on a laptop); how many places with the lowest
# confidence each round suggests for the next samples.
MIN_SAMPLES_PER_CLASS = 10
DEFAULT_REFERENCE_RESOLUTION = 60
DEFAULT_SUGGESTIONS = 20

# The sets training patches are split into, whole scenes at a time.
SPLITS = ("train", "validation", "test")

# The batch runner's counts, as every door takes them (maskmany's WORKERS, make batch's --workers ...): more
# workers or threads than this is a typing slip, not a machine.
MAX_WORKERS = 256
MAX_THREADS = 256
MAX_RETRIES = 10

# MODEL (and BASE_MODEL) name a model file, or this word for the built-in models of the ukis-csmask package.
AUTO_MODEL = "auto"


def model_file(model: str | Path) -> str | Path | None:
    """The model file a run reads, for the checks that no output replaces it; None for the built-in models."""
    return None if str(model).strip().lower() == AUTO_MODEL else model


# Clean pixels (applymask, composite): the mask classes a user may remove, by the names every door uses;
# all three are removed unless the user keeps some.
CLEAN_CLASSES = {"cloud": CLOUD, "semi_transparent_cloud": SEMI_TRANSPARENT, "cloud_shadow": CLOUD_SHADOW}
# The surface bands a cleaned stack or a composite holds unless asked otherwise (B01, B09 and B10 are
# atmospheric bands), and the grid they share without upsampling a band.
CLEAN_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
DEFAULT_CLEAN_RESOLUTION = 20
# What a cleaned stack holds: reflectance as float32 (no data NaN), or the product's digital numbers as uint16
# (no data 0) with each band's scale and offset in its metadata.
CLEAN_VALUES = ("reflectance", "dn")
# Composites: how a pixel's clear observations become one value, and which masks say what is clear ("scl" and
# "none" serve comparisons: docs/accuracy.md).
COMPOSITE_METHODS = {"median": "median of the clear observations", "bap": "best-available pixel"}
MASK_SOURCES = ("plugin", "scl", "none")

# True colour wherever the plugin shows bands (the context view, cleaned stacks, composites): B04, B03, B02
# from black to white over this reflectance, as ESA's TCI images: land reads well, clouds saturate.
TRUE_COLOUR_BANDS = ("B04", "B03", "B02")
TRUE_COLOUR_REFLECTANCE = (0.0, 0.25)
