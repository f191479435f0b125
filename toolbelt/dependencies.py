"""Where the plugin's own Python packages live, and how they get there.

QGIS embeds the system Python, which (on Debian 12 and in OSGeo4W alike) does
not let users pip-install into it. The plugin therefore keeps onnxruntime,
ukis-csmask and scikit-learn in a private folder beside its code, named after the Python version
and a hash of resources/requirements.txt, and puts that folder on sys.path when
it loads. The QGIS GUI, qgis_process and the tests all go through activate(),
so nobody sets PYTHONPATH by hand, and changing a pin simply means a new folder.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent.parent
REQUIREMENTS = PLUGIN_DIR / "resources" / "requirements.txt"

# import name -> distribution name, in the order a user would want them reported
REQUIRED_MODULES: dict[str, str] = {
    "onnxruntime": "onnxruntime",
    "ukis_csmask": "ukis-csmask",
    "sklearn": "scikit-learn",  # reference masks only; imported when one is made
}


def requirement_lines() -> list[str]:
    lines = REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def dependency_tag() -> str:
    digest = hashlib.sha1("\n".join(requirement_lines()).encode()).hexdigest()[:8]
    return f"py{sys.version_info.major}.{sys.version_info.minor}-{digest}"


def dependency_dir(plugin_dir: Path = PLUGIN_DIR) -> Path:
    """The private folder for this Python version and these pins."""
    return plugin_dir / ".deps" / dependency_tag()


def activate(plugin_dir: Path = PLUGIN_DIR) -> Path:
    """Put the private folder on sys.path (once) so the required modules import."""
    folder = dependency_dir(plugin_dir)
    if folder.is_dir() and str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
        importlib.invalidate_caches()
    return folder


def missing_modules() -> list[str]:
    """Distribution names of the required packages that cannot be imported."""
    return [dist for module, dist in REQUIRED_MODULES.items() if importlib.util.find_spec(module) is None]


def missing_message(missing: list[str]) -> str:
    names = ", ".join(missing)
    return (
        f"The Python package(s) {names} needed by Sentinel-2 Cloud Mask are not installed. "
        "In QGIS use Raster > Sentinel-2 Cloud Mask > Install dependencies; "
        f"from a shell run: {' '.join(install_command())}"
    )


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


def install_command(plugin_dir: Path = PLUGIN_DIR) -> list[str]:
    """pip command that fills the private folder; --no-deps keeps QGIS's own numpy in charge."""
    return [
        python_executable(),
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--upgrade",
        "--disable-pip-version-check",
        "--no-input",
        "--target",
        str(dependency_dir(plugin_dir)),
        *requirement_lines(),
    ]


@dataclass
class InstallResult:
    ok: bool
    output: str


def run_install(line_callback=None, plugin_dir: Path = PLUGIN_DIR) -> InstallResult:
    """Run pip, streaming its output line by line to line_callback (for a progress view)."""
    target = dependency_dir(plugin_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PIP_NO_WARN_SCRIPT_LOCATION="1")
    try:
        process = subprocess.Popen(
            install_command(plugin_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
    except OSError as exc:
        return InstallResult(False, f"Could not start pip ({exc}). Run this in a shell instead:\n"
                             + " ".join(install_command(plugin_dir)))
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if line_callback is not None:
            line_callback(line.rstrip("\n"))
    ok = process.wait() == 0
    if ok:
        activate(plugin_dir)
    return InstallResult(ok, "".join(lines))


if __name__ == "__main__":
    # `python3 -m toolbelt.dependencies` prints the private folder (used by the Makefile).
    print(dependency_dir())
