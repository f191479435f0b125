"""CSV lists of inputs (mask and reference pairs, product and reference scenes): read and checked in one place."""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import ProductError


def read_path_rows(path: str | Path, columns: tuple[str, ...], what: str, extra: tuple[str, ...] = ()) -> list[dict]:
    """The rows of a CSV whose `columns` hold paths, made absolute from the CSV's folder; `extra` columns as text.

    `what` names the list in messages ("pairs", "products"); every row must fill every path column.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise ProductError(f"Cannot read the list of {what} {path} ({exc}); give a CSV file.") from exc
    named = " and ".join(columns)
    if not rows or not set(columns) <= set(rows[0]):
        optional = f" (and optionally {', '.join(extra)})" if extra else ""
        raise ProductError(f"The list of {what} {path} needs a header line with the columns {named}{optional}, "
                           "then one line per entry.")
    result = []
    for number, row in enumerate(rows, start=2):
        values = {column: (row.get(column) or "").strip() for column in columns}
        if not all(values.values()):
            raise ProductError(f"Line {number} of {path} lacks a value in {named}; fill in each or delete the line.")
        result.append({**{column: str(path.parent / value) for column, value in values.items()},
                       **{column: (row.get(column) or "").strip() for column in extra}})
    return result
