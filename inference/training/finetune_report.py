"""The validation report of a fine-tuning run: base and fine-tuned model on the test split, side by side.

JSON for scripts (the same figures the card holds under training.test_scores)
and a small self-contained HTML page for people.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ..classes import CLASS_NAMES, MASK_CODES
from ..comparing.difference import MASK_CLASS_KEYS
from ..masking.model_card import ModelCard

REPORT_SUFFIX = ".validation"


def finetune_report_paths(model: Path) -> tuple[Path, Path]:
    """model.onnx -> (model.validation.json, model.validation.html)."""
    stem = model.with_suffix("")
    return Path(f"{stem}{REPORT_SUFFIX}.json"), Path(f"{stem}{REPORT_SUFFIX}.html")


def _cell(value: Any, percent: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1%}" if percent else f"{value:.3f}"


def comparison_rows(base: dict[str, Any], tuned: dict[str, Any], view: str) -> list[tuple[str, str, str]]:
    """(figure, base, fine-tuned) rows for one view: "as_labelled" or "semi_transparent_as_cloud"."""
    a, b = base[view], tuned[view]
    rows = [("overall accuracy", _cell(a["overall_accuracy"]), _cell(b["overall_accuracy"])),
            ("Cohen's kappa", _cell(a["kappa"], False), _cell(b["kappa"], False))]
    for code in MASK_CODES:
        key = MASK_CLASS_KEYS[code]
        if a["per_class"][key]["reference_pixels"] == 0 and view != "as_labelled":
            continue
        for figure, label in (("f1", "F1"), ("iou", "IoU")):
            rows.append((f"{CLASS_NAMES[code]} {label}", _cell(a["per_class"][key][figure]),
                         _cell(b["per_class"][key][figure])))
    return rows


def write_finetune_report(card: ModelCard, base: dict[str, Any], tuned: dict[str, Any], json_path: Path,
                            html_path: Path) -> None:
    training = card.training or {}
    document = {"model": card.label, "base_model": base["model"], "split": "test", "patches": tuned["patches"],
                "device": training.get("device"), "epochs_run": training.get("epochs_run"),
                "best_epoch": training.get("best_epoch"), "base": base, "finetuned": tuned}
    json_path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    sections = []
    for view, title in (("as_labelled", "Classes as labelled"),
                        ("semi_transparent_as_cloud", "Semi-transparent cloud counted as cloud")):
        rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{x}</td><td>{y}</td></tr>"
                       for name, x, y in comparison_rows(base, tuned, view))
        sections.append(f"<h2>{title}</h2><table><tr><th>figure</th><th>base: {html.escape(base['model'])}</th>"
                        f"<th>fine-tuned</th></tr>{rows}</table>")
    before = training.get("validation_before") or {}
    history = (f"<tr><td>before</td><td></td><td>{_cell(before.get('loss'), False)}</td>"
               f"<td>{_cell(before.get('overall_accuracy'))}</td></tr>" if before else "") + "".join(
        f"<tr><td>{h['epoch']}</td><td>{_cell(h.get('train_loss'), False)}</td>"
        f"<td>{_cell(h.get('validation_loss'), False)}</td><td>{_cell(h.get('validation_overall_accuracy'))}</td></tr>"
        for h in training.get("history", []))
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(card.label)}: test split</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:.25em .6em;text-align:right}}td:first-child,th:first-child{{text-align:left}}</style>
</head><body><h1>{html.escape(card.label)}</h1>
<p>Scored on the {tuned['patches']} test patches of {html.escape(str(training.get('patches', {}).get('folder', '')))}
(never seen in training or early stopping), with the masking engine and the comparison core, pixels pooled over
patches. Trained on {html.escape(str(training.get('device')))}, best epoch {training.get('best_epoch')} of
{training.get('epochs_run')} run.</p>
{''.join(sections)}
<h2>Training history (validation split)</h2><table><tr><th>epoch</th><th>training loss</th><th>validation loss</th>
<th>validation accuracy</th></tr>{history}</table></body></html>
"""
    html_path.write_text(page, encoding="utf-8")
