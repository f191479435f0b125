"""The comparison's figures as JSON and as a self-contained HTML page.

The HTML travels alone (e-mail, a ticket, a web page): styles are inline, the
quicklook is a base64 PNG (written with zlib alone) and the bar chart
is inline SVG, so it has no external resource and no new dependency. The JSON
goes beside it under the same stem; its keys are documented in
docs/report-json.md and produced by `Comparison.to_dict()`.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling

from ..about import REPORT_TEMPLATE
from ..classes import CLASS_NAMES, MASK_CODES
from ..errors import OutputError
from ..outputs import atomic_output, check_writable
from .difference import DIFFERENCE_COLOURS
from .metrics import Comparison
from .quicklook import encode_png

QUICKLOOK_SIZE = 900
REPORT_SUFFIXES = (".html", ".htm")


def check_report_path(path: str | Path) -> tuple[Path, Path]:
    """Fail before any work when the report or the JSON beside it cannot be written."""
    report = Path(path)
    if report.suffix.lower() not in REPORT_SUFFIXES:
        raise OutputError(f"The report {report} must be an HTML file; give a name ending in .html.")
    return check_writable(report), check_writable(report.with_suffix(".json"))


def quicklook(difference_raster: str | Path, size: int = QUICKLOOK_SIZE) -> bytes:
    """The difference raster downsampled (nearest, from its overviews) to at most `size` pixels a side, as RGBA PNG."""
    with rasterio.open(difference_raster) as dataset:
        scale = max(dataset.width, dataset.height) / size
        shape = (max(1, round(dataset.height / scale)), max(1, round(dataset.width / scale))) if scale > 1 else None
        codes = dataset.read(1, out_shape=shape, resampling=Resampling.nearest)
    lut = np.zeros((256, 4), dtype=np.uint8)  # codes without a colour (and no data) stay transparent
    for code, colour in DIFFERENCE_COLOURS.items():
        lut[code] = colour
    return encode_png(lut[codes])


def _percent(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100.0 * value:.{digits}f}\u202f%"


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _points(fraction: float | None) -> str:
    """A fraction as percentage points, one decimal, as the dock shows it (the column header says "%")."""
    return "n/a" if fraction is None else f"{100.0 * fraction:.1f}"


def _count(value: int) -> str:
    return f"{value:,}".replace(",", "\u202f")


def _area(km2: float) -> str:
    return f"{km2:,.2f}".replace(",", "\u202f") + "\u202fkm²"


def _share(codes: tuple[int, ...], figures: dict[str, Any]) -> tuple[float, float]:
    rows = [row for row in figures["difference"] if row["code"] in codes]
    return sum(row["area_km2"] for row in rows), sum(row["percent"] or 0.0 for row in rows)


def _cards(figures: dict[str, Any], reference: str) -> str:
    let_through = _share(tuple(figures["let_through_codes"]), figures)
    thrown_away = _share(tuple(figures["thrown_away_codes"]), figures)
    cards = [
        ("Agreement", _percent(figures["overall_agreement"]["ambiguous_as_clear"]),
         "ambiguous SCL codes counted as clear" if reference == "SCL" else "all compared pixels"),
        ("Agreement without ambiguous", _percent(figures["overall_agreement"]["excluding_ambiguous"]),
         "ambiguous SCL pixels left out" if reference == "SCL" else "no ambiguous codes in a mask"),
        ("Cohen's kappa", _number(figures["kappa"]["ambiguous_as_clear"]),
         f"without ambiguous: {_number(figures['kappa']['excluding_ambiguous'])}"),
        (f"{reference} lets through", _area(let_through[0]),
         f"{let_through[1]:.2f}\u202f% of the compared area: cloud or shadow {reference} calls clear"),
        (f"{reference} throws away", _area(thrown_away[0]),
         f"{thrown_away[1]:.2f}\u202f% of the compared area: clear pixels {reference} calls cloud or shadow"),
        ("Compared area", _area(figures["compared_area_km2"]),
         f"{_count(figures['pixels']['compared'])} pixels with data on both sides"),
    ]
    return "\n".join(
        f'<div class="card"><div class="label">{title}</div><div class="value">{value}</div>'
        f'<div class="note">{note}</div></div>'
        for title, value, note in cards
    )


def _legend(figures: dict[str, Any]) -> str:
    rows = []
    for row in figures["difference"]:
        rows.append(
            f'<tr><td><span class="swatch" style="background:{row["colour"]}"></span></td>'
            f'<td class="code">{row["code"]}</td><td>{html.escape(row["name"])}</td>'
            f'<td class="num">{_area(row["area_km2"])}</td>'
            f'<td class="num">{_number(row["percent"], 2)}\u202f%</td></tr>'
        )
    return "\n".join(rows)


def _legend_note(reference: str) -> str:
    note = (
        f"Red: cloud or shadow that {reference} lets through as clear. Blue and orange: clear pixels that "
        f"{reference} throws away as cloud or shadow. Greys: agreement."
    )
    if reference == "SCL":
        note += " Purples: SCL cannot tell (dark area, water, unclassified, snow or ice)."
    return html.escape(note) + " Hatched: no data on one side. Percentages are of the compared area."


def _axis_top(largest: float) -> float:
    """A round axis end at or above `largest` that splits into four round ticks."""
    for step in (0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25):
        if largest <= 4 * step:
            return 4 * step
    return 100.0


def _bar_chart(figures: dict[str, Any]) -> str:
    """Horizontal bars, one per difference category, as inline SVG."""
    rows = figures["difference"]
    label_width, bar_width, row_height, value_width = 270, 470, 26, 190
    width = label_width + bar_width + value_width
    height = row_height * len(rows) + 30
    largest = _axis_top(max((row["percent"] or 0.0) for row in rows))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-label="Area of each difference category">',
    ]
    for step in range(5):
        x = label_width + bar_width * step / 4
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 24}" class="gridline"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" class="axis">{largest * step / 4:g} %</text>')
    for index, row in enumerate(rows):
        y = index * row_height
        length = bar_width * (row["percent"] or 0.0) / largest
        parts.append(f'<text x="{label_width - 10}" y="{y + 17}" class="barlabel">{html.escape(row["name"])}</text>')
        parts.append(
            f'<rect x="{label_width}" y="{y + 4}" width="{max(length, 0.5):.1f}" height="{row_height - 8}" '
            f'fill="{row["colour"]}" stroke="#555" stroke-width="0.6"/>'
        )
        parts.append(
            f'<text x="{label_width + length + 6:.1f}" y="{y + 17}" class="barvalue">'
            f'{row["area_km2"]:,.2f} km² ({row["percent"] or 0.0:.2f} %)</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _matrix(figures: dict[str, Any], reference: str) -> str:
    matrix = figures["matrix"]
    counts = np.asarray(matrix["counts"], dtype=np.int64)
    columns = matrix["column_classes"]
    plain = [c for c in columns if not c["ambiguous"]]
    ambiguous = [c for c in columns if c["ambiguous"]]
    header_groups = f'<th class="corner" rowspan="2">Mask&nbsp;&#8595; / {html.escape(reference)} (reference)&nbsp;&#8594;</th>'
    header_groups += f'<th colspan="{len(plain)}">{html.escape(reference)} as compared</th>'
    if ambiguous:
        header_groups += f'<th colspan="{len(ambiguous)}" class="ambiguous">{html.escape(reference)} ambiguous, counted as clear</th>'
    header_groups += '<th rowspan="2">Total</th>'
    header_names = "".join(
        f'<th class="{"ambiguous" if c["ambiguous"] else ""}">{html.escape(c["name"])}</th>' for c in columns
    )
    body = []
    for row_index, row_class in enumerate(matrix["row_classes"]):
        total = int(counts[row_index].sum())
        cells = []
        for column_index, column in enumerate(columns):
            value = int(counts[row_index, column_index])
            share = value / total if total else 0.0
            diagonal = not column["ambiguous"] and column["compared_as"] == row_class["code"]
            classes = " ".join(name for name, on in (("diagonal", diagonal), ("dark", share > 0.55)) if on)
            colour = "106,38,140" if column["ambiguous"] else "33,113,181"
            cells.append(
                f'<td class="{classes}" style="background:rgba({colour},{0.08 + 0.85 * share:.3f})">'
                f'{_count(value)}<small>{100.0 * share:.1f}\u202f%</small></td>'
            )
        body.append(f'<tr><th>{html.escape(row_class["name"])}</th>{"".join(cells)}<td class="total">{_count(total)}</td></tr>')
    totals = "".join(f'<td class="total">{_count(int(v))}</td>' for v in counts.sum(axis=0))
    body.append(f'<tr class="totals"><th>Total</th>{totals}<td class="total">{_count(int(counts.sum()))}</td></tr>')
    return (
        f'<table class="matrix"><thead><tr>{header_groups}</tr><tr>{header_names}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table>'
    )


def _per_class(figures: dict[str, Any]) -> str:
    rows = []
    for code in MASK_CODES:
        figure = next(f for f in figures["per_class"].values() if f["code"] == code)
        rows.append(
            f"<tr><th>{html.escape(CLASS_NAMES[code])}</th>"
            f'<td class="num">{_count(figure["mask_pixels"])}</td><td class="num">{_count(figure["reference_pixels"])}</td>'
            + "".join(f'<td class="num">{_points(figure[key])}</td>' for key in ("precision", "recall", "f1", "iou"))
            + "</tr>"
        )
    return "\n".join(rows)


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


def _identification(figures: dict[str, Any], html_path: Path) -> str:
    source = figures["reference_source"]
    grid = figures["grid"]
    pixels = figures["pixels"]
    excluded = pixels["total"] - pixels["compared"]
    rows: list[tuple[str, str]] = [
        ("Mask", figures["mask"]["path"]),
        *((f"Mask tag {key}", value) for key, value in sorted(figures["mask"]["tags"].items())),
        (f"Reference ({figures['reference']})", source["path"]),
        ("Reference kind", source["kind"].replace("_", " ")),
        *((f"Reference {_SOURCE_LABELS.get(key, key)}", _source_value(key, value))
          for key, value in source.items() if key not in ("path", "kind")),
        ("Difference raster", figures["difference_raster"]),
        ("JSON", str(html_path.with_suffix(".json"))),
        ("Grid (the mask's)", f"{grid['crs']}, {grid['resolution']:g} m pixels, {grid['width']} x {grid['height']}"),
        ("Pixels left out", f"{_count(excluded)} of {_count(pixels['total'])} ({100.0 * excluded / pixels['total']:.1f} %): "
                            f"{_count(pixels['mask_no_data'])} no data in the mask, "
                            f"{_count(pixels['reference_no_data'])} no data in the reference only"),
        ("Resampling", "reference resampled onto the mask grid with nearest neighbour"),
        ("Run time", f"{figures['seconds']:.1f} s"),
    ]
    return "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)


def render_html(figures: dict[str, Any], html_path: Path, quicklook_png: bytes | None) -> str:
    """The report page for the figures of `Comparison.to_dict()`."""
    reference = figures["reference"]
    image = (
        f'<img class="quicklook" alt="Difference raster, downsampled" '
        f'src="data:image/png;base64,{base64.b64encode(quicklook_png).decode("ascii")}">'
        if quicklook_png
        else '<p class="note">No quicklook: the difference raster was not available.</p>'
    )
    substitutions = {
        "title": html.escape(f"{Path(figures['mask']['path']).name} against {reference}"),
        "subtitle": html.escape(f"{figures['mask']['path']}  against  {figures['reference_source']['path']}"),
        "reference": html.escape(reference),
        "cards": _cards(figures, reference),
        "quicklook": image,
        "legend": _legend(figures),
        "legend_note": _legend_note(reference),
        "bar_chart": _bar_chart(figures),
        "matrix": _matrix(figures, reference),
        "per_class": _per_class(figures),
        "identification": _identification(figures, html_path),
        "attribution": html.escape(figures["attribution"]),
        "created": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    }
    return Template(REPORT_TEMPLATE.read_text(encoding="utf-8")).substitute(substitutions)


def write_report(comparison: Comparison, path: str | Path, difference_raster: str | Path | None = None) -> Path:
    """Write the HTML report at `path` and the JSON beside it (same stem, .json); return the HTML path."""
    html_path, json_path = check_report_path(path)
    figures = comparison.to_dict()
    raster = difference_raster or comparison.output
    image = quicklook(raster) if Path(raster).is_file() else None
    with atomic_output(json_path) as json_temporary, atomic_output(html_path) as html_temporary:
        json_temporary.write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")
        html_temporary.write_text(render_html(figures, html_path, image), encoding="utf-8")
    return html_path
