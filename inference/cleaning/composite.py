"""composite: many products of one level, their masks, one cloud-free Cloud-Optimised GeoTIFF.

The steps, in order, each refusing bad input before the next costs anything:

1. the products (a folder, glob, list or STAC items, as the batch runner takes
   them) are opened through the reading layer; START / END keep those sensed
   between them; L1C and L2A never mix;
2. the output grid: the user's extent, CRS and resolution, or the union of
   the footprints in the first product's CRS at 20 m (footprints.py);
3. the masks: this plugin's masks already made (a maskmany / batch OUT folder,
   `<product id>_cloudmask.tif`, checked against the product id) are reused;
   the rest are made by the batch runner into that folder (MASKS, or
   `<OUTPUT stem>_masks` beside the output), so a rerun reuses them too. The
   SCL (`mask_source="scl"`) and no mask at all serve comparisons;
4. block by block over the grid (stacking.composite_block): on the batch
   runner's dask workers when the machine has room for more than one (or a
   cluster is named), else in this process with threads reading the dates
   side by side; each finished block goes straight into the output.

Cancel stops between blocks; the output then does not exist (atomic_output).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.crs import CRS

from ..about import software_version
from ..batch.cluster import LOCAL, connect, scheduler_address
from ..batch.inputs import find_products
from ..batch.records import DONE, SKIPPED, Settings, output_paths
from ..batch.runner import POLL_SECONDS, run_batch
from ..batch.workers import machine_resources, plan_workers
from ..classes import CLASS_NAMES
from ..cog import TiledRaster
from ..defaults import (
    CLEAN_BANDS,
    COMPOSITE_METHODS,
    DEFAULT_BUFFER,
    DEFAULT_CLEAN_RESOLUTION,
    MASK_SOURCES,
    RESOLUTIONS,
)
from ..errors import Cancelled, CloudMaskError, ParameterError, ProductError
from ..feedback import Feedback, Notices, Share, SilentFeedback, check_cancelled
from ..grid import Grid
from ..masking.buffers import check_buffer
from ..outputs import atomic_output, check_outputs, check_raster_outputs
from ..reading.product import Product, as_product, product_on_disk, scl_file
from .apply import DEFAULT_CLASSES
from .folders import masks_folder
from .footprints import footprint, output_grid, overlaps
from .masks import MaskLayer, check_classes
from .stacking import (
    BEST_AVAILABLE,
    EPOCH,
    CompositePlan,
    Observation,
    composite_block,
    layer_names,
    observation_day,
    release,
)

DEFAULT_BLOCK = 256
BLOCK_RANGE = (64, 2048)  # px; a multiple of 16 (GeoTIFF tiles)
MASKING_SHARE = 50.0  # percent of the progress bar for masking the products without a mask
IN_FLIGHT_PER_WORKER = 2  # blocks queued per dask worker: enough to keep it busy, few enough to bound memory


@dataclass
class CompositeResult:
    output: str
    grid: Grid
    method: str
    bands: list[str]
    products: list[str]  # ids of the products composited, by date
    skipped: dict[str, str] = field(default_factory=dict)  # product (id or path) -> why it was left out
    masks_reused: int = 0
    masks_made: int = 0
    masks_folder: str | None = None
    covered_percent: float = 0.0  # pixels with at least one clear observation, of all pixels of the grid
    mean_clear_observations: float = 0.0
    target_date: str | None = None  # best-available pixel
    workers: str = "this process"
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def parse_date(value: str | date | None, name: str) -> date | None:
    """A date given as a date, a datetime or 'YYYY-MM-DD' (None or '' for none)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return datetime.strptime(str(value).strip()[:10], "%Y-%m-%d").date()
    except ValueError:
        raise ParameterError(f"{name} {value!r} is not a date; give it as YYYY-MM-DD, such as 2022-06-01.") from None


