"""Writing outputs so that nothing half-written ever looks finished, and nothing good is lost.

Every output is written under a temporary name beside its target and moved
into place only when complete and safely on disk (flushed, closed, fsync'd);
a failure or a cancellation removes the temporary files and leaves whatever
was at the target untouched. GDAL side-cars (.aux.xml with category names,
.ovr) move with their file.

Temporary files are named `.<name>.s2cloudmask-partial-<token>`: hidden, with
no raster extension, and saying what they are, so a run killed outright
(SIGKILL, a power cut) leaves nothing that looks like a result. While an
output is written, a lock file `.<name>.s2cloudmask-lock` beside it is held:
a second run writing the same path is refused instead of silently replacing
the first run's file, and whatever partial files of that target lie around
without a live writer are stale and are removed before writing.

Paths are also checked against the run's inputs (`check_outputs`): an output
never replaces an input, a file inside the input product, or another output.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import OutputError

SIDECAR_SUFFIXES = (".aux.xml", ".ovr", ".msk")
PARTIAL_MARK = ".s2cloudmask-partial-"
LOCK_SUFFIX = ".s2cloudmask-lock"
# Partial files of releases before the lock (".mask.partial-1a2b3c4d.tif"); nobody can still be writing one
# this old, so it is removed.
LEGACY_PARTIAL = re.compile(r"^\.(?P<stem>.+)\.partial-[0-9a-f]{8}(?P<suffix>\.[A-Za-z0-9]+)?$")
LEGACY_PARTIAL_AGE_S = 3600.0
LOW_SPACE_BYTES = 64 * 1024
LOCK_PATIENCE_S = 2.0
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG})
# The targets each thread is writing: a run writes in one thread, so a target met twice there is one run
# writing one path twice (two outputs given the same name), not another run.
_WRITING = threading.local()

_CAUSES = (
    (errno.ENOSPC, "No space left on device", "the disk is full"),
    (errno.EDQUOT, "Disk quota exceeded", "the disk quota is used up"),
    (errno.EROFS, "Read-only file system", "the file system is read-only"),
    (errno.EIO, "Input/output error", "the disk reported an input/output error"),
)


# --------------------------------------------------------------------------- why a write failed


def failure_cause(folder: str | Path, messages: Iterable[str] = (), error: OSError | None = None) -> str:
    """The cause of a failed write in words a person acts on: 'the disk is full (12 KiB free in /data)'.

    GDAL's own messages often blame a later step ("Failed to read directory" while
    building overviews) when the real cause was a full disk earlier on; the free
    space of the folder settles it.
    """
    texts = list(messages)
    if error is not None:
        texts.append(str(error))
    for number, text, cause in _CAUSES:
        if (error is not None and error.errno == number) or any(text in message for message in texts):
            return _with_space(cause, folder) if number == errno.ENOSPC else cause
    free = _free_bytes(folder)
    if free is not None and free < LOW_SPACE_BYTES:
        return _with_space("the disk is full", folder)
    if texts:
        return texts[-1].strip()[:300]
    return "the reason is unknown"


def _free_bytes(folder: str | Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _with_space(cause: str, folder: str | Path) -> str:
    free = _free_bytes(folder)
    return cause if free is None else f"{cause} ({free // 1024} KiB free in {folder})"


def write_failed(target: str | Path, cause: str) -> OutputError:
    return OutputError(
        f"Could not write {target}: {cause}. Nothing was written there (a file already at that path is unchanged); "
        "free some space or choose another folder, then run again."
    )


@contextlib.contextmanager
def gdal_write_errors(target: str | Path, folder: str | Path) -> Iterator[None]:
    """Raise an OutputError naming the cause when GDAL reports a failure inside the block.

    GDAL returns success from most write calls and reports a full disk only
    through its error handler (and a failed .aux.xml only as a warning), so every
    call that writes, flushes or closes an output goes through here.
    """
    from osgeo import gdal  # the engine's GDAL; this module itself stays importable without it

    messages: list[str] = []

    def handler(err_class, err_no, message):
        text = str(message).strip()
        if err_class >= gdal.CE_Failure or "Unable to save auxiliary" in text or "No space left" in text:
            messages.append(text)

    gdal.PushErrorHandler(handler)
    try:
        yield
    except (RuntimeError, OSError) as exc:  # gdal.UseExceptions() where enabled; rasterio's own write errors
        messages.append(str(exc))
    finally:
        gdal.PopErrorHandler()
    if messages:
        raise write_failed(target, failure_cause(folder, messages))


# --------------------------------------------------------------------------- where outputs may go


def check_writable(path: str | Path) -> Path:
    """Fail early, before any heavy work, when the output cannot be written."""
    target = Path(path)
    if not str(path).strip():
        raise OutputError("No output file was given; choose one, such as mask.tif.")
    if target.is_dir():
        raise OutputError(f"The output {target} is a folder; give a file name such as {target / 'mask.tif'}.")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"The output folder {folder} does not exist; create it or choose another output file.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"The output folder {folder} is not writable; choose another output file for {target.name}.")
    if target.exists() and not target.is_file():
        raise OutputError(f"The output {target} exists and is not a regular file (a pipe or a device); choose another file name.")
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputError(f"The output {target} exists and cannot be overwritten; choose another file name.")
    return target


GEOTIFF_SUFFIXES = (".tif", ".tiff")


def check_geotiff_name(path: str | Path, role: str = "OUTPUT") -> None:
    """Refuse a raster output whose name promises another format: the engine writes GeoTIFF only.

    GDAL picks no format from a name here, so mask.png would be a GeoTIFF that image viewers cannot open.
    """
    if Path(path).suffix.lower() not in GEOTIFF_SUFFIXES:
        raise OutputError(
            f"{role} {path}: rasters are written as GeoTIFF only, so the name must end in .tif or .tiff "
            f"(such as {Path(path).with_suffix('.tif').name}); convert the GeoTIFF afterwards for another format."
        )


def check_raster_outputs(rasters: dict[str, str | Path | None], inputs: dict[str, str | Path | None]) -> None:
    """check_writable, check_outputs and check_geotiff_name for a run's raster outputs (role -> path, None for
    one not asked for), in the order that names the weightiest fault first."""
    for path in rasters.values():
        if path is not None:
            check_writable(path)
    check_outputs(rasters, inputs)
    for role, path in rasters.items():
        if path is not None:
            check_geotiff_name(path, role)


def _resolved(path: str | Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def written_with(path: Path) -> list[Path]:
    """A written path and the GDAL side-cars that are written (or removed) with it."""
    return [path, *(Path(str(path) + suffix) for suffix in SIDECAR_SUFFIXES)]


def _named(paths: dict[str, str | Path | None]) -> dict[str, Path]:
    return {role: _resolved(path) for role, path in paths.items() if path is not None and str(path).strip()}


def check_outputs(outputs: dict[str, str | Path | None], inputs: dict[str, str | Path | None]) -> None:
    """Refuse, before any work, outputs that would destroy an input or one another.

    outputs: role -> a path the run creates or replaces (a file, or a folder it replaces whole);
    inputs: role -> a path the run reads (a file, or a folder read as a whole, such as a .SAFE product).
    Roles are what the user recognises ("OUTPUT", "the product (INPUT)"); None and empty entries are
    skipped. Links are resolved, so a link to an input is caught too; side-cars count (writing mask.tif
    also replaces mask.tif.aux.xml). Refused: two outputs on one path (named as duplicates), an output that
    is an input, an output inside an input folder, an input inside a folder the run replaces.
    """
    given = _named(outputs)
    sources: dict[Path, str] = {}
    for role, path in _named(inputs).items():
        sources.setdefault(path, role)
    folders = {path: role for path, role in sources.items() if path.is_dir()}
    seen: dict[Path, tuple[str, Path]] = {}
    for role, path in given.items():
        for candidate in written_with(path):
            if candidate in seen:
                other, other_path = seen[candidate]
                raise OutputError(
                    f"{other} and {role} are the same file ({other_path if other_path == path else candidate}); "
                    "one would overwrite the other. Give each output its own file name."
                )
        seen.update({candidate: (role, path) for candidate in written_with(path)})
    for role, path in given.items():
        for candidate in written_with(path):
            if candidate in sources:
                raise OutputError(
                    f"{role} ({path}) is {sources[candidate]} itself; writing it would destroy the input. "
                    "Choose another output file name."
                )
        container = next((folder for folder in path.parents if folder in folders), None)
        if container is not None:
            raise OutputError(
                f"{role} ({path}) lies inside {folders[container]} ({container}); writing there would change the "
                "input and later runs would read the output as part of it. Choose a folder outside the input."
            )
    replaced = {path: role for role, path in given.items() if path.is_dir()}
    for path, source_role in sources.items():
        container = next((folder for folder in path.parents if folder in replaced), None)
        if container is not None:
            raise OutputError(
                f"{source_role} ({path}) lies inside {replaced[container]} ({container}), which this run replaces; "
                "it would be deleted. Move the input elsewhere or choose another output folder."
            )


# --------------------------------------------------------------------------- the lock and stale partials


def partial_path(target: Path) -> Path:
    return target.with_name(f".{target.name}{PARTIAL_MARK}{uuid.uuid4().hex[:12]}")


def target_of(path: Path) -> Path:
    """The output a temporary file stands for (itself for any other path): messages name what the user chose."""
    name = path.name
    if name.startswith(".") and PARTIAL_MARK in name:
        return path.with_name(name[1:].split(PARTIAL_MARK, 1)[0])
    return path


def lock_path(target: Path) -> Path:
    return target.with_name(f".{target.name}{LOCK_SUFFIX}")


def _try_lock(handle: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _acquire(target: Path, *, create: bool = True) -> int | None:
    """The lock of a target as an open descriptor, or None while another run holds it (or, with
    create=False, where no lock file exists)."""
    path = lock_path(target)
    for _ in range(5):
        try:
            handle = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
        except FileNotFoundError:
            if not create:
                return None
            raise
        except OSError as exc:
            raise write_failed(target, failure_cause(path.parent, error=exc)) from None
        if not _try_lock(handle):
            os.close(handle)
            return None
        try:
            if os.stat(path).st_ino == os.fstat(handle).st_ino:
                return handle  # still the file at that name: a releasing run did not unlink it meanwhile
        except FileNotFoundError:
            pass
        os.close(handle)
    return None


def _acquire_waiting(target: Path) -> int | None:
    """The lock, waiting a moment for it: a cleanup in another run holds a lock only for an instant, a writer
    for its whole run."""
    deadline = time.monotonic() + LOCK_PATIENCE_S
    while True:
        handle = _acquire(target)
        if handle is not None or time.monotonic() > deadline:
            return handle
        time.sleep(0.05)


def _release(target: Path, handle: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(lock_path(target))  # before closing, so nobody locks a file that is about to vanish
    os.close(handle)


@contextlib.contextmanager
def output_lock(target: Path) -> Iterator[None]:
    """Hold the target's lock for the block; OutputError at once when another run writes the same file."""
    handle = _acquire_waiting(target)
    if handle is None:
        raise OutputError(
            f"Another run is writing {target} right now. Wait for it to finish, or choose another file name; "
            "two runs writing one file would leave only the last one's result."
        )
    try:
        yield
    finally:
        _release(target, handle)


