"""`make demo`: mask one Sentinel-2 product headless, compare it with its SCL, and write a quicklook.

The product is PRODUCT=<path> when given; otherwise the real sample in
../shared/data when it is there; otherwise one made by the project's own
generator. Prints where every output is.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # `tools` imports however this file was started
from tools.plugin_package import import_plugin_package  # noqa: E402
REAL_SAMPLE = (REPO.parent / "shared" / "data" / "sentinel2"
               / "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE")
GENERATED = REPO / ".cache" / "demo"


def choose_product(given: str | None) -> Path:
    if given:
        return Path(given)
    if REAL_SAMPLE.is_dir():
        return REAL_SAMPLE
    from tools.synthetic_product import write_product

    existing = sorted(GENERATED.glob("*.SAFE"))
    if existing:
        return existing[0]
    print("The real sample is not here; generating a Sentinel-2 L2A product to mask.")
    return Path(write_product(GENERATED, level="L2A", size=1830, seed=7))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--product", help="a .SAFE folder, a product .zip or its MTD xml")
    parser.add_argument("--out", type=Path, default=REPO / "demo-output")
    import_plugin_package()
    from s2cloudmask.inference.defaults import DEVICES

    parser.add_argument("--device", default="auto", choices=DEVICES)
    args = parser.parse_args()

    from s2cloudmask.inference.classes import CLASS_NAMES, MASK_CODES
    from s2cloudmask.inference.comparing.compare import compare_with_scl
    from s2cloudmask.inference.comparing.quicklook import write_quicklook
    from s2cloudmask.inference.errors import CloudMaskError
    from s2cloudmask.inference.feedback import ConsoleFeedback
    from s2cloudmask.inference.masking.engine import mask_product
    from s2cloudmask.inference.reading.product import open_product

    product_path = choose_product(args.product)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        product = open_product(product_path)
        print(f"Product: {product.product_id} ({product.level}, baseline {product.processing_baseline})")
        mask = args.out / f"{product.product_id}_cloudmask.tif"
        started = time.perf_counter()
        feedback = ConsoleFeedback()
        result = mask_product(product_path, mask, device=args.device, feedback=feedback)
        feedback.end_line()
        print(f"Masked in {time.perf_counter() - started:.1f} s on {result.device_used} with {result.model_used}")
        for code in MASK_CODES:
            print(f"  {CLASS_NAMES[code].lower():<24}{result.class_percentages.get(code, 0.0):6.2f} %")
        print(f"  class 3: {result.class3_source}")
        quicklook = write_quicklook(mask, args.out / f"{product.product_id}_quicklook.png", product=product_path)
        print(f"Mask:      {mask}")
        print(f"Quicklook: {quicklook}")
        if product.level == "L2A":
            difference = args.out / f"{product.product_id}_scl_difference.tif"
            report = args.out / f"{product.product_id}_scl_report.html"
            comparison = compare_with_scl(mask, product_path, difference, report=report, feedback=feedback)
            feedback.end_line()
            print(f"Against SCL: agreement {comparison.overall_agreement:.1%}, kappa {comparison.kappa:.3f}")
            print(f"Difference: {difference}")
            print(f"Report:     {report}")
    except CloudMaskError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