def _check_choices(method: str, mask_source: str, block_size: int) -> None:
    if method not in COMPOSITE_METHODS:
        raise ParameterError(f"METHOD must be one of {', '.join(COMPOSITE_METHODS)} (got {method!r}).")
    if mask_source not in MASK_SOURCES:
        raise ParameterError(f"The mask source must be one of {', '.join(MASK_SOURCES)} (got {mask_source!r}).")
    if not (BLOCK_RANGE[0] <= int(block_size) <= BLOCK_RANGE[1] and int(block_size) % 16 == 0):
        raise ParameterError(f"The block size {block_size} must be a multiple of 16 from {BLOCK_RANGE[0]} to "
                             f"{BLOCK_RANGE[1]} pixels.")


def _open_products(sources: Sequence[str | Product], start: date | None, end: date | None,
                   skipped: dict[str, str], notices: Notices) -> list[Product]:
    """The products sensed between start and end, by date; a product that cannot be opened is left out."""
    opened = []
    for source in sources:
        try:
            product = as_product(source)
        except CloudMaskError as exc:
            skipped[str(source)] = str(exc)
            notices.warn(f"Left out {source}: {exc}")
            continue
        day = product.sensing_time.date()
        if (start and day < start) or (end and day > end):
            continue
        opened.append(product)
    if not opened:
        span = f" between {start or 'the first date'} and {end or 'the last'}" if start or end else ""
        raise ProductError(f"No product to composite{span}: of {len(sources)} given, none could be opened"
                           f"{' or was sensed then' if span else ''}. Check PRODUCTS{', START and END' if span else ''}.")
    levels: dict[str, list[str]] = {}
    for product in opened:
        levels.setdefault(product.level, []).append(product.product_id)
    if len(levels) > 1:
        listed = "; ".join(f"{level}: {', '.join(ids[:3])}{' ...' if len(ids) > 3 else ''}"
                           for level, ids in sorted(levels.items()))
        raise ProductError(f"The products mix levels ({listed}). Top-of-atmosphere (L1C) and surface (L2A) "
                           "reflectance cannot share a composite; choose products of one level.")
    ids: dict[str, str] = {}
    for product in opened:
        if product.product_id in ids:
            raise ProductError(f"The product {product.product_id} is given twice ({ids[product.product_id]} and "
                               f"{product.source}); keep one of them.")
        ids[product.product_id] = product.source
    return sorted(opened, key=lambda p: p.sensing_time)


def _bands(products: Sequence[Product], bands: Sequence[str] | None, notices: Notices) -> tuple[str, ...]:
    if bands:
        wanted = tuple(str(band).strip().upper() for band in bands)
        for product in products:
            missing = [band for band in wanted if band not in product.band_files]
            if missing:
                raise ProductError(f"{product.product_id} has no band {', '.join(missing)}; choose bands every "
                                   "product holds.")
        return wanted
    shared = tuple(band for band in CLEAN_BANDS if all(band in p.band_files for p in products))
    if not shared:
        raise ProductError("The products share none of the surface bands " + ", ".join(CLEAN_BANDS) + ".")
    absent = [band for band in CLEAN_BANDS if band not in shared]
    if absent:
        notices.warn(f"{', '.join(absent)} are missing from some product; the composite holds {', '.join(shared)}.")
    return shared


def existing_mask(folder: Path, product: Product) -> Path | None:
    """The mask a maskmany / batch run left for this product in `folder`, if any; one of another product under
    its name is refused."""
    path = output_paths(folder, product.product_id)["mask"]
    if not path.is_file():
        return None
    with MaskLayer(path, DEFAULT_CLASSES) as layer:
        made_for = layer.tags.get("PRODUCT_ID")
    if made_for and made_for != product.product_id:
        raise ProductError(f"The mask {path} was made from {made_for}, not from {product.product_id}; remove it or "
                           "choose another MASKS folder.")
    return path


