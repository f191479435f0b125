"""One JSON record per product in OUT/records/: what a rerun resumes from and the summary's row.

A record is written (atomically) only after every output of its product is in
place, with a fingerprint of each (size, and for a raster its width, height and
a checksum of what GDAL writes last). A record saying "done", made with the
same settings, whose outputs in OUT still match their fingerprints, means the
product is finished and a rerun skips it; a truncated or replaced output is
made again. Records are found by product id, and outputs are looked for in OUT
as it is named now, so a rerun from another folder, with absolute or relative
paths, or with the product moved, resumes all the same. A failed
product's record holds the message. A product that failed on its own input (a
corrupt or incomplete product: ProductError, BandError) fails again until the
input changes, so a rerun skips it while its files are unchanged; any other
failure (memory, the model, a dead worker) is tried again.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..classes import CLASS_NAMES, MASK_CODES
from ..defaults import DEFAULT_BUFFER, DEFAULT_RESOLUTION, DEFAULT_SHADOW_CHECK
from ..errors import OutputError
from ..outputs import atomic_output, fingerprint, is_whole
from ..reading.paths import product_id_from_name

RECORDS_FOLDER = "records"
DONE, FAILED, SKIPPED, NOT_RUN = "done", "failed", "skipped", "not run"


def percent_column(code: int) -> str:
    """'clear_percent', 'cloud_shadow_percent', ...: the summary column of a mask class."""
    return CLASS_NAMES[code].lower().replace("-", "_").replace(" ", "_") + "_percent"


# The summary's columns, in order: who the product is, how it went, what it holds, where its outputs are.
COLUMNS = (
    "product_id", "tile", "date", "level", "status",
    *(percent_column(code) for code in MASK_CODES),
    "scl_agreement", "scl_kappa", "seconds", "device", "attempts", "error",
    "source", "mask", "difference", "report",
)  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """What decides a product's outputs; a record made with other settings does not count as done."""

    model: str = "auto"
    device: str = "auto"
    resolution: int = DEFAULT_RESOLUTION
    compare: bool = True  # compare with the SCL where the product has one (L2A)
    threads: int = 0  # cores per worker (ThreadPlan.for_cores); 0: all the worker's cores
    shadow_check: bool = DEFAULT_SHADOW_CHECK
    buffer: float = DEFAULT_BUFFER  # metres
    extent: tuple | None = None  # (xmin, ymin, xmax, ymax, crs): mask only this area of each product

    def key(self) -> dict:
        """The settings that change the outputs (device and threads only change the speed)."""
        return {"model": self.model, "resolution": self.resolution, "compare": self.compare,
                "shadow_check": self.shadow_check, "buffer": float(self.buffer),
                "extent": list(self.extent) if self.extent else None}


OUTPUT_COLUMNS = ("mask", "difference", "report")


def output_paths(out: str | Path, product_id: str) -> dict[str, Path]:
    """Every output of a product, named by its id."""
    out = Path(out)
    return {
        "mask": out / f"{product_id}_cloudmask.tif",
        "difference": out / f"{product_id}_scl_difference.tif",
        "report": out / f"{product_id}_scl_report.html",
    }


def source_product_id(source: str) -> str:
    """The product id a source's outputs and record go by: a STAC item's own id (its file may be called
    item.json), else the one its name gives (X.SAFE, X.zip, .../items/X)."""
    if source.rstrip("/\\").lower().endswith(".json"):
        from ..reading.stac import item_id  # reads the item: rasterio's world, not for the plugin's load

        return item_id(source) or product_id_from_name(source)
    return product_id_from_name(source)


def record_path(out: str | Path, product_id: str) -> Path:
    return Path(out) / RECORDS_FOLDER / f"{product_id}.json"


def empty_row(source: str) -> dict:
    row = dict.fromkeys(COLUMNS, None)
    row.update(source=source, product_id=source_product_id(source.rstrip("/\\")), attempts=0, error="")
    return row


def input_stamp(source: str) -> float | None:
    """The newest modification time among a product's files: a product downloaded again gets a new one."""
    path = Path(source)
    try:
        return max([path.stat().st_mtime, *(p.stat().st_mtime for p in path.rglob("*"))] if path.is_dir()
                   else [path.stat().st_mtime])
    except OSError:
        return None


def write_record(out: str | Path, row: dict, settings: Settings, input_failure: bool = False) -> Path:
    """Write a product's row with the settings that made it; atomically, so a kill leaves the old one.

    input_failure: the product failed on its own input; the record keeps the input's stamp so a rerun
    can tell whether it changed since.
    """
    path = record_path(out, row["product_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    finished = {name: fingerprint(row[name]) for name in OUTPUT_COLUMNS if row.get(name)} \
        if row.get("status") == DONE else {}
    record = {"settings": asdict(settings), "row": row, "outputs": finished,
              "input_stamp": input_stamp(row["source"]) if input_failure else None}
    with atomic_output(path) as temporary:
        try:
            temporary.write_text(json.dumps(record, indent=1), encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"Could not write the record {path}: {exc}; check the space left in {path.parent}.") \
                from exc
    return path


def load_records(out: str | Path, since: float = 0.0) -> dict[str, dict]:
    """product id -> {"settings", "row", "outputs", "input_stamp"} of every readable record in OUT written at
    or after `since` (seconds since the epoch); an unreadable record is ignored."""
    records: dict[str, dict] = {}
    folder = Path(out) / RECORDS_FOLDER
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
            if path.stat().st_mtime < since:
                continue
            record = json.loads(path.read_text(encoding="utf-8"))
            records[str(record["row"]["product_id"])] = record
    return records


def find_record(records: dict[str, dict], source: str) -> dict | None:
    """A product's record: by the id its name gives, else by its path (a product whose name is not its id)."""
    found = records.get(source_product_id(source))
    return found or next((record for record in records.values() if record["row"].get("source") == source), None)


def _same_settings(record: dict, settings: Settings) -> bool:
    try:
        return Settings(**record["settings"]).key() == settings.key()
    except TypeError:  # a record from a version with other settings
        return False


def is_complete(record: dict | None, settings: Settings, out: str | Path) -> bool:
    """Whether a product's record says done, with these settings, and each of its outputs is in OUT, whole."""
    if not record or record["row"].get("status") != DONE or not _same_settings(record, settings):
        return False
    row, finished = record["row"], record.get("outputs") or {}
    paths = output_paths(out, row["product_id"])
    named = [name for name in OUTPUT_COLUMNS if row.get(name)]
    return bool(named) and all(is_whole(paths[name], finished.get(name)) for name in named)


def skipped_row(record: dict, source: str, out: str | Path) -> dict:
    """The summary row of a product finished before: its record's row, with its outputs where they are now."""
    row = dict(record["row"], status=SKIPPED, source=source)
    paths = output_paths(out, row["product_id"])
    row.update({name: str(paths[name]) for name in OUTPUT_COLUMNS if row.get(name)})
    return row


def failed_on_unchanged_input(record: dict | None, settings: Settings, source: str) -> bool:
    """Whether a product failed on its own input, with these settings, and its files at `source` are the ones
    that failed, unchanged since."""
    if not record or record["row"].get("status") != FAILED or record.get("input_stamp") is None:
        return False
    return (_same_settings(record, settings) and record["row"].get("source") == source
            and input_stamp(source) == record["input_stamp"])
