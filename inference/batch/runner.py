"""Run many products: skip the finished, submit the rest, retry those whose worker died, summarise.

Only the runner and cluster.py talk to dask. The runner checks for cancellation
five times a second, so the QGIS Cancel button and Ctrl-C stop a run within a
moment; products finished by then keep their outputs and records, the others
are marked "not run" in the summary, and a rerun resumes with them.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..defaults import model_file
from ..errors import Cancelled, CloudMaskError, OutputError
from ..feedback import Feedback, SilentFeedback
from ..masking.session import gpu_providers
from ..outputs import check_outputs, check_writable, failure_cause, remove_stale_partials
from ..reading.paths import is_url, product_container
from .cluster import connect, scheduler_address
from .records import (
    DONE,
    FAILED,
    NOT_RUN,
    RECORDS_FOLDER,
    SKIPPED,
    Settings,
    empty_row,
    failed_on_unchanged_input,
    find_record,
    is_complete,
    load_records,
    output_paths,
    skipped_row,
    source_product_id,
    write_record,
)
from .summary import SUMMARY_CSV, SUMMARY_JSON, write_summary
from .task import process_product
from .workers import WorkerPlan, check_counts, machine_resources, plan_workers

POLL_SECONDS = 0.2
# How dask reports a task whose worker died (scheduler side and client side).
WORKER_LOST = ("KilledWorker", "CommClosedError", "FutureCancelledError")


@dataclass
class BatchResult:
    rows: list[dict]
    summary_csv: Path
    summary_json: Path
    seconds: float
    plan: WorkerPlan | None = None  # None when every product was already done or a cluster was given
    counts: dict[str, int] = field(default_factory=dict)

    def unfinished(self) -> str | None:
        """What a caller reports as the run's failure when some product failed or did not run; None when all
        are done (now or before)."""
        left = [row for row in self.rows if row["status"] in (FAILED, NOT_RUN)]
        if not left:
            return None
        named = ", ".join(row["product_id"] for row in left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
        return (f"{self.counts[FAILED]} of {len(self.rows)} product(s) failed and {self.counts[NOT_RUN]} did not run "
                f"({named}); {self.counts[DONE] + self.counts[SKIPPED]} are done. The summary {self.summary_csv} "
                "gives each one's error; correct or remove those products and run again into the same folder: "
                "the finished ones are skipped.")


def run_batch(
    sources: list[str],
    out: str | Path,
    settings: Settings = Settings(),
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    retries: int = 1,
    client: Any = None,
    feedback: Feedback | None = None,
) -> BatchResult:
    """Mask every product of `sources` into `out`, resuming a previous run into the same folder.

    scheduler: a dask scheduler address (else DASK_SCHEDULER_ADDRESS, else a LocalCluster here);
    client: an already connected dask Client (tests, notebooks); retries: how many more times a
    product is tried when the worker running it dies.
    """
    feedback = feedback or SilentFeedback()
    started, since = time.perf_counter(), time.time()
    check_counts(workers=workers, threads=settings.threads, retries=retries)
    out = Path(os.path.abspath(out))
    sources = list(dict.fromkeys(source if is_url(source) else os.path.abspath(source) for source in sources))
    twins = _twins(sources)
    check_outputs(batch_outputs(out, [source for source in sources if source not in twins]),
                  {**product_inputs(sources), "the model": model_file(settings.model)})
    _make_folder(out)
    check_writable(out / SUMMARY_CSV)
    _remove_partials(out)
    records = load_records(out)
    rows: dict[str, dict] = {}
    todo: list[str] = []
    for source in sources:
        record = find_record(records, source)
        if source in twins:
            rows[source] = dict(empty_row(source), status=SKIPPED, error=twins[source])
            feedback.warn(f"{Path(source).name}: {twins[source]}")
        elif is_complete(record, settings, out):
            rows[source] = skipped_row(record, source, out)
        elif failed_on_unchanged_input(record, settings, source):
            rows[source] = dict(record["row"])  # failed, with its message: it would fail again
        else:
            rows[source] = dict(empty_row(source), status=NOT_RUN)
            todo.append(source)
    plan = None
    try:
        if todo:
            feedback.progress(0.0, f"Starting workers for {len(todo)} product(s); {len(sources) - len(todo)} settled before")
            address = None if client is not None else scheduler_address(scheduler)
            if client is None and address is None:
                cores, memory = machine_resources()
                plan = plan_workers(cores, memory, gpu=_wants_gpu(settings), workers=workers,
                                    threads=settings.threads or None)
                settings = replace(settings, threads=plan.threads)
            with _client(client, address, plan) as active:
                _run(active, todo, out, settings, retries, rows, len(sources) - len(todo), len(sources), feedback)
    finally:
        _catch_up(rows, out, since)
        ordered = [rows[source] for source in sources]
        summary_csv, summary_json = write_summary(out, ordered, settings, plan, time.perf_counter() - started)
    counts = {status: sum(row["status"] == status for row in ordered) for status in (DONE, SKIPPED, FAILED, NOT_RUN)}
    feedback.progress(100.0, ", ".join(f"{n} {status}" for status, n in counts.items() if n))
    return BatchResult(ordered, summary_csv, summary_json, round(time.perf_counter() - started, 2), plan, counts)


def _run(client: Any, todo: list[str], out: Path, settings: Settings, retries: int, rows: dict[str, dict],
         finished: int, total: int, feedback: Feedback) -> None:
    attempts = dict.fromkeys(todo, 1)
    pending = {_submit(client, source, out, settings, 1): source for source in todo}
    failed = 0
    while pending:
        if feedback.is_cancelled():
            client.cancel(list(pending))
            raise Cancelled(f"The batch was cancelled after {finished} of {total} product(s); run it again on "
                            f"the same output folder {out} to finish the rest.")
        done = [future for future in pending if future.done()]
        if not done:
            time.sleep(POLL_SECONDS)
        for future in done:
            source = pending.pop(future)
            if future.status == "finished":
                rows[source] = future.result()
            elif type(_failure(future)).__name__ in WORKER_LOST and attempts[source] <= retries:
                attempts[source] += 1
                feedback.warn(f"The worker running {Path(source).name} died; trying again "
                              f"(attempt {attempts[source]} of {retries + 1}).")
                pending[_submit(client, source, out, settings, attempts[source])] = source
                continue
            else:
                rows[source] = _lost(source, _failure(future), attempts[source], out, settings)
            finished += 1
            failed += rows[source]["status"] == FAILED
            feedback.progress(100.0 * finished / total,
                              f"{finished}/{total} products" + (f", {failed} failed" if failed else ""))


def _failure(future: Any) -> BaseException:
    """Why a task ended without a result (a cancelled future raises instead of returning it)."""
    try:
        return future.exception()
    except BaseException as exc:  # noqa: BLE001 (dask's CancelledError is the answer here, not a failure)
        return exc


def _catch_up(rows: dict[str, dict], out: Path, since: float) -> None:
    """Products a worker finished (or failed) while the run was being stopped: their records are on disk."""
    if not any(row["status"] == NOT_RUN for row in rows.values()):
        return
    records = load_records(out, since=since)
    for source, row in rows.items():
        record = find_record(records, source) if row["status"] == NOT_RUN else None
        if record is not None:
            rows[source] = record["row"]


def _twins(sources: list[str]) -> dict[str, str]:
    """Sources that are the same product as an earlier one (X.SAFE and X.zip), each with why it is not run."""
    first: dict[str, str] = {}
    twins: dict[str, str] = {}
    for source in sources:
        product_id = source_product_id(source)
        if product_id in first:
            twins[source] = (f"the same product as {first[product_id]} (product id {product_id}), which is masked "
                             "instead; remove one of the two to silence this note.")
        else:
            first[product_id] = source
    return twins


def batch_outputs(out: Path, sources: list[str]) -> dict[str, Path]:
    """Every path a batch into `out` writes, by role: the summary, the records, each product's outputs."""
    written: dict[str, Path] = {"the summary": out / SUMMARY_CSV, "the summary's JSON": out / SUMMARY_JSON,
                                "the records": out / RECORDS_FOLDER}
    for source in sources:
        product_id = source_product_id(source)
        written.update({f"the {name} of {product_id}": path for name, path in output_paths(out, product_id).items()})
    return written


