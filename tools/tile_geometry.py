"""Tile geometries judged by accuracy: `make bench-levers` (tools/bench_levers.py), or alone with --only-geometry.

The DLR U-Nets pool over the whole tile (squeeze-and-excitation), so a pixel's
class depends on where the tiles lie, and agreement with one geometry's mask
cannot judge another. This scores every geometry on what has labels, exactly
as docs/accuracy.md does:

- the hand-labelled patch (cloud and shadow IoU; the L2A model, no shadow check);
- generated L1C and L2A products against the generator's truth (cloud and shadow IoU, 20 m);
- the whole real T29UNU product at 60 m against its SCL (agreement, kappa, SCL water called
  shadow, SCL clear land kept clear, shadow recall and precision).

Each geometry runs with its extent's upper-left corner moved by each of SHIFTS
model pixels (the tiles move with it), and every figure is counted on the part
all shifts share: the median over the shifts is the geometry's figure, and the
spread over the shifts is the noise a user meets by choosing another extent.
A geometry reaches the engine as a user's model would: the built-in model with
a side-car card that says the tile size, overlap and fitting, and a session
with free rows and columns.

Results are kept per run in bench-output/tile-geometry-<shifts>.json, so an
interrupted run resumes where it stopped (delete the file to measure again
after a change to the engine or the models).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from s2cloudmask.inference.masking.model_card import CSMASK_OVERLAP  # the caller made the checkout importable

REPO = Path(__file__).resolve().parent.parent
SIZES = (256, 384, 512)
OVERLAPS = (0.10, 0.15, 0.20, 0.25)
# Model-grid (30 m) pixels the extent moves: even (the 20 m and 60 m output grids stay aligned) and not multiples
# of 32, the encoder's stride: tiles moved by a multiple of it see the same pixels at the same phase and give
# nearly the same answer, which would hide how much the answer hangs on where the tiles lie.
SHIFTS = (0, 10, 26, 46)
MULTIPLE = 32  # the U-Net halves its input five times
FULL_TILE_MODEL_PIXELS = 3660  # a 10980 x 10980 tile on the 30 m model grid
GENERATED = (("L1C", 3), ("L2A", 5))  # (level, seed), as docs/accuracy.md
GENERATED_SIZE = 2400  # 10 m pixels: 24 km, 800 px on the model grid
PATCH_SIZE = 512
HIGHER_IS_BETTER = {"water called shadow": False}
# Figures are counted on the part every shift covers, so a set of shifts has its own results file.
RESULTS = REPO / "bench-output" / f"tile-geometry-{'-'.join(map(str, SHIFTS))}.json"


@dataclass(frozen=True)
class Geometry:
    size: int
    overlap: float
    fitted: bool

    @property
    def key(self) -> str:
        return f"{self.size}-{round(self.overlap * 100)}-{'fitted' if self.fitted else 'fixed'}"

    @property
    def label(self) -> str:
        return f"{'fitted <= ' if self.fitted else ''}{self.size} px, {round(self.overlap * 100)} %"

    def tiling(self):
        from s2cloudmask.inference.masking.model_card import Tiling

        return Tiling(self.size, int(self.size * self.overlap), MULTIPLE) if self.fitted else None

    def axis(self, length: int):
        from s2cloudmask.inference.masking.tiling import TileGrid

        if self.fitted:
            return TileGrid.fitted(self.size, int(self.size * self.overlap), length, MULTIPLE)
        return TileGrid.for_overlap(self.size, self.overlap, length)

    def layouts(self, length: int) -> tuple:
        """Where the tiles lie along an axis of `length` model pixels at every shift: equal layouts, equal masks."""
        return tuple(self.axis(length - shift) for shift in SHIFTS)

    def model_pixels(self, length: int = FULL_TILE_MODEL_PIXELS) -> int:
        """Pixels through the model for a square image of `length` pixels when every tile runs."""
        axis = self.axis(length)
        return (axis.count * axis.size) ** 2


CSMASK = Geometry(256, CSMASK_OVERLAP, False)  # ukis-csmask's own geometry, the engine's until this measurement


def default_geometry() -> Geometry:
    """The geometry the built-in cards give the engine now."""
    from s2cloudmask.inference.masking.model_card import builtin_card

    card = builtin_card("L2A", ["B02", "B03", "B04", "B8A", "B11", "B12"])
    if card.tiling:
        return Geometry(card.tiling.max_tile, card.tiling.margin / card.tiling.max_tile, True)
    return Geometry(card.tile_size, card.overlap, False)


def all_geometries() -> list[Geometry]:
    """Every size, overlap and fitting; CSmask's first, then the cheapest: the order they run in."""
    return sorted((Geometry(size, overlap, fitted) for size in SIZES for overlap in OVERLAPS for fitted in (False, True)),
                  key=lambda geometry: (geometry != CSMASK, geometry.model_pixels(), geometry.key))


