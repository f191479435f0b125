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
from ..errors import CloudMaskError
from ..feedback import ConsoleFeedback, ConsoleRun
from .cluster import LOCAL, SCHEDULER_VARIABLE
from ..reading.paths import is_url
from ..reading.signing import Signing
from ..reading.stac_search import DEFAULT_COLLECTION, DEFAULT_MAX_ITEMS, StacSearch
from .inputs import find_products, found_by_search
from .records import DONE, FAILED, NOT_RUN, SKIPPED, Settings
from .runner import run_batch


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m s2cloudmask.inference.batch",
        description="Mask many Sentinel-2 products on dask workers; a rerun into the same OUT resumes.",
    )
    parser.add_argument("products", nargs="*",
                        help="a folder of .SAFE folders / .zip files, a glob ('/data/*.zip'), a text file with one "
                             "product per line, products themselves, or STAC items (URLs or .json files)")  # fmt: skip
    parser.add_argument("out", help="output folder: masks, SCL differences, records/, summary.csv, summary.json")
    parser.add_argument("--scheduler", help=f"dask scheduler address, e.g. tcp://host:8786 (default: "
                                            f"${SCHEDULER_VARIABLE}, else workers on this machine; "
                                            f"'{LOCAL}': this machine in any case)")
    parser.add_argument("--workers", type=int, help="local worker processes (default: chosen for cores and memory)")
    parser.add_argument("--threads", type=int, default=0, help="cores per worker (default: chosen)")
    parser.add_argument("--retries", type=int, default=1, help="tries more when the worker running a product dies")
    parser.add_argument("--model", default="auto", help="'auto' or the path of an .onnx model with a card")
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--resolution", type=int, choices=RESOLUTIONS, default=DEFAULT_RESOLUTION, help="output grid in metres")
    parser.add_argument("--no-compare", action="store_true", help="skip the comparison with SCL (L2A products)")
    parser.add_argument("--no-shadow-check", action="store_true",
                        help="keep the model's cloud shadow as it is (no check against the sun geometry)")
    parser.add_argument("--buffer", type=float, default=DEFAULT_BUFFER,
                        help="metres grown around cloud, semi-transparent cloud and shadow (default 0)")
    stac = parser.add_argument_group("STAC", "items from a STAC API search, or folders of item .json files")
    stac.add_argument("--stac", nargs="?", const=True, default=None, metavar="API_URL",
                      help="alone: the folders named are read for STAC item .json files; with a STAC API's URL "
                           "(https://earth-search.aws.element84.com/v1): search it and mask what it finds")
    stac.add_argument("--collection", default=DEFAULT_COLLECTION, help=f"default {DEFAULT_COLLECTION}")
    stac.add_argument("--bbox", type=_bbox, metavar="W,S,E,N",
                      help="search area in degrees; each product is masked within it only")
    stac.add_argument("--start", help="first date, e.g. 2024-06-01")
    stac.add_argument("--end", help="last date, e.g. 2024-08-31")
    stac.add_argument("--max-cloud", type=float, help="largest eo:cloud_cover (percent)")
    stac.add_argument("--max-items", type=int, default=DEFAULT_MAX_ITEMS, help=f"default {DEFAULT_MAX_ITEMS}")
    stac.add_argument("--stac-token", help="a SAS token for Planetary Computer assets (or $S2CLOUDMASK_STAC_TOKEN)")
    stac.add_argument("--stac-signing-url", help="a URL handing out such tokens, {collection} replaced "
                                                 "(or $S2CLOUDMASK_STAC_SIGNING_URL)")
    return parser


def _bbox(text: str) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(value) for value in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not W,S,E,N in degrees, such as 11.2,47.1,11.5,47.3") from None
    return west, south, east, north


def _sources(args: argparse.Namespace, say) -> list[str]:
    """The products named, or found by the STAC search (listed before anything runs)."""
    api = args.stac if isinstance(args.stac, str) and is_url(args.stac) else None
    if api:
        search = StacSearch(api, args.collection, args.bbox, args.start, args.end, args.max_cloud, args.max_items)
        return found_by_search(search, args.out, say) + (find_products(args.products) if args.products else [])
    named = [*args.products, *([args.stac] if isinstance(args.stac, str) else [])]
    if not named:
        raise CloudMaskError("Name the products to mask, or a STAC API to search with --stac URL.")
    return find_products(named, stac=bool(args.stac))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    bar = ConsoleFeedback()
    settings = Settings(model=args.model, device=args.device, resolution=args.resolution,
                        compare=not args.no_compare, threads=args.threads,
                        shadow_check=not args.no_shadow_check, buffer=args.buffer,
                        extent=(*args.bbox, "EPSG:4326") if args.bbox else None)
    if args.stac_token or args.stac_signing_url:  # the workers, started later, inherit it
        Signing(args.stac_token or "", args.stac_signing_url or "").export()
    interrupted = (f"Interrupted. Finished products keep their outputs; run the same command again to do the rest "
                   f"(summary so far in {args.out}).")
    with ConsoleRun(bar, interrupted, 1) as run:
        sources = _sources(args, lambda line: print(line, file=sys.stderr))
        print(f"{len(sources)} product(s) -> {args.out}", file=sys.stderr)
        result = run_batch(sources, args.out, settings, scheduler=args.scheduler, workers=args.workers,
                           retries=args.retries, feedback=bar)
    if run.code is not None:
        return run.code
    if result.plan is not None:
        print(f"Workers: {result.plan.describe()}", file=sys.stderr)
    for row in result.rows:
        if row["status"] == FAILED:
            print(f"FAILED  {row['product_id']}: {row['error']}", file=sys.stderr)
    counts = result.counts
    print(f"{counts[DONE]} done, {counts[SKIPPED]} skipped (done before, or given twice), {counts[FAILED]} failed, "
          f"{counts[NOT_RUN]} not run in {result.seconds:.1f} s; summary: {result.summary_csv}", file=sys.stderr)
    return 0 if counts[FAILED] + counts[NOT_RUN] == 0 else 1
