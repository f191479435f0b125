"""Installing the pinned packages with QGIS's own Python: plan, pip into a temporary folder, rename, prune, self-test.

Run as a script by QGIS's Python (``python packages/installer.py install``): the
install dialog, ``make setup`` and a user's shell all install through that one
command.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script: import the sibling modules as their package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "packages"  # noqa: A001

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from . import PLUGIN_DIR  # noqa: E402
from .folders import ROOT_FOLDER_NAME, dependency_dir, python_tag  # noqa: E402
from .requirements import (  # noqa: E402
    IF_MISSING_REQUIREMENTS,
    REQUIREMENTS,
    distribution_name,
    for_this_mac,
    import_name,
    older_macos_pins,
    release_tuple,
    requirement_blocks,
    requirement_lines,
)

MANIFEST_NAME = "s2cloudmask-packages.json"
# scikit-learn, scipy, tornado, importlib-metadata and lazy-importer as pinned need Python 3.11 or newer
MINIMUM_PYTHON = (3, 11)
SELF_TEST_NAME = "self-test.txt"
SELF_TEST_SCRIPT = Path(__file__).resolve().with_name("self_test.py")


def python_executable() -> str:
    """The Python interpreter that runs QGIS's Python (sys.executable is qgis.exe on Windows)."""
    candidates = [
        Path(sys.prefix) / "python.exe",  # OSGeo4W / standalone Windows installer
        Path(sys.prefix) / "bin" / "python3",  # macOS QGIS.app
        Path(sys.exec_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}",
        Path(sys.executable),
    ]
    for candidate in candidates:
        if candidate.is_file() and "qgis" not in candidate.name.lower():
            return str(candidate)
    return shutil.which("python3") or sys.executable


def install_command(force: bool = True) -> list[str]:
    """The one install command: this file run by QGIS's Python (plan, pip, rename, prune, self-test)."""
    command = [python_executable(), "-u", str(Path(__file__).resolve()), "install"]
    return command + ["--force"] if force else command


def shell_command(command: list[str]) -> str:
    """The command as a user pastes it into their shell, quoted for paths with spaces."""
    return subprocess.list2cmdline(command) if platform.system() == "Windows" else shlex.join(command)


PROBE = (
    "import importlib, json, sys\n"
    "bad = []\n"
    "for name in sys.argv[1:]:\n"
    "    try:\n"
    "        importlib.import_module(name)\n"
    "    except Exception:\n"
    "        bad.append(name)\n"
    "print(json.dumps(bad))\n"
)


def unusable_in_qgis_python(modules: list[str]) -> list[str]:
    """Which modules QGIS's own Python cannot import, without the plugin's folder (a fresh interpreter)."""
    done = subprocess.run(
        [python_executable(), "-c", PROBE, *modules], capture_output=True, text=True, timeout=300, check=False
    )
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if done.returncode == 0 and lines else list(modules)


def install_plan() -> list[str]:
    """The pins to install: the plugin's own packages always; each block of requirements-if-missing.txt (rasterio
    with its helpers, scipy) only where QGIS cannot import the block's first package; on a Mac, the pins its
    macOS release has wheels for."""
    blocks = requirement_blocks(IF_MISSING_REQUIREMENTS)
    lacking = set(unusable_in_qgis_python([import_name(distribution_name(block[0])) for block in blocks]))
    optional = [line for block in blocks if import_name(distribution_name(block[0])) in lacking for line in block]
    return for_this_mac(requirement_lines(REQUIREMENTS) + optional, older_macos_pins(), mac_release(),
                        platform.machine())


def mac_release() -> tuple[int, ...] | None:
    """macOS's release as numbers (platform.mac_ver()), None elsewhere: pip's markers cannot compare it safely."""
    release = platform.mac_ver()[0]
    return release_tuple(release) if release else None


def pip_command(target: Path, lines: list[str]) -> list[str]:
    """pip into one folder; --no-deps keeps QGIS's own numpy in charge."""
    return [
        python_executable(), "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", "--no-input",
        "--target", str(target), *lines,
    ]


