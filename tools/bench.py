"""`make bench`: speed and memory of the engine, side by side with the reference implementations.

On (a) the real T29UNU L2A product in ../shared/data and (b) a full-size
10980 x 10980 L1C from the project's generator (every resolution present),
each contender runs in its own process, so its wall time, CPU time and peak
resident memory are its own. The engine and CSmask run interleaved, round
after round (--repeat), and the medians and the round-by-round ratios are
reported:

- engine: `mask_product` end to end at 10 m, shadow check on and off: read the JP2 bands, infer,
  blend, write the GeoTIFF, with the time of each stage in each thread;
- CSmask: ukis-csmask's own CSmask after reading the six bands onto 30 m as its users do (GDAL's
  averaging through rasterio), compute and reading timed apart; its classes are compared with the
  engine's on the 30 m grid;
- two floors: the bare model (`session.run`, same model, batch, threads and lanes, inputs already in
  memory) over exactly the tiles the engine runs, and over the image's pixels once (256 px tiles
  without overlap, those with valid pixels);
- s2cloudless: S2PixelCloudDetector on the same 30 m grid (its 10 L1C bands, already in memory),
  in its own virtual environment (.venv-bench) since it needs packages QGIS does not ship.

Results go to stdout, to bench-output/results-<device>.json and to docs/benchmarks.md.
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
FULL_SIZE = 10980  # a Sentinel-2 tile at 10 m
REAL_L2A = (REPO.parent / "shared" / "data" / "sentinel2"
            / "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE")
CACHE = REPO / ".cache" / "bench"
OUT = REPO / "bench-output"
BENCH_VENV = REPO / ".venv-bench"
S2CLOUDLESS_PIN = "s2cloudless==1.7.3"
GPU_DEPS = REPO / ".deps-gpu"  # onnxruntime-gpu and its CUDA libraries, for `make bench-gpu`
S2CLOUDLESS_BANDS = ["B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12"]
SYSTEM_PYTHON = "/usr/bin/python3"


# ---------------------------------------------------------------- children (one contender each)


def child_engine(args: argparse.Namespace) -> dict:
    """The engine end to end, with the cloud-shadow check on (the default) or off (--no-check)."""
    import onnxruntime
    from s2cloudmask.inference.masking.engine import mask_product

    started = time.perf_counter()
    result = mask_product(args.product, args.output, model=args.model or "auto", device=args.device,
                          shadow_check=not args.no_check)
    return {"seconds": time.perf_counter() - started, "device": result.device_used, "model": result.model_used,
            "stages": result.stage_seconds, "onnxruntime": onnxruntime.__version__}


def _model_bands(product) -> list[str]:
    nir = "B08" if product.band_files.get("B08") else "B8A"
    return ["B02", "B03", "B04", nir, "B11", "B12"]


def child_bare(args: argparse.Namespace) -> dict:
    """`session.run` alone on random tiles of the engine's size, batch, threads and lanes: the floor."""
    import numpy as np
    from s2cloudmask.inference.masking.engine import batch_size
    from s2cloudmask.inference.masking.model_card import builtin_card
    from s2cloudmask.inference.masking.pipeline import ThreadPlan, lanes_on, ordered_map
    from s2cloudmask.inference.masking.session import create_session

    card = builtin_card(args.level, ["B02", "B03", "B04", "B08", "B11", "B12"])
    plan = ThreadPlan.for_cores()
    session, device = create_session(card.model_path, args.device, plan.onnx, free_spatial=True)
    batch = batch_size(device, card, card.tiling)
    name = session.get_inputs()[0].name
    tiles = np.random.default_rng(0).normal(size=(batch, len(card.band_names), args.tile_rows,
                                                  args.tile_cols)).astype(np.float32)
    session.run(None, {name: tiles[:1]})  # the first call allocates; the engine's is inside its stages too
    started = time.perf_counter()
    counts = [min(batch, args.tiles - done) for done in range(0, args.tiles, batch)]
    for _ in ordered_map(lambda count: session.run(None, {name: tiles[:count]}), iter(counts),
                         lanes_on(device, plan.lanes)):
        pass
    return {"seconds": time.perf_counter() - started, "device": device, "tiles": args.tiles}


