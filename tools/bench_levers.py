"""`make bench-levers`: what each speed lever gives, one at a time, and which tile geometry the models get.

1. Speed, on the upper-left quarter of the full-size generated L1C tile (10 m output): the engine as it runs
   by default against the same engine with one lever changed (how onnxruntime's threads and the reader's
   share the cores, the codes thread, read-ahead, batch size), interleaved and repeated: medians and ratios
   of wall time and of CPU time.
2. Tile geometries (256, 384, 512 px; 10-25 % overlap; fitted or not) scored on what has labels
   (tools/tile_geometry.py), with the noise of each figure, and the fastest geometry within noise of today's.

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
from bench import ensure_full_tile  # noqa: E402  (tools/ is this script's folder)
from tile_geometry import geometry_section  # noqa: E402
from tools.plugin_package import import_plugin_package  # noqa: E402  (bench put the checkout on the path)

QUARTER_M = 54900.0  # the upper-left quarter of a tile: 5490 x 5490 px at 10 m


def speed(repeat: int) -> list[str]:
    """The engine on the upper-left quarter of the full generated L1C tile, one lever changed at a time."""
    import resource

    import numpy as np
    from s2cloudmask.inference.masking.cirrus import plan_class3
    from s2cloudmask.inference.masking.engine import BATCH_SIZE, batch_size, refinement_steps, run_mask
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

    product = open_product(ensure_full_tile())
    x0, _, _, y1 = product.grids[10].bounds
    out_grid = product_grid(product, 10, (x0, y1 - QUARTER_M, x0 + QUARTER_M, y1))
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

    default = {"onnx": plan.onnx, "reader": plan.reader, "batch": batch_size("CPU", card, card.tiling),
               "read_ahead_strips": True, "codes_thread": True}
    all_cores = usable_cores()
    other_batch = 1 if default["batch"] != 1 else BATCH_SIZE
    variants = {
        f"default (onnxruntime {plan.onnx} threads, {plan.reader} band files at once, read-ahead, codes thread)": {},
        f"onnxruntime {all_cores}, reader {all_cores} (before)": {"onnx": all_cores, "reader": all_cores},
        f"onnxruntime {all_cores}, reader 1": {"onnx": all_cores, "reader": 1},
        f"onnxruntime {max(1, all_cores - 1)}, reader 1": {"onnx": max(1, all_cores - 1), "reader": 1},
        "no codes thread (codes and writing in the model's thread)": {"codes_thread": False},
        "no read-ahead": {"read_ahead_strips": False},
        f"batch {other_batch}": {"batch": other_batch},
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    folder = Path(tempfile.mkdtemp())
    for _ in range(repeat):  # interleaved, so a busy machine slows every variant alike
        for name, change in variants.items():
            option = {**default, **change}
            with ProductSource(product, bands, out_grid.resampled(card.resolution), class3.layers,
                               option["reader"]) as source:
                wall, used = time.perf_counter(), cpu()
                run_mask(source, out_grid, card, session(option["onnx"]), folder / "mask.tif", class3=class3.rule,
                         post_steps=steps, tiling=card.tiling, batch_size=option["batch"],
                         read_ahead_strips=option["read_ahead_strips"], codes_thread=option["codes_thread"])
                times[name].append((time.perf_counter() - wall, cpu() - used))
            print(f"  {name}: {times[name][-1][0]:.1f} s, CPU {times[name][-1][1]:.1f} s", flush=True)
    base = float(np.median([wall for wall, _ in times[next(iter(variants))]]))
    base_cpu = float(np.median([used for _, used in times[next(iter(variants))]]))
    lines = ["| variant | median (s) | runs (s) | time / default | CPU time (s) | CPU time / default |",
             "|---|---|---|---|---|---|"]
    for name, runs in times.items():
        wall, used = float(np.median([w for w, _ in runs])), float(np.median([c for _, c in runs]))
        lines.append(f"| {name} | {wall:.1f} | {', '.join(f'{w:.1f}' for w, _ in runs)} | {wall / base:.2f} | "
                     f"{used:.1f} | {used / base_cpu:.2f} |")
    return lines


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
    parser.add_argument("--shadow-check", choices=["on", "off"], default="on",
                        help="the cloud-shadow check of the products scored for the tile geometries")
    args = parser.parse_args()
    import_plugin_package()
    import onnxruntime

    page = REPO / "docs" / "speed-levers.md"
    speed_lines = kept_section(page, SPEED)
    if not args.skip_speed:
        print("Speed levers (interleaved):", flush=True)
        before = os.getloadavg()[0]
        lines = speed(args.repeat)
        speed_lines = [
            "",
            "The engine on the upper-left quarter of the full-size generated L1C tile (tools/bench.py makes it; "
            "5490 x 5490 px at 10 m, every band read from its JPEG 2000 file), shadow check on, each variant "
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
            "makes this section alone). The built-in cards take the fastest geometry within noise of 256 px / 20 %.",
            "",
            *lines,
            "",
        ]
    text = "\n".join([
        "# Speed levers",
        "",
        "Measured by `make bench-levers` (tools/bench_levers.py; `--skip-speed` or `--skip-geometry` makes one "
        "section and keeps the other).",
        "",
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
