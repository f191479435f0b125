"""Seeded mutations of the real metadata files: every outcome is a clean ProductError or a sound parse.

Each case mutates one real MTD_MSIL1C / MTD_MSIL2A / MTD_TL file (../shared/data/sentinel2/metadata and the
real T29UNU product's two) in a few places, the way damage, hand edits and broken tools change them:
numbers replaced by nan, inf, 1e-300, 1e309, huge or non-ASCII digits; elements dropped, doubled or renamed;
attributes changed; bytes flipped; the file cut short. The parser must then either raise ProductError (whose
message names the file) or return metadata whose every number is finite and believable. Any other exception,
or a case that does not finish within a few seconds, fails with the seed that reproduces it.

`make test` runs a few hundred cases (CASES_PER_FILE per file). For a long run set S2CLOUDMASK_FUZZ_CASES,
e.g. `S2CLOUDMASK_FUZZ_CASES=2000 make test-engine PYTEST_ARGS="-k fuzz"` (2000 cases per file), and
S2CLOUDMASK_FUZZ_SEED to start from another seed; with S2CLOUDMASK_FUZZ_CASES set, mutated copies of the
real product (its two MTD files with the real 60 m bands) are also opened whole with `open_product`.
"""

from __future__ import annotations

import math
import os
import random
import re
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from s2cloudmask.inference.errors import ProductError
from s2cloudmask.inference.reading.metadata import (
    BAND_IDS,
    COORDINATE_LIMIT,
    DN_RANGE,
    MAX_TILE_PIXELS,
    OFFSET_LIMIT,
    PIXEL_SIZE_LIMIT,
    QUANTIFICATION_RANGE,
    ProductMetadata,
    TileMetadata,
    parse_metadata,
)

CASES_PER_FILE = 15
CASES = int(os.environ.get("S2CLOUDMASK_FUZZ_CASES", CASES_PER_FILE))
FIRST_SEED = int(os.environ.get("S2CLOUDMASK_FUZZ_SEED", "0"))
LONG_RUN = "S2CLOUDMASK_FUZZ_CASES" in os.environ
HANG_SECONDS = 10

SENTINEL2 = Path(__file__).resolve().parents[1] / "data" / "sentinel2"  # tests/data: every clone has it
METADATA = SENTINEL2 / "metadata"
PRODUCT = SENTINEL2 / "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"
PRODUCT_TL = PRODUCT / "GRANULE" / "L2A_T29UNU_A038058_20221005T115407" / "MTD_TL.xml"
CORPUS = sorted(METADATA.glob("*.xml")) + [PRODUCT / "MTD_MSIL2A.xml", PRODUCT_TL]

# What damage puts where a number belongs.
BAD_NUMBERS = (
    "nan", "NaN", "inf", "-inf", "Infinity", "1e-300", "1e309", "-1e309", "0", "-0", "-1", "0.5", "65536",
    "1e18", "9" * 400, "", " ", "abc", "0x10", "1_000", "١٠٠٠٠", "²", "10000.0.0", "1e", "--5", "+7",
)
BAD_ATTRIBUTES = ("", "-1", "99", "13", "nan", "1e3", "²", "٣", "10.0", "9" * 30, "B02")
_LEAF = re.compile(rb"<(?P<tag>[A-Za-z_][\w.:-]*)(?P<attrs>[^<>]*)>(?P<text>[^<>]*)</(?P=tag)>")
_ATTRIBUTE = re.compile(rb'(?P<name>[\w:]+)="(?P<value>[^"]*)"')
_ELEMENT = re.compile(rb"<(?P<tag>[A-Za-z_][\w.:-]*)[^<>]*>.*?</(?P=tag)>", re.DOTALL)


# --------------------------------------------------------------------------- mutations


def _pick(pattern: re.Pattern, data: bytes, rng: random.Random) -> re.Match | None:
    matches = list(pattern.finditer(data))
    return rng.choice(matches) if matches else None