def read_as_csmask_user(product_path: str, bands: list[str]):
    """The six bands on the 30 m grid as a ukis-csmask user reads them: GDAL's own averaging (rasterio,
    out_shape), one band per core at once, DN to reflectance with the product's offsets; no data where a band is 0."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import rasterio
    from rasterio.enums import Resampling
    from s2cloudmask.inference.cores import usable_cores
    from s2cloudmask.inference.reading.metadata import to_reflectance
    from s2cloudmask.inference.reading.product import open_product, product_grid

    product = open_product(product_path)
    grid = product_grid(product, 30)

    def band(name: str):
        with rasterio.open(product.band_files[name][min(product.band_files[name])]) as dataset:
            coarser = grid.resolution > dataset.res[0]
            return dataset.read(1, out_shape=grid.shape, resampling=Resampling.average if coarser
                                else Resampling.bilinear)

    with ThreadPoolExecutor(max_workers=usable_cores()) as pool:
        dn = np.stack(list(pool.map(band, bands)))
    nodata = np.any(dn == product.nodata_value, axis=0)
    image = np.moveaxis(to_reflectance(dn.astype(np.float32), bands, product), 0, -1)
    image[nodata] = 0
    return np.ascontiguousarray(image), nodata


def child_csmask(args: argparse.Namespace) -> dict:
    """ukis-csmask's CSmask after reading its bands its own way; its classes go to --output (.npy, mask codes)."""
    import numpy as np
    from s2cloudmask.inference.classes import CLEAR, CLOUD, CLOUD_SHADOW
    from s2cloudmask.inference.reading.product import open_product
    from ukis_csmask.mask import CSmask

    started = time.perf_counter()
    image, nodata = read_as_csmask_user(args.product, _model_bands(open_product(args.product)))
    read = time.perf_counter() - started
    started = time.perf_counter()
    result = CSmask(image, band_order=["blue", "green", "red", "nir", "swir16", "swir22"],
                    product_level=args.level.lower(), batch_size=4)
    seconds = time.perf_counter() - started
    codes = np.asarray([CLEAR, CLOUD, CLOUD_SHADOW], np.uint8)[result.csm[..., 0]]  # CSmask: clear, cloud, shadow
    codes[nodata] = 0
    np.save(args.output, codes)
    return {"seconds": seconds, "read_seconds": read}


def child_s2cloudless(args: argparse.Namespace) -> dict:
    import numpy as np
    from s2cloudless import S2PixelCloudDetector

    image = np.ascontiguousarray(np.load(args.array, mmap_mode="r"))[np.newaxis]
    detector = S2PixelCloudDetector(threshold=0.4, average_over=4, dilation_size=2, all_bands=False)
    started = time.perf_counter()
    detector.get_cloud_masks(image)
    return {"seconds": time.perf_counter() - started}


def cpu_seconds() -> float:
    """User and system CPU time of this process, all its threads: hardly changed by other programs' load."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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


CHILDREN = {"engine": child_engine, "bare": child_bare, "csmask": child_csmask, "s2cloudless": child_s2cloudless}


# ---------------------------------------------------------------- the parent


def run_child(python: str, kind: str, script: Path | None = None, **options) -> dict:
    """Run one contender in a fresh process; add its peak RSS from the kernel's accounting.

    script: another checkout's tools/bench.py (tools/bench_revisions.py), else this one."""
    command = [python, str(script or Path(__file__).resolve()), "--child", kind]
    for key, value in options.items():
        if value is None or value == "" or value is False:
            continue
        command += [f"--{key.replace('_', '-')}"] + ([] if value is True else [str(value)])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.perf_counter()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{kind} ({command[1]}) failed:\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["process_seconds"] = wall
    result["peak_rss_mb"] = result.pop("_peak_rss_kb") / 1024
    return result


