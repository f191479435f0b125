"""`make bench`, composite part: seconds per product and per km², and peak memory against block size, date
count and area, for the composite (tools/bench.py runs the masking benchmark).

Generated series (tools/synthetic_product.py, write_series) are made once and
kept in .cache/bench-composite with their masks, so the figures are the
composite's own: every run reuses the masks. Each run is a fresh process,
compositing in that process (workers=1), with two memory figures: the peak
of the memory Python and numpy allocate (tracemalloc: the composite's own
arrays), and the peak RSS (VmHWM: imports and GDAL's block cache included).
The date count is chosen with END on one 16-date series; the area with a
second series four times as large.

Results go to docs/benchmarks.md (the "Composites" section) and bench-output/composite.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # `tools` imports however this file was started
from tools.bench import COMPOSITE_SECTION, peak_rss_kb  # noqa: E402
from tools.plugin_package import import_plugin_package  # noqa: E402

CACHE = REPO / ".cache" / "bench-composite"
CACHE_MB = 128  # GDAL's block cache of the runs that show the process's memory bounded too
OUT = REPO / "bench-output"
PAGE = REPO / "docs" / "benchmarks.md"
BEGIN, END = COMPOSITE_SECTION
SERIES = {"small": (16, 1200), "large": (4, 2400)}  # name -> (dates, 10 m pixels a side)
BLOCKS = (128, 256, 512)
DATE_COUNTS = (4, 8, 16)
DEFAULT_BLOCK = 256


def ensure_series(name: str) -> Path:
    """A cached series with every date's mask at 20 m in masks/."""
    from s2cloudmask.inference.masking.engine import mask_product
    from s2cloudmask.tools.synthetic_product import read_series, write_series

    dates, size = SERIES[name]
    folder = CACHE / f"series-{dates}x{size}"
    if not (folder / "series.json").is_file():
        print(f"generating {dates} dates of {size} px", flush=True)
        write_series(folder, dates=dates, size=size, seed=11)
    masks = CACHE / f"masks-{dates}x{size}"
    masks.mkdir(parents=True, exist_ok=True)
    for entry in read_series(folder)["dates"]:
        target = masks / f"{entry['product_id']}_cloudmask.tif"
        if not target.is_file():
            print(f"masking {entry['product_id']}", flush=True)
            mask_product(entry["product"], target, resolution=20, device="cpu")
    return folder


def child(args: argparse.Namespace) -> dict:
    import tracemalloc

    import_plugin_package()
    from s2cloudmask.inference.cleaning.composite import composite
    from s2cloudmask.tools.synthetic_product import read_series

    series = read_series(args.series)
    end = series["dates"][args.dates - 1]["date"]
    tracemalloc.start()
    started = time.perf_counter()
    result = composite(args.series, args.out, masks=args.masks, end=end, method=args.method,
                       block_size=args.block, workers=1)
    seconds = time.perf_counter() - started
    _, traced = tracemalloc.get_traced_memory()
    xmin, ymin, xmax, ymax = result.grid.bounds
    return {"seconds": seconds, "products": len(result.products), "km2": (xmax - xmin) * (ymax - ymin) / 1e6,
            "pixels": result.grid.width * result.grid.height, "arrays_mb": traced / 1024**2,
            "peak_rss_mb": peak_rss_kb() / 1024}


def run(name: str, dates: int, block: int, method: str = "median", cache_mb: int | None = None) -> dict:
    """One composite in a fresh process; cache_mb sets GDAL's block cache (None: GDAL's default)."""
    folder = CACHE / f"series-{SERIES[name][0]}x{SERIES[name][1]}"
    masks = CACHE / f"masks-{SERIES[name][0]}x{SERIES[name][1]}"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--series", str(folder), "--masks",
               str(masks), "--dates", str(dates), "--block", str(block), "--method", method, "--out",
               str(OUT / "composite.tif")]
    env = dict(os.environ, **({"GDAL_CACHEMAX": str(cache_mb)} if cache_mb else {}))
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _memory(row: dict) -> str:
    return f"{row['arrays_mb']:.0f} / {row['peak_rss_mb']:.0f}"