def _numeric_leaves(data: bytes) -> list[re.Match]:
    return [m for m in _LEAF.finditer(data) if re.fullmatch(rb"\s*-?[\d.eE+-]+\s*", m.group("text"))]


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    """Apply one to three random mutations; return the result and a description of each."""
    done: list[str] = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(("number", "number", "number", "text", "drop", "double", "rename", "attribute",
                           "flip", "truncate", "entity"))
        if kind == "number":
            leaves = _numeric_leaves(data)
            if not leaves:
                continue
            leaf, value = rng.choice(leaves), rng.choice(BAD_NUMBERS).encode()
            data = data[: leaf.start("text")] + value + data[leaf.end("text"):]
            done.append(f"{leaf.group('tag').decode()} = {value.decode()!r}")
        elif kind == "text":
            leaf = _pick(_LEAF, data, rng)
            if leaf is None:
                continue
            value = rng.choice(BAD_NUMBERS + ("S2Z_MSIL9Z", "T99ZZZ", "2022-13-45T25:61:61.000Z", "EPSG:0")).encode()
            data = data[: leaf.start("text")] + value + data[leaf.end("text"):]
            done.append(f"text of {leaf.group('tag').decode()} = {value.decode()!r}")
        elif kind in ("drop", "double"):
            element = _pick(_ELEMENT, data, rng)
            if element is None:
                continue
            whole = element.group(0)
            data = data[: element.start()] + (b"" if kind == "drop" else whole + whole) + data[element.end():]
            done.append(f"{kind} <{element.group('tag').decode()}>")
        elif kind == "rename":
            leaf = _pick(_LEAF, data, rng)
            if leaf is None:
                continue
            tag = leaf.group("tag")
            new = tag[:-1] + b"X"
            replacement = b"<" + new + leaf.group("attrs") + b">" + leaf.group("text") + b"</" + new + b">"
            data = data[: leaf.start()] + replacement + data[leaf.end():]
            done.append(f"rename <{tag.decode()}>")
        elif kind == "attribute":
            attribute = _pick(_ATTRIBUTE, data, rng)
            if attribute is None:
                continue
            value = rng.choice(BAD_ATTRIBUTES).encode()
            data = data[: attribute.start("value")] + value + data[attribute.end("value"):]
            done.append(f"attribute {attribute.group('name').decode()} = {value.decode()!r}")
        elif kind == "flip":
            position = rng.randrange(len(data))
            data = data[:position] + bytes([rng.randrange(256)]) + data[position + 1:]
            done.append(f"byte {position}")
        elif kind == "truncate":
            position = rng.randrange(len(data))
            data = data[:position]
            done.append(f"cut at {position}")
        elif kind == "entity":
            leaf = _pick(_LEAF, data, rng)
            if leaf is None:
                continue
            data = data[: leaf.start("text")] + b"&undefined;" + data[leaf.end("text"):]
            done.append(f"undefined entity in {leaf.group('tag').decode()}")
    return data, done


# --------------------------------------------------------------------------- what a sound parse is


def check_sound(parsed: ProductMetadata | TileMetadata) -> None:
    """Every number that reaches the radiometry or the geometry is finite and believable."""
    if isinstance(parsed, ProductMetadata):
        assert parsed.level in ("L1C", "L2A")
        assert math.isfinite(parsed.quantification)
        assert QUANTIFICATION_RANGE[0] <= parsed.quantification <= QUANTIFICATION_RANGE[1]
        assert sorted(parsed.offsets) == sorted(BAND_IDS)
        assert all(math.isfinite(v) and abs(v) <= OFFSET_LIMIT for v in parsed.offsets.values())
        assert all(isinstance(v, int) and DN_RANGE[0] <= v <= DN_RANGE[1] for v in parsed.special_values.values())
        assert isinstance(parsed.sensing_time, datetime) and parsed.sensing_time.tzinfo is not None
    else:
        assert parsed.sizes and set(parsed.sizes) == set(parsed.geopositions)
        assert re.fullmatch(r"EPSG:\d+", parsed.crs)
        for resolution, (rows, cols) in parsed.sizes.items():
            assert 1 <= rows <= MAX_TILE_PIXELS and 1 <= cols <= MAX_TILE_PIXELS
            ulx, uly, xdim, ydim = parsed.geopositions[resolution]
            assert all(math.isfinite(v) for v in (ulx, uly, xdim, ydim))
            assert abs(ulx) <= COORDINATE_LIMIT and abs(uly) <= COORDINATE_LIMIT
            assert 0 < xdim <= PIXEL_SIZE_LIMIT and -PIXEL_SIZE_LIMIT <= ydim < 0
            parsed.transform(resolution)  # builds
        assert all(mask.band is None or mask.band in BAND_IDS for mask in parsed.masks)


