"""Running stages side by side, and knowing where the time went.

A run has three kinds of threads: `read_ahead` reads and decodes the next strip
in a background thread while the model runs on the current one; `ordered_map`
runs the model on several batches at once, each call in a thread of its own;
and `hand_off` gives the model's finished rows to a background thread that
turns them into codes and writes them while the model goes on (GDAL, ONNX
Runtime and numpy's large operations all release the GIL). Blending stays on
the caller's thread, so progress and cancellation reach the caller where they
always did. Errors raised in any thread, such as a corrupt JPEG 2000 file or a
full disk, reach the caller unchanged, and every thread is stopped and joined
before the run returns. `StageClock` sums the seconds each stage takes, for the
result and for tools/bench.py.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TypeVar

from ..cores import usable_cores

T = TypeVar("T")
R = TypeVar("R")
_DONE = object()
_POLL = 0.1  # seconds between looks at whether the other side stopped


class _Stopped(Exception):
    """The producer of a hand-off stopped early (an error or a cancel): the consumer ends without finishing."""


@dataclass(frozen=True)
class ThreadPlan:
    """How a run shares its cores: model calls at once (lanes), each call's onnxruntime intra-op threads, and
    the band files read at once ahead of the model.

    Every core to both sides: the sessions' idle threads sleep rather than spin, so neither side holds a core
    it is not using. On two cores or more, two model calls run at once, each with half the cores: a call
    never waits for a sibling thread that the reader has pushed off its core, and the bare model over a full
    tile's tiles took 3-5 % less CPU that way than as one call on both cores (docs/speed-levers.md has the
    whole run). `make bench-levers` times the other plans against this one.
    """

    onnx: int
    reader: int
    lanes: int = 1

    @classmethod
    def for_cores(cls, cores: int = 0) -> ThreadPlan:
        """The plan for `cores` cores (0: every core this process may use)."""
        cores = cores if cores > 0 else usable_cores()
        lanes = min(2, cores)
        return cls(onnx=-(-cores // lanes), reader=cores, lanes=lanes)


def lanes_on(device: str, lanes: int) -> int:
    """Model calls at once on `device` ("CPU", "CUDA", ...): a GPU takes one call at a time, in batches sized to
    its memory."""
    return lanes if device == "CPU" else 1


class StageClock:
    """Seconds spent per stage; safe to add to from several threads."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    @contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - started)

    def timed_iterator(self, items: Iterator[T], stage: str) -> Iterator[T]:
        """`items`, with the time spent producing each one added to `stage` (in whichever thread produces it)."""
        while True:
            with self.measure(stage):
                item = next(items, _DONE)
            if item is _DONE:
                return
            yield item  # type: ignore[misc]

    def timed_call(self, function: Callable[..., T], stage: str) -> Callable[..., T]:
        def call(*args, **kwargs) -> T:
            with self.measure(stage):
                return function(*args, **kwargs)
        return call

    def rounded(self) -> dict[str, float]:
        return {stage: round(seconds, 3) for stage, seconds in self.seconds.items()}


def ordered_map(function: Callable[[T], R], items: Iterable[T], lanes: int = 1, clock: StageClock | None = None,
                waiting: str = "infer") -> Iterator[tuple[T, R]]:
    """Yield (item, function(item)) for each of `items`, in order, with up to `lanes` calls running at once.

    Items are taken from `items` in the caller's thread, one beyond those running, so every lane has work
    while the caller handles an answer. Each call runs in a worker thread (with one lane, in the caller's
    thread). An error in a call is raised here, at its item; when the caller stops early (an error, a
    cancel), calls not yet started are dropped and running ones are waited for, so no call outlives the run.
    `clock`: the seconds the caller waits for answers go to the stage `waiting`.
    """
    if lanes <= 1:
        for item in items:
            with clock.measure(waiting) if clock else nullcontext():
                answer = function(item)
            yield item, answer
        return
    with ThreadPoolExecutor(lanes, thread_name_prefix="s2cloudmask-model") as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append((item, pool.submit(function, item)))
                if len(pending) > lanes:
                    yield _answer(pending.popleft(), clock, waiting)
            while pending:
                yield _answer(pending.popleft(), clock, waiting)
        finally:
            for _, future in pending:
                future.cancel()


def _answer(call: tuple, clock: StageClock | None, waiting: str) -> tuple:
    item, future = call
    with clock.measure(waiting) if clock else nullcontext():
        return item, future.result()


def read_ahead(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield what `items` yields, producing up to `depth` items ahead in a background thread.

    The producer starts on an item only when fewer than `depth` produced items
    wait for the consumer, so at most `depth` items (a strip is a few hundred
    MB of decoded bands) exist beyond the one in use. The consumer sees the
    items in order and any exception of the producer at the point it was
    raised. When the consumer stops early (an error, a cancel), the producer is
    told to stop and joined, so no reading outlives the run.
    """
    handoff: queue.Queue = queue.Queue()
    slots = threading.Semaphore(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            while True:
                while not slots.acquire(timeout=_POLL):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                item = next(items, _DONE)
                handoff.put((item, None))
                if item is _DONE:
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            handoff.put((_DONE, exc))

    worker = threading.Thread(target=produce, name="s2cloudmask-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            slots.release()
            yield item
    finally:
        stop.set()
        worker.join()


def hand_off(items: Iterator[T], consume: Callable[[Iterator[T]], None], depth: int = 1,
             clock: StageClock | None = None, waiting: str = "waiting for the codes thread") -> None:
    """Produce `items` in this thread and `consume` them in a background thread, at most `depth` waiting between.

    `consume` gets an iterator of the items in order and runs to its end. An
    error in `consume` is raised here, at the next item or at the end; an
    error or a cancel while producing stops `consume` (its iterator raises
    inside it, so nothing after the loop runs) and waits for it before the
    error goes on. `clock`: the seconds this thread waits for room, and for the
    consumer to finish, go to the stage `waiting`.
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    failures: list[BaseException] = []

    def taken() -> Iterator[T]:
        while True:
            try:
                item = handoff.get(timeout=_POLL)
            except queue.Empty:
                if stop.is_set():
                    raise _Stopped from None
                continue
            if item is _DONE:
                return
            yield item

    def run() -> None:
        try:
            consume(taken())
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the producer, raised there
            failures.append(exc)

    def put(item: object) -> None:
        with clock.measure(waiting) if clock else nullcontext():
            while True:
                if failures:
                    raise failures[0]
                if not worker.is_alive():
                    raise RuntimeError("the consumer of a hand-off stopped before the end of its items")
                try:
                    handoff.put(item, timeout=_POLL)
                    return
                except queue.Full:
                    continue

    worker = threading.Thread(target=run, name="s2cloudmask-hand-off", daemon=True)
    worker.start()
    finished = False
    try:
        for item in items:
            put(item)
        put(_DONE)
        finished = True
    finally:
        if not finished:
            stop.set()
        with clock.measure(waiting) if clock else nullcontext():
            worker.join()
    if failures:
        raise failures[0]