class Runs:
    """Figures per (input, geometry, shift), kept on disk as they arrive."""

    def __init__(self, path: Path = RESULTS):
        self.path = path
        self.data: dict[str, dict] = json.loads(path.read_text()) if path.exists() else {}

    def get(self, key: str, compute, same_as: str | None = None) -> dict:
        """The figures of run `key`: kept, taken from the run `same_as` (the same tiles), or computed now."""
        if key not in self.data and same_as is not None and same_as in self.data:
            self.data[key] = {**self.data[same_as], "same_as": same_as}
        if key not in self.data:
            started = time.perf_counter()
            figures = compute()
            self.data[key] = {"figures": figures, "seconds": round(time.perf_counter() - started, 1),
                              "load": round(os.getloadavg()[0], 1)}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.data, indent=1))
            print(f"  {key}: {figures}", flush=True)
        return self.data[key]["figures"]


class GeometryModels:
    """The built-in model under a side-car card per geometry, and one session per model with free rows and columns."""

    def __init__(self, folder: Path):
        from s2cloudmask.inference.masking.session import SessionCache

        self.folder = folder
        self.sessions = SessionCache()

    def model(self, level: str, bands: list[str], geometry: Geometry) -> Path:
        from s2cloudmask.inference.masking.model_card import builtin_card
        from tools.sidecar_model import model_with_card

        card = builtin_card(level, bands)
        return model_with_card(replace(card, tile_size=geometry.size, overlap=geometry.overlap,
                                       tiling=geometry.tiling()),
                               self.folder, f"{Path(card.model_path).stem}-{geometry.key}.onnx")

    def open_session(self, model_path, device="auto", threads=0, feedback=None, free_spatial=False):
        return self.sessions(model_path, device, threads, feedback, free_spatial=True)


def _shifted_extent(bounds, shift: int) -> tuple[float, float, float, float]:
    """Bounds with the upper-left corner moved right and down by `shift` model pixels (30 m)."""
    xmin, ymin, xmax, ymax = bounds
    return xmin + 30.0 * shift, ymin, xmax, ymax - 30.0 * shift


def _common(array, shift: int, pixel_m: float):
    """The part of an image that starts `shift` model pixels into the whole which every shift covers."""
    skip = round((max(SHIFTS) - shift) * 30.0 / pixel_m)
    return array[skip:, skip:]


def score_patch(runs: Runs, models: GeometryModels, geometry: Geometry, work: Path,
                same_as: Geometry | None = None) -> list[dict]:
    """The hand-labelled patch, cut `shift` pixels short at its top and left (no georeference, no angles)."""
    import numpy as np
    import rasterio
    from accuracy import PATCH, patch_scores, patch_truth
    from affine import Affine
    from s2cloudmask.inference.grid import Grid
    from s2cloudmask.inference.masking.engine import batch_size, run_mask
    from s2cloudmask.inference.masking.model_card import load_card
    from s2cloudmask.inference.reading.sources import ArraySource

    def compute(shift: int) -> dict:
        with np.load(PATCH) as patch:
            image = np.moveaxis(patch["img"], -1, 0)[:, shift:, shift:].astype(np.float32)
            truth = patch_truth(patch["msk"][..., 0])
        grid = Grid("EPSG:32629", Affine(30.0, 0, 500000.0, 0, -30.0, 6000000.0), image.shape[2], image.shape[1])
        model = models.model("L2A", ["B02", "B03", "B04", "B8A", "B11", "B12"], geometry)
        card = load_card(model)
        session, _ = models.open_session(model, "cpu")
        run_mask(ArraySource(image, card.band_names, grid), grid, card, session, work / "patch.tif",
                 tiling=card.tiling, batch_size=batch_size("CPU", card, card.tiling))
        with rasterio.open(work / "patch.tif") as dataset:
            mask = dataset.read(1)
        return patch_scores(_common(mask, shift, 30.0), _common(truth, 0, 30.0))

    return [runs.get(f"patch/{geometry.key}/{shift}", lambda shift=shift: compute(shift),
                     same_as and f"patch/{same_as.key}/{shift}") for shift in SHIFTS]