def prune(root: Path, keep: str) -> list[Path]:
    """Remove folders of this Python version that no pin uses any more, and installs that were cut short."""
    removed = []
    stale_before = time.time() - 24 * 3600
    for path in root.iterdir() if root.is_dir() else []:
        old_pins = path.name.startswith(python_tag() + "-") and path.name != keep
        cut_short = path.name.startswith(".") and path.stat().st_mtime < stale_before
        if path.is_dir() and (old_pins or cut_short):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def check_python(version: tuple[int, ...]) -> None:
    """Refuse, saying what to do, a Python older than the pins need (pip would only say it finds no version)."""
    if tuple(version[:2]) < MINIMUM_PYTHON:
        wanted = ".".join(map(str, MINIMUM_PYTHON))
        raise SystemExit(f"QGIS's Python {version[0]}.{version[1]} is too old for the plugin's packages, which need "
                         f"Python {wanted} or newer: use a QGIS whose Python is {wanted} or newer (Debian 12, "
                         "Ubuntu 24.04 and later, the current Windows installers).")


def install(plugin_dir: Path = PLUGIN_DIR, force: bool = False) -> Path | None:
    """Install the plan into a temporary folder and rename it into place only when pip succeeded; the folder,
    or None when it was there already and force is off.

    An interrupted install leaves a hidden ``.<tag>.partial-<pid>`` folder,
    never a folder that looks complete; prune() removes it a day later.
    """
    target = dependency_dir(plugin_dir)
    if target.is_dir() and not force:
        print(f"Packages already installed in {target}")
        return None
    check_python(sys.version_info)
    root = target.parent
    root.mkdir(parents=True, exist_ok=True)
    lines = install_plan()
    print(f"Installing {', '.join(lines)} into {target}", flush=True)
    staging = root / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    env = dict(os.environ, PIP_NO_WARN_SCRIPT_LOCATION="1")
    done = subprocess.run(pip_command(staging, lines), env=env, check=False)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise SystemExit(f"pip failed (exit code {done.returncode}); nothing was changed in {root}.")
    manifest = {"python": sys.version.split()[0], "pins": lines, "installed": time.strftime("%Y-%m-%d %H:%M:%S")}
    (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    retired = root / f".{target.name}.retired-{os.getpid()}"
    if target.exists():
        target.rename(retired)
    staging.rename(target)
    shutil.rmtree(retired, ignore_errors=True)
    if root.name == ROOT_FOLDER_NAME:  # never in a checkout's .deps or a given root, which other checkouts share
        for path in prune(root, keep=target.name):
            print(f"Removed {path} (no pin uses it)")
    return target


@dataclass
class SelfTest:
    ok: bool
    text: str


def self_test(plugin_dir: Path = PLUGIN_DIR) -> SelfTest:
    """Run self_test.py in a fresh QGIS Python with the folder activated; its report is kept in the folder."""
    folder = dependency_dir(plugin_dir)
    done = subprocess.run(
        [python_executable(), str(SELF_TEST_SCRIPT)], capture_output=True, text=True, timeout=600, check=False,
    )
    text = (done.stdout + done.stderr).strip()
    result = SelfTest(done.returncode == 0, text)
    if folder.is_dir():
        status = "passed" if result.ok else "FAILED"
        (folder / SELF_TEST_NAME).write_text(f"Self-test {status} {time.strftime('%Y-%m-%d %H:%M')}\n{text}\n", "utf-8")
    return result


def last_self_test(plugin_dir: Path = PLUGIN_DIR) -> str:
    path = dependency_dir(plugin_dir) / SELF_TEST_NAME
    return path.read_text(encoding="utf-8").strip() if path.is_file() else "not run"


def main() -> None:
    parser = argparse.ArgumentParser(description="The plugin's private Python packages.")
    parser.add_argument("action", nargs="?", default="path", choices=("path", "install", "self-test"))
    parser.add_argument("--force", action="store_true", help="install again even if the folder exists")
    args = parser.parse_args()
    if args.action == "path":
        print(dependency_dir())
        return
    if args.action == "install":
        folder = install(force=args.force)
        if folder is None:
            return
    result = self_test()
    print(result.text)
    if args.action == "install":
        print(f"Self-test {'passed' if result.ok else 'FAILED'}; packages in {folder}")
    raise SystemExit(0 if result.ok else 3)


if __name__ == "__main__":
    main()
