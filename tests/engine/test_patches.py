"""Training patch export on generated products: disjoint splits by scene, a manifest in the shared folder format
(docs/patches-format.md), images and labels that match it."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import rasterio
from s2cloudmask.inference.errors import OutputError, ProductError
from s2cloudmask.inference.patch_format import CSV_COLUMNS
from s2cloudmask.inference.reference.patch_export import (
    Patch,
    Scene,
    assign_splits,
    export_patches,
    parse_split,
    read_sources,
)
from s2cloudmask.tools import synthetic_product as sp

SCENES = [("04.00", "compact"), ("02.09", "compact"), ("02.04", "long")]  # three dates: three scenes


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("patches")
    sources = []
    for number, (baseline, layout) in enumerate(SCENES):
        product = sp.write_product(root / str(number), level="L1C", baseline=baseline, layout=layout, size=240,
                                   seed=number, extras=False)
        sources.append((str(product), str(sp.truth_path(product))))
    result = export_patches(sources, root / "out", patch_size=64, split="70,15,15", seed=3)
    return result, json.loads((root / "out" / "manifest.json").read_text()), root / "out", sources


def test_splits_are_disjoint_and_grouped_by_scene(exported):
    result, manifest, _, _ = exported
    patches = manifest["patches"]
    assert len(patches) == 27 and sum(result.patches.values()) == 27
    split_of_scene = {}
    for patch in patches:
        split_of_scene.setdefault((patch["tile_id"], patch["date"]), set()).add(patch["split"])
    assert all(len(splits) == 1 for splits in split_of_scene.values())
    assert {next(iter(s)) for s in split_of_scene.values()} == {"train", "validation", "test"}
    ids = [p["id"] for p in patches]
    assert len(set(ids)) == len(ids)
    for name in ("train", "validation", "test"):
        assert not set(result.scenes[name]) & {s for other in result.scenes if other != name
                                               for s in result.scenes[other]}


def test_manifest_follows_the_shared_format(exported, tmp_path):
    _, manifest, folder, sources = exported
    assert manifest["format"] == "s2cloudmask-patches" and manifest["format_version"] == 1
    assert manifest["level"] == "L1C" and manifest["resolution"] == 10.0 and manifest["patch_size"] == 64
    assert manifest["bands"] == list(sp.BANDS)
    assert manifest["reflectance"] == "(DN + offset) / quantification"
    assert manifest["classes"] == {"0": "no data", "1": "clear", "2": "cloud shadow",
                                   "3": "semi-transparent cloud", "4": "cloud"}
    assert manifest["split"] == pytest.approx({"train": 0.7, "validation": 0.15, "test": 0.15})
    assert manifest["seed"] == 3
    assert [s["product"] for s in manifest["sources"]] == [p for p, _ in sources]
    assert set(manifest["sources"][0]) == {"product", "product_id", "tile_id", "date", "reference"}
    assert set(manifest["patches"][0]) == {"id", "split", "image", "label", "product_id", "tile_id", "date", "row",
                                           "col", "class_fractions", "valid_fraction"}
    with open(folder / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == CSV_COLUMNS == ["id", "split", "image", "label", "product_id", "tile_id", "date", "row",
                                            "col", "clear", "cloud_shadow", "semi_transparent_cloud", "cloud",
                                            "valid_fraction"]
    assert [r["id"] for r in rows] == [p["id"] for p in manifest["patches"]]


def test_images_and_labels_match_the_manifest(exported):
    _, manifest, folder, _ = exported
    patch = manifest["patches"][4]
    assert patch["id"] == f"{patch['tile_id']}_{patch['date']}_r{patch['row']}_c{patch['col']}"
    assert patch["image"] == f"{patch['split']}/{patch['id']}_image.tif"
    with rasterio.open(folder / patch["image"]) as image, rasterio.open(folder / patch["label"]) as label:
        assert image.count == 13 and image.dtypes[0] == "float32" and np.isnan(image.nodata)
        assert list(image.descriptions) == manifest["bands"]
        assert image.transform == label.transform and (image.width, image.height) == (64, 64)
        data, codes = image.read(), label.read(1)
    assert label.dtypes[0] == "uint8" and set(np.unique(codes)) <= {0, 1, 2, 3, 4}
    assert 0.0 < np.nanmedian(data[1]) < 1.0  # reflectance, not digital numbers
    labelled = codes > 0
    assert patch["valid_fraction"] == pytest.approx(labelled.mean())
    for code, fraction in patch["class_fractions"].items():
        assert fraction == pytest.approx(np.mean(codes[labelled] == int(code)))


def test_every_split_gets_each_class_where_scenes_allow():
    def scene(name: str, present: list[int], count: int = 4) -> Scene:
        fractions = {c: (0.5 if c in present else 0.0) for c in (1, 2, 3, 4)}
        return Scene(name, "", name, name, name, None, [Patch(0, i, fractions, 1.0) for i in range(count)])

    scenes = [scene("a", [1, 4], 10), scene("b", [1, 4], 10), scene("c", [1, 2], 2), scene("d", [1, 2], 2),
              scene("e", [1, 2, 3, 4], 2)]
    warnings = assign_splits(scenes, {"train": 0.7, "validation": 0.15, "test": 0.15}, seed=0)
    by_split = {name: [s for s in scenes if s.split == name] for name in ("train", "validation", "test")}
    assert all(by_split.values())
    for name, members in by_split.items():
        have = sum(s.class_patches() for s in members)
        assert have[1] >= 1, name  # shadow, in three scenes, reaches every split
    assert len(warnings) == 2  # thin cloud is in one scene only: two splits go without, and say so
    assert all("fewer than 1 patch(es) of semi-transparent cloud" in w for w in warnings)


def test_split_text_is_checked():
    assert parse_split("70,15,15") == pytest.approx({"train": 0.7, "validation": 0.15, "test": 0.15})
    assert parse_split("8;1;1")["train"] == pytest.approx(0.8)
    for bad in ("70,30", "0,50,50", "a,b,c", "70,-15,45"):
        with pytest.raises(ProductError, match="SPLIT"):
            parse_split(bad)


def test_a_folder_with_other_files_is_refused(exported, tmp_path):
    _, _, _, sources = exported
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not empty"):
        export_patches(sources[:1], tmp_path, patch_size=64)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_sources_from_a_csv_and_the_same_scene_twice(exported, tmp_path):
    _, _, _, sources = exported
    (tmp_path / "scenes.csv").write_text("product,reference\n" + "".join(f"{p},{r}\n" for p, r in sources[:1] * 2))
    listed = read_sources(tmp_path / "scenes.csv")
    assert listed == sources[:1] * 2
    with pytest.raises(ProductError, match="same scene"):
        export_patches(listed, tmp_path / "out", patch_size=64)
