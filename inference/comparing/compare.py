"""Where a cloud mask and Sen2Cor's SCL (or another mask) agree, and where they differ.

Users pick a cloud mask by where it beats the one they already have, so the
comparison answers two questions first: where does the reference let bad
pixels through (cloud or shadow it misses), and where does it throw good
pixels away (cloud or shadow only it sees). Everything happens on the MASK's
grid: the reference is resampled onto it with nearest neighbour (reprojected
when the CRS differs), and only pixels where both have data are compared.
The work streams in row blocks, so a full 10980 x 10980 tile needs no more
memory than one block.

The SCL is compared through `classes.SCL_TO_MASK`; its ambiguous codes (dark
area 2, water 6, unclassified 7, snow or ice 11) count as clear for the
overall figures but keep their own matrix columns and difference categories,
so "ambiguous" is never folded silently into agreement.


The difference codes live in `difference.py`, the figures in `metrics.py`,
the raster I/O in `rasters.py`; this module runs a comparison end to end.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from ..about import software_version, written_here
from ..errors import ProductError
from ..feedback import Feedback, SilentFeedback, check_cancelled
from ..grid import Grid
from ..outputs import atomic_output, check_geotiff_name, check_outputs, check_writable
from ..reading.paths import is_product_path, is_url, product_container
from ..reading.product import Product, open_product
from .difference import MASK_CODE_TEXT, MASK_COLUMNS, SCL_COLUMNS, difference_lut
from .metrics import Comparison, PairCounter
from .rasters import (
    DifferenceWriter,
    ReadBlock,
    blocks,
    check_codes,
    check_overlap,
    mask_grid,
    open_raster,
    product_scl_on_grid,
    raster_on_grid,
    read_block,
    row_areas_m2,
    sensing_year,
)
from .report import check_report_path, report_files, write_report


def _open_reference(
    reference: Path, grid: Grid, mask: Path, against_scl: bool, stack: contextlib.ExitStack,
    opened: Product | None = None,
) -> tuple[ReadBlock, str, dict[str, Any], int | None]:
    """How to read the reference on the mask grid, what kind it is, what identifies it, its year if known."""
    info: dict[str, Any] = {}
    if against_scl and (opened is not None or is_product_path(reference)):
        read, year = product_scl_on_grid(reference, grid, mask, info, stack, opened)
        return read, "l2a_product", info, year
    dataset = open_raster(reference, _role(against_scl), stack)
    if against_scl and written_here(dataset.tags()):
        raise ProductError(
            f"{reference} was written by this plugin (its SOFTWARE tag says so); it is not Sen2Cor's Scene "
            "Classification Layer. Give SCL the product's SCL_20m.jp2 or the Level-2A product itself; to score one "
            "mask against another, use validate."
        )
    check_overlap(grid, tuple(dataset.bounds), dataset.crs, mask, reference)
    info.update({"resolution": dataset.res[0], "crs": dataset.crs.to_string()})
    return raster_on_grid(dataset, grid, stack), "scl_raster" if against_scl else "mask", info, None


def _role(against_scl: bool) -> str:
    return "SCL" if against_scl else "reference mask"


def _stream(
    mask_dataset: rasterio.DatasetReader,
    read_reference: ReadBlock,
    write: Callable[[np.ndarray, Window], None],
    paths: tuple[Path, Path],
    against_scl: bool,
    feedback: Feedback,
) -> tuple[np.ndarray, np.ndarray]:
    """Read both sides block by block, write the difference codes; return pixel counts and areas per code pair."""
    mask_path, reference_path = paths
    grid = mask_grid(mask_dataset)
    role = _role(against_scl)
    highest, expected = (11, "0-11 of Sen2Cor's SCL") if against_scl else (4, MASK_CODE_TEXT)
    lut = difference_lut(SCL_COLUMNS if against_scl else MASK_COLUMNS).ravel()
    counter = PairCounter()
    windows = list(blocks(grid))
    for number, window in enumerate(windows):
        check_cancelled(feedback)
        mask_block = read_block(lambda w: mask_dataset.read(1, window=w), window, mask_path, "mask")
        check_codes(mask_block, 4, mask_path, "mask", MASK_CODE_TEXT)
        reference_block = read_block(read_reference, window, reference_path, role)
        check_codes(reference_block, highest, reference_path, role, expected)
        pairs = counter.add(mask_block, reference_block, row_areas_m2(grid, int(window.row_off), int(window.height)))
        write(lut[pairs], window)
        feedback.progress(85.0 * (number + 1) / len(windows), "Comparing")
    return counter.result()


def _check_paths(mask: Path, reference: Path, output: Path, report: str | Path | None, role: str) -> None:
    """Fail before any work when an output cannot be written or would replace an input (anything in its product)."""
    check_writable(output)
    outputs: dict[str, str | Path | None] = {"OUTPUT": output}
    if report is not None:
        check_report_path(report)
        outputs.update(report_files(report))
    check_outputs(outputs, {"MASK": mask, "the " + role: product_container(reference)})
    check_geotiff_name(output, "OUTPUT")


def _compare(
    mask: str | Path,
    reference: str | Path | Product,
    output: str | Path,
    report: str | Path | None,
    feedback: Feedback | None,
    against_scl: bool,
) -> Comparison:
    """Open both sides, stream the difference raster and the tally, then describe the file and write the report."""
    started = time.perf_counter()
    feedback = feedback or SilentFeedback()
    if not isinstance(reference, Product) and is_url(str(reference)):  # a STAC item: opened, named by its id
        reference = open_product(str(reference))
    opened = reference if isinstance(reference, Product) else None
    mask_path, output_path = Path(mask), Path(output)
    remote = opened is not None and is_url(opened.source)  # a path would fold the URL's "//"
    reference_path = Path(opened.product_id if remote else opened.source if opened is not None else reference)
    label = _role(against_scl)
    _check_paths(mask_path, reference_path, output_path, report, label)
    with contextlib.ExitStack() as stack:
        mask_dataset = open_raster(mask_path, "mask", stack)
        grid = mask_grid(mask_dataset)
        read_reference, kind, info, year = _open_reference(reference_path, grid, mask_path, against_scl, stack, opened)
        mask_tags = {key: str(value) for key, value in mask_dataset.tags().items() if key != "AREA_OR_POINT"}
        with atomic_output(output_path) as temporary:
            with DifferenceWriter(temporary, output_path, grid) as writer:
                counts, areas = _stream(
                    mask_dataset, read_reference, writer.write, (mask_path, reference_path), against_scl, feedback
                )
                comparison = Comparison(
                    mask=str(mask_path), reference=str(reference_path), reference_label=label, reference_kind=kind,
                    output=str(output_path), grid=grid, columns=SCL_COLUMNS if against_scl else MASK_COLUMNS,
                    counts=counts, areas_m2=areas, mask_tags=mask_tags, reference_info=info,
                    sensing_year=year or sensing_year(str(reference_path), str(mask_path), *mask_tags.values()),
                )
                if comparison.compared_pixels == 0:
                    raise ProductError(
                        f"The mask {mask_path} and {reference_path} have no pixel with data on both sides; "
                        "choose a reference that covers the mask's valid area."
                    )
                check_cancelled(feedback)
                feedback.progress(88.0, "Writing the difference raster")
                writer.describe(f"Difference: {mask_path.name} against {label} {reference_path.name}",
                                _difference_tags(comparison), comparison.names)
            comparison.seconds = time.perf_counter() - started
            if report is not None:
                check_cancelled(feedback)
                feedback.progress(92.0, "Writing the report")
                write_report(comparison, report, difference_raster=temporary)
                comparison.report = str(report)
    feedback.progress(100.0, "Done")
    return comparison


def _difference_tags(comparison: Comparison) -> dict[str, str]:
    def figure(value: float | None) -> str:
        return "" if value is None else f"{value:.6f}"

    return {
        "SOFTWARE": software_version(),
        "MASK": comparison.mask,
        "REFERENCE": comparison.reference,
        "REFERENCE_KIND": comparison.reference_kind,
        "CODES": "; ".join(f"{code}={name}" for code, name in comparison.names.items()),
        "OVERALL_AGREEMENT": figure(comparison.overall_agreement),
        "OVERALL_AGREEMENT_EXCLUDING_AMBIGUOUS": figure(comparison.agreement_excluding_ambiguous),
        "KAPPA": figure(comparison.kappa),
        "SCL_MAPPING": "SCL 4,5=clear; 3=shadow; 10=semi-transparent; 8,9=cloud; 2,6,7,11=ambiguous clear; 0,1=no data",
        "RESAMPLING": "reference resampled onto the mask grid with nearest neighbour",
        "ATTRIBUTION": comparison.attribution,
    }


def compare_with_scl(
    mask: str | Path,
    scl: str | Path | Product,
    output: str | Path,
    report: str | Path | None = None,
    feedback: Feedback | None = None,
) -> Comparison:
    """Compare a mask (this plugin's or KappaMask's, codes 0-4) with Sen2Cor's SCL on the mask's grid.

    `scl` is an SCL raster (SCL_20m.jp2, SCL_60m.jp2, a GeoTIFF) or an L2A
    product (.SAFE folder, .zip, MTD_MSIL2A.xml), or such a product already
    opened with `open_product` (read as it is, not again). `output` receives the
    difference GeoTIFF; `report` (optional, .html) the HTML report, with the
    JSON beside it under the same stem.
    """
    return _compare(mask, scl, output, report, feedback, against_scl=True)


def compare_masks(
    mask: str | Path,
    reference: str | Path,
    output: str | Path,
    report: str | Path | None = None,
    feedback: Feedback | None = None,
) -> Comparison:
    """Compare two masks with the plugin's codes 0-4 (two models, or this plugin against KappaMask).

    `reference` plays the part SCL plays in `compare_with_scl`: it is
    resampled onto the mask's grid and counts as the truth for precision and recall.
    """
    return _compare(mask, reference, output, report, feedback, against_scl=False)