class Hang(Exception):
    pass


@contextmanager
def hang_guard(seconds: int) -> Iterator[None]:
    """Fail a case that does not finish (a hang), rather than letting the whole run stall."""

    def alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def outcome(data: bytes, source: str) -> str:
    """'error' or 'parsed'; anything else raises (and fails the test)."""
    with hang_guard(HANG_SECONDS):
        try:
            parsed = parse_metadata(data, source)
        except ProductError as exc:
            assert source in str(exc), f"the message does not name the file: {exc}"
            return "error"
    check_sound(parsed)
    return "parsed"


# --------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def corpus() -> list[Path]:
    assert len(CORPUS) == 20  # the 18 metadata files and the crop's two
    return CORPUS


@pytest.mark.parametrize("path", CORPUS, ids=[p.name if p.parent == METADATA else f"product-{p.name}" for p in CORPUS])
def test_mutated_metadata_gives_a_clean_error_or_a_sound_parse(corpus, path: Path):
    original = path.read_bytes()
    assert outcome(original, path.name) == "parsed"
    tally = {"error": 0, "parsed": 0}
    for case in range(CASES):
        seed = FIRST_SEED + case * 7919 + sum(path.name.encode())
        rng = random.Random(seed)
        mutated, mutations = mutate(original, rng)
        try:
            tally[outcome(mutated, path.name)] += 1
        except Exception as exc:  # noqa: BLE001 - report every unexpected kind with its seed
            pytest.fail(f"{path.name}, seed {seed}, mutations {mutations}: {type(exc).__name__}: {exc}")
    assert tally["error"] + tally["parsed"] == CASES


def test_the_mutations_reach_the_numbers_that_matter(corpus):
    """The harness itself: its mutations put non-finite and absurd values where the radiometry reads."""
    text = PRODUCT.joinpath("MTD_MSIL2A.xml").read_bytes()
    touched = set()
    for seed in range(300):
        _, mutations = mutate(text, random.Random(seed))
        touched.update(m.split(" = ")[0] for m in mutations if " = " in m)
    assert {"BOA_QUANTIFICATION_VALUE", "BOA_ADD_OFFSET", "SPECIAL_VALUE_INDEX"} <= touched


@pytest.mark.skipif(not LONG_RUN, reason="the whole-product fuzz runs with S2CLOUDMASK_FUZZ_CASES set")
def test_mutated_real_product_opens_or_fails_cleanly(real_l2a: Path, tmp_path: Path):
    from s2cloudmask.inference.reading.product import open_product
    from safe_builders import make_mini_safe

    safe = make_mini_safe(real_l2a, tmp_path, bands=("B02", "B04"))
    files = [safe / "MTD_MSIL2A.xml", next(safe.glob("GRANULE/*/MTD_TL.xml"))]
    originals = {path: path.read_bytes() for path in files}
    for case in range(max(1, CASES // 10)):
        seed = FIRST_SEED + case
        rng = random.Random(seed)
        target = rng.choice(files)
        mutated, mutations = mutate(originals[target], rng)
        target.write_bytes(mutated)
        try:
            with hang_guard(HANG_SECONDS):
                product = open_product(safe)
            assert all(math.isfinite(v) for v in product.offsets.values())
            assert all(g.width > 0 and g.height > 0 for g in product.grids.values())
        except ProductError:
            pass
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"{target.name}, seed {seed}, mutations {mutations}: {type(exc).__name__}: {exc}")
        finally:
            target.write_bytes(originals[target])
    shutil.rmtree(safe)
