"""Speed levers: each one that is on by default keeps the pinned mask of the built-in tile geometry.

tests/data/reference/ holds that mask for the labelled patch and a window of the real T29UNU product
(tools/reference_masks.py wrote it: the built-in cards' 256 px tiles with 10 % overlap, chosen by accuracy in
docs/speed-levers.md; before that choice they pinned CSmask's 20 % overlap, with which the read-ahead,
onnxruntime 1.32 and the sleeping threads kept 100.0000 % of the mask). Levers that are off by default (fitted
tiles, free spatial dimensions) are checked for correctness here and measured in tools/bench_levers.py.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from model_helpers import (
    card_dict,
    conv_model,
    expected_position_codes,
    position_model,
    positions,
    read_mask,
    utm_grid,
    write_card,
    write_raster,
)
from real_product import WINDOW
from s2cloudmask.inference.classes import CLEAR, CLOUD, CLOUD_SHADOW
from s2cloudmask.inference.cores import usable_cores
from s2cloudmask.inference.errors import ModelError, OutputError, ProductError
from s2cloudmask.inference.masking.engine import mask_product, mask_raster, run_mask
from s2cloudmask.inference.masking.model_card import Tiling, builtin_card, card_from_dict, load_card
from s2cloudmask.inference.masking.model_graph import free_spatial_dims
from s2cloudmask.inference.masking.pipeline import ThreadPlan, hand_off, ordered_map, read_ahead
from s2cloudmask.inference.masking.predict import TilePredictor, gpu_batch_size
from s2cloudmask.inference.masking.session import create_session, gpu_providers, onnxruntime
from s2cloudmask.inference.reading.product import open_product, product_grid
from s2cloudmask.inference.reading.sources import ArraySource, ProductSource

REFERENCE = Path(__file__).resolve().parent.parent / "data" / "reference"
SIX = ["blue", "green", "red", "nir", "swir16", "swir22"]
HAS_CUDA = "CUDAExecutionProvider" in gpu_providers()


def scores(mask: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Overall accuracy and per-class IoU against the hand labels."""
    result = {"accuracy": float((mask == truth).mean())}
    for code, name in ((CLEAR, "clear"), (CLOUD_SHADOW, "shadow"), (CLOUD, "cloud")):
        union = ((mask == code) | (truth == code)).sum()
        result[name] = float(((mask == code) & (truth == code)).sum() / max(union, 1))
    return result


def test_default_levers_keep_the_labelled_patch_mask_and_its_scores(shared_data, tmp_path):
    """On the whole 512 x 512 labelled patch, which the reference mask was made from (tests/data holds a quarter)."""
    with np.load(shared_data / "arrays" / "labelled_6band_patch.npz") as data:
        image, labels = np.moveaxis(data["img"], -1, 0).astype(np.float32), data["msk"][..., 0]
    raster = write_raster(tmp_path / "patch.tif", image, utm_grid(512, 512))
    mask_raster(raster, tmp_path / "mask.tif", bands={b: i + 1 for i, b in enumerate(SIX)}, scale=1.0, offset=0.0,
                level="l1c", device="cpu")
    ours, old = read_mask(tmp_path / "mask.tif"), read_mask(REFERENCE / "patch_l1c.tif")
    agreement = float((ours == old).mean())
    truth = np.where(labels == 0, CLOUD_SHADOW, np.where(labels == 4, CLOUD, CLEAR))
    now, before = scores(ours, truth), scores(old, truth)
    print(f"\npatch: agreement with the reference {agreement:.6f}; scores now {now}, before {before}")
    assert agreement >= 0.99
    one_pixel = 1.0 / ours.size
    for key in before:
        assert now[key] >= before[key] - one_pixel, key


def test_default_levers_keep_the_real_product_mask(real_l2a, tmp_path):
    # the shadow check (a refinement that came later, on by default) is no speed lever: compared without it
    mask_product(real_l2a, tmp_path / "mask.tif", extent=WINDOW, device="cpu", shadow_check=False)
    ours, old = read_mask(tmp_path / "mask.tif"), read_mask(REFERENCE / "t29unu_window.tif")
    valid = old > 0
    agreement = float(((ours == old) & valid).sum() / valid.sum())
    print(f"\nT29UNU window: agreement with the reference {agreement:.6f} of {int(valid.sum())} valid pixels")
    assert agreement >= 0.99


