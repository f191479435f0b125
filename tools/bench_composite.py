"""`make bench`, composite part: peak memory against block size, date count and area, and the time per
product and per km² as ratios, for the composite (tools/bench.py runs the masking benchmark).

Generated series (tools/synthetic_product.py, write_series) are made once and
kept in .cache/bench-composite with their masks, so the figures are the
composite's own: every run reuses the masks. Each run is a fresh process,
compositing in that process (workers=1), with two memory figures: the peak
of the memory Python and numpy allocate (tracemalloc: the composite's own
arrays), and the peak RSS (VmHWM: imports and GDAL's block cache included).
The date count is chosen with END on one 16-date series; the area with a
second series four times as large. The last step, GDAL's copy into a
Cloud-Optimised GeoTIFF, is measured alone up to a whole tile's composite.
Times are ratios of runs interleaved round by round (medians), so a shared,
busy machine slows every run alike; no absolute time is written.

Results go to docs/benchmarks.md (the "Composites" section) and bench-output/composite.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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
# (series, dates, method), timed against the first, interleaved
TIMED = (("small", 4, "median"), ("small", 8, "median"), ("large", 4, "median"), ("small", 8, "bap"))
ROUNDS = 3
COG_SIDES = (1200, 2745, 5490)  # output pixels a side at 20 m: 576 km², a quarter tile, a whole tile
COG_LAYERS = 11  # the ten surface bands and the clear-observation count


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


def ensure_staged(side: int) -> Path:
    """A staged composite-shaped raster (COG_LAYERS float32 layers, 512 px tiles) `side` pixels a side, kept."""
    import numpy as np
    from osgeo import gdal
    from s2cloudmask.inference.cog import STAGING_COMPRESSION, STAGING_OPTIONS

    staged = CACHE / f"staged-{side}.tif"
    if staged.is_file():
        return staged
    partial = staged.with_suffix(".partial.tif")
    options = [*STAGING_OPTIONS, *STAGING_COMPRESSION, "BLOCKXSIZE=512", "BLOCKYSIZE=512"]
    dataset = gdal.GetDriverByName("GTiff").Create(str(partial), side, side, COG_LAYERS, gdal.GDT_Float32, options)
    dataset.SetGeoTransform((600000.0, 20.0, 0.0, 5300000.0, 0.0, -20.0))
    for row in range(0, side, 512):  # reflectance-like steps of 0.0001; the copy's buffers do not depend on them
        rows = min(512, side - row)
        texture = np.add.outer(np.arange(row, row + rows) * 7, np.arange(side) * 3) % 3001 / np.float32(10000)
        for band in range(1, COG_LAYERS + 1):
            dataset.GetRasterBand(band).WriteArray(texture.astype(np.float32), 0, row)
    dataset = None
    partial.rename(staged)
    return staged


def cog_child(side: int) -> dict:
    """Peak memory of GDAL's COG copy alone, of the staged raster `side` pixels a side (ensure_staged)."""
    import_plugin_package()
    from s2cloudmask.inference.cog import copy_as_cog

    before = peak_rss_kb()
    copy_as_cog(CACHE / f"staged-{side}.tif", OUT / "cog-copy.tif", "AVERAGE")
    (OUT / "cog-copy.tif").unlink()
    return {"side": side, "km2": (side * 0.02) ** 2, "before_mb": before / 1024, "peak_rss_mb": peak_rss_kb() / 1024}


def run(name: str, dates: int, block: int, method: str = "median", cache_mb: int | None = None) -> dict:
    """One composite in a fresh process; cache_mb sets GDAL's block cache (None: GDAL's default)."""
    folder = CACHE / f"series-{SERIES[name][0]}x{SERIES[name][1]}"
    masks = CACHE / f"masks-{SERIES[name][0]}x{SERIES[name][1]}"
    return _child(["--series", str(folder), "--masks", str(masks), "--dates", str(dates), "--block", str(block),
                   "--method", method, "--out", str(OUT / "composite.tif")], cache_mb)