def score_product(runs: Runs, models: GeometryModels, geometry: Geometry, name: str, product: Path,
                  resolution: int, shadow_check: bool, work: Path, score, same_as: Geometry | None = None) -> list[dict]:
    """A product masked with the extent shifted; score(mask path cropped to the common part) -> figures."""
    import rasterio
    from rasterio.windows import Window
    from s2cloudmask.inference.masking.engine import mask_product
    from s2cloudmask.inference.reading.product import open_product

    opened = open_product(product)

    def compute(shift: int) -> dict:
        extent = _shifted_extent(opened.grids[10].bounds, shift)
        model = models.model(opened.level, opened.bands, geometry)
        mask_product(opened, work / "mask.tif", model=model, resolution=resolution, extent=extent, device="cpu",
                     shadow_check=shadow_check, open_session=models.open_session)
        skip = round((max(SHIFTS) - shift) * 30.0 / resolution)
        with rasterio.open(work / "mask.tif") as dataset:
            window = Window(skip, skip, dataset.width - skip, dataset.height - skip)
            profile = {**dataset.profile, "width": window.width, "height": window.height,
                       "transform": dataset.window_transform(window)}
            with rasterio.open(work / "common.tif", "w", **profile) as common:
                common.write(dataset.read(1, window=window), 1)
        return score(work / "common.tif")

    def key(of: Geometry) -> str:
        return f"{name}/{'check' if shadow_check else 'no check'}/{of.key}"

    return [runs.get(f"{key(geometry)}/{shift}", lambda shift=shift: compute(shift),
                     same_as and f"{key(same_as)}/{shift}") for shift in SHIFTS]


def generated_score(product: Path):
    """Figures of a mask (20 m, cropped to the common part) against the generator's truth."""
    import rasterio
    from accuracy import generated_scores, truth_at

    skip = round(max(SHIFTS) * 30.0 / 20)
    truth = truth_at(product, 20)[skip:, skip:]

    def score(mask_path: Path) -> dict:
        with rasterio.open(mask_path) as dataset:
            return generated_scores(dataset.read(1), truth)

    return score


def scl_score(product: Path, work: Path):
    from accuracy import scl_figures
    from s2cloudmask.inference.comparing.compare import compare_with_scl

    def score(mask_path: Path) -> dict:
        return scl_figures(compare_with_scl(mask_path, product, work / "difference.tif"))

    return score


