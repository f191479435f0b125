"""Filling a small file system (the `tiny_disk` fixture of conftest.py) to see how writers meet a full disk."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path


def fill_disk(folder: Path, leave_bytes: int) -> Path:
    """Fill the file system of `folder` until about `leave_bytes` remain free."""
    filler = folder / "filler.bin"
    free = shutil.disk_usage(folder).free
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(0, free - leave_bytes))
    return filler


def listing(folder: Path) -> dict[str, str]:
    """Every file in folder (hidden ones included) with a digest of its content."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir()) if path.is_file()}


def tree_digests(*roots: Path) -> dict[str, str]:
    """Every file under each root (a folder, searched with hidden files, or a file) with a digest of its content:
    equal before and after a run means nothing was changed, added or removed there."""
    files = [path for root in roots for path in ([root] if root.is_file() else sorted(root.rglob("*")))]
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in files if path.is_file()}