def markdown(results: dict) -> str:
    rows = results["runs"]
    small, large = rows[f"small-4-{DEFAULT_BLOCK}-median"], rows[f"large-4-{DEFAULT_BLOCK}-median"]
    lines = [
        "## Composites",
        "",
        f"Measured by `make bench` (tools/bench_composite.py) on generated Level-2A series, masks made beforehand "
        f"and reused, the composite in one process; {results['machine']}. Two memory figures per run: the peak "
        "of what Python and numpy allocate (tracemalloc: the composite's own arrays) / the peak resident memory "
        "of the process (VmHWM), which adds the imports and GDAL's block cache. GDAL's cache (by default 5 % of "
        "the RAM, `GDAL_CACHEMAX`) keeps decoded JPEG 2000 tiles for the next block; it stops growing at its cap.",
        "",
        "Peak memory (MB, arrays / process) against block size and date count, 12 km x 12 km, median:",
        "",
        "| dates | " + " | ".join(f"block {b} px" for b in BLOCKS) + " |",
        "|---|" + "---|" * len(BLOCKS),
    ]
    for dates in DATE_COUNTS:
        lines.append(f"| {dates} | " + " | ".join(_memory(rows[f"small-{dates}-{b}-median"]) for b in BLOCKS) + " |")
    lines += [
        "",
        f"Against area (4 dates, block {DEFAULT_BLOCK} px, median): {small['km2']:.0f} km² {_memory(small)} MB, "
        f"{large['km2']:.0f} km² {_memory(large)} MB. The arrays do not grow with the area; the process does: "
        "GDAL's cache fills towards its cap (5 % of the RAM by default), and GDAL's copy into the Cloud-Optimised "
        "GeoTIFF at the end computes the overviews over chunks of whole rows. With the cache held at "
        f"{CACHE_MB} MB (`GDAL_CACHEMAX={CACHE_MB}`): {_memory(rows[f'small-4-{DEFAULT_BLOCK}-median-cache'])} MB "
        f"and {_memory(rows[f'large-4-{DEFAULT_BLOCK}-median-cache'])} MB.",
        "",
        f"Time (block {DEFAULT_BLOCK} px; load average {results['load']:.1f} when the run began: this machine's "
        "figures at that load, for comparing runs with each other, not a speed claim):",
        "",
        "| area | method | dates | seconds | seconds per product | seconds per km² | seconds per product and 100 km² |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in (f"small-16-{DEFAULT_BLOCK}-median", f"small-16-{DEFAULT_BLOCK}-bap", f"large-4-{DEFAULT_BLOCK}-median"):
        row, method = rows[key], key.rsplit("-", 1)[1]
        lines.append(f"| {row['km2']:.0f} km² | {method} | {row['products']} | {row['seconds']:.1f} | "
                     f"{row['seconds'] / row['products']:.2f} | {row['seconds'] / row['km2']:.3f} | "
                     f"{100 * row['seconds'] / row['products'] / row['km2']:.2f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--series")
    parser.add_argument("--masks")
    parser.add_argument("--dates", type=int)
    parser.add_argument("--block", type=int, default=DEFAULT_BLOCK)
    parser.add_argument("--method", default="median")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return 0
    import_plugin_package()
    OUT.mkdir(exist_ok=True)
    for name in SERIES:
        ensure_series(name)
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
                          f"{platform.python_version()}", "load": os.getloadavg()[0], "runs": {}}
    plan = [("small", dates, block, "median") for dates in DATE_COUNTS for block in BLOCKS]
    plan += [("small", 16, DEFAULT_BLOCK, "bap"), ("large", 4, DEFAULT_BLOCK, "median")]
    plan += [("small", 4, DEFAULT_BLOCK, "median", CACHE_MB), ("large", 4, DEFAULT_BLOCK, "median", CACHE_MB)]
    for name, dates, block, method, *cache in plan:
        key = f"{name}-{dates}-{block}-{method}" + ("-cache" if cache else "")
        results["runs"][key] = run(name, dates, block, method, *cache)
        print(key, results["runs"][key], flush=True)
    (OUT / "composite.json").write_text(json.dumps(results, indent=2))
    text = markdown(results)
    page = PAGE.read_text(encoding="utf-8")
    if BEGIN in page:
        head, rest = page.split(BEGIN, 1)
        page = f"{head}{BEGIN}\n{text}\n{END}{rest.split(END, 1)[1]}"
    else:
        page = f"{page.rstrip()}\n\n{BEGIN}\n{text}\n{END}\n"
    PAGE.write_text(page, encoding="utf-8")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