def test_reading_ahead_gives_the_same_mask(real_l2a, tmp_path):
    product = open_product(real_l2a)
    card = builtin_card("L2A", product.bands)
    bands = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B8A", "swir16": "B11", "swir22": "B12"}
    grid = product_grid(product, 60, WINDOW).resampled(30)
    session, _ = create_session(card.model_path, "cpu")
    masks = []
    for ahead in (False, True):
        with ProductSource(product, bands, grid) as source:
            run_mask(source, grid, card, session, tmp_path / f"{ahead}.tif", read_ahead_strips=ahead,
                     tile_rows_per_strip=1)
        masks.append(read_mask(tmp_path / f"{ahead}.tif"))
    np.testing.assert_array_equal(masks[0], masks[1])


def test_a_corrupt_band_file_still_fails_the_run_when_read_ahead(tmp_path):
    from s2cloudmask.tools.synthetic_product import corrupt_jp2, write_product

    path = write_product(tmp_path / "product", level="L2A", size=600, seed=2, extras=False)
    corrupt_jp2(open_product(path).band_path("B11").replace("/vsizip/", ""))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ProductError, match="B11"):
        mask_product(path, out / "mask.tif", device="cpu")
    assert list(out.iterdir()) == []


# --- read-ahead on its own ----------------------------------------------------------------------------------------

def test_read_ahead_keeps_order_and_raises_where_the_producer_failed():
    def produce():
        yield from range(5)
        raise ProductError("the band file x.jp2 is corrupt")

    seen = []
    with pytest.raises(ProductError, match="x.jp2"):
        for item in read_ahead(produce()):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]


def test_read_ahead_stops_its_thread_when_the_consumer_stops():
    produced = []

    def produce():
        for item in range(1000):
            produced.append(item)
            yield item

    stream = read_ahead(produce(), depth=2)
    assert next(stream) == 0
    stream.close()
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) == count <= 4
    assert not any(t.name == "s2cloudmask-read-ahead" for t in threading.enumerate())


# --- hand-off to the writing thread on its own -------------------------------------------------------------------

def test_hand_off_gives_every_item_in_order_to_another_thread():
    seen, threads = [], set()

    def consume(items):
        for item in items:
            seen.append(item)
            threads.add(threading.current_thread().name)

    hand_off(iter(range(50)), consume, depth=2)
    assert seen == list(range(50))
    assert threads == {"s2cloudmask-hand-off"}
    assert not any(t.name == "s2cloudmask-hand-off" for t in threading.enumerate())


def test_an_error_while_consuming_reaches_the_producer_and_stops_it():
    produced = []

    def produce():
        for item in range(1000):
            produced.append(item)
            yield item

    def consume(items):
        for item in items:
            if item == 3:
                raise OutputError("the disk is full")

    with pytest.raises(OutputError, match="disk is full"):
        hand_off(produce(), consume)
    assert len(produced) <= 6
    assert not any(t.name == "s2cloudmask-hand-off" for t in threading.enumerate())


def test_an_error_while_producing_stops_the_consumer_before_it_finishes():
    finished = []

    def produce():
        yield from range(3)
        raise ProductError("the band file x.jp2 is corrupt")

    def consume(items):
        for _ in items:
            pass
        finished.append(True)  # what a finished consumer does after its items, e.g. close a file as complete

    with pytest.raises(ProductError, match="x.jp2"):
        hand_off(produce(), consume)
    assert finished == []
    assert not any(t.name == "s2cloudmask-hand-off" for t in threading.enumerate())


# --- model calls side by side (ordered_map) on their own --------------------------------------------------------

def test_two_lanes_run_two_calls_at_once_and_answer_in_order():
    both_running = threading.Barrier(2, timeout=10)  # broken, and the test fails, unless two calls overlap
    threads = set()

    def call(item):
        threads.add(threading.current_thread().name)
        if item < 2:
            both_running.wait()
        time.sleep(0.001 * (item % 3))  # later items may finish first
        return item * item

    assert list(ordered_map(call, iter(range(20)), lanes=2)) == [(i, i * i) for i in range(20)]
    assert all(name.startswith("s2cloudmask-model") for name in threads) and len(threads) == 2
    assert not any(t.name.startswith("s2cloudmask-model") for t in threading.enumerate())


