"""Small ONNX models with known answers, model cards for them, and raster helpers for the engine tests.

Shared by the engine, model card, cirrus, device and reference tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import rasterio
from affine import Affine
from onnx import TensorProto, helper, numpy_helper
from rasterio.crs import CRS
from s2cloudmask.inference.grid import Grid
from s2cloudmask.inference.masking.model_card import sidecar_path

UTM = "EPSG:32629"
POSITION_PERIOD = 37.0

# --- small ONNX models ---------------------------------------------------------------------------------------------

def _save(graph: onnx.GraphProto, path: Path, card: dict | None = None) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    if card is not None:
        helper.set_model_props(model, {"s2cloudmask_card": json.dumps(card)})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _io(bands: int, classes: int, tile: int | str = "tile") -> tuple:
    return (
        helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", bands, tile, tile]),
        helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", classes, tile, tile]),
    )


def conv_model(path: Path, weights: np.ndarray, bias: np.ndarray, tile: int | str = "tile",
               card: dict | None = None) -> Path:
    """A 1x1 convolution: logits = weights @ bands + bias, per pixel."""
    classes, bands = weights.shape
    inp, out = _io(bands, classes, tile)
    nodes = [helper.make_node("Conv", ["input", "W", "B"], ["output"], kernel_shape=[1, 1])]
    inits = [numpy_helper.from_array(weights.reshape(classes, bands, 1, 1).astype(np.float32), "W"),
             numpy_helper.from_array(bias.astype(np.float32), "B")]
    return _save(helper.make_graph(nodes, "conv1x1", [inp], [out], inits), path, card)


def pooled_model(path: Path, weights: np.ndarray) -> Path:
    """A 5x5 average pool before a 1x1 convolution: each pixel's answer depends on its neighbours."""
    classes, bands = weights.shape
    inp, out = _io(bands, classes)
    nodes = [helper.make_node("AveragePool", ["input"], ["pooled"], kernel_shape=[5, 5], pads=[2, 2, 2, 2],
                              count_include_pad=0),
             helper.make_node("Conv", ["pooled", "W"], ["output"], kernel_shape=[1, 1])]
    inits = [numpy_helper.from_array(weights.reshape(classes, bands, 1, 1).astype(np.float32), "W")]
    return _save(helper.make_graph(nodes, "pooled", [inp], [out], inits), path)


def position_model(path: Path) -> Path:
    """One-hot probabilities of class floor((col + row) / 37) mod 3, from bands 0 (column) and 1 (row)."""
    inp, out = _io(2, 3)
    nodes = [
        helper.make_node("Conv", ["input", "ones"], ["sum"], kernel_shape=[1, 1]),
        helper.make_node("Div", ["sum", "period"], ["scaled"]),
        helper.make_node("Floor", ["scaled"], ["step"]),
        helper.make_node("Mod", ["step", "three"], ["klass"], fmod=1),
        helper.make_node("Equal", ["klass", "codes"], ["hit"]),
        helper.make_node("Cast", ["hit"], ["output"], to=TensorProto.FLOAT),
    ]
    inits = [
        numpy_helper.from_array(np.ones((1, 2, 1, 1), np.float32), "ones"),
        numpy_helper.from_array(np.array(POSITION_PERIOD, np.float32), "period"),
        numpy_helper.from_array(np.array(3.0, np.float32), "three"),
        numpy_helper.from_array(np.arange(3, dtype=np.float32).reshape(1, 3, 1, 1), "codes"),
    ]
    return _save(helper.make_graph(nodes, "position", [inp], [out], inits), path)


def card_dict(band_names: list[str], *, tile: int = 64, overlap: float = 0.25, output: str = "logits",
              resolution: float = 30.0, codes: tuple[int, ...] = (1, 4, 2), levels: tuple[str, ...] = ("L1C", "L2A"),
              mean: list[float] | None = None, std: list[float] | None = None) -> dict:
    ids = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08", "swir16": "B11", "swir22": "B12",
           "column": "B01", "row": "B09"}
    return {
        "name": "test model",
        "version": "0.1",
        "description": "built in a test",
        "licence": "CC0-1.0",
        "citation": "none",
        "levels": list(levels),
        "bands": [{"name": n, "sentinel2": ids[n]} for n in band_names],
        "resolution": resolution,
        "input": {"reflectance": "as given", "clip": None, "mean": mean or [0.0] * len(band_names),
                  "std": std or [1.0] * len(band_names)},
        "tile_size": tile,
        "overlap": overlap,
        "output": output,
        "classes": [{"name": f"class {i}", "code": c} for i, c in enumerate(codes)],
        "assumptions": [],
    }


def write_card(model: Path, card: dict) -> Path:
    sidecar_path(model).write_text(json.dumps(card), encoding="utf-8")
    return model


def utm_grid(width: int, height: int, resolution: float = 30.0) -> Grid:
    return Grid(UTM, Affine(resolution, 0, 500000, 0, -resolution, 5900020), width, height)


def write_raster(path: Path, data: np.ndarray, grid: Grid, nodata: float | None = None) -> Path:
    profile = {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": data.shape[0],
               "dtype": data.dtype.name, "crs": CRS.from_user_input(grid.crs), "transform": grid.transform}
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return path


def read_mask(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def positions(height: int, width: int) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([cols, rows])


def expected_position_codes(height: int, width: int, first_row: int = 0) -> np.ndarray:
    cols, rows = positions(height, width)
    rows += first_row
    return np.array([1, 4, 2], np.uint8)[(np.floor((cols + rows) / POSITION_PERIOD) % 3).astype(int)]
