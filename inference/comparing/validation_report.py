"""The validation's figures as HTML with a JSON beside it (and, for many pairs, a CSV table).

Self-contained like the comparison report: inline styles, no external
resource. The JSON is `Validation.to_dict()` / `BatchValidation.to_dict()`;
the CSV has one row per scene and a last row "pooled".
"""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path
from typing import Any

from ..classes import CLASS_NAMES, MASK_CODES
from ..outputs import atomic_output, check_writable
from .difference import MASK_CLASS_KEYS
from .report import check_report_path
from .validate import VARIANTS, BatchValidation, Validation

VARIANT_TITLES = {
    "four_classes": "Four classes",
    "semi_transparent_as_cloud": "Semi-transparent cloud counted as cloud",
}
STYLE = ("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}"
         "td,th{border:1px solid #bbb;padding:.25em .6em;text-align:right}th{background:#eee}"
         "td:first-child,th:first-child{text-align:left}.big{font-size:1.4em;font-weight:bold}")
CSV_COLUMNS = ["scene", "mask", "reference", "mask_type", "pixels", "overall_accuracy", "balanced_accuracy", "kappa",
               *(f"f1_{MASK_CLASS_KEYS[c]}" for c in MASK_CODES),
               "overall_accuracy_thin_as_cloud", "balanced_accuracy_thin_as_cloud", "kappa_thin_as_cloud"]


def check_validation_report(path: str | Path, batch: bool) -> None:
    """Fail before any work when the report, its JSON (or, for many pairs, its CSV) cannot be written."""
    html_path, _ = check_report_path(path)
    if batch:
        check_writable(html_path.with_suffix(".csv"))


def _f(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _summary(figures: dict[str, Any]) -> str:
    return (f"<p><span class='big'>{_f(figures['overall_accuracy'])}</span> overall accuracy · "
            f"<b>{_f(figures['balanced_accuracy'])}</b> balanced accuracy · <b>{_f(figures['kappa'])}</b> Cohen's "
            f"kappa · {figures['pixels']:,} pixels</p>")


def _per_class(figures: dict[str, Any]) -> str:
    rows = ["<tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>IoU</th>"
            "<th>mask pixels</th><th>reference pixels</th></tr>"]
    for values in figures["per_class"].values():
        rows.append(f"<tr><td>{html.escape(values['name'])}</td><td>{_f(values['precision'])}</td>"
                    f"<td>{_f(values['recall'])}</td><td>{_f(values['f1'])}</td><td>{_f(values['iou'])}</td>"
                    f"<td>{values['mask_pixels']:,}</td><td>{values['reference_pixels']:,}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _matrix(figures: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(CLASS_NAMES[c])}</th>" for c in MASK_CODES)
    rows = [f"<tr><th>mask \\ reference</th>{head}</tr>"]
    for code, counts in zip(MASK_CODES, figures["matrix"]):
        rows.append(f"<tr><th>{html.escape(CLASS_NAMES[code])}</th>" + "".join(f"<td>{n:,}</td>" for n in counts)
                    + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _variants(variants: dict[str, dict[str, Any]]) -> str:
    parts = []
    for key in VARIANTS:
        parts += [f"<h2>{VARIANT_TITLES[key]}</h2>", _summary(variants[key]), _per_class(variants[key]),
                  "<h3>Confusion matrix (pixels)</h3>", _matrix(variants[key])]
    return "\n".join(parts)


def _page(title: str, body: str, attribution: str) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}"
            f"<p><small>{html.escape(attribution)}</small></p></body></html>")


def _scene_text(figures: dict[str, Any]) -> str:
    return (f"<p>Mask <code>{html.escape(figures['mask']['path'])}</code> read as {html.escape(figures['mask']['codes'])}"
            f" ({html.escape(figures['mask']['type_source'])}); reference <code>"
            f"{html.escape(figures['reference']['path'])}</code>, resampled onto the mask's grid with nearest neighbour. "
            f"Tolerance {figures['tolerance_pixels']} pixel(s): {figures['excluded_pixels']:,} pixels next to a "
            "class border of the reference were left out.</p>")


def _csv_row(scene: str, figures: dict[str, Any], mask: str = "", reference: str = "", mask_type: str = "") -> list:
    four, merged = figures["four_classes"], figures["semi_transparent_as_cloud"]
    return [scene, mask, reference, mask_type, four["pixels"], four["overall_accuracy"], four["balanced_accuracy"],
            four["kappa"], *(four["per_class"][MASK_CLASS_KEYS[c]]["f1"] for c in MASK_CODES),
            merged["overall_accuracy"], merged["balanced_accuracy"], merged["kappa"]]


def write_validation_report(result: Validation | BatchValidation, path: str | Path) -> Path:
    """Write the HTML report at `path`, the JSON beside it (and the CSV table for many pairs)."""
    html_path, json_path = check_report_path(path)
    figures = result.to_dict()
    if isinstance(result, Validation):
        body = _scene_text(figures) + _variants({k: figures[k] for k in VARIANTS})
        page = _page("Cloud mask against a reference", body, figures["attribution"])
    else:
        table = io.StringIO()
        writer = csv.writer(table)
        writer.writerow(CSV_COLUMNS)
        for number, scene in enumerate(figures["scenes"], start=1):
            writer.writerow(_csv_row(str(number), scene, scene["mask"]["path"], scene["reference"]["path"],
                                     scene["mask"]["type"]))
        writer.writerow(_csv_row("pooled", figures["pooled"]))
        rows = ["<tr><th>scene</th><th>mask</th><th>overall</th><th>balanced</th><th>kappa</th>"
                "<th>overall, thin as cloud</th></tr>"]
        for number, scene in enumerate(figures["scenes"], start=1):
            four, merged = scene["four_classes"], scene["semi_transparent_as_cloud"]
            rows.append(f"<tr><td>{number}</td><td>{html.escape(Path(scene['mask']['path']).name)}</td>"
                        f"<td>{_f(four['overall_accuracy'])}</td><td>{_f(four['balanced_accuracy'])}</td>"
                        f"<td>{_f(four['kappa'])}</td><td>{_f(merged['overall_accuracy'])}</td></tr>")
        body = ("<h2>Per scene</h2><table>" + "".join(rows) + "</table><h1>Pooled (all pixels of all pairs)</h1>"
                + _variants({k: figures["pooled"][k] for k in VARIANTS}))
        attribution = figures["scenes"][0]["attribution"] if figures["scenes"] else ""
        page = _page(f"{len(figures['scenes'])} cloud masks against their references", body, attribution)
        with atomic_output(html_path.with_suffix(".csv")) as temporary:
            temporary.write_text(table.getvalue(), encoding="utf-8")
    with atomic_output(json_path) as temporary:
        temporary.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    with atomic_output(html_path) as temporary:
        temporary.write_text(page, encoding="utf-8")
    result.report = str(html_path)
    return html_path