def prepare_arrays(product_path: Path, work: Path, with_cirrus_bands: bool) -> dict:
    """Time the project's reader on the model's six bands (30 m), count the tiles the engine runs, and read
    s2cloudless's ten bands for it."""
    import numpy as np
    from s2cloudmask.inference.masking.blending import TileLayout
    from s2cloudmask.inference.masking.model_card import builtin_card
    from s2cloudmask.inference.masking.tiling import reflect_indices
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
        valid = reader.read(whole).valid
    info["read_seconds"] = round(time.perf_counter() - started, 1)

    # the engine's tiles (its card's geometry) with at least one valid pixel: it skips the others, so the floor does
    card = builtin_card(product.level, product.bands)
    layout = (TileLayout.fitted(grid.height, grid.width, card.tiling, 1) if card.tiling else
              TileLayout.for_image(grid.height, grid.width, card.tile_size, card.overlap, 1))
    tiles = 0
    for i in range(layout.rows.count):
        strip = valid[reflect_indices(np.arange(*layout.rows.span(i, i)), grid.height)]
        for j in range(layout.cols.count):
            tiles += bool(strip[:, reflect_indices(np.arange(*layout.cols.span(j, j)), grid.width)].any())
    info["geometry"] = (f"fitted tiles of up to {card.tiling.max_tile} px" if card.tiling else
                        f"{card.tile_size} px tiles overlapping by {round(card.overlap * 100)} %")
    info["tiles"], info["tile_rows"], info["tile_cols"] = tiles, layout.rows.size, layout.cols.size
    info["tile"] = f"{layout.rows.size} x {layout.cols.size}"
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


def ensure_full_tile(size: int = FULL_SIZE) -> Path:
    """The generated L1C (`size` 10 m pixels a side; a smaller one only to try the benchmark's commands)."""
    folder = CACHE / ("full" if size == FULL_SIZE else f"full-{size}")
    existing = sorted(folder.glob("*.SAFE"))
    if existing:
        return existing[0]
    from tools.synthetic_product import write_product

    print(f"Generating a {size} x {size} L1C product (once; cached in .cache/bench)...", flush=True)
    return Path(write_product(folder, level="L1C", size=size, seed=11, extras=False))


def csmask_tiles_model(level: str, bands: list[str], folder: Path) -> Path | None:
    """The built-in model under a side-car card with CSmask's own tiles, where the built-in card's differ
    (docs/speed-levers.md): the engine then runs exactly CSmask's tiles. None where they are the same."""
    from dataclasses import replace

    from s2cloudmask.inference.masking.model_card import CSMASK_OVERLAP, builtin_card
    from tools.sidecar_model import model_with_card

    card = builtin_card(level, bands)
    if card.tiling is None and card.overlap == CSMASK_OVERLAP:
        return None
    return model_with_card(replace(card, overlap=CSMASK_OVERLAP, tiling=None), folder,
                           f"csmask-tiles-{Path(card.model_path).name}")


