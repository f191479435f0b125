"""Model cards: the pinned keys, the built-in cards of ukis-csmask, KappaMask templates, side-car and embedded cards."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from model_helpers import card_dict, conv_model, write_card
from s2cloudmask.inference.errors import ModelError
from s2cloudmask.inference.masking.model_card import (
    CARD_KEYS,
    OPTIONAL_KEYS,
    TEMPLATES,
    builtin_card,
    card_from_dict,
    load_card,
    ukis_csmask_dir,
)
from s2cloudmask.inference.masking.session import create_session

PINNED_KEYS = {
    "name", "version", "description", "licence", "citation", "levels", "bands", "resolution", "input",
    "tile_size", "overlap", "output", "classes", "assumptions",
}


def test_card_keys_are_pinned():
    assert CARD_KEYS == PINNED_KEYS
    assert OPTIONAL_KEYS == {"tiling", "training"}  # training: a fine-tuned model's provenance
    card = builtin_card("L1C", ["B02", "B03", "B04", "B08"])
    assert set(card.to_dict()) == PINNED_KEYS
    assert set(card.to_dict()["input"]) == {"reflectance", "clip", "mean", "std"}
    for template in TEMPLATES.glob("*.json"):
        assert set(json.loads(template.read_text(encoding="utf-8"))) == PINNED_KEYS, template.name


@pytest.mark.parametrize(("level", "bands", "variant"), [
    ("L1C", ["B02", "B03", "B04", "B08", "B11", "B12"], "6b_l1c"),
    ("L2A", ["blue", "green", "red", "nir", "swir16", "swir22"], "6b_l2a"),
    ("L1C", ["B02", "B03", "B04", "B08", "B11"], "4b_l1c"),
    ("l2a", ["B02", "B03", "B04", "B8A"], "4b_l2a"),
])
def test_builtin_cards_follow_the_installed_package(level, bands, variant):
    card = builtin_card(level, bands)
    model = ukis_csmask_dir() / f"model_{variant}.onnx"
    info = json.loads(model.with_suffix(".json").read_text(encoding="utf-8"))
    stats = info["data"]["dataset_statistics"]
    assert card.model_path == str(model)
    assert card.band_names == stats["band_names"]
    assert list(card.mean) == pytest.approx(stats["img"][0]) and list(card.std) == pytest.approx(stats["img"][1])
    assert card.version == info["model"]["version"]
    assert (card.tile_size, card.overlap, card.resolution, card.output) == (256, 0.1, 30.0, "logits")
    assert card.class_codes() == [1, 4, 2]
    assert card.levels == (level.upper(),)
    nir = next(b for b in card.bands if b.name == "nir")
    assert nir.sentinel2 == "B08"
    assert nir.fallback == ("B8A" if level.upper() == "L2A" else None)
    assert card_from_dict(card.to_dict(), "round trip", card.model_path) == card


def test_builtin_card_matches_its_model():
    from s2cloudmask.inference.masking.model_card import check_card_matches

    card = builtin_card("L2A", ["B02", "B03", "B04", "B08", "B11", "B12"])
    session, _ = create_session(card.model_path, "cpu", 1)
    check_card_matches(card, session)


def test_training_provenance_is_an_optional_object(tmp_path):
    card = card_dict(["blue", "green", "red", "nir"])
    assert card_from_dict(card, "plain").training is None
    card["training"] = {"epochs_run": 3, "test_scores": {"base": {}, "finetuned": {}}}
    loaded = card_from_dict(card, "tuned")
    assert loaded.training["epochs_run"] == 3 and loaded.to_dict()["training"] == card["training"]
    card["training"] = "three epochs"
    with pytest.raises(ModelError, match="'training' must be a JSON object"):
        card_from_dict(card, "tuned.card.json")


def test_kappamask_templates():
    l1c = card_from_dict(json.loads((TEMPLATES / "kappamask_l1c.json").read_text(encoding="utf-8")), "l1c")
    l2a = card_from_dict(json.loads((TEMPLATES / "kappamask_l2a.json").read_text(encoding="utf-8")), "l2a")
    assert [b.sentinel2 for b in l1c.bands] == ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09",
                                                 "B10", "B11", "B12"]
    assert [b.sentinel2 for b in l2a.bands] == ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09",
                                                 "B11", "B12", "AOT", "WVP"]
    for card in (l1c, l2a):
        assert (card.resolution, card.tile_size) == (10.0, 512)
        assert card.class_codes() == [0, 1, 2, 3, 4, 0]
        assert [c.name for c in card.classes] == ["missing", "clear", "cloud shadow", "semi-transparent cloud",
                                                   "cloud", "undefined"]
        assert card.clip == (0.0, 1.0)
        assert any("DN / 10000" in a and "check" in a for a in card.assumptions)
        assert "4100" in card.citation
    assert l1c.levels == ("L1C",) and l2a.levels == ("L2A",)


def test_sidecar_card_wins_over_the_embedded_one(tmp_path):
    embedded = card_dict(["blue", "green", "red", "nir"])
    embedded["name"] = "embedded"
    model = conv_model(tmp_path / "m.onnx", np.ones((3, 4)), np.zeros(3), card=embedded)
    assert load_card(model).name == "embedded"
    sidecar = card_dict(["blue", "green", "red", "nir"])
    sidecar["name"] = "side-car"
    write_card(model, sidecar)
    assert load_card(model).name == "side-car"
    assert load_card(model).model_path == str(model)


def test_card_problems_are_named(tmp_path):
    model = conv_model(tmp_path / "bare.onnx", np.ones((3, 4)), np.zeros(3))
    with pytest.raises(ModelError, match=r"bare.onnx has no model card: add one beside it as bare.card.json"):
        load_card(model)
    (tmp_path / "bare.card.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="bare.card.json is not valid JSON"):
        load_card(model)
    broken = card_dict(["blue", "green", "red", "nir"])
    del broken["tile_size"]
    broken["colour"] = "blue"
    with pytest.raises(ModelError, match="keys missing: tile_size"):
        card_from_dict(broken, "broken.card.json")
    del broken["colour"]
    broken["tile_size"] = 64
    broken["input"]["mean"] = [0.0]
    with pytest.raises(ModelError, match="'mean' and 'std' need one value per band"):
        card_from_dict(broken, "broken.card.json")
    broken["input"]["mean"] = [0.0] * 4
    broken["output"] = "softmax"
    with pytest.raises(ModelError, match="'output' must be one of logits, probabilities"):
        card_from_dict(broken, "broken.card.json")
    with pytest.raises(ModelError, match="does not exist"):
        load_card(tmp_path / "absent.onnx")


def test_missing_ukis_csmask_is_a_dependency_error(sandbox, tmp_path):
    """With an empty dependency folder, the built-in card says what to install and how."""
    code = (
        "from s2cloudmask.inference.masking.model_card import builtin_card\n"
        "from s2cloudmask.inference.errors import DependencyError\n"
        "try:\n    builtin_card('L1C', ['B02', 'B03', 'B04', 'B08'])\n"
        "except DependencyError as exc:\n    print(exc)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(sandbox / "packages")
    env["S2CLOUDMASK_DEPS_ROOT"] = str(tmp_path)  # an empty dependency root: nothing installed
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "onnxruntime, ukis-csmask" in done.stdout, done.stderr  # every missing package, not only this one
    assert "Install dependencies" in done.stdout and "installer.py install" in done.stdout


@pytest.mark.parametrize(("change", "named"), [
    (lambda card: card["input"].update(mean=[0.1, float("nan"), 0.1, 0.1]), r"'mean' holds values that are not finite numbers \(green: nan\)"),
    (lambda card: card["input"].update(std=[1.0, 1.0, float("inf"), 1.0]), r"'std' holds values that are not finite numbers \(red: inf\)"),
    (lambda card: card["input"].update(std=[1.0, -1.0, 1.0, 1.0]), "'std' must be positive"),
    (lambda card: card["input"].update(clip=[0.0, float("nan")]), "'clip' must be two finite numbers"),
    (lambda card: card.update(resolution=1e9), r"'resolution' must be .* \(got 1000000000.0\)"),
    (lambda card: card.update(resolution=float("nan")), "'resolution' must be"),
    (lambda card: card.update(tile_size=100000), "'tile_size' must be 16 to 4096 pixels"),
])
def test_card_numbers_that_cannot_be_right_are_refused_by_name(tmp_path, change, named):
    """NaN statistics used to be accepted (a mask of nothing), a resolution of 1e9 m ran for minutes."""
    card = card_dict(["blue", "green", "red", "nir"])
    change(card)
    path = tmp_path / "model.card.json"
    path.write_text(json.dumps(card), encoding="utf-8")  # NaN and Infinity as JSON writes them
    with pytest.raises(ModelError, match=named):
        card_from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))
