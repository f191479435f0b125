"""Model cards: everything the engine must know to feed a model and read its answer.

A card travels with its model, either inside the ONNX file (metadata_props key
"s2cloudmask_card", a JSON string) or beside it (`model.onnx` ->
`model.card.json`; the side-car wins, so a user can correct an embedded card
without re-exporting the model). The default models, the DLR U-Nets of
ukis-csmask, get built-in cards made from the JSON files the package ships,
so their statistics are never copied here and follow the installed version.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..about import MODEL_CARD_DIR
from ...packages.activation import missing_message, missing_modules
from ..classes import CLEAR, CLOUD, CLOUD_SHADOW, NODATA, SEMI_TRANSPARENT
from ..errors import DependencyError, ModelError
from .session import open_for_metadata

METADATA_KEY = "s2cloudmask_card"
CARD_SUFFIX = ".card.json"
CARD_KEYS = frozenset(
    {
        "name",
        "version",
        "description",
        "licence",
        "citation",
        "levels",
        "bands",
        "resolution",
        "input",
        "tile_size",
        "overlap",
        "output",
        "classes",
        "assumptions",
    }
)
# Optional: "tiling" (see Tiling) and "training", the provenance of a fine-tuned model (base model, patches
# manifest, epochs, device, validation history and test-split scores of base and fine-tuned model).
OPTIONAL_KEYS = frozenset({"tiling", "training"})
INPUT_KEYS = frozenset({"reflectance", "clip", "mean", "std"})
TILING_KEYS = frozenset({"max_tile", "margin", "multiple", "measured"})
OUTPUT_KINDS = ("logits", "probabilities")
LEVELS = ("L1C", "L2A")
# Sentinel-2 pixels are 10-60 m; a model trained far outside this says nothing about Sentinel-2, and a card
# resolution of 1e9 m would only make the engine resample for minutes to a single pixel.
RESOLUTION_RANGE = (1.0, 1000.0)
MIN_TILE, MAX_TILE = 16, 4096
TEMPLATES = MODEL_CARD_DIR

# Model band names (STAC eo common names where one exists) -> Sentinel-2 band ids.
SENTINEL2_BANDS: dict[str, str] = {
    "coastal": "B01",
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "rededge1": "B05",
    "rededge2": "B06",
    "rededge3": "B07",
    "nir": "B08",
    "nir08": "B8A",
    "nir09": "B09",
    "cirrus": "B10",
    "swir16": "B11",
    "swir22": "B12",
    "aot": "AOT",
    "wvp": "WVP",
}
BAND_NAMES: dict[str, str] = {band: name for name, band in SENTINEL2_BANDS.items()}

UKIS_CITATION = (
    "Wieland, M., Li, Y., Martinis, S. (2019): Multi-sensor cloud and cloud shadow segmentation with a "
    "convolutional neural network. Remote Sensing of Environment 230, 111203. "
    "https://doi.org/10.1016/j.rse.2019.05.022"
)
UKIS_CLASSES = (("clear", CLEAR), ("cloud", CLOUD), ("cloud shadow", CLOUD_SHADOW))
# ukis-csmask's CSmask cuts images into tiles of the model's size (256 px) overlapping by 20 %. The built-in
# cards keep the tile size and overlap by 10 %: the fastest geometry (0.80x the model pixels of a full tile)
# whose figures on everything with labels stay within the noise of CSmask's, measured by `make bench-levers`
# (docs/speed-levers.md). The DLR models pool over the whole tile, so the overlap changes the mask itself.
CSMASK_OVERLAP = 0.2
BUILTIN_OVERLAP = 0.1


@dataclass(frozen=True)
class BandSpec:
    name: str  # model band name, e.g. "nir"
    sentinel2: str  # Sentinel-2 band id, e.g. "B08"
    fallback: str | None = None  # band id used where `sentinel2` is absent from a product


@dataclass(frozen=True)
class ClassSpec:
    name: str
    code: int  # mask code this output channel votes for


@dataclass(frozen=True)
class Tiling:
    """Tiles fitted to each image instead of the model's own tile size (card key "tiling", optional).

    Only for fully convolutional models: the engine frees the rows and columns
    of the model's declared input (model_graph.py) and cuts each image into as
    few tiles of at most `max_tile` pixels as cover it, blended over `margin`
    pixels; tile sides are multiples of `multiple` (an encoder that halves the
    size five times needs 32).

    The built-in DLR models do not use it: fitted tiles of up to 256-512 px
    scored below their own 256 px tiles on the labelled patch or the generated
    products, beyond the noise of shifting the tiles (docs/speed-levers.md).
    """

    max_tile: int
    margin: int
    multiple: int
    measured: str = ""  # how the numbers were chosen, for the reader of the card


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    description: str
    licence: str
    citation: str
    levels: tuple[str, ...]
    bands: tuple[BandSpec, ...]
    resolution: float
    reflectance: str  # how digital numbers become the reflectance the model expects
    clip: tuple[float, float] | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    tile_size: int
    overlap: float
    output: str
    classes: tuple[ClassSpec, ...]
    assumptions: tuple[str, ...] = ()
    tiling: Tiling | None = None
    training: dict[str, Any] | None = field(default=None, compare=False)
    model_path: str = field(default="", compare=False)

    @property
    def band_names(self) -> list[str]:
        return [band.name for band in self.bands]

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    def class_codes(self) -> list[int]:
        return [spec.code for spec in self.classes]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "licence": self.licence,
            "citation": self.citation,
            "levels": list(self.levels),
            "bands": [
                {"name": b.name, "sentinel2": b.sentinel2, **({"fallback": b.fallback} if b.fallback else {})}
                for b in self.bands
            ],
            "resolution": self.resolution,
            "input": {
                "reflectance": self.reflectance,
                "clip": list(self.clip) if self.clip else None,
                "mean": list(self.mean),
                "std": list(self.std),
            },
            "tile_size": self.tile_size,
            "overlap": self.overlap,
            "output": self.output,
            "classes": [{"name": c.name, "code": c.code} for c in self.classes],
            "assumptions": list(self.assumptions),
            **({"tiling": {"max_tile": self.tiling.max_tile, "margin": self.tiling.margin,
                           "multiple": self.tiling.multiple, "measured": self.tiling.measured}}
               if self.tiling else {}),
            **({"training": self.training} if self.training is not None else {}),
        }


def card_from_dict(data: Any, source: str, model_path: str = "") -> ModelCard:
    """Validate a card's JSON; every problem is named together with the file it came from."""

    def fail(problem: str) -> ModelError:
        return ModelError(f"The model card {source} is not usable: {problem}. Fix the card (see {TEMPLATES}).")

    if not isinstance(data, dict):
        raise fail("it is not a JSON object")
    missing = sorted(CARD_KEYS - data.keys())
    unknown = sorted(data.keys() - CARD_KEYS - OPTIONAL_KEYS)
    if missing:
        raise fail(f"keys missing: {', '.join(missing)}")
    if unknown:
        raise fail(f"unknown keys: {', '.join(unknown)}")
    try:
        bands = tuple(BandSpec(b["name"], b["sentinel2"], b.get("fallback")) for b in data["bands"])
        classes = tuple(ClassSpec(c["name"], int(c["code"])) for c in data["classes"])
        spec = data["input"]
        if set(spec) != INPUT_KEYS:
            raise fail(f"'input' must hold exactly {', '.join(sorted(INPUT_KEYS))}")
        tiling = data.get("tiling")
        if tiling is not None:
            if not isinstance(tiling, dict) or not {"max_tile", "margin", "multiple"} <= set(tiling) <= TILING_KEYS:
                raise fail("'tiling' must hold max_tile, margin and multiple (and optionally measured)")
            tiling = Tiling(int(tiling["max_tile"]), int(tiling["margin"]), int(tiling["multiple"]),
                            str(tiling.get("measured", "")))
        card = ModelCard(
            name=str(data["name"]),
            version=str(data["version"]),
            description=str(data["description"]),
            licence=str(data["licence"]),
            citation=str(data["citation"]),
            levels=tuple(str(level).upper() for level in data["levels"]),
            bands=bands,
            resolution=float(data["resolution"]),
            reflectance=str(spec["reflectance"]),
            clip=(float(spec["clip"][0]), float(spec["clip"][1])) if spec["clip"] is not None else None,
            mean=tuple(float(v) for v in spec["mean"]),
            std=tuple(float(v) for v in spec["std"]),
            tile_size=int(data["tile_size"]),
            overlap=float(data["overlap"]),
            output=str(data["output"]),
            classes=classes,
            assumptions=tuple(str(a) for a in data["assumptions"]),
            tiling=tiling,
            training=data.get("training"),
            model_path=model_path,
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise fail(f"a value has the wrong form ({exc!r})") from exc
    if not bands:
        raise fail("'bands' is empty")
    if card.training is not None and not isinstance(card.training, dict):
        raise fail("'training' must be a JSON object")
    if len(card.mean) != len(bands) or len(card.std) != len(bands):
        raise fail(f"'mean' and 'std' need one value per band ({len(bands)})")
    for key, values in (("mean", card.mean), ("std", card.std)):
        bad = [f"{card.bands[i].name}: {v!r}" for i, v in enumerate(values) if not math.isfinite(v)]
        if bad:
            raise fail(f"'{key}' holds values that are not finite numbers ({', '.join(bad)})")
    if any(s <= 0 for s in card.std):
        raise fail("'std' must be positive for every band (a zero or negative spread cannot normalise)")
    if card.clip is not None and not (all(math.isfinite(v) for v in card.clip) and card.clip[0] < card.clip[1]):
        raise fail(f"'clip' must be two finite numbers, low before high (got {list(card.clip)})")
    if card.output not in OUTPUT_KINDS:
        raise fail(f"'output' must be one of {', '.join(OUTPUT_KINDS)}, not {card.output!r}")
    if any(level not in LEVELS for level in card.levels):
        raise fail(f"'levels' may only hold {', '.join(LEVELS)}")
    if not MIN_TILE <= card.tile_size <= MAX_TILE or not 0.0 <= card.overlap < 0.5:
        raise fail(f"'tile_size' must be {MIN_TILE} to {MAX_TILE} pixels and 'overlap' in [0, 0.5)")
    if not (math.isfinite(card.resolution) and RESOLUTION_RANGE[0] <= card.resolution <= RESOLUTION_RANGE[1]):
        raise fail(f"'resolution' must be the metres per pixel the model was trained at, {RESOLUTION_RANGE[0]:g} to "
                   f"{RESOLUTION_RANGE[1]:g} (got {card.resolution!r}); Sentinel-2 models use 10 to 60")
    if card.tiling and (card.tiling.multiple < 1 or card.tiling.max_tile % card.tiling.multiple
                        or card.tiling.max_tile < 2 * card.tiling.margin + card.tiling.multiple):
        raise fail("'tiling': max_tile must be a multiple of 'multiple' with room for two margins")
    codes = {NODATA, CLEAR, CLOUD_SHADOW, SEMI_TRANSPARENT, CLOUD}
    if len(classes) < 2 or any(c.code not in codes for c in classes):
        raise fail("'classes' needs at least two entries with codes 0-4")
    return card


def sidecar_path(model_path: str | Path) -> Path:
    path = Path(model_path)
    return path.with_name(path.stem + CARD_SUFFIX)


def load_card(model_path: str | Path, session: Any = None) -> ModelCard:
    """The card of a model file: the side-car JSON, else the card embedded in the ONNX metadata.

    `session` (an onnxruntime.InferenceSession of the same file) saves opening
    the model a second time to read its metadata.
    """
    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f"The model file {path} does not exist; give the path to an .onnx file or 'auto'.")
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"The model card {sidecar} is not valid JSON ({exc}); fix or remove it.") from exc
        return card_from_dict(data, str(sidecar), str(path))
    if session is None:
        session = open_for_metadata(path)
    embedded = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if embedded is None:
        raise ModelError(
            f"The model {path} has no model card: add one beside it as {sidecar.name} or embed it in the ONNX "
            f"metadata under '{METADATA_KEY}'. Templates are in {TEMPLATES}."
        )
    try:
        data = json.loads(embedded)
    except json.JSONDecodeError as exc:
        raise ModelError(f"The card embedded in {path} is not valid JSON ({exc}); add a side-car {sidecar.name}.") from exc
    return card_from_dict(data, f"{path} (embedded)", str(path))


