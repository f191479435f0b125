"""Fine-tuning: the DLR graph converted to PyTorch and back, a one-epoch run on generated patches, cancel, bad input.

The training environment (`make train-env`, beside the packages folder) holds PyTorch; the
tests that need it skip with that reason where it is absent.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from s2cloudmask.inference.classes import SEMI_TRANSPARENT
from s2cloudmask.inference.errors import Cancelled, DependencyError, OutputError, TrainingError
from s2cloudmask.inference.feedback import SilentFeedback
from s2cloudmask.inference.masking.engine import mask_product
from s2cloudmask.inference.masking.model_card import METADATA_KEY, builtin_card, load_card, sidecar_path
from s2cloudmask.inference.masking.session import create_session
from s2cloudmask.inference.reference.patch_export import export_patches
from s2cloudmask.inference.training.finetune import TrainingSettings, finetune
from s2cloudmask.inference.training.patch_set import read_patches
from s2cloudmask.tools.synthetic_product import truth_path, write_product

from tests.sandbox_env import REPO

# One epoch on tiny patches; the last layer learns fast enough in those few steps for the new class to show.
LONG = pytest.mark.timeout(1800)  # minutes on an idle CPU; far more where many test runs share two cores
TINY = TrainingSettings(epochs=1, batch_size=4, crop=32, head_learning_rate=1e-2, device="cpu")


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, Path]:
    """Three generated L1C scenes with cirrus (three dates), exported by exportpatches from their truth.tif.

    A scene never straddles two splits, so three scenes give train, validation and
    test; 96 px patches at 10 m are 32 px on the model's 30 m grid.
    """
    folder = tmp_path_factory.mktemp("generated")
    sources = []
    for number, (baseline, layout) in enumerate((("04.00", "compact"), ("02.09", "compact"), ("02.04", "long"))):
        product = write_product(folder / f"scene{number}", level="L1C", baseline=baseline, layout=layout, size=600,
                                seed=3 + number, cloud_cover=0.3, cirrus_cover=0.15)
        sources.append((str(product), str(truth_path(product))))
    patches = folder / "patches"
    export = export_patches(sources, patches, patch_size=96, split="34,33,33", seed=0)
    assert all(export.patches[split] for split in ("train", "validation", "test")), export
    return Path(sources[0][0]), patches


@pytest.fixture(scope="module")
def tuned(training_python, generated, tmp_path_factory):
    product, patches = generated
    out = tmp_path_factory.mktemp("model") / "tuned.onnx"
    stages: list[str] = []

    class Recording(SilentFeedback):
        def progress(self, percent: float, stage: str) -> None:
            stages.append(stage)

    result = finetune(patches, out, settings=TINY, feedback=Recording())
    return result, stages


@pytest.mark.slow
@LONG
def test_the_dlr_graph_converts_and_exports_like_onnxruntime_runs_it(training_python, test_data, tmp_path):
    """Conversion of the real 6-band L2A graph (Resize nodes, float16 weights, computed padding) on a real tile."""
    card = builtin_card("L2A", ["B02", "B03", "B04", "B08", "B11", "B12"])
    image = np.load(test_data / "arrays" / "labelled_6band_patch.npz")["img"][:256, :256].transpose(2, 0, 1)
    x = ((image - np.array(card.mean)[:, None, None]) / np.array(card.std)[:, None, None])[None].astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    exported = tmp_path / "exported.onnx"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([str(training_python), "-m", "trainer", "convert", card.model_path, str(tmp_path / "x.npy"),
                           str(tmp_path / "y.npy"), "--export", str(exported)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    base, _ = create_session(card.model_path, "cpu", 1)
    expected = base.run(None, {"input": x})[0]
    converted = np.load(tmp_path / "y.npy")
    # the DLR graph computes in float16, the converted network in float32
    assert np.abs(converted - expected).max() < 0.05 * np.abs(expected).max()
    assert (converted.argmax(1) == expected.argmax(1)).mean() > 0.999
    session, _ = create_session(exported, "cpu", 1)
    assert [d if isinstance(d, int) else "symbolic" for d in session.get_inputs()[0].shape] == \
        ["symbolic", 6, "symbolic", "symbolic"]
    assert np.abs(session.run(None, {"input": x})[0] - converted).max() < 1e-3
    taller = np.concatenate([x, x[:, :, :64]], axis=2)
    assert session.run(None, {"input": taller})[0].shape == (1, 3, 320, 256)


@pytest.mark.slow
@LONG
def test_one_epoch_writes_a_model_with_its_card_and_report(tuned):
    result, stages = tuned
    model = Path(result.output)
    assert sorted(p.name for p in model.parent.iterdir()) == [
        "tuned.card.json", "tuned.onnx", "tuned.validation.html", "tuned.validation.json"]
    card = load_card(model)
    assert card.class_codes() == [1, 4, 2, SEMI_TRANSPARENT]  # the labels hold thin cloud: a fourth output
    assert (card.tile_size, card.overlap, card.resolution, card.levels) == (256, 0.1, 30.0, ("L1C",))
    base = builtin_card("L1C", ["B02", "B03", "B04", "B08", "B11", "B12"])
    assert (card.band_names, card.mean, card.std) == (base.band_names, base.mean, base.std)
    training = card.training
    assert training["epochs_requested"] == 1 and training["epochs_run"] == 1 and training["best_epoch"] in (0, 1)
    assert training["device"] == "CPU" == result.device_used
    assert training["patches"]["manifest"].endswith("manifest.json") and training["patches"]["test"] >= 1
    assert training["classes_added"] == ["semi-transparent cloud"]
    assert 0 < training["validation_before"]["overall_accuracy"] <= 1
    epoch = training["history"][0]
    assert epoch["train_loss"] > 0 and epoch["validation_loss"] > 0 and 0 <= epoch["validation_overall_accuracy"] <= 1
    scores = training["test_scores"]
    assert scores["split"] == "test"
    for side in ("base", "finetuned"):
        figures = scores[side]["as_labelled"]
        assert 0 < figures["overall_accuracy"] <= 1 and figures["pixels"] > 0
        assert set(figures["per_class"]) == {"clear", "cloud_shadow", "semi_transparent_cloud", "cloud"}
    # the card embedded in the ONNX file is the side-car's
    session, _ = create_session(model, "cpu", 1)
    embedded = json.loads(session.get_modelmeta().custom_metadata_map[METADATA_KEY])
    assert embedded == json.loads(sidecar_path(model).read_text(encoding="utf-8"))
    report = json.loads(Path(result.report).read_text(encoding="utf-8"))
    assert report["split"] == "test" and report["base"] == scores["base"] and report["finetuned"] == scores["finetuned"]
    html = Path(result.report_html).read_text(encoding="utf-8")
    assert "overall accuracy" in html and "Semi-transparent cloud counted as cloud" in html
    assert any(stage.startswith("Epoch 1 of 1: training loss") and "validation accuracy" in stage for stage in stages)
    assert any(stage.startswith("Training on CPU") for stage in stages)


@pytest.mark.slow
@LONG
def test_the_tuned_model_masks_a_product_with_class_3_from_the_model(tuned, generated, tmp_path):
    result, _ = tuned
    product, _ = generated
    mask = mask_product(product, tmp_path / "mask.tif", model=result.output, resolution=60, device="cpu")
    assert mask.class3_source == "model"
    assert mask.model_used.startswith("tuned (fine-tuned ukis-csmask")
    with rasterio.open(mask.output) as dataset:
        codes = dataset.read(1)
    assert set(np.unique(codes)) <= {0, 1, 2, 3, 4}
    assert (codes == SEMI_TRANSPARENT).any(), mask.class_percentages


@pytest.mark.slow
@LONG
def test_cancel_stops_the_trainer_and_leaves_nothing(training_python, generated, tmp_path):
    _, patches = generated

    class CancelWhenTraining(SilentFeedback):
        cancelled = False

        def progress(self, percent: float, stage: str) -> None:
            self.cancelled = self.cancelled or stage.startswith("Training on")

        def is_cancelled(self) -> bool:
            return self.cancelled

    with pytest.raises(Cancelled, match="no model was written"):
        finetune(patches, tmp_path / "model.onnx", settings=TINY, feedback=CancelWhenTraining())
    assert list(tmp_path.iterdir()) == []


def test_bad_patch_folders_are_named(tmp_path, generated):
    with pytest.raises(TrainingError, match=r"nowhere does not exist"):
        read_patches(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingError, match=r"empty cannot be used: it has no manifest.json.*exportpatches"):
        read_patches(tmp_path / "empty")
    _, patches = generated
    manifest = json.loads((patches / "manifest.json").read_text(encoding="utf-8"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(TrainingError, match=r"patch file\(s\) are missing"):
        read_patches(broken)
    manifest["patches"] = [p for p in manifest["patches"] if p["split"] != "test"]
    for entry in manifest["patches"]:
        for key in ("image", "label"):
            entry[key] = str(patches / entry[key])
    (broken / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(TrainingError, match="has no test patches"):
        finetune(broken, tmp_path / "model.onnx", settings=TINY)
    with pytest.raises(OutputError, match=r"must be an .onnx file"):
        finetune(patches, tmp_path / "model.tif", settings=TINY)


def test_a_missing_training_environment_says_how_to_make_it(generated, tmp_path, monkeypatch):
    monkeypatch.setenv("S2CLOUDMASK_TRAIN_ENV", str(tmp_path / "no-env"))
    _, patches = generated
    with pytest.raises(DependencyError, match=r"no-env, which does not exist.*Create the fine-tuning environment.*training_env.py create"):
        finetune(patches, tmp_path / "model.onnx", settings=TINY)
    assert not (tmp_path / "model.onnx").exists()
