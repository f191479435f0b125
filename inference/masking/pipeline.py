"""Running stages side by side, and knowing where the time went.

`read_ahead` reads and decodes the next strip in a background thread while the
model runs on the current one (GDAL's decoding and ONNX Runtime both release
the GIL). Errors raised while reading, such as a corrupt JPEG 2000 file, reach
the caller unchanged, at the strip where they happened. `StageClock` sums the
seconds each stage takes, for the result and for tools/bench.py.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


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
                while not slots.acquire(timeout=0.1):
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
