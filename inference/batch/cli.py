"""The batch runner's command line: `make batch PRODUCTS=... OUT=...`, or without make

    /usr/bin/python3 tools/batch.py PRODUCTS OUT [options]            (a development checkout)
    python3 -m s2cloudmask.inference.batch PRODUCTS OUT [options]      (from the folder holding the plugin)

Exit code 0 when every product is done (now or before), 1 when some failed or
did not run, 2 when the run could not start; the summary says which and why.
"""

from __future__ import annotations

import argparse
import sys

from ..defaults import DEFAULT_BUFFER, DEFAULT_RESOLUTION, DEVICES, RESOLUTIONS
from ..errors import Cancelled, CloudMaskError
from ..feedback import ConsoleFeedback
from .cluster import LOCAL, SCHEDULER_VARIABLE
from .inputs import find_products
from .records import DONE, FAILED, NOT_RUN, SKIPPED, Settings
from .runner import run_batch


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m s2cloudmask.inference.batch",
        description="Mask many Sentinel-2 products on dask workers; a rerun into the same OUT resumes.",
    )
    parser.add_argument("products", nargs="+",
                        help="a folder of .SAFE folders / .zip files, a glob ('/data/*.zip'), a text file with one "
                             "product per line, products themselves, or STAC item .json files")  # fmt: skip
    parser.add_argument("out", help="output folder: masks, SCL differences, records/, summary.csv, summary.json")
    parser.add_argument("--scheduler", help=f"dask scheduler address, e.g. tcp://host:8786 (default: "
                                            f"${SCHEDULER_VARIABLE}, else workers on this machine; "
                                            f"'{LOCAL}': this machine in any case)")
    parser.add_argument("--workers", type=int, help="local worker processes (default: chosen for cores and memory)")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads per worker (default: chosen)")
    parser.add_argument("--retries", type=int, default=1, help="tries more when the worker running a product dies")
    parser.add_argument("--model", default="auto", help="'auto' or the path of an .onnx model with a card")
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--resolution", type=int, choices=RESOLUTIONS, default=DEFAULT_RESOLUTION, help="output grid in metres")
    parser.add_argument("--no-compare", action="store_true", help="skip the comparison with SCL (L2A products)")
    parser.add_argument("--no-shadow-check", action="store_true",
                        help="keep the model's cloud shadow as it is (no check against the sun geometry)")
    parser.add_argument("--buffer", type=float, default=DEFAULT_BUFFER,
                        help="metres grown around cloud, semi-transparent cloud and shadow (default 0)")
    parser.add_argument("--stac", action="store_true", help="a folder named is read for STAC item .json files")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    bar = ConsoleFeedback()
    settings = Settings(model=args.model, device=args.device, resolution=args.resolution,
                        compare=not args.no_compare, threads=args.threads,
                        shadow_check=not args.no_shadow_check, buffer=args.buffer)
    try:
        sources = find_products(args.products, stac=args.stac)
        print(f"{len(sources)} product(s) -> {args.out}", file=sys.stderr)
        result = run_batch(sources, args.out, settings, scheduler=args.scheduler, workers=args.workers,
                           retries=args.retries, feedback=bar)
    except KeyboardInterrupt:
        bar.end_line()
        print(f"Interrupted. Finished products keep their outputs; run the same command again to do the rest "
              f"(summary so far in {args.out}).", file=sys.stderr)
        return 1
    except (Cancelled, CloudMaskError) as exc:
        bar.end_line()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar.end_line()
    if result.plan is not None:
        print(f"Workers: {result.plan.describe()}", file=sys.stderr)
    for row in result.rows:
        if row["status"] == FAILED:
            print(f"FAILED  {row['product_id']}: {row['error']}", file=sys.stderr)
    counts = result.counts
    print(f"{counts[DONE]} done, {counts[SKIPPED]} skipped (done before, or given twice), {counts[FAILED]} failed, "
          f"{counts[NOT_RUN]} not run in {result.seconds:.1f} s; summary: {result.summary_csv}", file=sys.stderr)
    return 0 if counts[FAILED] + counts[NOT_RUN] == 0 else 1
