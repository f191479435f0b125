"""The report of a fine-tuning run: base and fine-tuned model on the test split, side by side.

JSON for scripts (the same figures the card holds under training.test_scores)
and a small self-contained HTML page for people (resources/reports/finetune.html).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..classes import CLASS_NAMES, MASK_CLASS_KEYS, MASK_CODES
from ..masking.model_card import ModelCard
from ..report_pages import json_text, number, percent, render

REPORT_SUFFIX = ".validation"
VIEWS = (("as_labelled", "Classes as labelled"),
         ("semi_transparent_as_cloud", "Semi-transparent cloud counted as cloud"))


def finetune_report_paths(model: Path) -> tuple[Path, Path]:
    """model.onnx -> (model.validation.json, model.validation.html)."""
    stem = model.with_suffix("")
    return Path(f"{stem}{REPORT_SUFFIX}.json"), Path(f"{stem}{REPORT_SUFFIX}.html")


def comparison_rows(base: dict[str, Any], tuned: dict[str, Any], view: str) -> list[tuple[str, str, str]]:
    """(figure, base, fine-tuned) rows for one view: "as_labelled" or "semi_transparent_as_cloud"."""
    a, b = base[view], tuned[view]
    rows = [("overall accuracy", percent(a["overall_accuracy"]), percent(b["overall_accuracy"])),
            ("Cohen's kappa", number(a["kappa"]), number(b["kappa"]))]
    for code in MASK_CODES:
        key = MASK_CLASS_KEYS[code]
        if a["per_class"][key]["reference_pixels"] == 0 and view != "as_labelled":
            continue
        for figure, label in (("f1", "F1"), ("iou", "IoU")):
            rows.append((f"{CLASS_NAMES[code]} {label}", percent(a["per_class"][key][figure]),
                         percent(b["per_class"][key][figure])))
    return rows


def finetune_report(card: ModelCard, base: dict[str, Any], tuned: dict[str, Any]) -> tuple[str, str]:
    """The report's JSON text and HTML page; the caller writes both with the model they describe."""
    training = card.training or {}
    document = {"model": card.label, "base_model": base["model"], "split": "test", "patches": tuned["patches"],
                "device": training.get("device"), "epochs_run": training.get("epochs_run"),
                "best_epoch": training.get("best_epoch"), "base": base, "finetuned": tuned}
    before = training.get("validation_before") or {}
    history = [{"epoch": h["epoch"], "train_loss": h.get("train_loss"), "validation_loss": h.get("validation_loss"),
                "validation_accuracy": h.get("validation_overall_accuracy")} for h in training.get("history", [])]
    page = render(
        "finetune.html", model=card.label, base_model=base["model"], patches=tuned["patches"],
        patch_folder=str(training.get("patches", {}).get("folder", "")), device=str(training.get("device")),
        best_epoch=training.get("best_epoch"), epochs_run=training.get("epochs_run"),
        views=[{"title": title, "rows": comparison_rows(base, tuned, view)} for view, title in VIEWS],
        before={"loss": before.get("loss"), "accuracy": before.get("overall_accuracy")} if before else None,
        history=history, attribution="",
    )
    return json_text(document), page