def test_one_lane_calls_in_the_callers_thread():
    threads = set()

    def call(item):
        threads.add(threading.current_thread().name)
        return item

    assert [item for item, _ in ordered_map(call, iter(range(5)), lanes=1)] == list(range(5))
    assert threads == {threading.current_thread().name}


def test_a_failed_call_raises_at_its_item_and_leaves_no_thread():
    def call(item):
        if item == 4:
            raise ModelError("The model m.onnx failed on a tile")
        return item

    seen = []
    with pytest.raises(ModelError, match="m.onnx"):
        for item, _ in ordered_map(call, iter(range(50)), lanes=2):
            seen.append(item)
    assert seen == [0, 1, 2, 3]
    assert not any(t.name.startswith("s2cloudmask-model") for t in threading.enumerate())


def test_a_caller_that_stops_early_drops_the_calls_not_started():
    taken, called = [], []

    def items():
        for item in range(1000):
            taken.append(item)
            yield item

    def call(item):
        called.append(item)
        time.sleep(0.01)
        return item

    answers = ordered_map(call, items(), lanes=2)
    assert next(answers) == (0, 0)
    answers.close()
    count = len(called)
    time.sleep(0.1)
    assert len(called) == count <= len(taken) <= 4  # one beyond the two running, then nothing more
    assert not any(t.name.startswith("s2cloudmask-model") for t in threading.enumerate())


def test_two_lanes_give_the_real_products_mask(real_l2a, tmp_path):
    """Two model calls at once, each with one onnxruntime thread, against one call with two threads."""
    product = open_product(real_l2a)
    card = builtin_card("L2A", product.bands)
    bands = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B8A", "swir16": "B11", "swir22": "B12"}
    grid = product_grid(product, 60, WINDOW).resampled(30)
    masks = []
    for plan in (ThreadPlan(onnx=2, reader=2, lanes=1), ThreadPlan(onnx=1, reader=2, lanes=2)):
        session, _ = create_session(card.model_path, "cpu", plan.onnx)
        with ProductSource(product, bands, grid, threads=plan.reader) as source:
            result = run_mask(source, grid, card, session, tmp_path / f"{plan.lanes}.tif", lanes=plan.lanes,
                              tile_rows_per_strip=1)
        masks.append(read_mask(tmp_path / f"{plan.lanes}.tif"))
        assert result.stage_seconds["infer"] > 0
    valid = masks[0] > 0
    assert ((masks[0] == masks[1]) & valid).sum() / valid.sum() >= 0.9999


# --- free spatial dimensions and fitted tiles (off by default) ----------------------------------------------------

