"""`make bench`: speed and memory of the engine, side by side with the reference implementations.

On (a) the real T29UNU L2A product in ../shared/data and (b) a full-size
10980 x 10980 L1C from the project's generator, each contender runs in its own
process, one after another, so its wall time and peak resident memory
(getrusage of that child) are its own:

- engine: `mask_product` end to end: read the JP2 bands, infer, blend, write the 10 m GeoTIFF,
  with the time of each stage (read, infer, blend/upsample/codes, write, overviews);
- engine before the speed work: the same call with onnxruntime 1.22.1 (installed once into
  .cache/bench/onnxruntime-1.22.1) and without reading ahead, interleaved with the engine's runs;
- two floors: the bare model (`session.run`, same model, batch and threads, inputs already in
  memory) over exactly the tiles the engine runs, and over the image's pixels once (256 px tiles
  without overlap, those with valid pixels);
- CSmask: ukis-csmask's own CSmask on the same 30 m reflectance array (already in memory), and
  CSmask plus reading that array with the project's reader;
- s2cloudless: S2PixelCloudDetector on the same 30 m grid (its 10 L1C bands, already in memory),
  in its own virtual environment (.venv-bench) since it needs packages QGIS does not ship.

The reference implementations get their input read for them (not timed); the
engine's time includes reading and writing. Results go to stdout, to
bench-output/results.json and to docs/benchmarks.md.
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
from tools.plugin_package import import_plugin_package  # noqa: E402
REAL_L2A = (REPO.parent / "shared" / "data" / "sentinel2"
            / "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE")
CACHE = REPO / ".cache" / "bench"
OUT = REPO / "bench-output"
BENCH_VENV = REPO / ".venv-bench"
S2CLOUDLESS_PIN = "s2cloudless==1.7.3"
BASELINE_ORT = "onnxruntime==1.22.1"  # the engine's runtime before the speed work (docs/benchmarks.md)
BASELINE_DEPS = CACHE / "onnxruntime-1.22.1"
GPU_DEPS = REPO / ".deps-gpu"  # onnxruntime-gpu and its CUDA libraries, for `make bench-gpu`
S2CLOUDLESS_BANDS = ["B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12"]
SYSTEM_PYTHON = "/usr/bin/python3"


# ---------------------------------------------------------------- children (one contender each)


def child_engine(args: argparse.Namespace) -> dict:
    import onnxruntime
    from s2cloudmask.inference.masking.engine import mask_product

    started = time.perf_counter()
    result = mask_product(args.product, args.output, device=args.device, read_ahead=not args.no_read_ahead)
    return {"seconds": time.perf_counter() - started, "device": result.device_used, "model": result.model_used,
            "stages": result.stage_seconds, "onnxruntime": onnxruntime.__version__}


def child_engine_no_check(args: argparse.Namespace) -> dict:
    """The engine as above without the cloud-shadow check (on by default): what the check costs."""
    from s2cloudmask.inference.masking.engine import mask_product

    started = time.perf_counter()
    result = mask_product(args.product, args.output, device=args.device, shadow_check=False)
    return {"seconds": time.perf_counter() - started, "device": result.device_used, "model": result.model_used,
            "stages": result.stage_seconds}


def _model_bands(product) -> list[str]:
    nir = "B08" if product.band_files.get("B08") else "B8A"
    return ["B02", "B03", "B04", nir, "B11", "B12"]


def child_bare(args: argparse.Namespace) -> dict:
    import numpy as np
    from s2cloudmask.inference.masking.engine import BATCH_SIZE
    from s2cloudmask.inference.masking.model_card import builtin_card
    from s2cloudmask.inference.masking.session import create_session

    card = builtin_card(args.level, ["B02", "B03", "B04", "B08", "B11", "B12"])
    session, device = create_session(card.model_path, args.device)
    name = session.get_inputs()[0].name
    batch = np.random.default_rng(0).normal(size=(BATCH_SIZE, len(card.band_names), card.tile_size,
                                                    card.tile_size)).astype(np.float32)
    session.run(None, {name: batch[:1]})  # the first call allocates; the engine's is inside its stages too
    started = time.perf_counter()
    for done in range(0, args.tiles, BATCH_SIZE):
        session.run(None, {name: batch[: min(BATCH_SIZE, args.tiles - done)]})
    return {"seconds": time.perf_counter() - started, "device": device, "tiles": args.tiles}


def child_csmask(args: argparse.Namespace) -> dict:
    import numpy as np
    from ukis_csmask.mask import CSmask

    image = np.load(args.array, mmap_mode="r")
    image = np.ascontiguousarray(image)
    started = time.perf_counter()
    CSmask(image, band_order=["blue", "green", "red", "nir", "swir16", "swir22"], product_level=args.level.lower(),
           batch_size=4)
    return {"seconds": time.perf_counter() - started}


def child_s2cloudless(args: argparse.Namespace) -> dict:
    import numpy as np
    from s2cloudless import S2PixelCloudDetector

    image = np.ascontiguousarray(np.load(args.array, mmap_mode="r"))[np.newaxis]
    detector = S2PixelCloudDetector(threshold=0.4, average_over=4, dilation_size=2, all_bands=False)
    started = time.perf_counter()
    detector.get_cloud_masks(image)
    return {"seconds": time.perf_counter() - started}


def peak_rss_kb() -> int:
    """This process's own high-water mark of resident memory.

    getrusage's ru_maxrss is carried over from the parent across fork and exec on
    Linux, so a child started by a large parent would report the parent's peak;
    VmHWM belongs to the address space the child's exec created.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


