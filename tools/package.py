"""Build the zip that QGIS's "Install from ZIP" and the official plugin repository accept, and check it.

One folder, s2cloudmask/, without development files. check_zip() applies the
official repository's upload checks (plugins.qgis.org: size, paths, no .pyc,
__pycache__, .git or __MACOSX, the required metadata with real URLs, the icon,
a LICENSE) and this project's own (no compiled binaries, no package folder,
no tests or tools). Also the single list of what an installed plugin
consists of, which tools/install_plugin.py copies into a profile.
"""

from __future__ import annotations

import argparse
import configparser
import re
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the plugin's __about__, which reads metadata.txt
from __about__ import plugin_version  # noqa: E402

PLUGIN_FOLDER = "s2cloudmask"
TOP_LEVEL_FILES = ("metadata.txt", "__init__.py", "__about__.py", "plugin.py", "LICENSE", "README.md")
PACKAGES = ("packages", "inference", "processing", "ui", "toolbelt", "resources", "i18n", "trainer")
SKIPPED_PARTS = {"__pycache__", ".pytest_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}
MAX_ZIP_BYTES = 25_000_000  # the official repository's upload limit
REQUIRED_METADATA = ("name", "description", "version", "qgisMinimumVersion", "author", "email", "about", "tracker",
                     "repository", "homepage", "tags", "icon", "license")
URL_METADATA = ("tracker", "repository", "homepage")
FORBIDDEN_PARTS = {"__MACOSX", ".git", "__pycache__", ".deps", ".venv", "tests", "tools", ".ci"}
BINARY_SUFFIXES = {".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".exe", ".whl", ".onnx"}


def plugin_files(repo: Path = REPO) -> list[Path]:
    """Paths, relative to the repository, of every file an installed plugin needs."""
    files = [Path(name) for name in TOP_LEVEL_FILES if (repo / name).is_file()]
    for package in PACKAGES:
        for path in sorted((repo / package).rglob("*")):
            relative = path.relative_to(repo)
            if path.is_file() and not SKIPPED_PARTS & set(relative.parts) and path.suffix not in SKIPPED_SUFFIXES:
                files.append(relative)
    return files


def build_zip(destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in plugin_files():
            archive.write(REPO / relative, f"{PLUGIN_FOLDER}/{relative.as_posix()}")
    partial.replace(destination)
    return destination


def check_zip(path: Path) -> list[str]:
    """What the official repository (and this project) would refuse in the zip; empty when it passes."""
    problems = []
    if path.stat().st_size > MAX_ZIP_BYTES:
        problems.append(f"{path.stat().st_size} bytes: over the repository's {MAX_ZIP_BYTES}-byte limit")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if archive.testzip() is not None:
            problems.append("a member fails its CRC check")
        for name in names:
            parts = name.split("/")
            if ".." in name or name.startswith("/"):
                problems.append(f"{name}: path information")
            if FORBIDDEN_PARTS & set(parts[:-1]):
                problems.append(f"{name}: in a folder the repository or this project refuses")
            if Path(name).suffix.lower() in BINARY_SUFFIXES:
                problems.append(f"{name}: a compiled or binary file")
        tops = {name.split("/")[0] for name in names}
        if tops != {PLUGIN_FOLDER} or not re.match(r"^[A-Za-z][A-Za-z0-9-_]+$", PLUGIN_FOLDER):
            problems.append(f"top-level folders {sorted(tops)}: expected one, {PLUGIN_FOLDER}")
        for required in ("__init__.py", "metadata.txt", "LICENSE"):
            if f"{PLUGIN_FOLDER}/{required}" not in names:
                problems.append(f"{required} is missing")
        if problems:
            return problems
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # keys as written, as the repository reads them
        parser.read_string(archive.read(f"{PLUGIN_FOLDER}/metadata.txt").decode("utf-8"))
        meta = dict(parser["general"]) if parser.has_section("general") else {}
        problems += [f"metadata.txt lacks {key}" for key in REQUIRED_METADATA if not meta.get(key, "").strip()]
        for key in URL_METADATA:
            url = urlparse(meta.get(key, ""))
            if not (url.scheme in ("http", "https") and url.netloc):
                problems.append(f"metadata.txt: {key} is not a web address")
        if meta.get("icon") and f"{PLUGIN_FOLDER}/{meta['icon'].removeprefix('./')}" not in names:
            problems.append(f"the icon {meta['icon']} is not in the zip")
        if "/" in meta.get("author", ""):
            problems.append("metadata.txt: author contains a slash")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    args = parser.parse_args()
    archive = build_zip(args.out / f"{PLUGIN_FOLDER}-{plugin_version()}.zip")
    problems = check_zip(archive)
    for problem in problems:
        print(f"refused: {problem}")
    if problems:
        raise SystemExit(f"{archive} would not pass the plugin repository's checks")
    print(f"{archive} ({archive.stat().st_size / 1e6:.2f} MB) passes the plugin repository's checks")


if __name__ == "__main__":
    main()
