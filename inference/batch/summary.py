"""summary.csv and summary.json in the output folder: one row per product, in the order given.

The CSV opens in a spreadsheet or as a QGIS table; the JSON adds the settings,
the workers and the totals. Both are written atomically, also after an
interrupted run, so the folder always holds a summary of what it contains.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

from ..outputs import atomic_output
from .records import COLUMNS, Settings
from .workers import WorkerPlan

SUMMARY_CSV = "summary.csv"
SUMMARY_JSON = "summary.json"


def write_summary(
    out: str | Path, rows: list[dict], settings: Settings, plan: WorkerPlan | None, seconds: float
) -> tuple[Path, Path]:
    out = Path(out)
    csv_path, json_path = out / SUMMARY_CSV, out / SUMMARY_JSON
    with atomic_output(csv_path) as temporary, temporary.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if row.get(key) is None else row[key] for key in COLUMNS})
    totals = {status: sum(row["status"] == status for row in rows) for status in sorted({r["status"] for r in rows})}
    document = {
        "settings": asdict(settings),
        "workers": None if plan is None else asdict(plan),
        "seconds": round(seconds, 2),
        "totals": totals,
        "columns": list(COLUMNS),
        "products": [{key: row.get(key) for key in COLUMNS} for row in rows],
    }
    with atomic_output(json_path) as temporary:
        temporary.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return csv_path, json_path
