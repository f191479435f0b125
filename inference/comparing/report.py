"""The comparison's figures as JSON and as a self-contained HTML page (resources/reports/comparison.html).

The HTML travels alone (e-mail, a ticket, a web page): styles are inline, the
quicklook is a base64 PNG (written with zlib alone) and the bar chart
is inline SVG, so it has no external resource. The JSON goes beside it under
the same stem; its keys are documented in docs/report-json.md and produced by
`Comparison.to_dict()`. This module turns the figures into what the template
shows (cards, chart geometry, matrix shading); the template lays it out.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import CLASS_NAMES, MASK_CODES
from ..errors import OutputError
from ..outputs import check_writable
from ..report_pages import area, count, number, percent, render, write_page_and_json
from .metrics import Comparison
from .quicklook import difference_quicklook

REPORT_SUFFIXES = (".html", ".htm")


def report_files(path: str | Path, role: str = "REPORT") -> dict[str, Path]:
    """What writing a report at `path` writes: the HTML and the JSON beside it (same stem), by role."""
    report = Path(path)
    return {role: report, f"the JSON beside {role}": report.with_suffix(".json")}


def check_report_path(path: str | Path) -> tuple[Path, Path]:
    """Fail before any work when the report or the JSON beside it cannot be written."""
    report = Path(path)
    if report.suffix.lower() not in REPORT_SUFFIXES:
        raise OutputError(f"The report {report} must be an HTML file; give a name ending in .html.")
    html_path, json_path = report_files(report).values()
    return check_writable(html_path), check_writable(json_path)


def _share(codes: tuple[int, ...], figures: dict[str, Any]) -> tuple[float, float]:
    rows = [row for row in figures["difference"] if row["code"] in codes]
    return sum(row["area_km2"] for row in rows), sum(row["percent"] or 0.0 for row in rows)


def _cards(figures: dict[str, Any], reference: str) -> list[dict[str, str]]:
    let_through = _share(tuple(figures["let_through_codes"]), figures)
    thrown_away = _share(tuple(figures["thrown_away_codes"]), figures)
    cards = [
        ("Agreement", percent(figures["overall_agreement"]["ambiguous_as_clear"]),
         "ambiguous SCL codes counted as clear" if reference == "SCL" else "all compared pixels"),
        ("Agreement without ambiguous", percent(figures["overall_agreement"]["excluding_ambiguous"]),
         "ambiguous SCL pixels left out" if reference == "SCL" else "no ambiguous codes in a mask"),
        ("Cohen's kappa", number(figures["kappa"]["ambiguous_as_clear"]),
         f"without ambiguous: {number(figures['kappa']['excluding_ambiguous'])}"),
        (f"{reference} lets through", area(let_through[0]),
         f"{let_through[1]:.2f}\u202f% of the compared area: cloud or shadow {reference} calls clear"),
        (f"{reference} throws away", area(thrown_away[0]),
         f"{thrown_away[1]:.2f}\u202f% of the compared area: clear pixels {reference} calls cloud or shadow"),
        ("Compared area", area(figures["compared_area_km2"]),
         f"{count(figures['pixels']['compared'])} pixels with data on both sides"),
    ]
    return [{"title": title, "value": value, "note": note} for title, value, note in cards]


def _axis_top(largest: float) -> float:
    """A round axis end at or above `largest` that splits into four round ticks."""
    for step in (0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25):
        if largest <= 4 * step:
            return 4 * step
    return 100.0


def _chart(figures: dict[str, Any]) -> dict[str, Any]:
    """The bar chart's geometry: one horizontal bar per difference category, an axis in round percent."""
    rows = figures["difference"]
    label_width, bar_width, row_height, value_width = 270, 470, 26, 190
    largest = _axis_top(max((row["percent"] or 0.0) for row in rows))
    bars = []
    for index, row in enumerate(rows):
        length = bar_width * (row["percent"] or 0.0) / largest
        bars.append({"y": index * row_height, "name": row["name"], "colour": row["colour"],
                     "width": f"{max(length, 0.5):.1f}", "value_x": f"{label_width + length + 6:.1f}",
                     "value": f"{row['area_km2']:,.2f} km² ({row['percent'] or 0.0:.2f} %)"})
    return {
        "width": label_width + bar_width + value_width, "height": row_height * len(rows) + 30,
        "label_width": label_width, "row_height": row_height, "bars": bars,
        "ticks": [{"x": f"{label_width + bar_width * step / 4:.1f}", "label": f"{largest * step / 4:g}"}
                  for step in range(5)],
    }


