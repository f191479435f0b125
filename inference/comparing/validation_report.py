"""The validation's figures as HTML (resources/reports/validation.html) with a JSON beside it (and, for many pairs,
a CSV table).

Self-contained like the comparison report: inline styles, no external
resource. The JSON is `Validation.to_dict()` / `BatchValidation.to_dict()`;
the CSV has one row per scene and a last row "pooled".
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..classes import CLASS_NAMES, MASK_CLASS_KEYS, MASK_CODES
from ..outputs import atomic_output, check_outputs, check_writable
from ..report_pages import render, write_page_and_json
from .report import check_report_path, report_files
from .validate import VARIANTS, BatchValidation, Validation, pair_inputs

VARIANT_TITLES = {
    "four_classes": "Four classes",
    "semi_transparent_as_cloud": "Semi-transparent cloud counted as cloud",
}
CSV_COLUMNS = ["scene", "mask", "reference", "mask_type", "pixels", "overall_accuracy", "balanced_accuracy", "kappa",
               *(f"f1_{MASK_CLASS_KEYS[c]}" for c in MASK_CODES),
               "overall_accuracy_thin_as_cloud", "balanced_accuracy_thin_as_cloud", "kappa_thin_as_cloud"]


def validation_report_files(path: str | Path, batch: bool, role: str = "REPORT") -> dict[str, Path]:
    """What writing a validation report at `path` writes: the HTML, the JSON and, for many pairs, the CSV."""
    files = report_files(path, role)
    if batch:
        files[f"the CSV beside {role}"] = _table_path(path)
    return files


def _table_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".csv")


def check_validation_report(path: str | Path, batch: bool, inputs: dict[str, str | Path | None]) -> None:
    """Fail before any work when the report, its JSON (or, for many pairs, its CSV) cannot be written, or would
    replace one of `inputs` (role -> path: the list of pairs, the masks, the references)."""
    check_report_path(path)
    files = validation_report_files(path, batch)
    for file in files.values():
        check_writable(file)
    check_outputs(files, inputs)


def result_inputs(result: Validation | BatchValidation) -> dict[str, str]:
    """The masks and references a validation read, by role, for the check that no report file replaces one."""
    scenes = [result] if isinstance(result, Validation) else result.scenes
    return pair_inputs([(scene.comparison.mask, scene.comparison.reference, scene.mask_type) for scene in scenes])


def _csv_row(scene: str, figures: dict[str, Any], mask: str = "", reference: str = "", mask_type: str = "") -> list:
    four, merged = figures["four_classes"], figures["semi_transparent_as_cloud"]
    return [scene, mask, reference, mask_type, four["pixels"], four["overall_accuracy"], four["balanced_accuracy"],
            four["kappa"], *(four["per_class"][MASK_CLASS_KEYS[c]]["f1"] for c in MASK_CODES),
            merged["overall_accuracy"], merged["balanced_accuracy"], merged["kappa"]]


def _csv_table(figures: dict[str, Any]) -> str:
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(CSV_COLUMNS)
    for number, scene in enumerate(figures["scenes"], start=1):
        writer.writerow(_csv_row(str(number), scene, scene["mask"]["path"], scene["reference"]["path"],
                                 scene["mask"]["type"]))
    writer.writerow(_csv_row("pooled", figures["pooled"]))
    return table.getvalue()


def render_html(figures: dict[str, Any], batch: bool) -> str:
    """The page for the figures of `Validation.to_dict()` or, with batch, `BatchValidation.to_dict()`."""
    common = {"variant_titles": VARIANT_TITLES, "class_names": [CLASS_NAMES[c] for c in MASK_CODES]}
    if not batch:
        return render("validation.html", batch=False, variant_figures={k: figures[k] for k in VARIANTS},
                      mask=figures["mask"], reference=figures["reference"],
                      tolerance_pixels=figures["tolerance_pixels"], excluded_pixels=figures["excluded_pixels"],
                      attribution=figures["attribution"], **common)
    scenes = [{**scene, "mask_name": Path(scene["mask"]["path"]).name} for scene in figures["scenes"]]
    return render("validation.html", batch=True, scenes=scenes, pooled=figures["pooled"],
                  attribution=scenes[0]["attribution"] if scenes else "", **common)


def write_validation_report(result: Validation | BatchValidation, path: str | Path) -> Path:
    """Write the HTML report at `path`, the JSON beside it (and the CSV table for many pairs)."""
    batch = isinstance(result, BatchValidation)
    check_validation_report(path, batch, result_inputs(result))
    html_path, json_path = report_files(path).values()
    figures = result.to_dict()
    page = render_html(figures, batch)
    if batch:
        with atomic_output(_table_path(html_path)) as temporary:
            temporary.write_text(_csv_table(figures), encoding="utf-8")
    write_page_and_json(html_path, page, json_path, figures)
    result.report = str(html_path)
    return html_path