def _remove(path: Path) -> None:
    for candidate in (path, *(Path(str(path) + suffix) for suffix in SIDECAR_SUFFIXES)):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()


def remove_stale_partials(folder: Path, locked: Path | None = None) -> list[Path]:
    """Remove partial files in folder that no live run is writing; return what was removed.

    A partial whose target's lock can be taken has no writer left (its run was
    killed); a partial of a target locked by another run is left alone. `locked`
    is the target whose lock the caller holds: its partials are stale already.
    """
    removed: list[Path] = []
    now = time.time()
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return removed
    for name in names:
        path = folder / name
        if PARTIAL_MARK in name and name.startswith("."):
            if any(name.endswith(suffix) for suffix in SIDECAR_SUFFIXES):
                continue  # goes with its partial
            target = target_of(path)
            if target == locked:
                _remove(path)
                removed.append(path)
                continue
            handle = _acquire(target, create=False)
            if handle is None and lock_path(target).exists():
                continue  # its writer is alive
            try:
                _remove(path)
                removed.append(path)
            finally:
                if handle is not None:
                    _release(target, handle)
        elif LEGACY_PARTIAL.match(name) and not name.endswith(SIDECAR_SUFFIXES):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > LEGACY_PARTIAL_AGE_S:
                    _remove(path)
                    removed.append(path)
    return removed