def _matrix(figures: dict[str, Any]) -> dict[str, Any]:
    """The confusion matrix with each cell's share of its row, which shades it."""
    matrix = figures["matrix"]
    counts = np.asarray(matrix["counts"], dtype=np.int64)
    columns = matrix["column_classes"]
    rows = []
    for row_index, row_class in enumerate(matrix["row_classes"]):
        total = int(counts[row_index].sum())
        cells = []
        for column_index, column in enumerate(columns):
            value = int(counts[row_index, column_index])
            share = value / total if total else 0.0
            diagonal = not column["ambiguous"] and column["compared_as"] == row_class["code"]
            cells.append({"count": value, "share": share, "alpha": 0.08 + 0.85 * share,
                          "colour": "106,38,140" if column["ambiguous"] else "33,113,181",
                          "classes": " ".join(name for name, on in (("diagonal", diagonal), ("dark", share > 0.55))
                                              if on)})
        rows.append({"name": row_class["name"], "cells": cells, "total": total})
    ambiguous = sum(1 for column in columns if column["ambiguous"])
    return {"columns": columns, "plain_columns": len(columns) - ambiguous, "ambiguous_columns": ambiguous,
            "rows": rows, "column_totals": [int(v) for v in counts.sum(axis=0)], "total": int(counts.sum())}


def _per_class(figures: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for code in MASK_CODES:
        figure = next(f for f in figures["per_class"].values() if f["code"] == code)
        rows.append({"name": CLASS_NAMES[code], "mask_pixels": figure["mask_pixels"],
                     "reference_pixels": figure["reference_pixels"],
                     "scores": [figure[key] for key in ("precision", "recall", "f1", "iou")]})
    return rows


_SOURCE_LABELS = {
    "product_id": "product",
    "tile_id": "tile",
    "sensing_time": "sensing time (UTC)",
    "scl_file": "SCL file read",
    "resolution": "pixel size",
    "crs": "CRS",
}


def _source_value(key: str, value: Any) -> str:
    """A reference_source entry for reading: the pixel size with its unit."""
    if key == "resolution":
        return f"{float(value):g} m"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _identification(figures: dict[str, Any], html_path: Path) -> list[tuple[str, str]]:
    source = figures["reference_source"]
    grid = figures["grid"]
    pixels = figures["pixels"]
    excluded = pixels["total"] - pixels["compared"]
    return [
        ("Mask", figures["mask"]["path"]),
        *((f"Mask tag {key}", value) for key, value in sorted(figures["mask"]["tags"].items())),
        (f"Reference ({figures['reference']})", source["path"]),
        ("Reference kind", source["kind"].replace("_", " ")),
        *((f"Reference {_SOURCE_LABELS.get(key, key)}", _source_value(key, value))
          for key, value in source.items() if key not in ("path", "kind")),
        ("Difference raster", figures["difference_raster"]),
        ("JSON", str(html_path.with_suffix(".json"))),
        ("Grid (the mask's)", f"{grid['crs']}, {grid['resolution']:g} m pixels, {grid['width']} x {grid['height']}"),
        ("Pixels left out", f"{count(excluded)} of {count(pixels['total'])} ({100.0 * excluded / pixels['total']:.1f} %): "
                            f"{count(pixels['mask_no_data'])} no data in the mask, "
                            f"{count(pixels['reference_no_data'])} no data in the reference only"),
        ("Resampling", "reference resampled onto the mask grid with nearest neighbour"),
        ("Run time", f"{figures['seconds']:.1f} s"),
    ]


def render_html(figures: dict[str, Any], html_path: Path, quicklook_png: bytes | None) -> str:
    """The report page for the figures of `Comparison.to_dict()`."""
    reference = figures["reference"]
    return render(
        "comparison.html",
        title=f"{Path(figures['mask']['path']).name} against {reference}",
        subtitle=f"{figures['mask']['path']}  against  {figures['reference_source']['path']}",
        reference=reference,
        cards=_cards(figures, reference),
        quicklook=base64.b64encode(quicklook_png).decode("ascii") if quicklook_png else None,
        difference=figures["difference"],
        chart=_chart(figures),
        matrix=_matrix(figures),
        per_class=_per_class(figures),
        identification=_identification(figures, html_path),
        attribution=figures["attribution"],
        created=dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    )


def write_report(comparison: Comparison, path: str | Path, difference_raster: str | Path | None = None) -> Path:
    """Write the HTML report at `path` and the JSON beside it (same stem, .json); return the HTML path."""
    html_path, json_path = check_report_path(path)
    figures = comparison.to_dict()
    raster = difference_raster or comparison.output
    image = difference_quicklook(raster) if Path(raster).is_file() else None
    write_page_and_json(html_path, render_html(figures, html_path, image), json_path, figures)
    return html_path