def inference_cost(sizes=SIZES, rounds: int = 3) -> dict[str, float]:
    """CPU seconds per megapixel through the model, per tile size and batch (one thread, free rows and columns):
    each (size, batch) in turn, round after round, the median of the rounds.

    CPU time (user + sys) of the session calls, not wall time: it hardly depends on what else the machine runs,
    and only its ratios between geometries reach the table.
    """
    import resource

    import numpy as np
    from s2cloudmask.inference.masking.engine import CPU_BATCH_SIZE
    from s2cloudmask.inference.masking.model_card import builtin_card
    from s2cloudmask.inference.masking.session import create_session

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    card = builtin_card("L1C", ["B02", "B03", "B04", "B08", "B11", "B12"])
    session, _ = create_session(card.model_path, "cpu", 1, free_spatial=True)
    rng = np.random.default_rng(0)
    inputs = {f"{size}/{CPU_BATCH_SIZE}": rng.normal(size=(CPU_BATCH_SIZE, len(card.bands), size, size))
              .astype(np.float32) for size in sizes}
    for tiles in inputs.values():
        session.run(None, {"input": tiles})  # the first call of a shape allocates
    cost: dict[str, list[float]] = {key: [] for key in inputs}
    for _ in range(rounds):  # interleaved, so that a change in the load touches every shape alike
        for key, tiles in inputs.items():
            calls = max(1, 4 // len(tiles))
            started = cpu()
            for _ in range(calls):
                session.run(None, {"input": tiles})
            cost[key].append((cpu() - started) / (calls * tiles.size / len(card.bands) / 1e6))
    return {key: statistics.median(values) for key, values in cost.items()}


COLUMNS = (  # (source, figure) shown in the table
    ("patch", "cloud IoU"), ("patch", "shadow IoU"),
    ("generated L1C", "cloud IoU"), ("generated L1C", "shadow IoU"),
    ("generated L2A", "cloud IoU"), ("generated L2A", "shadow IoU"),
    ("T29UNU", "agreement"), ("T29UNU", "kappa"), ("T29UNU", "water called shadow"),
    ("T29UNU", "clear land kept clear"),
)


def measure(geometries: list[Geometry], shadow_check: bool, runs: Runs) -> dict[str, dict[tuple[str, str], list]]:
    """Every figure of every geometry at every shift: {geometry key: {(source, figure): [one value per shift]}}."""
    from accuracy import REAL
    from s2cloudmask.tools.synthetic_product import write_product

    work = Path(tempfile.mkdtemp(prefix="s2cloudmask-geometry-"))
    models = GeometryModels(work)
    products = {}
    for level, seed in GENERATED:
        folder = REPO / ".cache" / "bench" / f"generated-{level}-{seed}-{GENERATED_SIZE}"
        existing = sorted(folder.glob("*.SAFE"))
        products[level] = existing[0] if existing else Path(
            write_product(folder, level=level, size=GENERATED_SIZE, seed=seed))
    sources: dict[str, dict[str, list[dict]]] = {geometry.key: {} for geometry in geometries}
    seen: dict[tuple, Geometry] = {}

    def same_tiles(geometry: Geometry, length: int) -> Geometry | None:
        """An earlier geometry that lays exactly the same tiles on this input (an image of `length` px), if any."""
        first = seen.setdefault(geometry.layouts(length), geometry)
        return None if first == geometry else first

    for geometry in geometries:  # the quick inputs first, so that a stopped run has the whole table for them
        print(f"{geometry.label}:", flush=True)
        sources[geometry.key]["patch"] = score_patch(runs, models, geometry, work, same_tiles(geometry, PATCH_SIZE))
        for level, product in products.items():
            sources[geometry.key][f"generated {level}"] = score_product(
                runs, models, geometry, f"generated {level}", product, 20, shadow_check, work,
                generated_score(product), same_tiles(geometry, GENERATED_SIZE // 3))
    # The whole real tile takes minutes per run, and a geometry must be within noise on every figure to be chosen:
    # it runs for CSmask's geometry and for the cheaper ones that the quick inputs leave within noise of it.
    quick = _figures(sources)
    margin = noise(quick)
    contenders = [g for g in geometries if g == CSMASK or (g.model_pixels() <= CSMASK.model_pixels()
                                                           and within_noise(quick[g.key], quick[CSMASK.key], margin))]
    for geometry in contenders if REAL.is_dir() else ():
        print(f"{geometry.label}, T29UNU:", flush=True)
        sources[geometry.key]["T29UNU"] = score_product(runs, models, geometry, "T29UNU", REAL, 60, shadow_check,
                                                        work, scl_score(REAL, work),
                                                        same_tiles(geometry, FULL_TILE_MODEL_PIXELS))
    return _figures(sources)


def _figures(sources: dict[str, dict[str, list[dict]]]) -> dict[str, dict[tuple[str, str], list]]:
    """{geometry key: {source: [figures per shift]}} -> {geometry key: {(source, figure): [value per shift]}}."""
    return {key: {(source, name): [shift[name] for shift in shifts]
                  for source, shifts in per_source.items() for name in shifts[0]}
            for key, per_source in sources.items()}


def noise(figures: dict[str, dict[tuple[str, str], list]]) -> dict[tuple[str, str], float]:
    """Per figure: the larger of CSmask's spread over the shifts and the median spread over all geometries."""
    spreads: dict[tuple[str, str], list[float]] = {}
    for per_figure in figures.values():
        for column, values in per_figure.items():
            if None not in values:
                spreads.setdefault(column, []).append(max(values) - min(values))
    reference = figures[CSMASK.key]
    return {column: max(statistics.median(values), max(reference[column]) - min(reference[column]))
            for column, values in spreads.items()}


def within_noise(per_figure: dict, reference: dict, margin: dict) -> bool:
    """No figure of the table worse than the reference's by more than its noise (medians over the shifts)."""
    for column in COLUMNS:
        if column not in per_figure:
            continue
        now, before = statistics.median(per_figure[column]), statistics.median(reference[column])
        better_high = HIGHER_IS_BETTER.get(column[1], True)
        if (before - now if better_high else now - before) > margin[column]:
            return False
    return True


def table(geometries: list[Geometry], figures: dict, cost: dict[str, float], shadow_check: bool) -> tuple[list[str], Geometry]:
    """The Markdown table and the fastest geometry within noise of CSmask's."""
    from s2cloudmask.inference.masking.engine import CPU_BATCH_SIZE

    def cpu(geometry: Geometry) -> float:
        size = geometry.axis(FULL_TILE_MODEL_PIXELS).size
        return geometry.model_pixels() * cost[f"{size}/{CPU_BATCH_SIZE}"]

    margin = noise(figures)
    reference = figures[CSMASK.key]
    default = default_geometry()
    shown = [column for column in COLUMNS if column in reference]
    header = ["geometry", "model px per image px (full tile)", "inference CPU / CSmask's"]
    header += [f"{source}: {name}" for source, name in shown] + ["within noise"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    ok = []
    for geometry in sorted(geometries, key=cpu):
        per_figure = figures[geometry.key]
        good = within_noise(per_figure, reference, margin)
        complete = all(column in per_figure for column in shown)
        if good and complete:
            ok.append(geometry)
        marks = [mark for mark, who in (("CSmask's", CSMASK), ("the default", default)) if geometry == who]
        cells = [geometry.label + (f" ({', '.join(marks)})" if marks else ""),
                 f"{geometry.model_pixels() / FULL_TILE_MODEL_PIXELS ** 2:.2f}", f"{cpu(geometry) / cpu(CSMASK):.2f}"]
        cells += [f"{statistics.median(per_figure[column]):.3f}" if column in per_figure else "-" for column in shown]
        if complete:
            verdict = "yes" if good else "no"
        else:
            verdict = "no (not run on T29UNU: already outside the noise above)" if not good else \
                "not judged (not run on T29UNU: more model pixels than CSmask's)"
        lines.append("| " + " | ".join(cells + [verdict]) + " |")
    lines.append("| noise: spread over the shifts (larger of CSmask's and the median geometry's) | | | "
                 + " | ".join(f"{margin[column]:.3f}" for column in shown) + " | |")
    return lines, min(ok, key=cpu)


def geometry_section(shadow_check: bool = True, geometries: list[Geometry] | None = None) -> tuple[list[str], Geometry]:
    """Measure (or take from bench-output/tile-geometry.json) and tabulate; returns the lines and the choice."""
    geometries = geometries or all_geometries()
    runs = Runs()
    figures = measure(geometries, shadow_check, runs)
    sizes = sorted({geometry.axis(FULL_TILE_MODEL_PIXELS).size for geometry in geometries})
    cost = inference_cost(sizes)
    lines, best = table(geometries, figures, cost, shadow_check)
    loads = [entry["load"] for entry in runs.data.values()]
    intro = [
        f"Each figure is the median over the extent shifted by {', '.join(map(str, SHIFTS))} model pixels "
        "(30 m), counted on the part all shifts share; the noise row is the spread of the figures over those "
        f"shifts. Products with the cloud-shadow check {'on' if shadow_check else 'off'}; the patch without "
        "(it has no sun angles). Inference CPU: model pixels on a full tile times the CPU seconds per megapixel "
        "of the tile size and batch (one onnxruntime thread, the shapes interleaved, medians of 3 rounds), as a "
        "ratio to CSmask's geometry. "
        f"Accuracy does not depend on the load (load average {min(loads):.1f}-{max(loads):.1f} during the runs).",
        "",
    ]
    pair = list(dict.fromkeys([CSMASK, best]))
    other, _ = table(pair, measure(pair, not shadow_check, runs), cost, not shadow_check)
    return intro + lines + [
        "", f"Fastest geometry within noise of CSmask's: {best.label}.", "",
        f"The same choice with the products' shadow check {'off' if shadow_check else 'on'} (noise from these "
        "geometries alone):", "", *other,
    ], best
