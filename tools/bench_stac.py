"""How much of a STAC item's assets a masking run over a small extent fetches (docs/benchmarks.md).

A product's bands are written as Earth Search writes them (deflate COGs, 1024-pixel blocks, overviews; the
offset removed), served by tools/range_server.py on 127.0.0.1, and masked through the item's URL over an
extent of EXTENT_KM x EXTENT_KM at the tile's centre. The server counts the bytes it sent per file.

    /usr/bin/python3 tools/bench_stac.py [--product PATH] [--extent-km 10] [--out bench-output/stac]

Without --product a full-size generated L2A tile (10980 x 10980 pixels at 10 m) is written once into OUT
(the real sample of ../shared/data holds its bands at 60 m only, so it would not show a full tile's files).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

try:
    from . import synthetic_product as sp
    from .range_server import RangeServer
    from .stac_items import Variant, write_item
except ImportError:  # run as a script from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tools.plugin_package import import_plugin_package

    import_plugin_package()
    from s2cloudmask.tools import synthetic_product as sp
    from s2cloudmask.tools.range_server import RangeServer
    from s2cloudmask.tools.stac_items import Variant, write_item

from s2cloudmask.inference.masking.engine import mask_product  # noqa: E402
from s2cloudmask.inference.reading.product import open_product  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODEL_BANDS = ("B02", "B03", "B04", "B8A", "B11", "B12")  # the built-in L2A model's six bands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--product", type=Path, help="an L2A product (default: a generated full-size tile)")
    parser.add_argument("--extent-km", type=float, default=10.0)
    parser.add_argument("--resolution", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO / "bench-output" / "stac")
    args = parser.parse_args(argv)
    product_path = args.product or next((args.out / "product").glob("*.SAFE"), None) or \
        sp.write_product(args.out / "product", level="L2A", size=sp.FULL_TILE, extras=False)
    served = args.out / "served"
    item_folder = served / "item"
    with RangeServer(served) as server:
        if not (item_folder / "item.json").is_file():
            write_item(product_path, item_folder, server.url("item"), Variant(bands=MODEL_BANDS), block=1024)
        # the item's hrefs carry the port of the server that wrote them: point them at this one
        item = json.loads((item_folder / "item.json").read_text())
        for asset in item["assets"].values():
            asset["href"] = server.url("item/" + asset["href"].rsplit("/", 1)[-1])
        (item_folder / "item.json").write_text(json.dumps(item, indent=1))
        product = open_product(product_path)
        xmin, ymin, xmax, ymax = product.grids[10].bounds
        half = args.extent_km * 500.0
        cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
        extent = (cx - half, cy - half, cx + half, cy + half)
        server.reset_counts()
        started = time.perf_counter()
        result = mask_product(server.url("item/item.json"), args.out / "mask.tif", resolution=args.resolution,
                              extent=extent, device="cpu")
        seconds = time.perf_counter() - started
        fetched = server.bytes_served()
    sizes = {path.name: path.stat().st_size for path in item_folder.iterdir() if path.suffix == ".tif"}
    print(f"product {product.product_id}; extent {args.extent_km:g} x {args.extent_km:g} km at the tile centre, "
          f"{args.resolution} m output, {seconds:.1f} s (machine shared: not a timing)")
    print("| asset | file size (MB) | fetched (MB) | share |")
    print("|---|---|---|---|")
    for name in sorted(sizes):
        got = fetched.get(f"item/{name}", 0)
        if got:
            print(f"| {name} | {sizes[name] / 1e6:.1f} | {got / 1e6:.2f} | {got / sizes[name]:.1%} |")
    read = {name: size for name, size in sizes.items() if fetched.get(f"item/{name}")}
    total_fetched = sum(fetched.values())
    print(f"| all assets read (with the item and MTD_TL.xml) | {sum(read.values()) / 1e6:.1f} | "
          f"{total_fetched / 1e6:.2f} | {total_fetched / sum(read.values()):.1%} |")
    print(f"mask: {result.output}; classes {result.class_percentages}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