CHILDREN = {"engine": child_engine, "engine_no_check": child_engine_no_check, "bare": child_bare,
            "csmask": child_csmask, "s2cloudless": child_s2cloudless}


# ---------------------------------------------------------------- the parent


def run_child(python: str, kind: str, **options) -> dict:
    """Run one contender in a fresh process; add its peak RSS from the kernel's accounting."""
    command = [python, str(Path(__file__).resolve()), "--child", kind]
    for key, value in options.items():
        if value is None or value == "" or value is False:
            continue
        command += [f"--{key.replace('_', '-')}"] + ([] if value is True else [str(value)])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.perf_counter()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["process_seconds"] = wall
    result["peak_rss_mb"] = result.pop("_peak_rss_kb") / 1024
    return result


def prepare_arrays(product_path: Path, work: Path, with_cirrus_bands: bool) -> dict:
    """Read the model's 6 bands (and s2cloudless's 10) on the 30 m grid once; count the tiles the engine runs."""
    import numpy as np
    from s2cloudmask.inference.masking.tiling import TileGrid, reflect_indices
    from s2cloudmask.inference.reading.product import open_product
    from s2cloudmask.inference.reading.reader import ProductReader, product_grid

    product = open_product(product_path)
    grid = product_grid(product, 30)
    work.mkdir(parents=True, exist_ok=True)
    info = {"product_id": product.product_id, "level": product.level, "grid": f"{grid.width} x {grid.height} at 30 m"}
    from rasterio.windows import Window

    whole = Window(0, 0, grid.width, grid.height)
    started = time.perf_counter()
    with ProductReader(product, _model_bands(product), grid) as reader:
        block = reader.read(whole)
    info["read_seconds"] = round(time.perf_counter() - started, 1)
    six = np.where(block.valid, block.data, 0).transpose(1, 2, 0).astype(np.float32)
    np.save(work / "six_bands.npy", six)
    valid = block.valid
    del six, block

    # tiles with at least one valid pixel: the engine skips the others, so the floor does too
    rows = TileGrid.for_overlap(256, 0.2, grid.height)
    cols = TileGrid.for_overlap(256, 0.2, grid.width)
    tiles = 0
    for i in range(rows.count):
        row_index = reflect_indices(np.arange(rows.start(i), rows.start(i) + 256), grid.height)
        strip = valid[row_index]
        for j in range(cols.count):
            col_index = reflect_indices(np.arange(cols.start(j), cols.start(j) + 256), grid.width)
            tiles += bool(strip[:, col_index].any())
    info["tiles"] = tiles
    # the image's pixels once: 256 px blocks without overlap that hold a valid pixel
    info["tiles_once"] = int(sum(valid[r: r + 256, c: c + 256].any()
                                 for r in range(0, grid.height, 256) for c in range(0, grid.width, 256)))
    info["valid_percent"] = round(100 * float(valid.mean()), 1)

    if with_cirrus_bands:
        with ProductReader(product, S2CLOUDLESS_BANDS, grid) as reader:
            block = reader.read(whole)
        np.save(work / "s2cloudless_bands.npy",
                np.where(block.valid, block.data, 0).transpose(1, 2, 0).astype(np.float32))
    return info


