"""How many workers, and how many cores each, this machine holds.

Each worker masks one product at a time. Two cores per worker keep the model
busy while JPEG 2000 is decoded (decoding is single-threaded per band; a run
shares its cores between them, pipeline.ThreadPlan), so on a CPU the cores are
split into workers of two; memory caps the count, because every product in
flight holds its strips, its session and GDAL's caches (about 1.4 GB at most for a full 10980 x 10980 tile,
docs/benchmarks.md). A GPU is shared best by one worker that owns the session
and feeds it from all the cores.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..cores import usable_cores
from ..defaults import MAX_RETRIES, MAX_THREADS, MAX_WORKERS
from ..errors import ParameterError

# Peak resident memory of one full-tile product, with headroom (measured peak 1.0-1.4 GB).
PRODUCT_MEMORY = 2 * 1024**3
# The share of the machine's available memory the workers may take together.
MEMORY_SHARE = 0.8
THREADS_PER_CPU_WORKER = 2


@dataclass(frozen=True)
class WorkerPlan:
    workers: int
    threads: int  # cores per worker: the `threads` of each run (pipeline.ThreadPlan.for_cores)
    memory_limit: int  # bytes per worker (dask restarts a worker that goes far beyond it)
    reason: str

    def describe(self) -> str:
        return f"{self.workers} worker(s) x {self.threads} core(s) ({self.reason})"


def check_counts(*, workers: int | None, threads: int, retries: int) -> None:
    """Refuse worker, thread and retry counts no run can mean, naming the one that is wrong."""
    for name, value, low, high, meaning in (
        ("workers", workers, 1, MAX_WORKERS, "worker processes, or leave it out to choose from the machine"),
        ("threads", threads, 0, MAX_THREADS, "cores per worker, 0 to choose from the machine"),
        ("retries", retries, 0, MAX_RETRIES, "more tries of a product whose worker died"),
    ):
        if value is None and name == "workers":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ParameterError(f"{name} {value!r} is out of range; give {low} to {high} ({meaning}).")


def plan_workers(
    cores: int,
    memory: int,
    *,
    gpu: bool = False,
    workers: int | None = None,
    threads: int | None = None,
    product_memory: int = PRODUCT_MEMORY,
) -> WorkerPlan:
    """Workers x threads for `cores` and `memory` bytes available; given workers or threads win."""
    cores = max(1, cores)
    usable = int(memory * MEMORY_SHARE)
    by_memory = max(1, usable // product_memory)
    if workers:
        reason = "as asked"
    elif gpu:
        workers, reason = 1, "one worker owns the GPU session"
    else:
        by_cores = max(1, cores // THREADS_PER_CPU_WORKER)
        workers = min(by_cores, by_memory)
        reason = f"{cores} cores, {memory / 1024**3:.1f} GB available" + (", memory-bound" if by_memory < by_cores else "")
    threads = threads or max(1, cores // workers)
    return WorkerPlan(workers, threads, max(product_memory, usable // workers), reason)


def machine_resources() -> tuple[int, int]:
    """(cores this process may use, bytes of memory available now)."""
    import psutil  # comes with distributed, which every batch run needs anyway

    return usable_cores(), int(psutil.virtual_memory().available)