def _child(arguments: list[str], cache_mb: int | None = None) -> dict:
    """This file with --child and `arguments` in a fresh process; its JSON line."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *arguments]
    env = dict(os.environ, **({"GDAL_CACHEMAX": str(cache_mb)} if cache_mb else {}))
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed_key(name: str, dates: int, method: str) -> str:
    return f"{name}-{dates}-{method}"


def time_ratios(rounds: int) -> dict:
    """Each TIMED run once a round, in turn; per run the median over rounds of its time / the first's time of
    that round, and the same per product and km²."""
    ratios: dict[str, list[float]] = {timed_key(*spec): [] for spec in TIMED}
    per_unit: dict[str, list[float]] = {timed_key(*spec): [] for spec in TIMED}
    shapes: dict[str, dict] = {}
    for number in range(rounds):
        rows = {timed_key(*spec): run(spec[0], spec[1], DEFAULT_BLOCK, spec[2]) for spec in TIMED}
        base = rows[timed_key(*TIMED[0])]
        for key, row in rows.items():
            ratios[key].append(row["seconds"] / base["seconds"])
            per_unit[key].append((row["seconds"] / row["products"] / row["km2"])
                                 / (base["seconds"] / base["products"] / base["km2"]))
            shapes[key] = {"products": row["products"], "km2": row["km2"]}
        print(f"round {number + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in ratios.items()), flush=True)
    return {key: {**shapes[key], "ratio": statistics.median(ratios[key]),
                  "per_product_km2": statistics.median(per_unit[key]), "ratios": ratios[key]} for key in ratios}


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
    copies = results["cog_copy"]
    lines += [
        "",
        f"Against area (4 dates, block {DEFAULT_BLOCK} px, median): {small['km2']:.0f} km² {_memory(small)} MB, "
        f"{large['km2']:.0f} km² {_memory(large)} MB; with GDAL's cache held at {CACHE_MB} MB "
        f"(`GDAL_CACHEMAX={CACHE_MB}`): {_memory(rows[f'small-4-{DEFAULT_BLOCK}-median-cache'])} MB and "
        f"{_memory(rows[f'large-4-{DEFAULT_BLOCK}-median-cache'])} MB. The arrays do not grow with the area. The "
        "process grows while GDAL's cache fills towards its cap, and in the last step, GDAL's copy of the finished "
        "raster into a Cloud-Optimised GeoTIFF, whose overview buffers hold chunks of whole rows: they follow the "
        "width, not the area. That copy alone, of a composite-shaped raster (11 float32 layers) with "
        f"`GDAL_CACHEMAX={CACHE_MB}`, peak resident memory: "
        + ", ".join(f"{c['side']} px a side ({c['km2']:,.0f} km²) {c['peak_rss_mb']:.0f} MB" for c in copies)
        + f" ({copies[0]['before_mb']:.0f} MB of it is the process before the copy): "
        f"{copies[-1]['km2'] / copies[0]['km2']:.0f} times the area, "
        f"{copies[-1]['peak_rss_mb'] - copies[0]['peak_rss_mb']:.0f} MB more.",
        "",
        f"Time, as ratios (block {DEFAULT_BLOCK} px): each run below once a round, in turn, {results['rounds']} "
        "rounds in one `make bench`, so a busy machine slows all alike; the median of each round's ratio to the "
        f"first run. Per product and km²: the time divided by products x km², relative to the first run's.",
        "",
        "| area | dates | method | time / first run's | time per product and km² / first run's |",
        "|---|---|---|---|---|",
    ]
    for key, row in results["time_ratios"].items():
        method = key.rsplit("-", 1)[1]
        lines.append(f"| {row['km2']:.0f} km² | {row['products']} | {method} | {row['ratio']:.2f} | "
                     f"{row['per_product_km2']:.2f} |")
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
    parser.add_argument("--cog-side", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds of the timed runs, interleaved")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(cog_child(args.cog_side) if args.cog_side else child(args)))
        return 0
    import_plugin_package()
    OUT.mkdir(exist_ok=True)
    for name in SERIES:
        ensure_series(name)
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
                          f"{platform.python_version()}", "rounds": args.rounds, "runs": {}}
    plan = [("small", dates, block, "median") for dates in DATE_COUNTS for block in BLOCKS]
    plan += [("large", 4, DEFAULT_BLOCK, "median")]
    plan += [("small", 4, DEFAULT_BLOCK, "median", CACHE_MB), ("large", 4, DEFAULT_BLOCK, "median", CACHE_MB)]
    for name, dates, block, method, *cache in plan:
        key = f"{name}-{dates}-{block}-{method}" + ("-cache" if cache else "")
        results["runs"][key] = run(name, dates, block, method, *cache)
        print(key, results["runs"][key], flush=True)
    results["cog_copy"] = []
    for side in COG_SIDES:
        ensure_staged(side)
        results["cog_copy"].append(_child(["--cog-side", str(side)], CACHE_MB))
    print("COG copy", results["cog_copy"], flush=True)
    results["time_ratios"] = time_ratios(args.rounds)
    (OUT / "composite.json").write_text(json.dumps(results, indent=2))
    write_page(results)
    return 0


def write_page(results: dict) -> None:
    """The "Composites" section of docs/benchmarks.md from `results`."""
    text = markdown(results)
    page = PAGE.read_text(encoding="utf-8")
    if BEGIN in page:
        head, rest = page.split(BEGIN, 1)
        page = f"{head}{BEGIN}\n{text}\n{END}{rest.split(END, 1)[1]}"
    else:
        page = f"{page.rstrip()}\n\n{BEGIN}\n{text}\n{END}\n"
    PAGE.write_text(page, encoding="utf-8")
    print("\n" + text)


if __name__ == "__main__":
    sys.exit(main())