def ensure_bench_venv() -> str | None:
    python = BENCH_VENV / "bin" / "python"
    stamp = BENCH_VENV / ".complete"
    if not stamp.exists():
        print("Creating .venv-bench for s2cloudless (its own numpy, LightGBM and OpenCV)...", flush=True)
        try:
            subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(BENCH_VENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            S2CLOUDLESS_PIN], check=True)
        except subprocess.CalledProcessError as exc:
            print(f"s2cloudless could not be installed ({exc}); it is left out of this run.")
            return None
        stamp.touch()
    return str(python)


def ensure_full_tile() -> Path:
    existing = sorted((CACHE / "full").glob("*.SAFE"))
    if existing:
        return existing[0]
    from tools.synthetic_product import write_product

    print("Generating a full-size 10980 x 10980 L1C product (once; cached in .cache/bench)...", flush=True)
    return Path(write_product(CACHE / "full", level="L1C", size=10980, seed=11, extras=False))


def ensure_baseline_runtime() -> str | None:
    """onnxruntime 1.22.1 in its own folder, for the 'engine before the speed work' contender."""
    stamp = BASELINE_DEPS / ".complete"
    if not stamp.exists():
        print(f"Installing {BASELINE_ORT} into {BASELINE_DEPS} (once)...", flush=True)
        try:
            subprocess.run([SYSTEM_PYTHON, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                            "--target", str(BASELINE_DEPS), BASELINE_ORT], check=True)
        except subprocess.CalledProcessError as exc:
            print(f"{BASELINE_ORT} could not be installed ({exc}); the old engine is left out of this run.")
            return None
        stamp.touch()
    return str(BASELINE_DEPS)