def _median_row(runs: list[dict]) -> dict:
    """The run with the median wall time, with every run's time beside it."""
    ordered = sorted(runs, key=lambda row: row["seconds"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    row["runs"] = [round(r["seconds"], 1) for r in runs]
    return row


def bench_product(name: str, product: Path, bench_python: str | None, args: argparse.Namespace) -> dict:
    from s2cloudmask.inference.reading.product import open_product

    work = OUT / name
    load = [os.getloadavg()[0]]
    info = prepare_arrays(product, work, with_cirrus_bands=open_product(product).level == "L1C")
    level = info["level"]
    print(f"\n{name}: {info['product_id']} ({level}), {info['grid']}, {info['valid_percent']} % valid, "
          f"{info['tiles']} tiles of {info['tile']} px ({info['tiles_once']} of 256 px without overlap)", flush=True)
    runs: dict[str, list[dict]] = {"engine": [], "engine_no_check": [], "csmask_read": []}
    for _ in range(args.repeat):  # interleaved, so a busy machine slows every contender alike
        runs["engine"].append(run_child(SYSTEM_PYTHON, "engine", product=product, output=work / "mask.tif",
                                        level=level, device=args.device, first=args.first))
        runs["engine_no_check"].append(run_child(SYSTEM_PYTHON, "engine", product=product, no_check=True,
                                                 output=work / "mask-no-check.tif", level=level, device=args.device,
                                                 first=args.first))
        if args.device == "cpu":
            csmask = run_child(SYSTEM_PYTHON, "csmask", product=product, output=work / "csmask.npy", level=level)
            runs["csmask_read"].append({**csmask, "compute_seconds": csmask["seconds"],
                                        "seconds": csmask["seconds"] + csmask["read_seconds"]})
        load.append(os.getloadavg()[0])
    rows = {kind: _median_row(kind_runs) for kind, kind_runs in runs.items() if kind_runs}
    rows["bare"] = run_child(SYSTEM_PYTHON, "bare", tiles=info["tiles"], tile_rows=info["tile_rows"],
                             tile_cols=info["tile_cols"], level=level, device=args.device, first=args.first)
    rows["bare_once"] = run_child(SYSTEM_PYTHON, "bare", tiles=info["tiles_once"], tile_rows=256, tile_cols=256,
                                  level=level, device=args.device, first=args.first)
    if "csmask_read" in rows:
        compute = [run["compute_seconds"] for run in runs["csmask_read"]]
        rows["csmask"] = {**rows["csmask_read"], "seconds": _median(compute), "runs": [round(t, 1) for t in compute]}
        info["engine_over_csmask"] = [round(e["seconds"] / c["seconds"], 3)
                                      for e, c in zip(runs["engine_no_check"], runs["csmask_read"])]
        info["agreement"] = csmask_agreement(work / "mask-no-check.tif", work / "csmask.npy")
        csmask_tiles = csmask_tiles_model(level, _model_bands(open_product(product)), work)
        if csmask_tiles is not None:  # once more with CSmask's own tiles: the agreement at an unchanged geometry
            run_child(SYSTEM_PYTHON, "engine", product=product, no_check=True, model=csmask_tiles,
                      output=work / "mask-csmask-tiles.tif", level=level, device=args.device, first=args.first)
            info["agreement_csmask_tiles"] = csmask_agreement(work / "mask-csmask-tiles.tif", work / "csmask.npy")
        if level == "L1C" and bench_python and not args.skip_s2cloudless:
            rows["s2cloudless"] = run_child(bench_python, "s2cloudless", array=work / "s2cloudless_bands.npy",
                                            level=level)
        else:
            rows["s2cloudless"] = {"skipped": "needs L1C top-of-atmosphere input with B10; this product is L2A"
                                   if level != "L1C" else "left out of this run"}
    load.append(os.getloadavg()[0])
    info["load"] = [round(value, 1) for value in load]
    for kind, row in rows.items():
        if "seconds" in row:
            print(f"  {LABELS[kind]:<44} {row['seconds']:8.1f} s   CPU {row['cpu_seconds']:7.1f} s   "
                  f"peak RSS {row['peak_rss_mb']:7.0f} MB" + (f"   runs {row['runs']}" if "runs" in row else ""),
                  flush=True)
            if "stages" in row:
                print("      stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in row["stages"].items()), flush=True)
        else:
            print(f"  {LABELS[kind]:<44} skipped: {row['skipped']}")
    info["engine_peak_rss_mb"] = round(max(run["peak_rss_mb"] for kind in ("engine", "engine_no_check")
                                           for run in runs[kind]))
    if "agreement" in info:
        print("  " + comparison_line(info), flush=True)
    return {"info": info, "rows": rows}


def comparison_line(info: dict) -> str:
    """The engine against CSmask in one sentence: the ratio round by round and its median, the agreement, memory."""
    ratios = info["engine_over_csmask"]
    line = (f"Engine without the shadow check / (CSmask + its reading): median {_median(ratios):.2f} (rounds: "
            f"{', '.join(f'{r:.2f}' for r in ratios)}). Agreement with CSmask on the 30 m grid: "
            f"{info['agreement']:.4f} with the engine's {info['geometry']}")
    if "agreement_csmask_tiles" in info:
        line += (f", {info['agreement_csmask_tiles']:.4f} with CSmask's own 256 px tiles overlapping by 20 % "
                 "(docs/speed-levers.md says why the geometries differ)")
    return line + (f". Peak RSS of the engine, largest of its runs: {info['engine_peak_rss_mb']} MB.")


def csmask_agreement(engine_mask: Path, csmask_codes: Path) -> float:
    """Share of the 30 m pixels where the engine (its 10 m mask at the 30 m pixel centres, which the bilinear
    upsampling leaves at the model's own class) and CSmask give the same class; pixels without data, and the
    engine's class 3 (from B10, which CSmask has no class for), left out."""
    import numpy as np
    import rasterio
    from s2cloudmask.inference.classes import NODATA, SEMI_TRANSPARENT

    with rasterio.open(engine_mask) as dataset:
        ours = dataset.read(1)[1::3, 1::3]
    theirs = np.load(csmask_codes)[: ours.shape[0], : ours.shape[1]]
    compared = (ours != NODATA) & (ours != SEMI_TRANSPARENT) & (theirs != NODATA)
    return float(((ours == theirs) & compared).sum() / max(1, compared.sum()))


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


LABELS = {
    "engine": "this engine, end to end (shadow check on)",
    "engine_no_check": "this engine, end to end, shadow check off",
    "csmask_read": "ukis-csmask CSmask plus its own reading of the bands",
    "csmask": "ukis-csmask CSmask (compute only)",
    "bare": "bare model over the engine's tiles (floor)",
    "bare_once": "bare model over the image's pixels once (floor)",
    "s2cloudless": "s2cloudless (compute only)",
}
STAGE_NOTE = ("Stages of each engine row's median run, per thread: read (decoding and resampling the bands, in the "
              "read-ahead thread); waiting for reads, infer (waiting for the model's answers; on a CPU two calls "
              "run at once, each in a thread of its own), blend, waiting for the codes thread (the caller's "
              "thread); upsample, codes, post-steps, and write and overviews (the codes thread); finish (the copy "
              "to a Cloud-Optimised GeoTIFF, after the others). The threads run at once, so the stages add up to "
              "more than the wall time.")


def product_section(name: str, entry: dict) -> list[str]:
    info, rows = entry["info"], entry["rows"]
    megapixels = int(info["grid"].split(" x ")[0]) * int(info["grid"].split(" x ")[1].split()[0]) / 1e6
    reference = rows.get("csmask_read")
    lines = [
        f"## {name}: {info['product_id']} ({info['level']})",
        "",
        f"{info['grid']} ({megapixels:.1f} Mpx on the model grid), {info['valid_percent']} % valid, "
        f"{info['tiles']} tiles of {info['tile']} px run ({info['tiles_once']} tiles of 256 px cover the valid "
        f"pixels once, without overlap). Reading the model's six bands of the whole tile onto the 30 m grid with "
        f"the project's reader takes {info['read_seconds']} s. Load average during the run: "
        f"{', '.join(map(str, info['load']))} (at the start and after each round).",
        "",
        "| contender | wall time (s) | CPU time (s) | s per Mpx (30 m) | peak RSS (MB) | time / (CSmask + its reading) |",
        "|---|---|---|---|---|---|",
    ]
    for kind, label in LABELS.items():
        row = rows.get(kind)
        if row is None:
            continue
        if "seconds" not in row:
            lines.append(f"| {label} | n/a: {row['skipped']} | | | | |")
            continue
        runs = f" (runs: {', '.join(map(str, row['runs']))})" if len(row.get("runs", [])) > 1 else ""
        runtime = f", onnxruntime {row['onnxruntime']}" if "onnxruntime" in row else ""
        cpu = "" if kind == "csmask" else f"{row['cpu_seconds']:.1f}"
        ratio = f"{row['seconds'] / reference['seconds']:.2f}" if reference else ""
        lines.append(f"| {label}{runtime} | {row['seconds']:.1f}{runs} | {cpu} | {row['seconds'] / megapixels:.2f} | "
                     f"{row['peak_rss_mb']:.0f} | {ratio} |")
    if "agreement" in info:
        lines += ["", comparison_line(info) + " CSmask reads its bands as its users do (GDAL's own averaging "
                      "through rasterio, one band per core at once; integer DN, so its input differs from the "
                      "engine's by at most half a DN). The agreement counts the pixels with data, the engine's "
                      "class 3 (from B10) left out."]
    lines += ["", STAGE_NOTE, ""]
    for kind in ("engine", "engine_no_check"):
        stages = rows[kind]["stages"]
        lines += [f"{LABELS[kind]}:", "", "| " + " | ".join(stages) + " |", "|" + "---|" * len(stages),
                  "| " + " | ".join(f"{v:.1f}" for v in stages.values()) + " |", ""]
    return lines


# The composite benchmark's part of the page (tools/bench_composite.py writes it between these lines).
COMPOSITE_SECTION = ("<!-- composite: begin -->", "<!-- composite: end -->")


def markdown(results: dict, keep: str) -> str:
    """The benchmark page: this run's section, and the other device's section kept from `keep`."""
    device = results["device"]
    header = "## GPU" if device != "cpu" else "## CPU"
    section = [header, "", f"Machine: {results['machine']}.", ""]
    for name, entry in results["products"].items():
        section += ["#" + line if line.startswith("## ") else line for line in product_section(name, entry)]
    kept = _section(keep, "## GPU" if device == "cpu" else "## CPU") or (NO_GPU if device == "cpu" else [])
    cpu, gpu = (section, kept) if device == "cpu" else (kept, section)
    begin, end = COMPOSITE_SECTION  # tools/bench_composite.py's section, kept as it wrote it
    composite = begin + keep.split(begin, 1)[1].split(end, 1)[0] + end if begin in keep and end in keep else ""
    rest = keep.replace(composite, "") if composite else keep
    others = [line for header in _headers(rest) if header not in ("## CPU", "## GPU") for line in _section(rest, header)]
    lines = [
        "# Benchmarks",
        "",
        "Measured by `make bench` (CPU) and `make bench-gpu` (tools/bench.py): each contender in its own "
        "process; the engine (shadow check on and off) and CSmask with its own reading interleaved and "
        "repeated (medians, every run beside them). Wall time needs a quiet machine; CPU time (user + sys of "
        "the process, all threads) hardly depends on other programs. Peak RSS is the process's own high-water "
        "mark of resident memory (VmHWM). The engine's time is end to end (JP2 reading, inference, blending, "
        "writing the 10 m GeoTIFF with overviews); CSmask's is its reading of the six bands onto 30 m and its "
        "masking call (it writes nothing); s2cloudless gets its input ready in memory. The bare model is "
        "`session.run` on inputs already in memory: the floor.",
        "",
        *cpu, *gpu, *others,
        "Contains modified Copernicus Sentinel data 2022 (the real product).",
        "",
    ]
    if composite:
        lines += [composite, ""]
    return "\n".join(lines)


NO_GPU = ["## GPU", "", "Not measured: no machine with an NVIDIA GPU was available to this project's runs. `make bench-gpu` "
          "(onnxruntime-gpu with the CUDA 12 / cuDNN 9 wheels in .deps-gpu) writes this section, and "
          "tests/engine/test_speed_levers.py::test_the_gpu_keeps_the_cpus_mask runs, where one is.", ""]


def _headers(text: str) -> list[str]:
    """The top-level section headers of a page, in order."""
    return [line for line in text.splitlines() if line.startswith("## ")]


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
    parser.add_argument("--model", default="", help=argparse.SUPPRESS)
    parser.add_argument("--array")
    parser.add_argument("--tiles", type=int, default=0)
    parser.add_argument("--tile-rows", type=int, default=256)
    parser.add_argument("--tile-cols", type=int, default=256)
    parser.add_argument("--level", default="L2A")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--first", default="", help=argparse.SUPPRESS)
    parser.add_argument("--no-check", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the engine and CSmask, interleaved (medians)")
    parser.add_argument("--skip-full", action="store_true", help="only the real product")
    parser.add_argument("--skip-real", action="store_true", help="only the generated L1C")
    parser.add_argument("--size", type=int, default=FULL_SIZE,
                        help="side of the generated L1C in 10 m pixels (smaller only to try the commands)")
    parser.add_argument("--page", default=str(REPO / "docs" / "benchmarks.md"),
                        help="the page to write (another path to try the commands)")
    parser.add_argument("--skip-s2cloudless", action="store_true")
    args = parser.parse_args()
    if args.device == "gpu" and not args.first and GPU_DEPS.is_dir():
        args.first = str(GPU_DEPS)

    if args.child:
        if args.child != "s2cloudless":
            import_plugin_package(args.first or None)
        used = cpu_seconds()
        result = CHILDREN[args.child](args)
        result["cpu_seconds"] = cpu_seconds() - used
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
    if REAL_L2A.is_dir() and not args.skip_real:
        results["products"]["real T29UNU L2A"] = bench_product("real", REAL_L2A, bench_python, args)
    if not args.skip_full:
        name = "full-size generated L1C" if args.size == FULL_SIZE else f"generated L1C, {args.size} px a side"
        results["products"][name] = bench_product("full", ensure_full_tile(args.size), bench_python, args)
    (OUT / f"results-{args.device}.json").write_text(json.dumps(results, indent=2, default=str))
    page = Path(args.page)
    text = markdown(results, page.read_text(encoding="utf-8") if page.exists() else "")
    page.write_text(text, encoding="utf-8")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
