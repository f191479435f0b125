"""The patch folder format (docs/patches-format.md): written by exportpatches, read by fine-tuning.

Its one home: the format's name and version, the file layout (one folder per
split, an image and a label GeoTIFF per patch, manifest.json and manifest.csv),
and the writers of patches and manifests that every producer uses
(reference/patch_export.py for real exports, tools/scene_patches.py for
single-scene experiments). training/patch_set.py reads it back.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS

from .classes import CLASS_COLOURS, CLASS_NAMES, MASK_CLASS_KEYS, MASK_CODES, NODATA
from .defaults import SPLITS
from .grid import Grid
from .outputs import atomic_output

FORMAT = "s2cloudmask-patches"
FORMAT_VERSION = 1
MANIFEST_JSON = "manifest.json"
MANIFEST_CSV = "manifest.csv"
REFLECTANCE = "(DN + offset) / quantification"
LABEL_DESCRIPTION = "Reference mask (0 no data, 1 clear, 2 cloud shadow, 3 semi-transparent cloud, 4 cloud)"
RECORD_COLUMNS = ["id", "split", "image", "label", "product_id", "tile_id", "date", "row", "col"]
CSV_COLUMNS = [*RECORD_COLUMNS, *(MASK_CLASS_KEYS[c] for c in MASK_CODES), "valid_fraction"]


def label_fractions(label: np.ndarray) -> tuple[dict[int, float], float]:
    """(class code -> share of labelled pixels, labelled pixels / all pixels) of one label patch."""
    labelled = label != NODATA
    count = int(labelled.sum())
    fractions = {c: float((label == c).sum()) / count if count else 0.0 for c in MASK_CODES}
    return fractions, count / label.size


def _write_geotiff(path: Path, data: np.ndarray, grid: Grid, *, dtype: str, nodata: float,
                   descriptions: list[str]) -> None:
    profile = {"driver": "GTiff", "dtype": dtype, "count": data.shape[0], "width": grid.width, "height": grid.height,
               "crs": CRS.from_user_input(grid.crs), "transform": grid.transform, "nodata": nodata,
               "compress": "deflate", "tiled": True, "blockxsize": 256, "blockysize": 256}
    if data.shape[0] > 1:
        profile["interleave"] = "band"
    with atomic_output(path) as temporary:
        with rasterio.open(temporary, "w", **profile) as dataset:
            if dtype == "uint8":
                dataset.write_colormap(1, CLASS_COLOURS)
            dataset.write(data)
            for index, text in enumerate(descriptions, start=1):
                dataset.set_band_description(index, text)


def write_patch(folder: Path, split: str, scene: dict[str, str], row: int, col: int, image: np.ndarray,
                label: np.ndarray, grid: Grid, bands: list[str]) -> dict[str, Any]:
    """One patch: float32 reflectance (bands, rows, cols; NaN no data) and uint8 codes (rows, cols) on `grid`.

    `scene` holds the product_id, tile_id and date (YYYY-MM-DD) of its scene;
    the return value is the patch's manifest record.
    """
    identifier = f"{scene['tile_id']}_{scene['date']}_r{row}_c{col}"
    image_rel, label_rel = f"{split}/{identifier}_image.tif", f"{split}/{identifier}_label.tif"
    _write_geotiff(folder / image_rel, image.astype(np.float32), grid, dtype="float32", nodata=float("nan"),
                   descriptions=list(bands))
    _write_geotiff(folder / label_rel, label.astype(np.uint8)[np.newaxis], grid, dtype="uint8", nodata=NODATA,
                   descriptions=[LABEL_DESCRIPTION])
    fractions, valid = label_fractions(label)
    return {"id": identifier, "split": split, "image": image_rel, "label": label_rel,
            "product_id": scene["product_id"], "tile_id": scene["tile_id"], "date": scene["date"],
            "row": row, "col": col, "class_fractions": {str(c): fractions[c] for c in MASK_CODES},
            "valid_fraction": valid}


def patch_folder_files(folder: str | Path, role: str = "OUTPUT_FOLDER") -> dict[str, Path]:
    """The split folders and manifests of a patch folder, by role: what an export replaces, what fine-tuning
    reads (anything else in the folder is neither)."""
    return {f"{role}/{name}": Path(folder) / name for name in (*SPLITS, MANIFEST_JSON, MANIFEST_CSV)}


def make_split_folders(folder: Path) -> None:
    for name in SPLITS:
        (folder / name).mkdir(parents=True, exist_ok=True)


def write_manifest(folder: Path, *, level: str, resolution: float, patch_size: int, bands: list[str],
                   split: dict[str, float], seed: int, sources: list[dict[str, Any]],
                   records: list[dict[str, Any]]) -> Path:
    """manifest.json (everything) and manifest.csv (one row per patch) of a patch folder; the JSON's path."""
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "level": level, "resolution": resolution,
        "patch_size": patch_size, "bands": list(bands), "reflectance": REFLECTANCE,
        "classes": {str(code): CLASS_NAMES[code].lower() for code in (NODATA, *MASK_CODES)},
        "split": split, "seed": seed, "sources": sources, "patches": records,
    }
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(CSV_COLUMNS)
    for record in records:
        writer.writerow([record[key] for key in RECORD_COLUMNS]
                        + [record["class_fractions"][str(c)] for c in MASK_CODES] + [record["valid_fraction"]])
    with atomic_output(folder / MANIFEST_CSV) as temporary:
        temporary.write_text(table.getvalue(), encoding="utf-8")
    with atomic_output(folder / MANIFEST_JSON) as temporary:
        temporary.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return folder / MANIFEST_JSON
