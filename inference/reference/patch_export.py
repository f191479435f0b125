"""Training patches from reference masks, split into train / validation / test for fine-tuning a model.

The folder format is /work/notes/patches-format.md's (the fine-tuning tool
reads it): float32 reflectance images with one band per Sentinel-2 band, uint8
labels with the mask codes, and a manifest in JSON and CSV. Scenes, not
patches, are split (KappaZeta's rule): every patch of one (tile, date) goes to
one split, so neighbouring patches never sit on both sides. Within that rule
the split is stratified by the classes present: first each split with a share
gets, where the scenes allow, at least `min_per_class` patches of every class
(rarest class first, the scene richest in it, train before validation and
test, so a single scene is a training set), then each remaining scene goes
to the split furthest below its share of patches and of each class.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.windows import Window

from ..classes import CLASS_COLOURS, CLASS_NAMES, MASK_CODES, NODATA
from ..comparing.difference import MASK_CLASS_KEYS
from ..defaults import SPLITS
from ..errors import OutputError, ProductError
from ..feedback import Feedback, SilentFeedback, check_cancelled
from ..grid import Grid
from ..outputs import atomic_output
from ..reading.lists import read_path_rows
from ..reading.product import open_product
from ..reading.reader import ProductReader
from ..reading.sources import raster_grid

FORMAT = "s2cloudmask-patches"
FORMAT_VERSION = 1
MIN_VALID_FRACTION = 0.5  # patches with less labelled data than this are not exported
PRESENT_FRACTION = 0.01  # a class counts as present in a patch from this share of its labelled pixels on
REFLECTANCE = "(DN + offset) / quantification"
CSV_COLUMNS = ["id", "split", "image", "label", "product_id", "tile_id", "date", "row", "col",
               *(MASK_CLASS_KEYS[c] for c in MASK_CODES), "valid_fraction"]


@dataclass
class Patch:
    row: int
    col: int
    class_fractions: dict[int, float]  # code -> share of the labelled pixels
    valid_fraction: float  # labelled pixels / patch pixels

    def present(self) -> np.ndarray:
        return np.array([self.class_fractions.get(c, 0.0) >= PRESENT_FRACTION for c in MASK_CODES])


@dataclass
class Scene:
    product: str
    reference: str
    product_id: str
    tile_id: str
    date: str
    grid: Grid
    patches: list[Patch] = field(default_factory=list)
    split: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.tile_id, self.date)

    def class_patches(self) -> np.ndarray:
        """Patches in which each class 1-4 is present."""
        return sum((p.present().astype(np.int64) for p in self.patches), np.zeros(len(MASK_CODES), np.int64))


def label_fractions(label: np.ndarray) -> tuple[dict[int, float], float]:
    """(class code -> share of labelled pixels, labelled pixels / all pixels) of one label patch."""
    labelled = label != NODATA
    count = int(labelled.sum())
    fractions = {c: float((label == c).sum()) / count if count else 0.0 for c in MASK_CODES}
    return fractions, count / label.size


def plan_patches(label: np.ndarray, patch_size: int) -> list[Patch]:
    """Whole patches on a grid anchored at the top left, kept where at least MIN_VALID_FRACTION is labelled."""
    patches = []
    for row in range(0, label.shape[0] - patch_size + 1, patch_size):
        for col in range(0, label.shape[1] - patch_size + 1, patch_size):
            fractions, valid = label_fractions(label[row:row + patch_size, col:col + patch_size])
            if valid >= MIN_VALID_FRACTION:
                patches.append(Patch(row, col, fractions, valid))
    return patches


def parse_split(text: str | Sequence[float]) -> dict[str, float]:
    """"70,15,15" (or three numbers) -> shares of train, validation, test that sum to 1."""
    try:
        values = [float(v) for v in (text.replace(";", ",").split(",") if isinstance(text, str) else text)]
    except ValueError:
        values = []
    if len(values) != 3 or any(not np.isfinite(v) or v < 0 for v in values) or sum(values) <= 0 or values[0] <= 0:
        raise ProductError(f"SPLIT {text!r} is not three shares for train, validation and test (e.g. 70,15,15) "
                           "with a positive train share.")
    total = sum(values)
    return {name: value / total for name, value in zip(SPLITS, values)}


def assign_splits(scenes: list[Scene], shares: dict[str, float], seed: int = 0,
                  min_per_class: int = 1) -> list[str]:
    """Give each scene a split (see the module text); returns warnings where a minimum could not be met."""
    rng = np.random.default_rng(seed)
    order = [scenes[i] for i in rng.permutation(len(scenes))]
    splits = [name for name in SPLITS if shares[name] > 0]
    have = {name: np.zeros(len(MASK_CODES), np.int64) for name in splits}
    count = {name: 0 for name in splits}
    total_classes = sum((s.class_patches() for s in scenes), np.zeros(len(MASK_CODES), np.int64))
    total = sum(len(s.patches) for s in scenes)

    def give(scene: Scene, name: str) -> None:
        scene.split = name
        have[name] += scene.class_patches()
        count[name] += len(scene.patches)

    for scene in scenes:
        scene.split = ""
    for index in np.argsort(total_classes, kind="stable"):  # rarest class first
        if total_classes[index] == 0:
            continue
        for name in sorted(splits, key=lambda n: -shares[n]):  # train first: a dataset without it is of no use
            if have[name][index] >= min_per_class:
                continue
            free = [s for s in order if not s.split and s.class_patches()[index] > 0]
            if free:
                give(max(free, key=lambda s: s.class_patches()[index]), name)
    for scene in order:
        if scene.split:
            continue

        def deficit(name: str) -> float:
            wanted = shares[name] * total_classes - have[name]
            classes = float(np.sum(wanted / np.maximum(total_classes, 1)))
            return classes + (shares[name] * total - count[name]) / max(total, 1)

        give(scene, max(splits, key=deficit))
    warnings = []
    for name in splits:
        short = [CLASS_NAMES[c].lower() for c, n, t in zip(MASK_CODES, have[name], total_classes)
                 if t and n < min_per_class]
        if short:
            warnings.append(f"The {name} split has fewer than {min_per_class} patch(es) of {', '.join(short)}: "
                            "there are too few scenes holding them; add scenes or change SPLIT.")
    return warnings


@dataclass
class PatchExport:
    folder: str
    manifest: str
    patches: dict[str, int]  # split -> patches written
    scenes: dict[str, list[str]]  # split -> product ids
    warnings: list[str]


def _open_scene(product_path: str, reference_path: str, patch_size: int) -> tuple[Scene, Any]:
    product = open_product(product_path)
    try:
        with rasterio.open(reference_path) as dataset:
            if dataset.count != 1 or not np.issubdtype(np.dtype(dataset.dtypes[0]), np.integer):
                raise ProductError(f"The reference {reference_path} is not a single-band mask of codes 0-4.")
            grid = raster_grid(dataset)
            label = dataset.read(1)
    except rasterio.errors.RasterioIOError as exc:
        raise ProductError(f"Cannot open the reference {reference_path} ({exc}); choose a reference mask GeoTIFF.") from exc
    if label.min() < 0 or label.max() > 4:
        raise ProductError(f"The reference {reference_path} holds the value {int(label.max())}; a reference mask has "
                           "the codes 0-4 (0 no data, 1 clear, 2 cloud shadow, 3 semi-transparent cloud, 4 cloud).")
    if CRS.from_user_input(grid.crs) != CRS.from_user_input(product.crs):
        raise ProductError(f"The reference {reference_path} is not in the CRS of {product.product_id} "
                           f"({product.crs}); make the reference on the product's grid (referencemask does).")
    scene = Scene(product_path, reference_path, product.product_id, product.tile_id,
                  product.sensing_time.date().isoformat(), grid, plan_patches(label.astype(np.uint8), patch_size))
    return scene, (product, label)


def read_sources(path: str | Path) -> list[tuple[str, str]]:
    """(product, reference) rows of a CSV with the columns product and reference; relative paths from its folder."""
    return [(row["product"], row["reference"]) for row in read_path_rows(path, ("product", "reference"), "products")]


def _prepare_folder(folder: Path) -> None:
    """An empty or new folder, or one holding an earlier export (replaced); anything else is refused."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"OUTPUT_FOLDER {folder} is a file; give a folder.")
    folder.mkdir(parents=True, exist_ok=True)
    entries = list(folder.iterdir())
    if not entries:
        return
    manifest = folder / "manifest.json"
    try:
        earlier = json.loads(manifest.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        earlier = False
    if not earlier:
        raise OutputError(f"OUTPUT_FOLDER {folder} is not empty and holds no earlier patch export; choose an empty "
                          "folder.")
    for name in (*SPLITS, "manifest.json", "manifest.csv"):
        target = folder / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _write_patch(path: Path, data: np.ndarray, grid: Grid, *, dtype: str, nodata: float,
                 descriptions: list[str] | None = None) -> None:
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
            for index, text in enumerate(descriptions or [], start=1):
                dataset.set_band_description(index, text)


def export_patches(
    sources: Sequence[tuple[str, str]],
    folder: str | Path,
    *,
    patch_size: int = 512,
    split: str | Sequence[float] = "70,15,15",
    seed: int = 0,
    min_per_class: int = 1,
    feedback: Feedback | None = None,
) -> PatchExport:
    """Write the patches of every (product, reference mask) pair into `folder` with a manifest."""
    feedback = feedback or SilentFeedback()
    shares = parse_split(split)
    if patch_size < 16:
        raise ProductError(f"PATCH_SIZE {patch_size} is too small; give at least 16 pixels (512 is KappaMask's).")
    if not sources:
        raise ProductError("No product was given; give a product and its reference mask.")
    folder = Path(folder)
    scenes, opened = [], []
    for product_path, reference_path in sources:
        check_cancelled(feedback)
        scene, data = _open_scene(str(product_path), str(reference_path), patch_size)
        if any(s.key == scene.key for s in scenes):
            raise ProductError(f"{scene.product_id} is the same scene (tile {scene.tile_id}, {scene.date}) as another "
                               "source; give each scene once.")
        scenes.append(scene)
        opened.append(data)
    levels = {product.level for product, _ in opened}
    bands = [tuple(product.bands) for product, _ in opened]
    if len(levels) > 1 or len(set(bands)) > 1:
        raise ProductError("The products differ in level or bands (" + "; ".join(
            f"{s.product_id}: {p.level} {','.join(p.bands)}" for s, (p, _) in zip(scenes, opened))
            + "); export one level with the same bands at a time.")
    resolutions = {s.grid.resolution for s in scenes}
    if len(resolutions) > 1:
        raise ProductError(f"The references have different resolutions ({sorted(resolutions)} m); make them at one.")
    if not any(s.patches for s in scenes):
        raise ProductError(f"No patch of {patch_size} x {patch_size} pixels is at least {MIN_VALID_FRACTION:.0%} "
                           "labelled in any reference; give a smaller PATCH_SIZE or a fuller reference.")
    warnings = assign_splits(scenes, shares, seed, min_per_class)
    _prepare_folder(folder)
    for name in SPLITS:
        (folder / name).mkdir()
    band_ids = list(bands[0])
    records: list[dict[str, Any]] = []
    total = sum(len(s.patches) for s in scenes)
    done = 0
    for scene, (product, label) in zip(scenes, opened):
        with ProductReader(product, band_ids, scene.grid) as reader:
            for patch in scene.patches:
                check_cancelled(feedback)
                window = Window(patch.col, patch.row, patch_size, patch_size)
                block = reader.read(window)
                image = np.where(block.valid, block.data, np.nan).astype(np.float32)
                patch_label = np.where(block.valid, label[patch.row:patch.row + patch_size,
                                                          patch.col:patch.col + patch_size], NODATA).astype(np.uint8)
                fractions, valid = label_fractions(patch_label)
                identifier = f"{scene.tile_id}_{scene.date}_r{patch.row}_c{patch.col}"
                image_rel, label_rel = f"{scene.split}/{identifier}_image.tif", f"{scene.split}/{identifier}_label.tif"
                patch_grid = scene.grid.window_grid(window)
                _write_patch(folder / image_rel, image, patch_grid, dtype="float32", nodata=float("nan"),
                             descriptions=band_ids)
                _write_patch(folder / label_rel, patch_label[np.newaxis], patch_grid, dtype="uint8", nodata=NODATA,
                             descriptions=["Reference mask (0 no data, 1 clear, 2 cloud shadow, 3 semi-transparent "
                                           "cloud, 4 cloud)"])
                records.append({"id": identifier, "split": scene.split, "image": image_rel, "label": label_rel,
                                "product_id": scene.product_id, "tile_id": scene.tile_id, "date": scene.date,
                                "row": patch.row, "col": patch.col,
                                "class_fractions": {str(c): fractions[c] for c in MASK_CODES},
                                "valid_fraction": valid})
                done += 1
                feedback.progress(100.0 * done / total, "Writing patches")
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "level": opened[0][0].level,
        "resolution": scenes[0].grid.resolution, "patch_size": patch_size, "bands": band_ids,
        "reflectance": REFLECTANCE,
        "classes": {str(code): CLASS_NAMES[code].lower() for code in (NODATA, *MASK_CODES)},
        "split": shares, "seed": seed,
        "sources": [{"product": s.product, "product_id": s.product_id, "tile_id": s.tile_id, "date": s.date,
                     "reference": s.reference} for s in scenes],
        "patches": records,
    }
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(CSV_COLUMNS)
    for record in records:
        writer.writerow([record[k] for k in CSV_COLUMNS[:9]]
                        + [record["class_fractions"][str(c)] for c in MASK_CODES] + [record["valid_fraction"]])
    with atomic_output(folder / "manifest.csv") as temporary:
        temporary.write_text(table.getvalue(), encoding="utf-8")
    with atomic_output(folder / "manifest.json") as temporary:
        temporary.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return PatchExport(
        folder=str(folder), manifest=str(folder / "manifest.json"),
        patches={name: sum(1 for r in records if r["split"] == name) for name in SPLITS},
        scenes={name: [s.product_id for s in scenes if s.split == name] for name in SPLITS},
        warnings=warnings,
    )
