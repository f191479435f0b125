"""`make bench`, batch part: products per hour of the batch runner against a sequential qgis_process loop.

The same generated products (distinct product ids, 18.3 km x 18.3 km each by
default, a 1/36 of a tile) are masked at 10 m on the CPU, each contender in
its own process tree, one after another:

- loop: `qgis_process.bin run s2cloudmask:maskproduct` once per product, as the README's shell loop
  does (a fresh QGIS and a fresh model session for every product);
- runner: `tools/batch.py` with the worker plan it chooses for this machine, then with two single-threaded
  workers, each time including the start and stop of its LocalCluster;
- rerun: the runner again into the first runner's folder, where every product is done (the resume cost).

Results go to stdout and bench-output/batch.json; docs/scale.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "bench-batch"
OUT = REPO / "bench-output"
SYSTEM_PYTHON = "/usr/bin/python3"
QGIS_PROCESS = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"
# The generator names a product after its level and baseline: these give four different product ids.
PRODUCTS = (("L2A", "04.00"), ("L1C", "04.00"), ("L2A", "02.09"), ("L1C", "02.09"))


def ensure_products(size: int) -> Path:
    """The benchmark's products, generated once per size and kept in .cache."""
    sys.path.insert(0, str(REPO))
    from tools.synthetic_product import write_product

    folder = CACHE / f"size-{size}"
    products = folder / "products"
    products.mkdir(parents=True, exist_ok=True)
    for seed, (level, baseline) in enumerate(PRODUCTS):
        if any(products.glob(f"*MSI{level}_*_N{baseline.replace('.', '')}_*.SAFE")):
            continue
        print(f"generating a {size} px {level} product (baseline {baseline})", flush=True)
        made = write_product(folder / "staging", level=level, baseline=baseline, size=size, seed=seed, extras=False)
        made.rename(products / made.name)
    return products


def qgis_env(root: Path) -> dict[str, str]:
    """A throw-away QGIS settings folder with the plugin installed, as a server user's profile holds it."""
    settings = root / "settings"
    subprocess.run([SYSTEM_PYTHON, str(REPO / "tools" / "install_plugin.py"), "--settings-dir", str(settings)],
                   check=True, capture_output=True, text=True, cwd=root)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "QGIS_"))}
    env.update(QGIS_CUSTOM_CONFIG_PATH=str(settings), HOME=str(root), QT_QPA_PLATFORM="offscreen")
    return env


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    return time.perf_counter() - started, done


def run_loop(products: list[Path], out: Path, env: dict[str, str]) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    times, failures = [], []
    for product in products:
        took, done = timed([QGIS_PROCESS, "run", "s2cloudmask:maskproduct", "--", f"INPUT={product}",
                            f"OUTPUT={out / (product.stem + '_cloudmask.tif')}", "DEVICE=cpu", "RESOLUTION=10"], env)
        times.append(round(took, 2))
        if done.returncode != 0:
            failures.append(f"{product.name}: {done.stderr.strip()[-300:]}")
    return {"seconds": round(sum(times), 1), "product_seconds": times, "failures": failures}


def run_runner(products: Path, out: Path, *options: str) -> dict:
    took, done = timed([SYSTEM_PYTHON, str(REPO / "tools" / "batch.py"), str(products), str(out), "--no-compare",
                        "--device", "cpu", "--resolution", "10", *options])
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    workers = summary.get("workers") or {}
    return {"seconds": round(took, 1), "totals": summary.get("totals", {}), "returncode": done.returncode,
            "workers": f"{workers.get('workers')} x {workers.get('threads')}" if workers else "none started",
            "product_seconds": [row["seconds"] for row in summary.get("products", [])],
            "stderr": done.stderr.strip()[-300:] if done.returncode else ""}


def per_hour(count: int, seconds: float) -> float:
    return round(3600.0 * count / seconds, 1) if seconds else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1830, help="product side in 10 m pixels (10980: a full tile)")
    args = parser.parse_args()

    products_folder = ensure_products(args.size)
    products = sorted(products_folder.glob("*.SAFE"))
    target = OUT / "batch"
    shutil.rmtree(target, ignore_errors=True)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as root:
        loop = run_loop(products, target / "loop", qgis_env(Path(root)))
    runner = run_runner(products_folder, target / "runner")
    two = run_runner(products_folder, target / "runner-2x1", "--workers", "2", "--threads", "1")
    rerun = run_runner(products_folder, target / "runner")
    n = len(products)
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, CPU",
        "load_average_before": [round(x, 1) for x in load_before],
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
        "products": n,
        "product_size_px": args.size,
        "contenders": {
            "qgis_process loop": {**loop, "per_hour": per_hour(n, loop["seconds"])},
            f"runner, its own plan ({runner['workers']})": {**runner, "per_hour": per_hour(n, runner["seconds"])},
            f"runner, {two['workers']} workers x threads": {**two, "per_hour": per_hour(n, two["seconds"])},
            "runner rerun, all done": {**rerun, "per_hour": None},
        },
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "batch.json").write_text(json.dumps(results, indent=2))
    print(f"\n{n} products of {args.size} x {args.size} px at 10 m, CPU; load average before "
          f"{results['load_average_before']}, after {results['load_average_after']}")
    print("| contender | wall time (s) | products per hour | loop time / this |\n|---|---|---|---|")
    for name, figures in results["contenders"].items():
        rate = figures["per_hour"] if figures["per_hour"] is not None else "n/a"
        print(f"| {name} | {figures['seconds']} | {rate} | {loop['seconds'] / figures['seconds']:.2f} |")
    broken = [name for name, f in results["contenders"].items() if f.get("failures") or f.get("returncode")]
    if broken:
        print(f"failed: {broken}; see bench-output/batch.json")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
