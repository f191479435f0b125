"""What a worker does with one product: mask it, compare it with its SCL, record the row.

Runs inside a dask worker process (never imports qgis). Every failure a
product can cause is caught here and recorded with its message, so one corrupt
product never stops the run; only the death of the worker itself reaches the
runner, which then retries the product elsewhere.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from ..classes import MASK_CODES
from ..errors import BandError, CloudMaskError, ProductError
from ..gdal_mode import use_gdal_exceptions
from ..masking.session import SessionCache
from .records import DONE, FAILED, Settings, empty_row, output_paths, percent_column, write_record

# One cache per worker process: the model session is built once and serves every product the worker runs.
SESSIONS = SessionCache()


def process_product(source: str, out: str, settings: Settings, attempt: int = 1) -> dict:
    """Mask (and compare) one product into `out`; return its summary row, also written as its record."""
    use_gdal_exceptions()  # a worker process of the batch runner, never QGIS's own
    started = time.perf_counter()
    row = empty_row(source)
    row["attempts"] = attempt
    input_failure = False
    try:
        _run(source, Path(out), settings, row)
        row["status"] = DONE
    except (ProductError, BandError) as exc:  # the product itself is broken: it fails again until replaced
        row.update(status=FAILED, error=str(exc))
        input_failure = True
    except CloudMaskError as exc:
        row.update(status=FAILED, error=str(exc))
    except Exception as exc:  # an unforeseen failure is still this product's alone
        last = traceback.extract_tb(exc.__traceback__)[-1]
        row.update(status=FAILED, error=f"{type(exc).__name__}: {exc} (at {Path(last.filename).name}:{last.lineno})")
    row["seconds"] = round(time.perf_counter() - started, 2)
    write_record(out, row, settings, input_failure)
    return row


def _run(source: str, out: Path, settings: Settings, row: dict) -> None:
    from ..comparing.compare import compare_with_scl
    from ..masking.engine import mask_product
    from ..reading.product import open_product

    product = open_product(source)
    row.update(product_id=product.product_id, tile=product.tile_id, level=product.level,
               date=product.sensing_time.strftime("%Y-%m-%d"))
    outputs = output_paths(out, product.product_id)
    result = mask_product(product, outputs["mask"], model=settings.model, device=settings.device,
                          resolution=settings.resolution, threads=settings.threads, shadow_check=settings.shadow_check,
                          buffer=settings.buffer, extent=settings.extent, open_session=SESSIONS)
    row.update(device=result.device_used, mask=str(outputs["mask"]))
    for code in MASK_CODES:
        row[percent_column(code)] = round(float(result.class_percentages.get(code, 0.0)), 4)
    if settings.compare and product.level == "L2A":
        comparison = compare_with_scl(outputs["mask"], product, outputs["difference"], report=outputs["report"])
        row.update(scl_agreement=_rounded(comparison.overall_agreement), scl_kappa=_rounded(comparison.kappa),
                   difference=str(outputs["difference"]), report=str(outputs["report"]))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
