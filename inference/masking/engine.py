"""The masking engine: band source -> tiles -> ONNX -> blended probabilities -> classes -> GeoTIFF.

Everything streams in horizontal strips of tile rows. A strip reads only the
rows its tiles need (mirrored beyond the image edges by index reflection, so
a strip sees exactly what padding the whole image would give), runs its tiles
in batches through one session, and adds the Tukey-weighted probabilities to
a rolling buffer. Rows that no later tile touches are divided by their summed
weights and handed on: upsampled bilinearly (probabilities, not labels) to
the output grid, turned into mask codes, and written. Peak memory therefore
depends on the strip width, never on the image height.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.crs import CRS
from rasterio.windows import Window

from ..classes import MASK_CODES, NODATA, SEMI_TRANSPARENT
from ..defaults import DEFAULT_OFFSET, DEFAULT_SCALE, RESOLUTIONS
from ..errors import BandError, ModelError
from ..feedback import Feedback, SilentFeedback, check_cancelled
from ..grid import Grid
from ..outputs import atomic_output, check_writable
from ..reading.sources import BandSource, ProductSource, RasterSource, is_metric
from .cirrus import CIRRUS_FLAG, L1C_RULE, L2A_RULE, Class3Rule
from .model_card import ModelCard, builtin_card, check_card_matches, load_card
from .session import create_session
from .tiling import LinearWeights, TileGrid, blend_window, linear_weights, reflect_indices, strips
from .writer import PROBABILITY_NODATA, MaskWriter, mask_tags

BATCH_SIZE = 4
TILE_ROWS_PER_STRIP = 2
OUTPUT_CHUNK_ROWS = 128
RUN_SHARE = 95.0  # percent of the progress bar for reading and inference; the rest is writing


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


class _Notices:
    """Warnings go to the user at once and into the result."""

    def __init__(self, feedback: Feedback):
        self.feedback = feedback
        self.messages: list[str] = []

    def warn(self, message: str) -> None:
        if message not in self.messages:
            self.messages.append(message)
            self.feedback.warn(message)

    # the Feedback protocol, so sessions can warn through the same channel
    def progress(self, percent: float, stage: str) -> None:
        self.feedback.progress(percent, stage)

    def is_cancelled(self) -> bool:
        return self.feedback.is_cancelled()


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


@dataclass
class _OutputRows:
    """Output-grid rows ready to become mask codes."""

    index: np.ndarray  # uint8 (rows, cols): the model class with the highest blended probability
    extras: np.ndarray  # float32 (channels, rows, cols): the semi-transparent rule's inputs (may be empty)
    probabilities: np.ndarray | None  # float32 (classes, rows, cols), only when a probability file is asked for
    valid: np.ndarray  # bool (rows, cols)


class _Upsampler:
    """Turns settled model-grid rows into output-grid rows (bilinear, pixel-centre aligned).

    Keeps just the model rows the next output row still needs (the one-row
    halo between strips) and emits output rows as soon as their lower
    neighbour row has arrived.

    Probabilities, not labels, are interpolated, but only where it can matter:
    where the four model pixels around an output pixel share their most
    probable class c, every bilinear mix of them still ranks c first (each
    weighted term p_c - p_k is non-negative), so such pixels take c directly
    and the interpolation runs only along class borders.
    """

    def __init__(self, model: Grid, output: Grid, n_classes: int, keep_probabilities: bool):
        self.rows: LinearWeights = linear_weights(
            output.height, model.transform.f - output.transform.f, output.resolution, model.resolution, model.height
        )
        self.cols: LinearWeights = linear_weights(
            output.width, output.transform.c - model.transform.c, output.resolution, model.resolution, model.width
        )
        self.n_classes = n_classes
        self.keep_probabilities = keep_probabilities
        self.identity = model == output
        self.next_row = 0
        self.first = 0  # model row of buffer index 0
        self.values: np.ndarray | None = None  # float32 (channels, rows, model cols)
        self.valid: np.ndarray | None = None
        self.index: np.ndarray | None = None  # most probable class of each buffered model pixel

    def push(self, values: np.ndarray, valid: np.ndarray, final: bool) -> Iterator[_OutputRows]:
        if self.values is None:
            self.values, self.valid = values, valid
        else:
            self.values = np.concatenate([self.values, values], axis=1)
            self.valid = np.concatenate([self.valid, valid], axis=0)
        self.index = np.argmax(self.values[: self.n_classes], axis=0).astype(np.uint8)
        available = self.first + self.values.shape[1]
        total = len(self.rows.lower)
        end = total if final else int(np.searchsorted(self.rows.upper, available, side="left"))
        while self.next_row < end:
            stop = min(end, self.next_row + OUTPUT_CHUNK_ROWS)
            yield self._rows(slice(self.next_row, stop))
            self.next_row = stop
        if self.next_row < total:
            keep = int(self.rows.lower[self.next_row]) - self.first
            self.values, self.valid = self.values[:, keep:], self.valid[keep:]
            self.first += keep

    def _rows(self, rows: slice) -> _OutputRows:
        assert self.values is not None and self.valid is not None and self.index is not None
        n = self.n_classes
        if self.identity:
            local = slice(rows.start - self.first, rows.stop - self.first)
            values = self.values[:, local]
            return _OutputRows(self.index[local], values[n:], values[:n] if self.keep_probabilities else None,
                               self.valid[local])
        lower = self.rows.lower[rows] - self.first
        upper = self.rows.upper[rows] - self.first
        valid = self.valid[self.rows.nearest[rows] - self.first][:, self.cols.nearest]
        extras = self._bilinear(self.values[n:], lower, upper, rows)
        if self.keep_probabilities:
            probabilities = self._bilinear(self.values[:n], lower, upper, rows)
            return _OutputRows(np.argmax(probabilities, axis=0).astype(np.uint8), extras, probabilities, valid)
        return _OutputRows(self._classes(lower, upper, rows), extras, None, valid)

    def _bilinear(self, channels: np.ndarray, lower: np.ndarray, upper: np.ndarray, rows: slice) -> np.ndarray:
        w = self.rows.weight[rows][np.newaxis, :, np.newaxis]
        blended = channels[:, lower] * (1 - w) + channels[:, upper] * w
        wc = self.cols.weight[np.newaxis, np.newaxis, :]
        out = blended[:, :, self.cols.lower]
        out *= 1 - wc
        out += blended[:, :, self.cols.upper] * wc
        return out.astype(np.float32, copy=False)

    def _classes(self, lower: np.ndarray, upper: np.ndarray, rows: slice) -> np.ndarray:
        """The argmax of the interpolated probabilities, interpolating only where the four neighbours disagree."""
        assert self.values is not None and self.index is not None
        col_lower, col_upper = self.cols.lower, self.cols.upper
        top, bottom = self.index[lower], self.index[upper]
        result = top[:, col_lower]
        mixed = (result != top[:, col_upper]) | (result != bottom[:, col_lower]) | (result != bottom[:, col_upper])
        if mixed.any():
            r, c = np.nonzero(mixed)
            wr, wc = self.rows.weight[rows][r], self.cols.weight[c]
            v = self.values[: self.n_classes]
            lr, ur, lc, uc = lower[r], upper[r], col_lower[c], col_upper[c]
            # same operations in the same order as _bilinear, so ties resolve identically
            left = v[:, lr, lc] * (1 - wr) + v[:, ur, lc] * wr
            right = v[:, lr, uc] * (1 - wr) + v[:, ur, uc] * wr
            mixed_values = left * (1 - wc)
            mixed_values += right * wc
            result[mixed] = np.argmax(mixed_values, axis=0)
        return result


def _band_positions(source: BandSource, names: list[str], what: str) -> list[int]:
    missing = [name for name in names if name not in source.band_names]
    if missing:
        raise BandError(
            f"The input lacks the band(s) {', '.join(missing)} that {what} needs "
            f"(it offers {', '.join(source.band_names)})."
        )
    return [source.band_names.index(name) for name in names]


def _percentages(counts: np.ndarray, valid_pixels: int) -> dict[int, float]:
    if valid_pixels == 0:
        return {code: 0.0 for code in MASK_CODES}
    return {code: round(100.0 * float(counts[code]) / valid_pixels, 4) for code in MASK_CODES}


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
    batch_size: int = BATCH_SIZE,
    tile_rows_per_strip: int = TILE_ROWS_PER_STRIP,
) -> MaskResult:
    """Mask whatever `source` delivers (on the model grid) and write it on `output_grid` (same CRS)."""
    started = time.perf_counter()
    notices = feedback if isinstance(feedback, _Notices) else _Notices(feedback or SilentFeedback())
    model_positions = _band_positions(source, card.band_names, f"the model {card.label}")
    rule_positions = _band_positions(source, list(class3.bands), "the semi-transparent cloud rule") if class3 else []
    if class3 is None and not class3_source:
        class3_source = "model" if SEMI_TRANSPARENT in card.class_codes() else "absent: no source configured"
    grid = source.grid
    height, width = grid.shape
    tile = card.tile_size
    row_tiles = TileGrid.for_overlap(tile, card.overlap, height)
    col_tiles = TileGrid.for_overlap(tile, card.overlap, width)
    window = blend_window(tile, card.overlap)
    col_begin, col_end = col_tiles.span(0, col_tiles.count - 1)
    col_index = reflect_indices(np.arange(col_begin, col_end), width)
    image_cols = slice(-col_begin, -col_begin + width)
    mean = np.asarray(card.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(card.std, dtype=np.float32)[:, None, None]
    lut = np.asarray(card.class_codes(), dtype=np.uint8)
    n_classes = len(lut)
    model_input = session.get_inputs()[0]
    fixed_batch = model_input.shape[0] if isinstance(model_input.shape[0], int) else None
    batch_size = fixed_batch or max(1, batch_size)
    plan = strips(row_tiles.count, max(1, tile_rows_per_strip))
    upsampler = _Upsampler(grid, output_grid, n_classes, keep_probabilities=probabilities is not None)
    counts = np.zeros(256, dtype=np.int64)
    valid_pixels = 0
    class_names = [spec.name for spec in card.classes]
    tags = mask_tags(card.name, card.version, product_id, device_used, class3_source)

    def finish_rows(rows: _OutputRows, writer: MaskWriter) -> None:
        nonlocal valid_pixels
        valid = rows.valid
        codes = lut[rows.index]
        if class3 is not None:
            codes = class3.apply(codes, {name: rows.extras[i] for i, name in enumerate(class3.bands)})
        codes[~valid] = NODATA
        counts[:] += np.bincount(codes.ravel(), minlength=256)
        valid_pixels += int(valid.sum())
        percent = None
        if rows.probabilities is not None:
            probs = rows.probabilities
            total = probs.sum(axis=0, keepdims=True) / np.float32(100)
            scaled = np.divide(probs, total, out=np.zeros_like(probs), where=total > 0)
            percent = np.rint(scaled, out=scaled).astype(np.uint8)
            del scaled
            percent[:, ~valid] = PROBABILITY_NODATA
        writer.write(codes, percent)

    def run(writer: MaskWriter) -> None:
        accumulated: np.ndarray | None = None  # (classes + 1 weight, rows, cols), rows from acc_first
        acc_first = 0
        emitted = 0
        for number, (first, last) in enumerate(plan, start=1):
            check_cancelled(notices)
            base = RUN_SHARE * (number - 1) / len(plan)
            notices.progress(base, "Reading bands")
            row_begin, row_end = row_tiles.span(first, last)
            row_index = reflect_indices(np.arange(row_begin, row_end), height)
            low, high = int(row_index.min()), int(row_index.max()) + 1
            block = source.read(Window(0, low, width, high - low))
            reflectance = block.data[model_positions]
            if card.clip is not None:
                reflectance = np.clip(reflectance, *card.clip)
            normalised = np.where(block.valid, (reflectance - mean) / std, 0.0).astype(np.float32)
            strip = normalised[:, row_index - low][:, :, col_index]
            strip_valid = block.valid[row_index - low][:, col_index]
            del reflectance, normalised

            fresh = np.zeros((n_classes + 1, row_end - row_begin, col_end - col_begin), dtype=np.float32)
            if accumulated is not None:
                carried = accumulated[:, row_begin - acc_first:]
                fresh[:, : carried.shape[1]] = carried
                del carried
            accumulated, acc_first = fresh, row_begin
            del fresh

            tiles = [
                (i, j)
                for i in range(first, last + 1)
                for j in range(col_tiles.count)
                if strip_valid[(i - first) * row_tiles.step:][:tile, j * col_tiles.step:][:, :tile].any()
            ]
            stage = f"Running the model (strip {number} of {len(plan)})"
            for done in range(0, len(tiles), batch_size):
                check_cancelled(notices)
                batch = tiles[done: done + batch_size]
                stack = np.stack([
                    strip[:, (i - first) * row_tiles.step:][:, :tile, j * col_tiles.step:][:, :, :tile]
                    for i, j in batch
                ])
                if len(batch) < batch_size and fixed_batch:
                    stack = np.concatenate([stack, np.repeat(stack[-1:], batch_size - len(batch), axis=0)])
                try:
                    out = session.run(None, {model_input.name: stack})[0][: len(batch)]
                except Exception as exc:  # onnxruntime's own exception types
                    raise ModelError(f"The model {card.model_path or card.name} failed on a tile: "
                                     f"{str(exc).splitlines()[0][:300]}") from exc
                probs = softmax(out.astype(np.float32), axis=1) if card.output == "logits" else out
                for k, (i, j) in enumerate(batch):
                    r, c = (i - first) * row_tiles.step, j * col_tiles.step
                    accumulated[:n_classes, r: r + tile, c: c + tile] += probs[k] * window
                    accumulated[n_classes, r: r + tile, c: c + tile] += window
                notices.progress(base + RUN_SHARE / len(plan) * min(1.0, (done + len(batch)) / len(tiles)), stage)

            settled = row_tiles.settled_before(last + 1)
            if settled > emitted:
                local = slice(emitted - acc_first, settled - acc_first)
                summed = accumulated[:n_classes, local, image_cols]
                weight = accumulated[n_classes, local, image_cols]
                values = np.divide(summed, weight, out=np.zeros_like(summed), where=weight > 0)
                if rule_positions:
                    rule_values = block.data[rule_positions][:, emitted - low: settled - low]
                    values = np.concatenate([values, rule_values.astype(np.float32)])
                valid = block.valid[emitted - low: settled - low]
                for out_rows in upsampler.push(values, valid, final=settled >= height):
                    finish_rows(out_rows, writer)
                emitted = settled
        check_cancelled(notices)
        notices.progress(RUN_SHARE, "Writing the mask")
        writer.finish()

    if probabilities is not None:
        check_writable(probabilities)
    with atomic_output(output) as temporary:
        if probabilities is None:
            _write(run, temporary, output_grid, tags, None, class_names)
        else:
            with atomic_output(probabilities) as temporary_probs:
                _write(run, temporary, output_grid, tags, temporary_probs, class_names)
    notices.progress(100.0, "Done")
    return MaskResult(
        output=str(output),
        probabilities=str(probabilities) if probabilities is not None else None,
        class_percentages=_percentages(counts, valid_pixels),
        device_used=device_used,
        model_used=card.label,
        class3_source=class3_source,
        warnings=list(notices.messages),
        seconds=round(time.perf_counter() - started, 3),
        output_grid=output_grid,
    )


def _write(run: Any, path: Path, grid: Grid, tags: dict[str, str], probs: Path | None, names: list[str]) -> None:
    writer = MaskWriter(path, grid, tags, probs, names)
    try:
        run(writer)
    except BaseException:
        writer.abandon()
        raise


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
    level: str = "l2a",
    model: str | Path = "auto",
    device: str = "auto",
    probabilities: str | Path | None = None,
    threads: int = 0,
    feedback: Feedback | None = None,
) -> MaskResult:
    """Mask any raster holding Sentinel-2 bands; the mask lies on the raster's own grid.

    bands maps model band names to 1-based band numbers ({"blue": 1, ...});
    reflectance = DN * scale + offset (the defaults suit L2A from baseline 04.00).
    """
    started = time.perf_counter()
    notices = _Notices(feedback or SilentFeedback())
    check_writable(output)
    if probabilities is not None:
        check_writable(probabilities)
    level = level.upper()
    card = _choose_card(model, level, list(bands))
    _check_level(card, level, f"the raster {raster_path} (LEVEL)")
    needed = [name for name in card.band_names if name not in bands]
    if needed:
        raise BandError(
            f"The model {card.label} needs the band(s) {', '.join(needed)}, which are not mapped for {raster_path}; "
            f"give their band numbers (BAND_{'/BAND_'.join(n.upper() for n in needed)})."
        )
    class3, class3_source = None, ""
    if SEMI_TRANSPARENT in card.class_codes():
        class3_source = "model"
    elif level == "L1C" and "cirrus" in bands:
        class3, class3_source = L1C_RULE, L1C_RULE.description
    else:
        class3_source = "absent: no cirrus band mapped (L1C B10 needed)" if level == "L1C" else \
            "absent: a plain L2A raster carries no MSK_CLASSI_B00 cirrus layer"
        notices.warn("No cirrus information: class 3 (semi-transparent cloud) is absent.")
    wanted = list(dict.fromkeys([*card.band_names, *(class3.bands if class3 else ())]))
    with RasterSource(raster_path, {name: bands[name] for name in wanted}) as native:
        own_grid = native.native_grid
        crs = CRS.from_user_input(own_grid.crs) if own_grid.crs else None
    if is_metric(crs):
        model_grid = own_grid if math.isclose(own_grid.resolution, card.resolution, rel_tol=0.01) \
            else own_grid.resampled(card.resolution)
    else:
        model_grid = own_grid
        notices.warn(f"The raster {raster_path} is not in a projected CRS in metres; the model runs on its own "
                     f"pixels, although it expects about {card.resolution:g} m.")
    session, device_used = create_session(card.model_path, device, threads, notices)
    check_card_matches(card, session)
    with RasterSource(raster_path, {name: bands[name] for name in wanted}, scale, offset, model_grid) as source:
        result = run_mask(
            source, own_grid, card, session, output,
            device_used=device_used, product_id=Path(raster_path).name, class3=class3,
            class3_source=class3_source, probabilities=probabilities, feedback=notices,
        )
    return replace(result, seconds=round(time.perf_counter() - started, 3))


def _product_bands(card: ModelCard, product: Any, notices: _Notices) -> dict[str, str]:
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


def _product_class3(card: ModelCard, product: Any, bands: dict[str, str]) -> tuple[Class3Rule | None, str, dict]:
    """The rule for semi-transparent cloud, its description, and the extra layers it reads."""
    if SEMI_TRANSPARENT in card.class_codes():
        return None, "model", {}
    if product.level == "L1C":
        if "B10" in product.band_files:
            bands.setdefault("red", "B04")
            bands.setdefault("cirrus", "B10")
            return L1C_RULE, L1C_RULE.description, {}
        return None, f"absent: product {product.product_id} has no B10 cirrus band", {}
    if "MSK_CLASSI_B00" in product.mask_files:
        bands.setdefault("red", "B04")
        return L2A_RULE, L2A_RULE.description, {CIRRUS_FLAG: ("MSK_CLASSI_B00", 2)}
    return None, f"absent: product {product.product_id} has no MSK_CLASSI_B00 cirrus layer (baseline before 04.00)", {}


def mask_product(
    product_path: str | Path,
    output: str | Path,
    *,
    model: str | Path = "auto",
    device: str = "auto",
    resolution: int = 10,
    extent: tuple | None = None,
    probabilities: str | Path | None = None,
    threads: int = 0,
    feedback: Feedback | None = None,
) -> MaskResult:
    """Mask a Sentinel-2 L1C or L2A product on its 10, 20 or 60 m grid (optionally only within `extent`).

    extent: (xmin, ymin, xmax, ymax, crs) in any CRS, or (xmin, ymin, xmax, ymax) in the product's CRS.
    """
    from ..reading.product import open_product, product_grid

    started = time.perf_counter()
    notices = _Notices(feedback or SilentFeedback())
    check_writable(output)
    if probabilities is not None:
        check_writable(probabilities)
    notices.progress(0.0, "Reading bands")
    product = open_product(product_path)
    for message in product.warnings:
        notices.warn(message)
    card = _choose_card(model, product.level, product.bands)
    _check_level(card, product.level, f"product {product.product_id}")
    bands = _product_bands(card, product, notices)
    if int(resolution) not in RESOLUTIONS:
        raise BandError(f"RESOLUTION {resolution} is not offered; choose 10, 20 or 60 (m).")
    output_grid = product_grid(product, int(resolution), extent)
    model_grid = output_grid.resampled(card.resolution)
    class3, class3_source, layers = _product_class3(card, product, bands)
    if class3 is None and class3_source != "model":
        notices.warn(f"No cirrus information: class 3 (semi-transparent cloud) is absent ({class3_source}).")
    session, device_used = create_session(card.model_path, device, threads, notices)
    check_card_matches(card, session)
    with ProductSource(product, bands, model_grid, layers, threads) as source:
        for message in source.warnings:
            notices.warn(message)
        used = {band: source.resolutions_used[band] for band in bands.values()}
        if min(used.values()) >= 60:
            notices.warn("Only 60 m bands present; the mask is at 60 m detail.")
        result = run_mask(
            source, output_grid, card, session, output,
            device_used=device_used, product_id=product.product_id, class3=class3,
            class3_source=class3_source, probabilities=probabilities, feedback=notices,
        )
    return replace(result, seconds=round(time.perf_counter() - started, 3), resolutions_used=used,
                   warnings=list(notices.messages))
