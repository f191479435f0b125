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
    except UnicodeDecodeError as exc:
        raise ProductError(f"The list of {what} {path} is not UTF-8 text (byte {exc.start + 1} cannot be read); "
                           "save it as a CSV in UTF-8.") from None
    except csv.Error as exc:
        raise ProductError(f"The list of {what} {path} is not a readable CSV ({exc}); save it as plain CSV text.") \
            from None
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
        unprintable = next((value for value in values.values() if not value.isprintable()), None)
        if unprintable is not None:
            raise ProductError(f"Line {number} of {path} holds a path with a control character ({unprintable!r}); "
                               "no file is named so. Correct the line.")
        result.append({**{column: str(path.parent / value) for column, value in values.items()},
                       **{column: (row.get(column) or "").strip() for column in extra}})
    return result
