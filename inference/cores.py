"""The cores a run may use: one answer for the session, the reader and the batch runner."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one), not all the machine's.

    A process limited by `taskset`, a container's cpuset or a batch worker's affinity sees its own share.
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
