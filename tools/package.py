"""Build the zip that QGIS's "Install from ZIP" accepts: one folder, s2cloudmask/, without development files.

Also the single list of what an installed plugin consists of, which
tools/install_plugin.py copies into a profile.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLUGIN_FOLDER = "s2cloudmask"
TOP_LEVEL_FILES = ("metadata.txt", "__init__.py", "__about__.py", "plugin.py", "LICENSE", "README.md")
PACKAGES = ("inference", "processing", "ui", "toolbelt", "resources")
SKIPPED_PARTS = {"__pycache__", ".pytest_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def plugin_files(repo: Path = REPO) -> list[Path]:
    """Paths, relative to the repository, of every file an installed plugin needs."""
    files = [Path(name) for name in TOP_LEVEL_FILES if (repo / name).is_file()]
    for package in PACKAGES:
        for path in sorted((repo / package).rglob("*")):
            relative = path.relative_to(repo)
            if path.is_file() and not SKIPPED_PARTS & set(relative.parts) and path.suffix not in SKIPPED_SUFFIXES:
                files.append(relative)
    return files


def version(repo: Path = REPO) -> str:
    for line in (repo / "metadata.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("version="):
            return line.split("=", 1)[1].strip()
    raise SystemExit("metadata.txt has no version")


def build_zip(destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in plugin_files():
            archive.write(REPO / relative, f"{PLUGIN_FOLDER}/{relative.as_posix()}")
    partial.replace(destination)
    return destination


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    args = parser.parse_args()
    print(build_zip(args.out / f"{PLUGIN_FOLDER}-{version()}.zip"))


if __name__ == "__main__":
    main()
