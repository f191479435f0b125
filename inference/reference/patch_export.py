"""Training patches from reference masks, split into train / validation / test for fine-tuning a model.

The folder format is docs/patches-format.md's (patch_format.py writes it, the
fine-tuning reads it): float32 reflectance images with one band per Sentinel-2
band, uint8 labels with the mask codes, and a manifest in JSON and CSV. Scenes, not
patches, are split (KappaZeta's rule): every patch of one (tile, date) goes to
one split, so neighbouring patches never sit on both sides. Within that rule
the split is stratified by the classes present: first each split with a share
gets, where the scenes allow, at least `min_per_class` patches of every class
(rarest class first, the scene richest in it, train before validation and
test, so a single scene is a training set), then each remaining scene goes
to the split furthest below its share of patches and of each class.
"""

from __future__ import annotations

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

from ..classes import CLASS_NAMES, MASK_CODES, NODATA
from ..defaults import SPLITS
from ..errors import OutputError, ProductError
from ..feedback import Feedback, SilentFeedback, check_cancelled
from ..grid import Grid
from ..outputs import check_outputs
from ..patch_format import (
    FORMAT,
    MANIFEST_JSON,
    label_fractions,
    make_split_folders,
    patch_folder_files,
    write_manifest,
    write_patch,
)
from ..reading.lists import read_path_rows
from ..reading.paths import product_container
from ..reading.product import Product, open_product
from ..reading.reader import ProductReader
from ..reading.sources import raster_grid

MIN_VALID_FRACTION = 0.5  # patches with less labelled data than this are not exported
PRESENT_FRACTION = 0.01  # a class counts as present in a patch from this share of its labelled pixels on


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
    opened: Product | None = field(default=None, repr=False)  # the product, opened once
    label: np.ndarray | None = field(default=None, repr=False)  # the reference's codes on `grid`

    @property
    def key(self) -> tuple[str, str]:
        return (self.tile_id, self.date)

    def class_patches(self) -> np.ndarray:
        """Patches in which each class 1-4 is present."""
        return sum((p.present().astype(np.int64) for p in self.patches), np.zeros(len(MASK_CODES), np.int64))


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


def _open_scene(product_path: str, reference_path: str, patch_size: int) -> Scene:
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
    label = label.astype(np.uint8)
    return Scene(product_path, reference_path, product.product_id, product.tile_id,
                 product.sensing_time.date().isoformat(), grid, plan_patches(label, patch_size), opened=product,
                 label=label)


def open_scenes(sources: Sequence[tuple[str, str]], patch_size: int, feedback: Feedback) -> list[Scene]:
    """Each (product, reference) pair opened and planned into patches; refused unless they make one dataset."""
    scenes: list[Scene] = []
    for product_path, reference_path in sources:
        check_cancelled(feedback)
        scene = _open_scene(str(product_path), str(reference_path), patch_size)
        if any(s.key == scene.key for s in scenes):
            raise ProductError(f"{scene.product_id} is the same scene (tile {scene.tile_id}, {scene.date}) as another "
                               "source; give each scene once.")
        scenes.append(scene)
    if len({s.opened.level for s in scenes}) > 1 or len({tuple(s.opened.bands) for s in scenes}) > 1:
        raise ProductError("The products differ in level or bands (" + "; ".join(
            f"{s.product_id}: {s.opened.level} {','.join(s.opened.bands)}" for s in scenes)
            + "); export one level with the same bands at a time.")
    resolutions = {s.grid.resolution for s in scenes}
    if len(resolutions) > 1:
        raise ProductError(f"The references have different resolutions ({sorted(resolutions)} m); make them at one.")
    if not any(s.patches for s in scenes):
        raise ProductError(f"No patch of {patch_size} x {patch_size} pixels is at least {MIN_VALID_FRACTION:.0%} "
                           "labelled in any reference; give a smaller PATCH_SIZE or a fuller reference.")
    return scenes


def read_sources(path: str | Path) -> list[tuple[str, str]]:
    """(product, reference) rows of a CSV with the columns product and reference; relative paths from its folder."""
    return [(row["product"], row["reference"]) for row in read_path_rows(path, ("product", "reference"), "products")]


def source_inputs(sources: Sequence[tuple[str, str]]) -> dict[str, Path]:
    """The products (their .SAFE folders or zips) and references an export reads, by role."""
    inputs: dict[str, Path] = {}
    for number, (product, reference) in enumerate(sources, start=1):
        which = "" if len(sources) == 1 else f" {number}"
        inputs.update({f"the product{which}": product_container(product), f"the reference{which}": Path(reference)})
    return inputs


def _prepare_folder(folder: Path) -> None:
    """An empty or new folder, or one holding an earlier export (replaced); anything else is refused."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = list(folder.iterdir())
    if not entries:
        return
    manifest = folder / MANIFEST_JSON
    try:
        earlier = json.loads(manifest.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        earlier = False
    if not earlier:
        raise OutputError(f"OUTPUT_FOLDER {folder} is not empty and holds no earlier patch export; choose an empty "
                          "folder.")
    for target in patch_folder_files(folder).values():
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def write_patches(folder: Path, scenes: list[Scene], patch_size: int, feedback: Feedback) -> list[dict[str, Any]]:
    """Every planned patch of every scene into its scene's split folder; the manifest records."""
    bands = list(scenes[0].opened.bands)
    records: list[dict[str, Any]] = []
    total = sum(len(s.patches) for s in scenes)
    for scene in scenes:
        described = {"product_id": scene.product_id, "tile_id": scene.tile_id, "date": scene.date}
        with ProductReader(scene.opened, bands, scene.grid) as reader:
            for patch in scene.patches:
                check_cancelled(feedback)
                window = Window(patch.col, patch.row, patch_size, patch_size)
                block = reader.read(window)
                image = np.where(block.valid, block.data, np.nan)
                label = np.where(block.valid, scene.label[window.toslices()], NODATA)
                records.append(write_patch(folder, scene.split, described, patch.row, patch.col, image, label,
                                           scene.grid.window_grid(window), bands))
                feedback.progress(100.0 * len(records) / total, "Writing patches")
    return records


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
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"OUTPUT_FOLDER {folder} is a file; give a folder.")
    check_outputs(patch_folder_files(folder), source_inputs(sources))
    scenes = open_scenes(sources, patch_size, feedback)
    warnings = assign_splits(scenes, shares, seed, min_per_class)
    _prepare_folder(folder)
    make_split_folders(folder)
    records = write_patches(folder, scenes, patch_size, feedback)
    manifest = write_manifest(
        folder, level=scenes[0].opened.level, resolution=scenes[0].grid.resolution, patch_size=patch_size,
        bands=list(scenes[0].opened.bands), split=shares, seed=seed, records=records,
        sources=[{"product": s.product, "product_id": s.product_id, "tile_id": s.tile_id, "date": s.date,
                  "reference": s.reference} for s in scenes],
    )
    return PatchExport(
        folder=str(folder), manifest=str(manifest),
        patches={name: sum(1 for r in records if r["split"] == name) for name in SPLITS},
        scenes={name: [s.product_id for s in scenes if s.split == name] for name in SPLITS},
        warnings=warnings,
    )