@contextlib.contextmanager
def _workers(client: Any, scheduler: str | None, workers: int | None) -> Iterator[tuple[Any, str]]:
    """A dask client (the one given, a named scheduler's, or a LocalCluster's) or None for this process alone."""
    if client is not None:
        yield client, "the dask client given"
        return
    address = scheduler_address(scheduler)
    plan = None
    if address is None:
        cores, memory = machine_resources()
        plan = plan_workers(cores, memory, workers=workers, threads=1)
        if plan.workers <= 1:
            yield None, "this process"
            return
    with connect(address, plan) as made:
        yield made, plan.describe() if plan else f"the dask scheduler at {address}"


def _mask_missing(products: list[Product], folder: Path, settings: Settings, client: Any, scheduler: str | None,
                  workers: int | None, skipped: dict[str, str], feedback: Feedback, notices: Notices
                  ) -> tuple[dict[str, str], int, int]:
    """product id -> mask path for every product that has or gets one; (masks, reused, made)."""
    masks: dict[str, str] = {}
    missing = []
    for product in products:
        found = existing_mask(folder, product) if folder.is_dir() else None
        if found is not None:
            masks[product.product_id] = str(found)
        else:
            missing.append(product)
    reused = len(masks)
    if not missing:
        return masks, reused, 0

    folder.mkdir(parents=True, exist_ok=True)
    local = None if client is not None else (scheduler or LOCAL)  # this process composites: workers mask
    result = run_batch([p.source for p in missing], folder, settings, client=client, scheduler=local,
                       workers=workers, feedback=Share(notices, 0.0, MASKING_SHARE, "Masking "))
    made = 0
    for product, row in zip(missing, result.rows):
        if row["status"] in (DONE, SKIPPED) and row.get("mask"):
            masks[product.product_id] = row["mask"]
            made += row["status"] == DONE
        else:
            skipped[product.product_id] = f"masking failed: {row.get('error') or row['status']}"
            notices.warn(f"Left out {product.product_id}: masking it failed ({row.get('error') or row['status']}).")
    return masks, reused, made