def _median_row(runs: list[dict]) -> dict:
    """The run with the median wall time, with every run's time beside it."""
    ordered = sorted(runs, key=lambda row: row["seconds"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    row["runs"] = [round(r["seconds"], 1) for r in runs]
    return row


def bench_product(name: str, product: Path, bench_python: str | None, args: argparse.Namespace) -> dict:
    from s2cloudmask.inference.reading.product import open_product

    work = OUT / name
    info = prepare_arrays(product, work, with_cirrus_bands=open_product(product).level == "L1C")
    level = info["level"]
    print(f"\n{name}: {info['product_id']} ({level}), {info['grid']}, {info['valid_percent']} % valid, "
          f"{info['tiles']} tiles ({info['tiles_once']} without overlap)", flush=True)
    engines: dict[str, list[dict]] = {"engine": [], "engine_before": []}
    baseline = ensure_baseline_runtime() if args.device == "cpu" else None
    for _ in range(args.repeat):  # interleaved, so a busy machine slows both alike
        engines["engine"].append(run_child(SYSTEM_PYTHON, "engine", product=product, output=work / "mask.tif",
                                           level=level, device=args.device, first=args.first))
        if baseline:
            engines["engine_before"].append(run_child(SYSTEM_PYTHON, "engine", product=product,
                                                      output=work / "mask_before.tif", level=level,
                                                      device=args.device, first=baseline, no_read_ahead=True))
    rows = {kind: _median_row(runs) for kind, runs in engines.items() if runs}
    rows["engine_no_check"] = run_child(SYSTEM_PYTHON, "engine_no_check", product=product,
                                        output=work / "mask-no-check.tif", level=level, device=args.device,
                                        first=args.first)
    rows["bare"] = run_child(SYSTEM_PYTHON, "bare", tiles=info["tiles"], level=level, device=args.device,
                             first=args.first)
    rows["bare_once"] = run_child(SYSTEM_PYTHON, "bare", tiles=info["tiles_once"], level=level, device=args.device,
                                  first=args.first)
    if args.device == "cpu":
        rows["csmask"] = run_child(SYSTEM_PYTHON, "csmask", array=work / "six_bands.npy", level=level)
        rows["csmask_read"] = {**rows["csmask"], "seconds": rows["csmask"]["seconds"] + info["read_seconds"]}
        if level == "L1C" and bench_python and not args.skip_s2cloudless:
            rows["s2cloudless"] = run_child(bench_python, "s2cloudless", array=work / "s2cloudless_bands.npy",
                                            level=level)
        else:
            rows["s2cloudless"] = {"skipped": "needs L1C top-of-atmosphere input with B10; this product is L2A"
                                   if level != "L1C" else "left out of this run"}
    for kind, row in rows.items():
        if "seconds" in row:
            print(f"  {LABELS[kind]:<44} {row['seconds']:8.1f} s   peak RSS {row['peak_rss_mb']:7.0f} MB"
                  + (f"   runs {row['runs']}" if "runs" in row else ""), flush=True)
            if "stages" in row:
                print("      stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in row["stages"].items()), flush=True)
        else:
            print(f"  {LABELS[kind]:<44} skipped: {row['skipped']}")
    return {"info": info, "rows": rows}


LABELS = {
    "engine": "this engine, end to end",
    "engine_before": "the engine before the speed work",
    "engine_no_check": "this engine without the shadow check",
    "bare": "bare model over the engine's tiles (floor)",
    "bare_once": "bare model over the image's pixels once (floor)",
    "csmask": "ukis-csmask CSmask (compute only)",
    "csmask_read": "CSmask plus reading its bands",
    "s2cloudless": "s2cloudless",
}
STAGE_NOTE = ("Stages of the engine's median run: read (decoding and resampling the bands, in the read-ahead "
              "thread, so it overlaps inference), waiting for reads (what the model thread waited of it), infer, "
              "blend/upsample/codes, write, finish and overviews.")


def product_section(name: str, entry: dict) -> list[str]:
    info, rows = entry["info"], entry["rows"]
    megapixels = int(info["grid"].split(" x ")[0]) * int(info["grid"].split(" x ")[1].split()[0]) / 1e6
    engine = rows["engine"]
    lines = [
        f"## {name}: {info['product_id']} ({info['level']})",
        "",
        f"{info['grid']} ({megapixels:.1f} Mpx on the model grid), {info['valid_percent']} % valid, "
        f"{info['tiles']} tiles of 256 px run ({info['tiles_once']} cover the valid pixels once, without overlap). "
        f"Reading the model's six bands of the whole tile onto the 30 m grid with the project's reader "
        f"takes {info['read_seconds']} s.",
        "",
        "| contender | wall time (s) | s per Mpx (30 m) | peak RSS (MB) | engine time / this |",
        "|---|---|---|---|---|",
    ]
    for kind, label in LABELS.items():
        row = rows.get(kind)
        if row is None:
            continue
        if "seconds" not in row:
            lines.append(f"| {label} | n/a: {row['skipped']} | | | |")
            continue
        runs = f" (runs: {', '.join(map(str, row['runs']))})" if len(row.get("runs", [])) > 1 else ""
        runtime = f", onnxruntime {row['onnxruntime']}" if "onnxruntime" in row else ""
        lines.append(f"| {label}{runtime} | {row['seconds']:.1f}{runs} | {row['seconds'] / megapixels:.2f} | "
                     f"{row['peak_rss_mb']:.0f} | {engine['seconds'] / row['seconds']:.2f} |")
    lines += ["", STAGE_NOTE, "",
              "| " + " | ".join(engine["stages"]) + " |", "|" + "---|" * len(engine["stages"]),
              "| " + " | ".join(f"{v:.1f}" for v in engine["stages"].values()) + " |", ""]
    return lines


def markdown(results: dict, keep: str) -> str:
    """The benchmark page: this run's section, and the other device's section kept from `keep`."""
    device = results["device"]
    header = "## GPU" if device != "cpu" else "## CPU"
    section = [header, "", f"Machine: {results['machine']}.", ""]
    for name, entry in results["products"].items():
        section += ["#" + line if line.startswith("## ") else line for line in product_section(name, entry)]
    kept = _section(keep, "## GPU" if device == "cpu" else "## CPU")
    cpu, gpu = (section, kept) if device == "cpu" else (kept, section)
    lines = [
        "# Benchmarks",
        "",
        "Measured by `make bench` (CPU) and `make bench-gpu` (tools/bench.py): each contender in its own "
        "process; the two engines interleaved and repeated (medians, every run beside them). Peak RSS is the "
        "process's own high-water mark of resident memory (VmHWM). The engine's time is end to end (JP2 reading, "
        "inference, blending, writing the 10 m GeoTIFF with overviews); the reference implementations get their "
        "30 m input array ready in memory, and their time is the masking call alone. The bare model is "
        "`session.run` on inputs already in memory: the floor.",
        "",
        *cpu, *gpu,
        "Contains modified Copernicus Sentinel data 2022 (the real product).",
        "",
    ]
    return "\n".join(lines)


def _section(text: str, header: str) -> list[str]:
    """The lines of a top-level section of an earlier page (empty when absent)."""
    lines = text.splitlines()
    if header not in lines:
        return []
    start = lines.index(header)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")
                or lines[i].startswith("Contains modified")), len(lines))
    return lines[start:end]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--product")
    parser.add_argument("--output")
    parser.add_argument("--array")
    parser.add_argument("--tiles", type=int, default=0)
    parser.add_argument("--level", default="L2A")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--first", default="", help=argparse.SUPPRESS)
    parser.add_argument("--no-read-ahead", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each engine, interleaved (median)")
    parser.add_argument("--skip-full", action="store_true", help="only the real product")
    parser.add_argument("--skip-s2cloudless", action="store_true")
    args = parser.parse_args()
    if args.device == "gpu" and not args.first and GPU_DEPS.is_dir():
        args.first = str(GPU_DEPS)

    if args.child:
        if args.child != "s2cloudless":
            import_plugin_package(args.first or None)
        result = CHILDREN[args.child](args)
        result["_peak_rss_kb"] = peak_rss_kb()
        print(json.dumps(result))
        return 0

    import_plugin_package()
    OUT.mkdir(exist_ok=True)
    bench_python = ensure_bench_venv() if not args.skip_s2cloudless and args.device == "cpu" else None
    processor = platform.processor() or platform.machine()
    device = "CPU execution provider" if args.device == "cpu" else "GPU (CUDA execution provider, IO binding)"
    load = os.getloadavg()[0]
    results = {"machine": f"{processor}, {os.cpu_count()} cores, Python {platform.python_version()}, {device}; "
                          f"load average {load:.1f} when the run began",
               "device": args.device, "products": {}}
    if REAL_L2A.is_dir():
        results["products"]["real T29UNU L2A"] = bench_product("real", REAL_L2A, bench_python, args)
    if not args.skip_full:
        results["products"]["full-size generated L1C"] = bench_product("full", ensure_full_tile(), bench_python, args)
    (OUT / f"results-{args.device}.json").write_text(json.dumps(results, indent=2, default=str))
    page = REPO / "docs" / "benchmarks.md"
    text = markdown(results, page.read_text(encoding="utf-8") if page.exists() else "")
    page.write_text(text, encoding="utf-8")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