# --------------------------------------------------------------------------- the atomic output


def _sync(path: Path, target: Path) -> None:
    """Push a finished temporary file to the disk: some file systems report a full disk only here."""
    try:
        handle = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise write_failed(target, failure_cause(target.parent, error=exc)) from None
    try:
        os.fsync(handle)
    except OSError as exc:
        raise write_failed(target, failure_cause(target.parent, error=exc)) from None
    finally:
        os.close(handle)


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError, AttributeError):  # Windows cannot open a folder for fsync
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _empty_sidecar(path: Path) -> bool:
    return path.name.endswith(".aux.xml") and path.stat().st_size == 0


@contextlib.contextmanager
def _written_once(target: Path) -> Iterator[None]:
    """Refuse a target this thread is already writing, naming the cause: two outputs of one run share a path."""
    writing: set[Path] = _WRITING.__dict__.setdefault("targets", set())
    key = _resolved(target)
    if key in writing:
        raise OutputError(
            f"This run writes {target} twice: two of its outputs were given the same file name, and one would "
            "overwrite the other. Give each output its own file name."
        )
    writing.add(key)
    try:
        yield
    finally:
        writing.discard(key)


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it (and its side-cars) into place once all is safely written.

    Raises OutputError, naming the cause, when any step fails (an OSError such
    as a full disk included); the target stays as it was.
    """
    target = check_writable(path)
    with _written_once(target), output_lock(target):
        remove_stale_partials(target.parent, locked=target)
        temporary = partial_path(target)
        try:
            yield temporary
            sidecars = [Path(str(temporary) + suffix) for suffix in SIDECAR_SUFFIXES]
            present = [sidecar for sidecar in sidecars if sidecar.exists()]
            if not temporary.is_file():
                raise OutputError(f"Nothing was written for {target}; the run produced no file.")
            for sidecar in present:
                if _empty_sidecar(sidecar):
                    raise write_failed(target, failure_cause(target.parent, [f"{sidecar.name} is empty"]))
            for written in (temporary, *present):
                _sync(written, target)
        except OSError as exc:
            _remove(temporary)
            if exc.errno in WRITE_ERRNOS or str(exc.filename or "").startswith(str(temporary)) \
                    or any(text in str(exc) for _, text, _ in _CAUSES):  # rasterio's errors carry GDAL's text only
                raise write_failed(target, failure_cause(target.parent, error=exc)) from None
            raise
        except BaseException:
            _remove(temporary)
            raise
        try:
            for suffix in SIDECAR_SUFFIXES:
                sidecar, old = Path(str(temporary) + suffix), Path(str(target) + suffix)
                if sidecar.exists():
                    os.replace(sidecar, old)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        old.unlink()  # the old file's side-car would describe the new one wrongly
            os.replace(temporary, target)
        except OSError as exc:
            _remove(temporary)
            raise OutputError(f"Could not move the finished output into place at {target}: {exc}") from exc
        _sync_folder(target.parent)


# --------------------------------------------------------------------------- is a finished output still whole


def _raster_facts(path: Path) -> dict | None:
    """Width, height and a checksum of what GDAL writes last (the smallest overview, else the last row of
    blocks); None when GDAL cannot open or read the file. Correct with GDAL exceptions on and off."""
    from osgeo import gdal  # the engine's GDAL; this module itself stays importable without it

    messages: list[str] = []
    gdal.PushErrorHandler(lambda err_class, err_no, message: messages.append(str(message)))
    try:
        dataset = gdal.Open(str(path))
        if dataset is None or dataset.RasterCount < 1:
            return None
        band = dataset.GetRasterBand(1)
        if band.GetOverviewCount():
            checksum = band.GetOverview(band.GetOverviewCount() - 1).Checksum()
        else:
            rows = min(band.GetBlockSize()[1], band.YSize)
            checksum = band.Checksum(0, band.YSize - rows, band.XSize, rows)
        facts = {"width": dataset.RasterXSize, "height": dataset.RasterYSize, "checksum": checksum}
        dataset = None
    except RuntimeError:  # gdal.UseExceptions() where enabled
        return None
    finally:
        gdal.PopErrorHandler()
    return None if messages else facts


def fingerprint(path: str | Path) -> dict:
    """What a finished output is, to tell later whether it is still whole: its size in bytes and, for a
    GeoTIFF, its width, height and the checksum of the part GDAL writes last."""
    path = Path(path)
    facts: dict = {"bytes": path.stat().st_size}
    if path.suffix.lower() in GEOTIFF_SUFFIXES:
        facts.update(_raster_facts(path) or {})
    return facts


def is_whole(path: str | Path, expected: dict | None) -> bool:
    """Whether the file at path is still the finished output `fingerprint` described (same size, and for a
    raster it opens, has the same width and height, and its last part reads back the same)."""
    if not expected:
        return False
    try:
        return fingerprint(path) == expected
    except OSError:
        return False