def _blocks_here(plan: CompositePlan, windows: list, feedback: Feedback) -> Iterator[tuple[tuple, np.ndarray]]:
    threads = max(1, min(len(plan.observations), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="s2-composite") as pool:
        try:
            for window in windows:
                check_cancelled(feedback)
                yield window, composite_block(plan, window, pool)
        finally:
            release(plan.token)


def _blocks_on_dask(client: Any, plan: CompositePlan, windows: list, feedback: Feedback
                    ) -> Iterator[tuple[tuple, np.ndarray]]:
    """Blocks on the workers, a few in flight per worker (memory stays bounded), yielded as they finish."""
    limit = max(2, IN_FLIGHT_PER_WORKER * max(1, len(client.scheduler_info().get("workers", {}))))
    plan_future = client.scatter(plan, broadcast=True)
    queue = list(windows)
    pending: dict[Any, tuple] = {}
    try:
        while queue or pending:
            while queue and len(pending) < limit:
                window = queue.pop(0)
                pending[client.submit(composite_block, plan_future, window, pure=False,
                                      key=f"s2cloudmask-composite-{plan.token}-{window[1]}-{window[0]}")] = window
            if feedback.is_cancelled():
                raise Cancelled("The composite was cancelled; no output was written.")
            finished = [future for future in pending if future.done()]
            if not finished:
                time.sleep(POLL_SECONDS)
            for future in finished:
                window = pending.pop(future)
                yield window, future.result()
    finally:
        client.cancel(list(pending))
        with contextlib.suppress(Exception):
            client.run(release, plan.token)


def composite(
    products: str | Path | Sequence[str | Path | Product],
    output: str | Path,
    *,
    masks: str | Path | None = None,
    mask_source: str = "plugin",
    extent: tuple | None = None,
    crs: Any = None,
    resolution: float = DEFAULT_CLEAN_RESOLUTION,
    start: str | date | None = None,
    end: str | date | None = None,
    method: str = "median",
    target_date: str | date | None = None,
    classes: Sequence[int] = DEFAULT_CLASSES,
    buffer: float = DEFAULT_BUFFER,
    bands: Sequence[str] | None = None,
    block_size: int = DEFAULT_BLOCK,
    model: str = "auto",
    device: str = "auto",
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    feedback: Feedback | None = None,
) -> CompositeResult:
    """A cloud-free composite of `products` (a folder, glob, list file, STAC items, or paths / Products) at `output`.

    masks: a folder of this plugin's masks (maskmany / batch OUT), reused by product id; products without one
    are masked into it (default `<output stem>_masks` beside the output). mask_source: "plugin", "scl" (the L2A
    SCL's cloud classes) or "none". extent (xmin, ymin, xmax, ymax[, crs]), crs and resolution (m) set the grid.
    start / end: sensing dates kept (inclusive). method: "median" or "bap" (best-available pixel, nearest to
    target_date; default the middle of the dates). classes, buffer: what the masks remove, as apply_mask.
    workers / scheduler / client: where masking and blocks run (default: dask workers on this machine when it
    has room for more than one, else this process).
    """
    started = time.perf_counter()
    feedback = feedback or SilentFeedback()
    notices = Notices(feedback)
    output = Path(output)
    _check_choices(method, mask_source, block_size)
    classes = check_classes(classes)
    buffer = check_buffer(float(buffer))
    first, last = parse_date(start, "START"), parse_date(end, "END")
    if first and last and first > last:
        raise ParameterError(f"START {first} is after END {last}; give START before END.")
    given = list(products) if isinstance(products, (list, tuple)) else [products]
    opened_already = [p for p in given if isinstance(p, Product)]
    paths = [p for p in given if not isinstance(p, Product)]
    listed: list[str | Product] = [*opened_already, *(find_products(paths) if paths else [])]
    skipped: dict[str, str] = {}
    feedback.progress(0.0, "Opening the products")
    opened = _open_products(listed, first, last, skipped, notices)
    if mask_source == "scl" and opened[0].level != "L2A":
        raise ProductError("The SCL exists only in Level-2A products; these are Level-1C. Use this plugin's masks.")
    grid = output_grid(opened, extent=extent, crs=crs, resolution=resolution)
    used = []
    for product in opened:
        if overlaps(footprint(product, _crs(grid)), grid.bounds):
            used.append(product)
        else:
            skipped[product.product_id] = "outside the extent"
    chosen_bands = _bands(used, bands, notices)
    folder = masks_folder(output, masks)
    if folder.exists() and not folder.is_dir():
        raise ParameterError(f"MASKS {folder} is a file; give the folder that holds the masks (a maskmany output).")
    inputs: dict[str, Any] = {f"the product {p.product_id}": product_on_disk(p) for p in used}
    check_raster_outputs({"OUTPUT": output}, inputs)
    if mask_source == "plugin":
        check_outputs({"MASKS": folder}, inputs)

    with _workers(client, scheduler, workers) as (active, where):
        mask_paths: dict[str, str] = {}
        reused = made = 0
        if mask_source == "plugin":
            mask_resolution = int(resolution) if int(resolution) in RESOLUTIONS else DEFAULT_CLEAN_RESOLUTION
            settings = Settings(model=model, device=device, resolution=mask_resolution, compare=False)
            mask_paths, reused, made = _mask_missing(used, folder, settings, active, scheduler, workers, skipped,
                                                      feedback, notices)
            used = [p for p in used if p.product_id in mask_paths]
        elif mask_source == "scl":
            mask_paths = {p.product_id: scl_file(p) for p in used}
        if not used:
            raise ProductError("No product is left to composite: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
        target = parse_date(target_date, "TARGET_DATE") or _middle(used, first, last)
        plan = CompositePlan(
            token=uuid.uuid4().hex, grid=grid, bands=chosen_bands, method=method, classes=classes,
            buffer=float(buffer), target_day=observation_day(target), block=int(block_size),
            observations=tuple(Observation(p.source, p.product_id, observation_day(p.sensing_time.date()),
                                           footprint(p, _crs(grid)), mask_paths.get(p.product_id),
                                           mask_source == "scl") for p in used),
        )
        start_share = MASKING_SHARE if made else 0.0
        result = _write(plan, output, active, feedback, start_share, notices, mask_source)
    return replace(
        result, products=[p.product_id for p in used], skipped=skipped, masks_reused=reused, masks_made=made,
        masks_folder=str(folder) if mask_source == "plugin" else None,
        target_date=target.isoformat() if method == BEST_AVAILABLE else None, workers=where,
        warnings=list(notices.messages), seconds=round(time.perf_counter() - started, 3),
    )


def _crs(grid: Grid) -> CRS:
    return CRS.from_user_input(grid.crs)


def _middle(products: Sequence[Product], first: date | None, last: date | None) -> date:
    """The target date when none is given: the middle of START-END, else of the products' dates."""
    low = first or products[0].sensing_time.date()
    high = last or products[-1].sensing_time.date()
    return low + (high - low) / 2


def _write(plan: CompositePlan, output: Path, client: Any, feedback: Feedback, start: float, notices: Notices,
           mask_source: str) -> CompositeResult:
    windows = [(int(w.col_off), int(w.row_off), int(w.width), int(w.height)) for w in plan.grid.blocks(plan.block)]
    tags = _tags(plan, mask_source)
    covered = pixels = 0
    clear_sum = 0.0
    feedback.progress(start, f"Compositing {len(plan.observations)} product(s)")
    with atomic_output(output) as temporary:
        raster = TiledRaster(temporary, plan.grid, plan.layers, np.float32, np.nan, tile=plan.block,
                             descriptions=layer_names(plan.bands, plan.method), tags=tags)
        try:
            blocks = (_blocks_on_dask(client, plan, windows, feedback) if client is not None
                      else _blocks_here(plan, windows, feedback))
            for done, (window, data) in enumerate(blocks, start=1):
                raster.write(data, window[1], window[0])
                count = data[len(plan.bands)]
                covered += int((count > 0).sum())
                clear_sum += float(count.sum())
                pixels += count.size
                feedback.progress(start + (97.0 - start) * done / len(windows),
                                  f"Compositing: block {done} of {len(windows)}")
            check_cancelled(feedback)
            feedback.progress(97.0, "Writing the Cloud-Optimised GeoTIFF")
            raster.finish("AVERAGE")
        except BaseException:
            raster.abandon()
            raise
    if covered == 0:
        notices.warn("No pixel of the composite has a clear observation: every date is cloudy or without data "
                     "there. Choose more dates or a wider date range.")
    feedback.progress(100.0, "Done")
    return CompositeResult(output=str(output), grid=plan.grid, method=plan.method, bands=list(plan.bands),
                           products=[], covered_percent=100.0 * covered / pixels if pixels else 0.0,
                           mean_clear_observations=clear_sum / pixels if pixels else 0.0)


def _tags(plan: CompositePlan, mask_source: str) -> dict[str, str]:
    days = [o.day for o in plan.observations]
    sources = {"plugin": "this plugin's masks", "scl": "the SCL's cloud classes", "none": "no mask"}
    return {
        "METHOD": COMPOSITE_METHODS[plan.method],
        "PRODUCTS": ",".join(o.product_id for o in plan.observations),
        "FIRST_DATE": _day_text(min(days)), "LAST_DATE": _day_text(max(days)),
        "MASKS": sources[mask_source],
        "CLASSES_REMOVED": ", ".join(CLASS_NAMES[c].lower() for c in plan.classes) + " (and no data)",
        "BUFFER": f"{plan.buffer:g} m" if plan.buffer else "none",
        **({"TARGET_DATE": _day_text(plan.target_day)} if plan.method == BEST_AVAILABLE else {}),
        "VALUES": "reflectance, no data NaN",
        "SOFTWARE": software_version(),
        "CREATED": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
    }


def _day_text(day: int) -> str:
    return (EPOCH + timedelta(days=day)).isoformat()