def test_free_spatial_dims_let_a_fixed_size_model_take_any_tile(tmp_path):
    rng = np.random.default_rng(1)
    weights, bias = rng.normal(size=(3, 4)), rng.normal(size=3)
    model = conv_model(tmp_path / "fixed.onnx", weights, bias, tile=32)
    ort = onnxruntime()
    session = ort.InferenceSession(free_spatial_dims(model.read_bytes()), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", 4, "rows", "cols"]
    x = rng.normal(size=(2, 4, 64, 96)).astype(np.float32)
    out = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(out, np.einsum("cb,nbhw->nchw", weights, x) + bias[None, :, None, None], atol=1e-5)


def test_free_spatial_dims_of_the_dlr_model_keep_its_answer_on_its_own_tile_size():
    card = builtin_card("L1C", ["B02", "B03", "B04", "B08", "B11", "B12"])
    plain, _ = create_session(card.model_path, "cpu")
    free, _ = create_session(card.model_path, "cpu", free_spatial=True)
    assert free.get_inputs()[0].shape[2:] == ["rows", "cols"]
    x = np.random.default_rng(0).normal(size=(1, 6, 256, 256)).astype(np.float32)
    np.testing.assert_allclose(free.run(None, {"input": x})[0], plain.run(None, {"input": x})[0], atol=1e-4)
    assert free.run(None, {"input": x[:, :, :160, :224]})[0].shape == (1, 3, 160, 224)


def test_a_file_that_is_not_onnx_cannot_be_freed(tmp_path):
    with pytest.raises(ModelError, match="junk.onnx is not a readable ONNX file"):
        free_spatial_dims(b"\xff" * 50, "junk.onnx")


def test_fitted_tiles_place_every_pixel_exactly(tmp_path):
    model = write_card(position_model(tmp_path / "position.onnx"),
                       card_dict(["column", "row"], tile=64, overlap=0.25, output="probabilities"))
    card = load_card(model)
    session, _ = create_session(model, "cpu", 1, free_spatial=True)
    for height, width in [(300, 517), (700, 90), (40, 40)]:
        grid = utm_grid(width, height)
        run_mask(ArraySource(positions(height, width), ["column", "row"], grid), grid, card, session,
                 tmp_path / "mask.tif", tiling=Tiling(256, 51, 32), batch_size=1)
        np.testing.assert_array_equal(read_mask(tmp_path / "mask.tif"), expected_position_codes(height, width))


def test_a_card_can_ask_for_fitted_tiles():
    data = card_dict(["blue", "green", "red", "nir"])
    data["tiling"] = {"max_tile": 512, "margin": 51, "multiple": 32, "measured": "by hand"}
    card = card_from_dict(data, "test")
    assert card.tiling == Tiling(512, 51, 32, "by hand")
    assert card_from_dict(card.to_dict(), "round trip") == card
    data["tiling"] = {"max_tile": 500, "margin": 51, "multiple": 32}
    with pytest.raises(ModelError, match="'tiling': max_tile must be a multiple"):
        card_from_dict(data, "test")


# --- the GPU path, exercised on the CPU where it can be -----------------------------------------------------------

def test_io_binding_gives_the_plain_runs_probabilities():
    card = builtin_card("L2A", ["B02", "B03", "B04", "B8A"])
    session, _ = create_session(card.model_path, "cpu")
    stack = np.random.default_rng(4).normal(size=(2, 4, 256, 256)).astype(np.float32)
    bound = TilePredictor(session, card, 2, io_binding=True)
    assert bound.device == "cpu"
    np.testing.assert_array_equal(bound(stack), TilePredictor(session, card, 2)(stack))


def test_gpu_batches_follow_the_free_memory():
    assert gpu_batch_size(None, 256 * 256) == 8
    assert gpu_batch_size(0, 256 * 256) == 1
    assert gpu_batch_size(8 * 2**30, 256 * 256) == 64
    assert gpu_batch_size(1 * 2**30, 256 * 256) == 13  # half of 1 GiB at 600 bytes per pixel
    assert gpu_batch_size(1 * 2**30, 768 * 768) == 1


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="no CUDAExecutionProvider in this onnxruntime (CPU build, or no CUDA GPU); "
                                         "run `make bench-gpu` and this test on a machine with an NVIDIA GPU")
def test_the_gpu_keeps_the_cpus_mask(real_l2a, tmp_path):
    cpu = mask_product(real_l2a, tmp_path / "cpu.tif", extent=WINDOW, device="cpu")
    gpu = mask_product(real_l2a, tmp_path / "gpu.tif", extent=WINDOW, device="gpu")
    assert (cpu.device_used, gpu.device_used) == ("CPU", "CUDA")
    ours, theirs = read_mask(tmp_path / "gpu.tif"), read_mask(tmp_path / "cpu.tif")
    valid = theirs > 0
    assert ((ours == theirs) & valid).sum() / valid.sum() >= 0.99


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this system")
def test_a_process_limited_to_one_core_sizes_its_threads_for_one():
    card = builtin_card("L2A", ["B02", "B03", "B04", "B8A"])
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        assert usable_cores() == 1
        assert ThreadPlan.for_cores() == ThreadPlan(onnx=1, reader=1, lanes=1)
        session, _ = create_session(card.model_path, "cpu")
    finally:
        os.sched_setaffinity(0, allowed)
    assert session.get_session_options().intra_op_num_threads == 1
    assert usable_cores() == len(allowed)


def test_two_cores_or_more_run_two_model_calls_at_once_sharing_the_cores():
    assert ThreadPlan.for_cores(2) == ThreadPlan(onnx=1, reader=2, lanes=2)
    assert ThreadPlan.for_cores(3) == ThreadPlan(onnx=2, reader=3, lanes=2)
    assert ThreadPlan.for_cores(16) == ThreadPlan(onnx=8, reader=16, lanes=2)


def test_sessions_let_idle_threads_sleep():
    card = builtin_card("L2A", ["B02", "B03", "B04", "B8A"])
    session, _ = create_session(card.model_path, "cpu")
    assert session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
