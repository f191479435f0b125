"""The masking engine: band source -> strips -> ONNX -> blended rows -> output rows -> codes -> GeoTIFF.

One run is a chain of streaming stages, each in its own module:

    read_strips (here)        the source's rows for each strip of tile rows, normalised, mirrored at the edges
    blend_strips (blending)   tiles through the model (predict.TilePredictor), Tukey-weighted, rows as they settle
    Upsampler (upsampling)    model-grid rows -> output-grid rows of the card's codes, bilinear on probabilities
    Coder (codes)             class 3 by its rule (cirrus.py)
    post-steps (poststeps)    optional refinements of the codes, streaming, with lookahead
    MaskWriter (writer)       the mask GeoTIFF (and the probability GeoTIFF), block row by block row

`mask_product` and `mask_raster` share one preparation (`prepare`: model card,
session, class-3 plan) and differ only in how they read bands.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.crs import CRS
from rasterio.windows import Window

from ..classes import SEMI_TRANSPARENT
from ..defaults import (
    DEFAULT_BUFFER,
    DEFAULT_LEVEL,
    DEFAULT_OFFSET,
    DEFAULT_RESOLUTION,
    DEFAULT_SCALE,
    DEFAULT_SHADOW_CHECK,
    RESOLUTIONS,
    model_file,
)
from ..errors import BandError, ModelError
from ..feedback import Feedback, Notices, SilentFeedback, check_cancelled
from ..grid import Grid
from ..outputs import atomic_output, check_outputs, check_raster_outputs, check_writable
from ..reading.paths import product_container
from ..reading.product import as_product, product_grid, product_on_disk
from ..reading.sources import BandSource, ProductSource, RasterSource, check_scaling, is_metric
from .blending import BlendedRows, StripInput, TileLayout, blend_strips
from .buffers import BufferStep, check_buffer
from .cirrus import Class3Plan, Class3Rule, plan_class3
from .codes import CodeBlock, Coder, Tally
from .model_card import ModelCard, Tiling, builtin_card, check_card_matches, load_card, missing_swir
from .pipeline import StageClock, ThreadPlan, hand_off, lanes_on, read_ahead
from .poststeps import PostStep, apply_post_steps
from .predict import TilePredictor, free_gpu_memory, gpu_batch_size
from .session import SessionFactory, create_session
from .shadows import ShadowCheck, ShadowGeometry
from .upsampling import Upsampler
from .writer import MaskWriter, is_cloud_mask, mask_tags, probability_percent

# Tiles per session call on a CPU. Two calls run at once (ThreadPlan.lanes), and one tile per call took the
# least CPU and memory: on a full tile, 300-400 MB less peak memory than four (docs/speed-levers.md).
CPU_BATCH_SIZE = 1
TILE_ROWS_PER_STRIP = 2
WRITE = "write and overviews"  # the codes thread handing rows to the writer, which builds the overviews
RUN_SHARE = 95.0  # percent of the progress bar for reading and inference; the rest is writing
NO_VALID_PIXELS = (
    "The run covered no valid pixel: the input is no data everywhere in the area masked (outside the orbit's "
    "swath, or masked out), so the mask holds only code 0 and every percentage is 0. Choose an extent where the "
    "image has data."
)


@dataclass
class MaskResult:
    output: str
    probabilities: str | None
    class_percentages: dict[int, float]  # code -> percent of valid pixels
    device_used: str
    model_used: str
    class3_source: str
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    resolutions_used: dict[str, int] = field(default_factory=dict)  # Sentinel-2 band -> resolution read (m)
    output_grid: Grid | None = None
    # seconds per stage and thread: "read" (the read-ahead thread when it runs); "waiting for reads", "infer",
    # "blend", "waiting for the codes thread" (the model's thread, the caller's); "upsample, codes, post-steps",
    # "write and overviews" (the codes thread); "finish" (the caller's, after the others: the copy to a COG)
    stage_seconds: dict[str, float] = field(default_factory=dict)


def _band_positions(source: BandSource, names: list[str], what: str) -> list[int]:
    missing = [name for name in names if name not in source.band_names]
    if missing:
        raise BandError(
            f"The input lacks the band(s) {', '.join(missing)} that {what} needs "
            f"(it offers {', '.join(source.band_names)})."
        )
    return [source.band_names.index(name) for name in names]


def read_strips(source: BandSource, layout: TileLayout, card: ModelCard, model_positions: list[int],
                extra_positions: list[int]) -> Iterator[StripInput]:
    """Each strip's rows from the source: the model bands normalised by the card (0 where not valid) and laid
    out over the strip's tiles; the extra bands (the class-3 rule's) as read."""
    height, width = source.grid.shape
    mean = np.asarray(card.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(card.std, dtype=np.float32)[:, None, None]
    col_index = layout.col_index
    for first, last in layout.strips:
        row_index = layout.strip_rows(first, last)
        low, high = int(row_index.min()), int(row_index.max()) + 1
        block = source.read(Window(0, low, width, high - low))
        extras = block.data[extra_positions].astype(np.float32, copy=False)  # a copy (list index), taken first:
        normalised = _consecutive(block.data, model_positions).astype(np.float32, copy=False)  # then in place
        if card.clip is not None:
            np.clip(normalised, *card.clip, out=normalised)
        normalised -= mean
        normalised /= std
        normalised[:, ~block.valid] = 0.0
        rows = _rows_of(row_index - low)
        yield StripInput(
            first, last,
            tiles=np.take(normalised[:, rows], col_index, axis=2),
            tiles_valid=np.take(block.valid[rows], col_index, axis=1),
            low=low, valid=block.valid, extras=extras,
        )


def _rows_of(index: np.ndarray) -> slice | np.ndarray:
    """A slice where the rows are consecutive (no mirrored rows), which selects without a copy."""
    if len(index) and np.array_equal(index, np.arange(index[0], index[0] + len(index))):
        return slice(int(index[0]), int(index[0]) + len(index))
    return index


def _consecutive(data: np.ndarray, positions: list[int]) -> np.ndarray:
    """data[positions]: a view where the positions are consecutive (a product's model bands are), else a copy."""
    return data[_rows_of(np.asarray(positions, dtype=np.int64))]


def run_mask(
    source: BandSource,
    output_grid: Grid,
    card: ModelCard,
    session: Any,
    output: str | Path,
    *,
    device_used: str = "CPU",
    product_id: str = "",
    class3: Class3Rule | None = None,
    class3_source: str = "",
    probabilities: str | Path | None = None,
    feedback: Feedback | None = None,
    batch_size: int = CPU_BATCH_SIZE,
    tile_rows_per_strip: int = TILE_ROWS_PER_STRIP,
    post_steps: Sequence[PostStep] = (),
    tiling: Tiling | None = None,
    read_ahead_strips: bool = True,
    codes_thread: bool = True,
    lanes: int = 1,
) -> MaskResult:
    """Mask whatever `source` delivers (on the model grid) and write it on `output_grid` (same CRS).

    tiling: tiles fitted to the image (the session must have free rows and columns); None: the card's
    tile_size and overlap, laid out as CSmask lays its tiles. read_ahead_strips: read the next strip while the model runs;
    codes_thread: turn the model's rows into codes and write them in a thread of their own while the model
    goes on (both off only to measure what they give). lanes: batches the model runs at once on the CPU
    (ThreadPlan.lanes; a GPU runs one at a time).
    """
    started = time.perf_counter()
    notices = feedback if isinstance(feedback, Notices) else Notices(feedback or SilentFeedback())
    model_positions = _band_positions(source, card.band_names, f"the model {card.label}")
    extra_names = list(dict.fromkeys([*(class3.bands if class3 else ()),
                                      *(name for step in post_steps for name in getattr(step, "bands", ()))]))
    extra_positions = _band_positions(source, extra_names, "the semi-transparent cloud rule and the post-steps")
    if class3 is None and not class3_source:
        class3_source = "model" if SEMI_TRANSPARENT in card.class_codes() else "absent: no source configured"
    layout = (TileLayout.fitted(*source.grid.shape, tiling, tile_rows_per_strip) if tiling else
              TileLayout.for_image(*source.grid.shape, card.tile_size, card.overlap, tile_rows_per_strip))
    predictor = TilePredictor(session, card, batch_size, io_binding=device_used != "CPU")
    clock = StageClock()
    n_classes = len(card.classes)
    upsampler = Upsampler(source.grid, output_grid, card.class_codes(), keep_probabilities=probabilities is not None,
                          nearest_extras=len(extra_names) - len(set(class3.bands if class3 else ())))
    coder = Coder(class3, extra_names)
    tally = Tally()
    tags = mask_tags(card.name, card.version, product_id, device_used, class3_source)
    for step in post_steps:
        tags.update(getattr(step, "tags", {}))
    class_names = [spec.name for spec in card.classes]

    if probabilities is not None:
        check_writable(probabilities)
    strips = clock.timed_iterator(read_strips(source, layout, card, model_positions, extra_positions), "read")
    reads = read_ahead(strips) if read_ahead_strips else strips
    blended = blend_strips(clock.timed_iterator(reads, "waiting for reads"), predictor, layout, n_classes,
                           batch_size=predictor.batch_size, lanes=lanes_on(device_used, lanes), clock=clock,
                           feedback=notices, share=RUN_SHARE)
    try:
        with atomic_output(output) as temporary, \
                (atomic_output(probabilities) if probabilities is not None else nullcontext(None)) as temp_probs, \
                MaskWriter(temporary, output_grid, tags, temp_probs, class_names) as writer:

            def code_blocks(model_rows: Iterator[BlendedRows]) -> Iterator[CodeBlock]:
                for rows in model_rows:
                    for out_rows in upsampler.push(rows):
                        if out_rows.probabilities is not None:
                            percent = probability_percent(out_rows.probabilities, out_rows.valid)
                            with clock.measure(WRITE):
                                writer.write_probabilities(percent)
                        yield coder(out_rows)

            def write_codes(model_rows: Iterator[BlendedRows]) -> None:
                with clock.measure("codes thread"):
                    rows = clock.timed_iterator(model_rows, "waiting for the model")
                    for block in apply_post_steps(code_blocks(rows), post_steps, output_grid):
                        tally.add(block)
                        with clock.measure(WRITE):
                            writer.write(block.codes)

            if codes_thread:
                hand_off(blended, write_codes, clock=clock)
            else:
                write_codes(blended)
            check_cancelled(notices)
            if tally.valid_pixels == 0:
                notices.warn(NO_VALID_PIXELS)
            notices.progress(RUN_SHARE, "Writing the mask")
            finishing = time.perf_counter()
    finally:
        reads.close()  # stops and joins the read-ahead thread, also after an error or a cancel
    clock.add("finish", time.perf_counter() - finishing)
    notices.progress(100.0, "Done")
    seconds = time.perf_counter() - started
    stages = clock.seconds
    codes, model_rows = stages.pop("codes thread"), stages.pop("waiting for the model")
    model_thread = finishing - started if codes_thread else model_rows  # the model's share of the caller's thread
    clock.add("blend", model_thread - sum(
        stages.get(stage, 0.0) for stage in ("waiting for reads", "infer", "waiting for the codes thread")))
    clock.add("upsample, codes, post-steps", codes - model_rows - stages.get(WRITE, 0.0))
    return MaskResult(
        output=str(output),
        probabilities=str(probabilities) if probabilities is not None else None,
        class_percentages=tally.percentages(),
        device_used=device_used,
        model_used=card.label,
        class3_source=class3_source,
        warnings=list(notices.messages),
        seconds=round(seconds, 3),
        output_grid=output_grid,
        stage_seconds=clock.rounded(),
    )


def refinement_steps(geometry: ShadowGeometry | None, buffer: float) -> list[PostStep]:
    """The post-steps a run's options ask for: the shadow check (where angles exist), then the buffer."""
    steps: list[PostStep] = []
    if geometry is not None:
        steps.append(ShadowCheck(geometry))
    if check_buffer(buffer) > 0:
        steps.append(BufferStep(buffer))
    return steps


def batch_size(device_used: str, card: ModelCard, tiling: Tiling | None) -> int:
    """Tiles per session call for the device that runs and the tiling chosen.

    A GPU takes as many tiles as half its free memory holds; a CPU one tile at a time (CPU_BATCH_SIZE).
    """
    if device_used != "CPU":
        tile = tiling.max_tile if tiling else card.tile_size
        return gpu_batch_size(free_gpu_memory(), tile * tile)
    return CPU_BATCH_SIZE


@dataclass(frozen=True)
class Preparation:
    """What every run needs before it reads a pixel: the model's card, its session, and the class-3 plan."""

    card: ModelCard
    session: Any
    device_used: str
    class3: Class3Plan
    tiling: Tiling | None  # fitted tiles (the session has free rows and columns), or the card's own tiles
    batch_size: int


def prepare(model: str | Path, level: str, bands: list[str], where: str, *, b10: bool, cirrus_layer: bool,
            product_id: str | None, device: str, threads: int, notices: Notices,
            open_session: SessionFactory = create_session, baseline: str | None = None) -> Preparation:
    """Card (for the level and the bands present), class-3 plan, and one session on the device asked for.

    bands: Sentinel-2 ids or model band names the input offers; where: how
    errors name the input. b10, cirrus_layer, product_id, baseline: see plan_class3.
    open_session: how the session is obtained (the batch runner keeps one per worker process).
    """
    card = _choose_card(model, level, bands)
    _check_level(card, level, where)
    swir = missing_swir(bands) if str(model).lower() == "auto" else []
    if swir:
        notices.warn(
            f"The 4-band model (blue, green, red, NIR) runs instead of the 6-band one: {where} has no "
            f"{' or '.join(swir)} (short-wave infrared), which the 6-band model also reads. The mask may differ from "
            "the 6-band model's; give a product or band mapping with B11 and B12 to use it."
        )
    plan = plan_class3(card.class_codes(), level, b10=b10, cirrus_layer=cirrus_layer, product_id=product_id,
                       baseline=baseline)
    if plan.warning:
        notices.warn(plan.warning)
    session, device_used = open_session(card.model_path, device, threads, notices,
                                        free_spatial=card.tiling is not None)
    check_card_matches(card, session)
    return Preparation(card, session, device_used, plan, card.tiling, batch_size(device_used, card, card.tiling))


def _choose_card(model: str | Path, level: str, bands: list[str]) -> ModelCard:
    if str(model).lower() == "auto":
        return builtin_card(level, bands)
    return load_card(model)


def _check_level(card: ModelCard, level: str, where: str) -> None:
    if card.levels and level.upper() not in card.levels:
        raise ModelError(
            f"The model {card.label} is meant for {', '.join(card.levels)} input, but {where} is {level.upper()}; "
            "choose a model for this level or MODEL=auto."
        )


def mask_raster(
    raster_path: str | Path,
    output: str | Path,
    *,
    bands: dict[str, int],
    scale: float = DEFAULT_SCALE,
    offset: float = DEFAULT_OFFSET,
    level: str = DEFAULT_LEVEL,
    model: str | Path = "auto",
    device: str = "auto",
    probabilities: str | Path | None = None,
    threads: int = 0,
    feedback: Feedback | None = None,
    shadow_check: bool = DEFAULT_SHADOW_CHECK,
    sun_azimuth: float | None = None,
    sun_zenith: float | None = None,
    buffer: float = DEFAULT_BUFFER,
    post_steps: Sequence[PostStep] = (),
    open_session: SessionFactory = create_session,
) -> MaskResult:
    """Mask any raster holding Sentinel-2 bands; the mask lies on the raster's own grid.

    bands maps model band names to 1-based band numbers ({"blue": 1, ...});
    reflectance = DN * scale + offset (the defaults suit L2A from baseline 04.00).
    The shadow check runs only when both sun angles are given (a plain raster carries none; the view is
    taken as nadir); buffer: metres around cloud, semi-transparent cloud and shadow (0 = none).
    open_session: how the ONNX session is obtained; scoring many rasters with one model passes a SessionCache.
    """
    started = time.perf_counter()
    notices = Notices(feedback or SilentFeedback())
    geometry = None
    if shadow_check and sun_azimuth is not None and sun_zenith is not None:
        geometry = ShadowGeometry(float(sun_zenith), float(sun_azimuth) % 360.0)
    elif shadow_check and (sun_azimuth is not None or sun_zenith is not None):
        raise BandError(f"Give both SUN_AZIMUTH and SUN_ZENITH for the shadow check of {raster_path}, or neither.")
    steps = [*refinement_steps(geometry, buffer), *post_steps]
    check_raster_outputs({"OUTPUT": output, "OUTPUT_PROBABILITIES": probabilities},
                         {"INPUT": raster_path, "MODEL": model_file(model)})
    check_scaling(scale, offset, str(raster_path))
    level = level.upper()
    cores = ThreadPlan.for_cores(threads)
    prep = prepare(model, level, list(bands), f"the raster {raster_path} (LEVEL)", b10="cirrus" in bands,
                   cirrus_layer=False, product_id=None, device=device, threads=cores.onnx,
                   notices=notices, open_session=open_session)
    card, class3 = prep.card, prep.class3
    needed = [name for name in card.band_names if name not in bands]
    if needed:
        raise BandError(
            f"The model {card.label} needs the band(s) {', '.join(needed)}, which are not mapped for {raster_path}; "
            f"give their band numbers (BAND_{'/BAND_'.join(n.upper() for n in needed)})."
        )
    wanted = list(dict.fromkeys([*card.band_names, *(class3.rule.bands if class3.rule else ())]))
    with RasterSource(raster_path, {name: bands[name] for name in wanted}) as native:
        if is_cloud_mask(native.tags):
            raise BandError(
                f"The raster {raster_path} is a cloud mask made by this plugin, not Sentinel-2 bands; "
                "choose the raster that holds the bands (a band stack, a clip or a VRT of the product's bands)."
            )
        own_grid = native.native_grid
        crs = CRS.from_user_input(own_grid.crs) if own_grid.crs else None
    if is_metric(crs):
        model_grid = own_grid if math.isclose(own_grid.resolution, card.resolution, rel_tol=0.01) \
            else own_grid.resampled(card.resolution)
    else:
        model_grid = own_grid
        notices.warn(f"The raster {raster_path} is not in a projected CRS in metres; the model runs on its own "
                     f"pixels, although it expects about {card.resolution:g} m.")
        if any(isinstance(step, (ShadowCheck, BufferStep)) for step in steps):
            raise BandError(f"The raster {raster_path} is not in a projected CRS in metres, so shadow lengths and "
                            "buffers in metres cannot be laid out on it; reproject it (e.g. to its UTM zone) first, "
                            "or switch the shadow check and the buffer off.")
    with RasterSource(raster_path, {name: bands[name] for name in wanted}, scale, offset, model_grid) as source:
        result = run_mask(
            source, own_grid, card, prep.session, output,
            device_used=prep.device_used, product_id=Path(raster_path).name, class3=class3.rule,
            class3_source=class3.source, probabilities=probabilities, feedback=notices, post_steps=steps,
            tiling=prep.tiling, batch_size=prep.batch_size, lanes=cores.lanes,
        )
    return replace(result, seconds=round(time.perf_counter() - started, 3))


def _product_bands(card: ModelCard, product: Any, notices: Notices) -> dict[str, str]:
    """Model band name -> Sentinel-2 band id present in the product, using the card's fallbacks."""
    chosen: dict[str, str] = {}
    missing: list[str] = []
    for spec in card.bands:
        if spec.sentinel2 in product.band_files:
            chosen[spec.name] = spec.sentinel2
        elif spec.fallback and spec.fallback in product.band_files:
            chosen[spec.name] = spec.fallback
            notices.warn(f"NIR from {spec.fallback}: the product has no {spec.sentinel2} at the resolutions present."
                         if spec.name == "nir" else
                         f"{spec.name} from {spec.fallback}: the product has no {spec.sentinel2}.")
        else:
            missing.append(f"{spec.name} ({spec.sentinel2}{' or ' + spec.fallback if spec.fallback else ''})")
    if missing:
        raise BandError(
            f"The model {card.label} needs band(s) {', '.join(missing)} that product {product.product_id} "
            f"({product.source}) lacks; bands present: {', '.join(product.bands) or 'none'}. "
            "Use a complete product or a model with fewer bands."
        )
    return chosen


def mask_product(
    product_path: str | Path | Any,
    output: str | Path,
    *,
    model: str | Path = "auto",
    device: str = "auto",
    resolution: int = DEFAULT_RESOLUTION,
    extent: tuple | None = None,
    probabilities: str | Path | None = None,
    threads: int = 0,
    feedback: Feedback | None = None,
    shadow_check: bool = DEFAULT_SHADOW_CHECK,
    buffer: float = DEFAULT_BUFFER,
    post_steps: Sequence[PostStep] = (),
    open_session: SessionFactory = create_session,
    read_ahead: bool = True,
    reduced_resolution: bool = True,
) -> MaskResult:
    """Mask a Sentinel-2 L1C or L2A product on its 10, 20 or 60 m grid (optionally only within `extent`).

    product_path: the product's path, or a `Product` the caller already opened (read as it is, not again).
    extent: (xmin, ymin, xmax, ymax, crs) in any CRS, or (xmin, ymin, xmax, ymax) in the product's CRS.
    open_session: how the ONNX session is obtained; the batch runner passes one that keeps a session
    per worker process, so a worker pays the model's start-up once, not once per product.
    shadow_check: keep cloud shadow only where a cloud can cast it (sun and view angles of MTD_TL.xml);
    buffer: metres around cloud, semi-transparent cloud and shadow (0 = none).
    read_ahead: decode the next strip's bands while the model runs (off only to measure what it gives).
    reduced_resolution: decode JPEG 2000 bands at the coarsest wavelet level still as fine as the model's grid
    (much less decoding; the level's low-pass differs slightly from averaging the full-resolution pixels, which
    is how Cloud-Optimised GeoTIFFs are read). False decodes full resolution, to compare the two.
    """
    started = time.perf_counter()
    notices = Notices(feedback or SilentFeedback())
    model_input = model_file(model)
    given = product_container(product_path) if isinstance(product_path, (str, Path)) else None
    outputs = {"OUTPUT": output, "OUTPUT_PROBABILITIES": probabilities}
    check_raster_outputs(outputs, {"the product (INPUT)": given, "MODEL": model_input})
    notices.progress(0.0, "Reading bands")
    product = as_product(product_path)
    check_outputs(outputs, {"the product (INPUT)": product_on_disk(product), "MODEL": model_input})
    for message in product.warnings:
        notices.warn(message)
    if int(resolution) not in RESOLUTIONS:
        raise BandError(f"RESOLUTION {resolution} is not offered; choose 10, 20 or 60 (m).")
    output_grid = product_grid(product, int(resolution), extent)
    geometry = None
    if shadow_check:
        if product.angles is None:
            notices.warn(f"Product {product.product_id} gives no sun angles (tile metadata or STAC item); "
                         "the cloud-shadow check is skipped and cloud shadow is the model's.")
        else:
            geometry = ShadowGeometry.from_tile(product.angles)
    steps = [*refinement_steps(geometry, buffer), *post_steps]
    cores = ThreadPlan.for_cores(threads)
    prep = prepare(model, product.level, product.bands, f"product {product.product_id}",
                   b10="B10" in product.band_files, cirrus_layer="MSK_CLASSI_B00" in product.mask_files,
                   product_id=product.product_id, device=device, threads=cores.onnx, notices=notices,
                   open_session=open_session, baseline=product.processing_baseline)
    card, class3 = prep.card, prep.class3
    model_bands = _product_bands(card, product, notices)
    bands = {**model_bands, **{name: band for name, band in class3.bands.items() if name not in model_bands}}
    model_grid = output_grid.resampled(card.resolution)
    with ProductSource(product, bands, model_grid, class3.layers, cores.reader,
                       reduced_resolution=reduced_resolution) as source:
        used = {band: source.resolutions_used[band] for band in bands.values()}
        if int(resolution) < min(used.values()):  # a grid finer than every band read: its detail is not in the input
            for message in source.warnings:
                notices.warn(message)
        result = run_mask(
            source, output_grid, card, prep.session, output,
            device_used=prep.device_used, product_id=product.product_id, class3=class3.rule,
            class3_source=class3.source, probabilities=probabilities, feedback=notices, post_steps=steps,
            tiling=prep.tiling, batch_size=prep.batch_size, read_ahead_strips=read_ahead, lanes=cores.lanes,
        )
    return replace(result, seconds=round(time.perf_counter() - started, 3), resolutions_used=used,
                   warnings=list(notices.messages))
