"""Where the tasks run: a LocalCluster sized for this machine, or a scheduler the user names.

The scheduler comes from `scheduler=` (the command line's --scheduler) or dask's
own DASK_SCHEDULER_ADDRESS, so a cluster started by dask-jobqueue, Kubernetes
or a cloud service is used as it is; its workers need the plugin's package and
its dependency folder on their PYTHONPATH (README, "Many products").
dask is imported here, inside functions, so the plugin loads without it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from typing import Any

from ...packages.activation import missing_message
from ...packages.installer import python_executable
from ..errors import DependencyError, ResourceError
from .workers import WorkerPlan

SCHEDULER_VARIABLE = "DASK_SCHEDULER_ADDRESS"
LOCAL = "local"  # as a scheduler: workers on this machine whatever DASK_SCHEDULER_ADDRESS says


def distributed() -> Any:
    """The dask.distributed module, or DependencyError saying how to install it."""
    try:
        import dask.distributed
    except ImportError as exc:
        raise DependencyError(missing_message(["dask", "distributed"])) from exc
    return dask.distributed


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The scheduler to use: the one given, else DASK_SCHEDULER_ADDRESS, else None (a LocalCluster)."""
    if scheduler == LOCAL:
        return None
    return scheduler or os.environ.get(SCHEDULER_VARIABLE) or None


@contextlib.contextmanager
def local_cluster(plan: WorkerPlan) -> Iterator[Any]:
    """A LocalCluster of `plan.workers` worker processes, one task at a time each.

    The scheduler gives a task up as soon as the worker running it dies
    (allowed_failures=0): the runner retries it itself, so --retries counts
    exactly and the summary says how many attempts a product took.
    """
    dd = distributed()
    # Inside QGIS sys.executable is the QGIS binary; worker processes must start the plain interpreter.
    multiprocessing.get_context("spawn").set_executable(python_executable())
    cluster = dd.LocalCluster(
        n_workers=plan.workers,
        threads_per_worker=1,
        processes=True,
        memory_limit=plan.memory_limit,
        dashboard_address=":0",  # any free port: several runs (and users' own clusters) never collide
        scheduler_kwargs={"allowed_failures": 0},
        silence_logs=40,  # errors only: the summary, not the log, is where product failures go
    )
    try:
        yield cluster
    finally:
        cluster.close()


@contextlib.contextmanager
def connect(scheduler: str | None, plan: WorkerPlan) -> Iterator[Any]:
    """A dask Client on the named scheduler, or on a LocalCluster made from `plan`."""
    dd = distributed()
    address = scheduler_address(scheduler)
    if address is None:
        with local_cluster(plan) as cluster, dd.Client(cluster) as client:
            yield client
        return
    try:
        client = dd.Client(address, timeout=30)
    except (OSError, TimeoutError) as exc:
        raise ResourceError(
            f"Could not reach the dask scheduler at {address} ({exc}); check the address and that the scheduler "
            f"runs, or leave out --scheduler (and unset {SCHEDULER_VARIABLE}) to use this machine."
        ) from exc
    with client:
        yield client