def product_inputs(sources: list[str]) -> dict[str, Path]:
    """Each product (its .SAFE folder or zip) by a role that names it."""
    inputs: dict[str, Path] = {}
    for source in sources:
        role = f"the product {Path(source).name}"
        inputs[role if role not in inputs else f"the product {source}"] = product_container(source)
    return inputs


def _make_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"The output folder {out} is a file; give a folder (it is made where missing).")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot make the output folder {out}: {failure_cause(out.parent, error=exc)}; "
                          "choose another folder.") from None


def _submit(client: Any, source: str, out: Path, settings: Settings, attempt: int) -> Any:
    return client.submit(process_product, source, str(out), settings, attempt, pure=False,
                         key=f"s2cloudmask-{Path(source).name}-{attempt}-{time.time_ns()}")


def _lost(source: str, exc: BaseException, attempts: int, out: Path, settings: Settings) -> dict:
    """The row of a product whose worker died on every attempt, or whose task failed outside the product
    (its record could not be written, dask could not run it)."""
    if type(exc).__name__ in WORKER_LOST:
        error = (f"The worker running it died {attempts} time(s) ({type(exc).__name__}: {exc}); it may need more "
                 "memory than a worker has: run it again with fewer workers (--workers).")
    else:
        error = str(exc) if isinstance(exc, CloudMaskError) else f"{type(exc).__name__}: {exc}"
    row = dict(empty_row(source), status=FAILED, attempts=attempts, error=error)
    with contextlib.suppress(CloudMaskError, OSError):
        write_record(out, row, settings)
    return row


def _wants_gpu(settings: Settings) -> bool:
    return settings.device != "cpu" and bool(gpu_providers())


@contextlib.contextmanager
def _client(client: Any, scheduler: str | None, plan: WorkerPlan | None) -> Iterator[Any]:
    if client is not None:
        yield client
        return
    with connect(scheduler, plan) as made:
        yield made


def _remove_partials(out: Path) -> None:
    """Temporary outputs a killed run left behind (no live writer holds their lock)."""
    for folder in (out, out / RECORDS_FOLDER):
        remove_stale_partials(folder)
