"""`make bench-levers`: what each speed lever gives, one at a time, and which tile geometry the models get.

1. Speed, on the upper-left quarter of the full-size generated L1C tile (10 m output): the engine as it runs
   by default against the same engine with one lever changed (how onnxruntime's threads and the reader's
   share the cores, the codes thread, read-ahead, batch size), interleaved and repeated: medians and ratios
   of wall time and of CPU time.
2. Tile geometries (256, 384, 512 px; 10-25 % overlap; fitted or not) scored on what has labels
   (tools/tile_geometry.py), with the noise of each figure, and the fastest geometry within noise of CSmask's 256 px / 20 %.

Writes docs/speed-levers.md. Run with QGIS's Python: /usr/bin/python3 tools/bench_levers.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
from bench import FULL_SIZE, ensure_full_tile  # noqa: E402  (tools/ is this script's folder)
from tools.plugin_package import import_plugin_package  # noqa: E402  (bench put the checkout on the path)

def speed(repeat: int, size: int) -> list[str]:
    """The engine on the upper-left quarter of the generated L1C tile, one lever changed at a time."""
    import resource

    import numpy as np
    from s2cloudmask.inference.masking.cirrus import plan_class3
    from s2cloudmask.inference.masking.engine import batch_size, refinement_steps, run_mask
    from s2cloudmask.inference.masking.model_card import builtin_card
    from s2cloudmask.inference.cores import usable_cores
    from s2cloudmask.inference.masking.pipeline import ThreadPlan
    from s2cloudmask.inference.masking.session import create_session
    from s2cloudmask.inference.masking.shadows import ShadowGeometry
    from s2cloudmask.inference.reading.product import open_product, product_grid
    from s2cloudmask.inference.reading.sources import ProductSource

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    product = open_product(ensure_full_tile(size))
    x0, _, x1, y1 = product.grids[10].bounds
    half = (x1 - x0) / 2  # the upper-left quarter: 5490 x 5490 px at 10 m on a full tile
    out_grid = product_grid(product, 10, (x0, y1 - half, x0 + half, y1))
    card = builtin_card("L1C", product.bands)
    class3 = plan_class3(card.class_codes(), "L1C", b10=True, cirrus_layer=False)
    bands = {**{spec.name: spec.sentinel2 for spec in card.bands}, **class3.bands}
    steps = refinement_steps(ShadowGeometry.from_tile(product.tile.angles), 0.0)
    plan = ThreadPlan.for_cores()
    sessions: dict[int, object] = {}

    def session(threads: int):
        if threads not in sessions:
            sessions[threads] = create_session(card.model_path, "cpu", threads, free_spatial=card.tiling is not None)[0]
        return sessions[threads]

    default = {"plan": plan, "batch": batch_size("CPU", card, card.tiling), "read_ahead_strips": True,
               "codes_thread": True}
    first = f"default (thread plan: {described(plan)}; read-ahead, codes thread, batch {default['batch']})"
    variants = {first: {}}
    plans = {first: plan}
    for other in thread_plans(usable_cores()):
        if other != plan:
            plans[f"thread plan: {described(other)}"] = other
            variants[f"thread plan: {described(other)}"] = {"plan": other}
    other_batch = 4 if default["batch"] == 1 else 1
    variants.update({
        "no codes thread (codes and writing in the model's thread)": {"codes_thread": False},
        "no read-ahead": {"read_ahead_strips": False},
        f"batch {other_batch}": {"batch": other_batch},
    })
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    folder = Path(tempfile.mkdtemp())

    def run(option: dict) -> tuple[float, float]:
        model_session = session(option["plan"].onnx)  # made before the clock starts
        with ProductSource(product, bands, out_grid.resampled(card.resolution), class3.layers,
                           option["plan"].reader) as source:
            wall, used = time.perf_counter(), cpu()
            run_mask(source, out_grid, card, model_session, folder / "mask.tif", class3=class3.rule,
                     post_steps=steps, tiling=card.tiling, batch_size=option["batch"], lanes=option["plan"].lanes,
                     read_ahead_strips=option["read_ahead_strips"], codes_thread=option["codes_thread"])
            return time.perf_counter() - wall, cpu() - used

    run(default)  # untimed: the band files into the page cache, so that no variant pays for reading them from disk
    for _ in range(repeat):  # interleaved, so a busy machine slows every variant alike
        for name, change in variants.items():
            times[name].append(run({**default, **change}))
            print(f"  {name}: {times[name][-1][0]:.1f} s, CPU {times[name][-1][1]:.1f} s", flush=True)
    base = float(np.median([wall for wall, _ in times[next(iter(variants))]]))
    base_cpu = float(np.median([used for _, used in times[next(iter(variants))]]))
    lines = ["| variant | median (s) | runs (s) | time / default | CPU time (s) | CPU time / default |",
             "|---|---|---|---|---|---|"]
    for name, runs in times.items():
        wall, used = float(np.median([w for w, _ in runs])), float(np.median([c for _, c in runs]))
        lines.append(f"| {name} | {wall:.1f} | {', '.join(f'{w:.1f}' for w, _ in runs)} | {wall / base:.2f} | "
                     f"{used:.1f} | {used / base_cpu:.2f} |")
    fastest = min(plans, key=lambda name: float(np.median([w for w, _ in times[name]])))
    lines += ["", f"Fastest thread plan by median wall time: {described(plans[fastest])} "
                  + ("(the default, ThreadPlan.for_cores in inference/masking/pipeline.py)." if fastest == first else
                     f"({float(np.median([w for w, _ in times[fastest]])) / base:.2f} of the default's time; the "
                     "default is ThreadPlan.for_cores in inference/masking/pipeline.py).")]
    return lines


def thread_plans(cores: int) -> list:
    """The plans to try: the default; one model call at a time on every core, with every core or one for the
    reader; a core kept for the other side."""
    from s2cloudmask.inference.masking.pipeline import ThreadPlan

    spare = max(1, cores - 1)
    return list(dict.fromkeys([ThreadPlan.for_cores(cores), ThreadPlan(cores, cores), ThreadPlan(cores, 1),
                               ThreadPlan(spare, 1), ThreadPlan(spare, cores)]))


def described(plan) -> str:
    threads = f"onnxruntime {plan.onnx} thread{'s' if plan.onnx > 1 else ''}"
    calls = f"one model call at a time, {threads}" if plan.lanes == 1 else f"{plan.lanes} model calls at once, {threads} each"
    return f"{calls}, reader {plan.reader}"


REVISIONS = "## Levers measured revision against revision"  # written from `make bench-revisions`, kept here
SPEED = "## Speed, one lever changed at a time"
GEOMETRY = "## Tile geometry chosen by accuracy"


def kept_section(page: Path, header: str) -> list[str]:
    """The body of a section of the page as it stands (for the section a run skips)."""
    lines = page.read_text(encoding="utf-8").splitlines() if page.exists() else []
    if header not in lines:
        return ["Not measured yet."]
    start = lines.index(header) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ") or lines[i].startswith("Contains ")),
               len(lines))
    return lines[start:end]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-speed", action="store_true", help="only the accuracy of tile geometries")
    parser.add_argument("--skip-geometry", action="store_true", help="only the speed of the levers")
    parser.add_argument("--size", type=int, default=FULL_SIZE,
                        help="side of the generated L1C in 10 m pixels (smaller only to try the commands)")
    parser.add_argument("--page", default=str(REPO / "docs" / "speed-levers.md"),
                        help="the page to write (another path to try the commands)")
    parser.add_argument("--shadow-check", choices=["on", "off"], default="on",
                        help="the cloud-shadow check of the products scored for the tile geometries")
    args = parser.parse_args()
    import_plugin_package()
    import onnxruntime
    from tile_geometry import geometry_section  # imports the checkout, importable only now

    page = Path(args.page)
    revision_lines = kept_section(page, REVISIONS)
    speed_lines = kept_section(page, SPEED)
    if not args.skip_speed:
        print("Speed levers (interleaved):", flush=True)
        before = os.getloadavg()[0]
        lines = speed(args.repeat, args.size)
        speed_lines = [
            "",
            f"The engine on the upper-left quarter of the generated L1C tile (tools/bench.py makes it; "
            f"{args.size // 2} x {args.size // 2} px at 10 m, every band read from its JPEG 2000 file), shadow check on, each variant "
            f"{args.repeat} times, interleaved: medians. Wall time needs a quiet machine; CPU time (user + sys of the "
            f"process) hardly depends on the load. Load average {before:.1f} when it began, "
            f"{os.getloadavg()[0]:.1f} when it ended. Machine: {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, onnxruntime {onnxruntime.__version__}, CPU execution provider.",
            "",
            *lines,
            "",
        ]
    geometry_lines = kept_section(page, GEOMETRY)
    if not args.skip_geometry:
        print("Tile geometries scored against labels:", flush=True)
        lines, _ = geometry_section(args.shadow_check == "on")
        geometry_lines = [
            "",
            "The DLR models pool over the whole tile (squeeze-and-excitation), so a pixel's class depends on where "
            "the tiles lie, and agreement with one geometry's mask cannot judge another: each geometry is scored on "
            "what has labels, as in docs/accuracy.md (tools/tile_geometry.py; `tools/bench_levers.py --skip-speed` "
            "makes this section alone). The built-in cards take the fastest geometry within noise of CSmask's own "
            "(256 px tiles overlapping by 20 %).",
            "",
            *lines,
            "",
        ]
    text = "\n".join([
        "# Speed levers",
        "",
        "Measured by `make bench-levers` (tools/bench_levers.py; `--skip-speed` or `--skip-geometry` makes one "
        "section and keeps the other), and by `make bench-revisions` (the first section).",
        "",
        REVISIONS,
        *revision_lines,
        SPEED,
        *speed_lines,
        GEOMETRY,
        *geometry_lines,
        "Contains modified Copernicus Sentinel data 2022.",
        "",
    ])
    page.write_text(text, encoding="utf-8")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
