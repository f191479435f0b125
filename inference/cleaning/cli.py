"""The composite's command line: `make composite PRODUCTS=... OUT=...`, or without make

    /usr/bin/python3 tools/composite.py PRODUCTS OUT [options]             (a development checkout)
    python3 -m s2cloudmask.inference.cleaning PRODUCTS OUT [options]       (from the folder holding the plugin)

Exit code 0 when every product given went into the composite, 1 when it was written but some products were
left out (their reasons are printed), 2 when no composite was written.
"""

from __future__ import annotations

import argparse
import sys

from ..batch.cluster import LOCAL, SCHEDULER_VARIABLE
from ..defaults import CLEAN_CLASSES, COMPOSITE_METHODS, DEFAULT_BUFFER, DEFAULT_CLEAN_RESOLUTION, DEVICES
from ..feedback import ConsoleFeedback, ConsoleRun
from .composite import DEFAULT_BLOCK, composite


def extent_argument(text: str) -> tuple:
    """'xmin,ymin,xmax,ymax' or 'xmin,ymin,xmax,ymax,EPSG:4326' -> the engine's extent."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) not in (4, 5):
        raise argparse.ArgumentTypeError("give xmin,ymin,xmax,ymax with an optional CRS, such as 600000,5290000,"
                                         "610000,5300000,EPSG:32632")
    try:
        corners = tuple(float(part) for part in parts[:4])
    except ValueError:
        raise argparse.ArgumentTypeError(f"the corners of {text!r} are not numbers") from None
    return (*corners, parts[4]) if len(parts) == 5 else corners


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m s2cloudmask.inference.cleaning",
        description="A cloud-free composite of many Sentinel-2 products of one level, as a Cloud-Optimised GeoTIFF.",
    )
    parser.add_argument("products", nargs="+", help="a folder of .SAFE folders / .zip files, a glob, a list file, "
                                                    "products themselves, or STAC item .json files")
    parser.add_argument("out", help="the composite GeoTIFF to write")
    parser.add_argument("--masks", help="folder of this plugin's masks (a make batch OUT); masks made are added to "
                                        "it (default: <out name>_masks beside the composite)")
    parser.add_argument("--extent", type=extent_argument, help="xmin,ymin,xmax,ymax[,CRS] (default: all footprints)")
    parser.add_argument("--crs", help="output CRS, such as EPSG:32632 (default: the first product's)")
    parser.add_argument("--resolution", type=float, default=DEFAULT_CLEAN_RESOLUTION, help="metres (default 20)")
    parser.add_argument("--start", help="first sensing date kept, YYYY-MM-DD")
    parser.add_argument("--end", help="last sensing date kept, YYYY-MM-DD")
    parser.add_argument("--method", choices=list(COMPOSITE_METHODS), default="median",
                        help="median of the clear observations, or bap (best-available pixel)")
    parser.add_argument("--target-date", help="bap: the date preferred (default: the middle of the dates)")
    parser.add_argument("--classes", nargs="+", choices=list(CLEAN_CLASSES), default=list(CLEAN_CLASSES),
                        help="mask classes that make an observation unusable (default: all three)")
    parser.add_argument("--buffer", type=float, default=DEFAULT_BUFFER, help="metres grown around them (default 0)")
    parser.add_argument("--bands", nargs="+", help="band ids (default: the surface bands every product has)")
    parser.add_argument("--block", type=int, default=DEFAULT_BLOCK, help="block side in pixels: memory follows it")
    parser.add_argument("--model", default="auto", help="for the masks made: 'auto' or an .onnx model with a card")
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--workers", type=int, help="local worker processes (default: chosen for cores and memory)")
    parser.add_argument("--scheduler", help=f"dask scheduler address (default: ${SCHEDULER_VARIABLE}, else this "
                                            f"machine; '{LOCAL}': this machine in any case)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    bar = ConsoleFeedback()
    interrupted = "Interrupted; no composite was written (masks already made are kept for the next run)."
    with ConsoleRun(bar, interrupted, 2) as run:
        result = composite(
            args.products, args.out, masks=args.masks, extent=args.extent, crs=args.crs, resolution=args.resolution,
            start=args.start, end=args.end, method=args.method, target_date=args.target_date,
            classes=[CLEAN_CLASSES[name] for name in args.classes], buffer=args.buffer, bands=args.bands,
            block_size=args.block, model=args.model, device=args.device, workers=args.workers,
            scheduler=args.scheduler, feedback=bar,
        )
    if run.code is not None:
        return run.code
    for product, why in result.skipped.items():
        print(f"LEFT OUT  {product}: {why}", file=sys.stderr)
    print(f"{len(result.products)} product(s) -> {result.output} ({result.grid.width} x {result.grid.height} px at "
          f"{result.grid.resolution:g} m, {result.covered_percent:.1f} % with a clear observation) on "
          f"{result.workers} in {result.seconds:.1f} s; masks: {result.masks_reused} reused, {result.masks_made} made"
          + (f" in {result.masks_folder}" if result.masks_folder else ""), file=sys.stderr)
    return 1 if result.skipped else 0
