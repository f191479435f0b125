"""`make bench-revisions REVS="rev1 rev2 ..."`: the engine at several git revisions, side by side with CSmask.

Answers "what did this change give?" the way tools/bench.py measures: on the
full-size generated L1C (10980 x 10980, made once by tools/bench.py), each
revision's engine end to end at 10 m with the shadow check off, in its own
process started from that revision's checkout (a git worktree under
.cache/revisions, the plugin's packages linked from this checkout), and CSmask
with its own reading, interleaved round by round so that a busy machine slows
them alike. Prints, per revision, the medians of wall time, CPU time and peak
RSS, each round's ratio to CSmask plus its reading, and whether its mask is
pixel for pixel the last revision's (a lever that should keep the mask must).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tools.bench import SYSTEM_PYTHON, ensure_full_tile, run_child  # noqa: E402
from tools.plugin_package import import_plugin_package  # noqa: E402

TREES = REPO / ".cache" / "revisions"
OUT = REPO / "bench-output" / "revisions"
LINKED = (".deps", ".cache/bench")  # installed packages and the generated tile, shared with this checkout


def checkout(revision: str) -> Path:
    """A worktree of `revision` (kept for the next run), with this checkout's packages and tile linked in."""
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", f"{revision}^{{commit}}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    tree = TREES / commit[:12]
    if not tree.is_dir():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), commit], check=True,
                       capture_output=True)
    for name in LINKED:
        link = tree / name
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to((REPO / name).resolve(), target_is_directory=True)
    return tree


def same_mask(first: Path, second: Path) -> bool:
    import numpy as np
    import rasterio

    with rasterio.open(first) as a, rasterio.open(second) as b:
        return bool(np.array_equal(a.read(1), b.read(1)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="+", help="git revisions, oldest first (HEAD, a commit, a branch)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import_plugin_package()
    product = ensure_full_tile()
    trees = {revision: checkout(revision) for revision in args.revisions}
    OUT.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict]] = {revision: [] for revision in trees}
    reference: list[float] = []
    for round_ in range(1, args.rounds + 1):
        for revision, tree in trees.items():
            runs[revision].append(run_child(SYSTEM_PYTHON, "engine", script=tree / "tools" / "bench.py",
                                            product=product, output=OUT / f"{tree.name}.tif", no_check=True))
        csmask = run_child(SYSTEM_PYTHON, "csmask", product=product, output=OUT / "csmask.npy", level="L1C")
        reference.append(csmask["seconds"] + csmask["read_seconds"])
        print(f"round {round_}: " + ", ".join(f"{revision} {runs[revision][-1]['seconds']:.1f} s" for revision in trees)
              + f", CSmask + its reading {reference[-1]:.1f} s (load average {os.getloadavg()[0]:.1f})", flush=True)
    last = trees[args.revisions[-1]]
    print(f"\nCSmask + its reading: median {statistics.median(reference):.1f} s")
    print("| revision | wall (s) | CPU (s) | peak RSS (MB) | / (CSmask + its reading), median (rounds) | mask as "
          f"{args.revisions[-1]}'s |\n|---|---|---|---|---|---|")
    for revision, tree in trees.items():
        ratios = [run["seconds"] / seconds for run, seconds in zip(runs[revision], reference)]
        print(f"| {revision} ({tree.name[:7]}) | {statistics.median(r['seconds'] for r in runs[revision]):.1f} | "
              f"{statistics.median(r['cpu_seconds'] for r in runs[revision]):.1f} | "
              f"{max(r['peak_rss_mb'] for r in runs[revision]):.0f} | {statistics.median(ratios):.3f} "
              f"({', '.join(f'{r:.3f}' for r in ratios)}) | "
              f"{'identical' if same_mask(OUT / f'{tree.name}.tif', OUT / f'{last.name}.tif') else 'differs'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
