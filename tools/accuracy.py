"""`make accuracy`: score the engine where labels exist, with the cloud-shadow check off and on.

Three sources of labels, each with its limits (docs/accuracy.md says them):

* the hand-labelled patch ../shared/data/arrays/labelled_6band_patch.npz
  (clear, cloud, shadow; one 512 x 512 patch without georeference or angles);
* the generator's truth.tif beside small generated products
  (tools/synthetic_product.py: synthetic scenes, shadows cast by the sun of the
  metadata);
* agreement with Sen2Cor's SCL on the whole real T29UNU product at 60 m, per SCL
  class, water and dark area included. SCL is a classification, not truth;
* composites of a generated time series with this plugin's masks, the SCL's
  cloud classes and no mask, against the series' true surface
  (tools/composite_accuracy.py).

Prints a Markdown table per source and, with --write, replaces the measured
section of docs/accuracy.md. Run with QGIS's Python: /usr/bin/python3 tools/accuracy.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # `tools` imports however this file was started
from tools.plugin_package import import_plugin_package  # noqa: E402
DATA = REPO.parent / "shared" / "data"
PATCH = DATA / "arrays" / "labelled_6band_patch.npz"
REAL = DATA / "sentinel2" / "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"
DOC = REPO / "docs" / "accuracy.md"
BEGIN, END = "<!-- measured: begin -->", "<!-- measured: end -->"
GENERATED = (("L1C", 3), ("L2A", 5))  # (level, seed) of the generated products scored


def _iou(mask, truth, code) -> float:
    both = ((mask == code) & (truth == code)).sum()
    either = ((mask == code) | (truth == code)).sum()
    return float(both / either) if either else float("nan")


def _balanced_accuracy(mask, truth, code) -> float:
    """Mean of the recall of `code` and of not-`code` (CloudSEN12's balanced overall accuracy)."""
    positive, negative = truth == code, truth != code
    tpr = ((mask == code) & positive).sum() / max(1, positive.sum())
    tnr = ((mask != code) & negative).sum() / max(1, negative.sum())
    return float((tpr + tnr) / 2)


def patch_truth(labels):
    """The patch's hand labels (0 shadow, 1-3 clear surfaces, 4 cloud) as mask codes."""
    import numpy as np
    from s2cloudmask.inference.classes import CLEAR, CLOUD, CLOUD_SHADOW

    return np.where(labels == 0, CLOUD_SHADOW, np.where(labels == 4, CLOUD, CLEAR))


def patch_scores(mask, truth) -> dict[str, float]:
    """Cloud and shadow IoU and balanced accuracy; class 3 counts as cloud (the patch has three labels)."""
    import numpy as np
    from s2cloudmask.inference.classes import CLOUD, CLOUD_SHADOW

    mask = np.where(mask == 3, CLOUD, mask)
    return {"cloud IoU": _iou(mask, truth, CLOUD), "shadow IoU": _iou(mask, truth, CLOUD_SHADOW),
            "cloud balanced acc.": _balanced_accuracy(mask, truth, CLOUD),
            "shadow balanced acc.": _balanced_accuracy(mask, truth, CLOUD_SHADOW)}


def score_patch(work: Path) -> list[str]:
    """The hand-labelled patch through run_mask on an arbitrary 30 m grid; it carries no sun angles."""
    import numpy as np
    import rasterio
    from affine import Affine
    from s2cloudmask.inference.grid import Grid
    from s2cloudmask.inference.masking.engine import run_mask
    from s2cloudmask.inference.masking.model_card import builtin_card
    from s2cloudmask.inference.masking.session import create_session
    from s2cloudmask.inference.reading.sources import ArraySource

    patch = np.load(PATCH)
    img, truth = patch["img"], patch_truth(patch["msk"][..., 0])
    grid = Grid("EPSG:32629", Affine(30.0, 0, 500000.0, 0, -30.0, 6000000.0), img.shape[1], img.shape[0])
    card = builtin_card("L2A", ["B02", "B03", "B04", "B8A", "B11", "B12"])
    session, _ = create_session(card.model_path, "cpu", 0)
    source = ArraySource(np.moveaxis(img, -1, 0).astype(np.float32), list(card.band_names), grid)
    run_mask(source, grid, card, session, work / "patch.tif")
    with rasterio.open(work / "patch.tif") as dataset:
        figures = patch_scores(dataset.read(1), truth)
    return [
        "| run | cloud IoU | shadow IoU | cloud balanced acc. | shadow balanced acc. |",
        "|---|---|---|---|---|",
        f"| shadow check off | {' | '.join(f'{value:.3f}' for value in figures.values())} |",
        "| shadow check on | not applicable: the patch has no sun angles and no georeference, so the step "
        "cannot run and the figures are those above | | | |",
    ]


def truth_at(product: Path, resolution: int):
    """The generator's 10 m truth on the product's grid at `resolution`, each pixel the majority code."""
    import rasterio
    from rasterio.enums import Resampling
    from s2cloudmask.tools.synthetic_product import truth_path

    factor = resolution // 10
    with rasterio.open(truth_path(product)) as dataset:
        return dataset.read(1, out_shape=(dataset.height // factor, dataset.width // factor),
                            resampling=Resampling.mode)


def generated_scores(mask, truth) -> dict[str, float]:
    """Cloud and shadow IoU, shadow precision and recall where both mask and truth have data."""
    import numpy as np
    from s2cloudmask.inference.classes import CLOUD, CLOUD_SHADOW

    valid = (mask > 0) & (truth > 0)
    m, t = np.where(valid, mask, 0), np.where(valid, truth, 0)
    shadow_m, shadow_t = m == CLOUD_SHADOW, t == CLOUD_SHADOW
    return {"cloud IoU": _iou(m, t, CLOUD), "shadow IoU": _iou(m, t, CLOUD_SHADOW),
            "shadow precision": float((shadow_m & shadow_t).sum() / max(1, shadow_m.sum())),
            "shadow recall": float((shadow_m & shadow_t).sum() / max(1, shadow_t.sum()))}


def score_generated(work: Path) -> list[str]:
    """Small generated products (L1C and L2A) at 20 m against the generator's truth.tif."""
    import rasterio
    from s2cloudmask.inference.masking.engine import mask_product
    from s2cloudmask.tools.synthetic_product import write_product

    lines = [
        "| product | shadow check | cloud IoU | shadow IoU | shadow precision | shadow recall |",
        "|---|---|---|---|---|---|",
    ]
    for level, seed in GENERATED:
        product = write_product(work / f"gen-{level}", level=level, size=1200, seed=seed)
        truth = truth_at(product, 20)
        for check in (False, True):
            out = work / f"gen-{level}-{check}.tif"
            mask_product(product, out, resolution=20, shadow_check=check, device="cpu")
            with rasterio.open(out) as dataset:
                figures = generated_scores(dataset.read(1), truth)
            lines.append(f"| generated {level} (seed {seed}, 12 km, 20 m) | {'on' if check else 'off'} | "
                         + " | ".join(f"{value:.3f}" for value in figures.values()) + " |")
    return lines


def scl_figures(comparison) -> dict[str, float | None]:
    """The SCL figures of docs/accuracy.md from one comparison (None where the SCL has no such pixel)."""
    from s2cloudmask.inference.classes import CLEAR, CLOUD_SHADOW

    rows_of = {CLEAR: 0, CLOUD_SHADOW: 1}
    matrix = comparison.matrix
    column = {c.key: i for i, c in enumerate(comparison.columns)}

    def share(row: int, key: str) -> float | None:
        total = matrix[:, column[key]].sum()
        return float(matrix[row, column[key]] / total) if total else None

    cloudy = matrix[:, column["cloud"]]
    shadow = comparison.per_class["cloud_shadow"]
    return {"water called shadow": share(rows_of[CLOUD_SHADOW], "water"),
            "dark area called shadow": share(rows_of[CLOUD_SHADOW], "dark_area"),
            "shadow recall": shadow["recall"], "shadow precision": shadow["precision"],
            "clear land kept clear": share(rows_of[CLEAR], "clear"),
            "cloud called cloud": float((cloudy[2] + cloudy[3]) / cloudy.sum()),
            "agreement": comparison.overall_agreement, "kappa": comparison.kappa}


def score_real(work: Path) -> list[str]:
    """The whole real T29UNU product at 60 m against its SCL, per SCL column (speed is `make bench`'s)."""
    from s2cloudmask.inference.comparing.compare import compare_with_scl
    from s2cloudmask.inference.masking.engine import mask_product

    lines = [
        "| shadow check | SCL water called shadow | SCL dark area called shadow | SCL shadow recall | "
        "mask shadow precision | SCL clear land kept clear | SCL cloud (8, 9) called cloud or semi-transparent | "
        "kappa |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for check in (False, True):
        out = work / f"real-{check}.tif"
        mask_product(REAL, out, resolution=60, shadow_check=check, device="cpu")
        figures = scl_figures(compare_with_scl(out, REAL, work / f"real-{check}-diff.tif"))
        cells = [figures[key] for key in ("water called shadow", "dark area called shadow", "shadow recall",
                                          "shadow precision", "clear land kept clear", "cloud called cloud", "kappa")]
        lines.append(f"| {'on' if check else 'off'} | "
                     + " | ".join("n/a (none)" if value is None else f"{value:.3f}" for value in cells)
                     + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the measured section of docs/accuracy.md")
    parser.add_argument("--skip-real", action="store_true", help="leave out the whole real tile (slow on a CPU)")
    parser.add_argument("--skip-composites", action="store_true", help="leave out the composites of a generated series")
    args = parser.parse_args(argv)
    import_plugin_package()
    sections: list[str] = []
    with tempfile.TemporaryDirectory(prefix="s2cloudmask-accuracy-") as folder:
        work = Path(folder)
        sections += ["### Hand-labelled patch (labelled_6band_patch.npz, 512 x 512)", "", *score_patch(work), ""]
        sections += ["### Generated products against the generator's truth", "", *score_generated(work), ""]
        if not args.skip_real and REAL.is_dir():
            sections += ["### Real T29UNU L2A, whole tile at 60 m, against its SCL", "", *score_real(work), "",
                         "The time of each run, with the check on and off, is measured by `make bench` "
                         "(docs/benchmarks.md).", ""]
        if not args.skip_composites:
            from tools.composite_accuracy import score_composites  # needs the plugin package imported above

            sections += ["### Composites of a generated series: this plugin's masks, the SCL, no mask", "",
                         *score_composites(work), ""]
    text = "\n".join(sections)
    print(text)
    if args.write:
        doc = DOC.read_text(encoding="utf-8")
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