def check_card_matches(card: ModelCard, session: Any) -> None:
    """Compare the card with the model's declared input and output shapes (dynamic sizes pass)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    where = card.model_path or card.name
    if len(inputs) != 1:
        raise ModelError(f"The model {where} has {len(inputs)} inputs; the engine feeds exactly one band stack.")
    shape = inputs[0].shape
    if len(shape) != 4:
        raise ModelError(f"The model {where} expects a {len(shape)}-D input; the engine feeds (batch, bands, rows, cols).")
    expected = {1: len(card.bands), 2: card.tile_size, 3: card.tile_size}
    what = {1: "bands", 2: "tile rows", 3: "tile columns"}
    for axis, value in expected.items():
        if isinstance(shape[axis], int) and shape[axis] != value:
            raise ModelError(
                f"The card of {where} does not match the model: the model takes {shape[axis]} {what[axis]}, "
                f"the card says {value}. Fix the card's 'bands' or 'tile_size'."
            )
    out_shape = outputs[0].shape
    if len(out_shape) == 4 and isinstance(out_shape[1], int) and out_shape[1] != len(card.classes):
        raise ModelError(
            f"The card of {where} does not match the model: the model gives {out_shape[1]} output channels, "
            f"the card's 'classes' lists {len(card.classes)}."
        )


def ukis_csmask_dir() -> Path:
    """The installed ukis-csmask package folder, found without importing the package."""
    spec = importlib.util.find_spec("ukis_csmask")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(missing_message(missing_modules() or ["ukis-csmask"]))
    return Path(list(spec.submodule_search_locations)[0])


def _band_id(name: str) -> str:
    """A Sentinel-2 band id from either an id ("B8A", "b11") or a model band name ("swir16")."""
    upper = name.upper()
    if upper in BAND_NAMES:
        return upper
    if name.lower() in SENTINEL2_BANDS:
        return SENTINEL2_BANDS[name.lower()]
    return upper


SWIR_BANDS = ("B11", "B12")


def missing_swir(bands: Iterable[str]) -> list[str]:
    """The short-wave infrared bands the 6-band built-in model needs and `bands` lacks (ids or model names);
    where any is missing, `builtin_card` falls back to the 4-band model."""
    present = {_band_id(b) for b in bands}
    return [band for band in SWIR_BANDS if band not in present]


def builtin_card(level: str, bands: Iterable[str]) -> ModelCard:
    """The card of the ukis-csmask model that suits a product level and the bands present.

    The 6-band model where SWIR16 and SWIR22 are present, the 4-band model
    otherwise. `bands` may be Sentinel-2 ids ("B11") or model band names ("swir16").
    """
    level = level.upper()
    if level not in LEVELS:
        raise ModelError(f"The product level {level!r} has no built-in model; use L1C or L2A.")
    variant = "4b" if missing_swir(bands) else "6b"
    model = ukis_csmask_dir() / f"model_{variant}_{level.lower()}.onnx"
    meta = model.with_suffix(".json")
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        stats = info["data"]["dataset_statistics"]
        names, mean, std = stats["band_names"], stats["img"][0], stats["img"][1]
        tile = int(info["data"]["target_size"][0])
        version = str(info["model"]["version"])
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise ModelError(
            f"The ukis-csmask model description {meta} is unreadable ({exc}); reinstall the dependencies "
            "(Raster > Sentinel-2 Cloud Mask > Install dependencies, or make setup)."
        ) from exc
    nir_fallback = {"nir": "B8A"} if level == "L2A" else {}
    surface = "top-of-atmosphere" if level == "L1C" else "bottom-of-atmosphere (surface)"
    return ModelCard(
        name=f"ukis-csmask {model.stem}",
        version=version,
        description=f"DLR U-Net (EfficientNet-B4 encoder), {len(names)} bands, Sentinel-2 {level}, "
        "clear / cloud / cloud shadow.",
        licence="Apache-2.0",
        citation=UKIS_CITATION,
        levels=(level,),
        bands=tuple(BandSpec(n, SENTINEL2_BANDS[n], nir_fallback.get(n)) for n in names),
        resolution=30.0,
        reflectance=f"{surface} reflectance in [0, 1]: (DN + offset) / quantification",
        clip=None,
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
        tile_size=tile,
        overlap=BUILTIN_OVERLAP,
        output="logits",
        classes=tuple(ClassSpec(name, code) for name, code in UKIS_CLASSES),
        assumptions=("Trained on imagery resampled to about 30 m; finer input is averaged to 30 m first.",),
        model_path=str(model),
    )
