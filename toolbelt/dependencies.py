"""Where the plugin's own Python packages live, how they get there, and how the plugin knows they work.

QGIS embeds a Python that users cannot pip-install into (Debian 12, OSGeo4W and
QGIS.app alike). The plugin keeps onnxruntime, ukis-csmask, scikit-learn and the
batch runner's dask, and rasterio with its pure-Python helpers and scipy where
QGIS has no working copy of them, in a private folder
named after the Python version and a hash of the pins, and puts that folder
first on sys.path. The folder lies outside the plugin folder, because QGIS's
plugin manager deletes the plugin folder on every update. Its parent, the
dependency root, is the first of:

1. ``$S2CLOUDMASK_DEPS_ROOT`` when set (tests, CI, a folder shared by several installs);
2. ``<QGIS settings folder>/s2cloudmask-packages`` when the plugin lies in a QGIS
   profile (``<settings>/profiles/<profile>/python/plugins/<plugin>``), shared by all profiles;
3. ``<checkout>/.deps`` for a development checkout (a folder holding ``.git``), filled by ``make setup``;
4. ``<QGIS's default settings folder for this platform>/s2cloudmask-packages``.

This module needs nothing but the standard library and has no relative
imports, so it also runs as a script with QGIS's Python
(``python toolbelt/dependencies.py install``): the install dialog, ``make setup``
and a user's shell all install through that one command.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import importlib
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent.parent
REQUIREMENTS = PLUGIN_DIR / "resources" / "requirements.txt"
IF_MISSING_REQUIREMENTS = PLUGIN_DIR / "resources" / "requirements-if-missing.txt"  # where QGIS lacks them
ROOT_ENV = "S2CLOUDMASK_DEPS_ROOT"
ROOT_FOLDER_NAME = "s2cloudmask-packages"
LEGACY_FOLDER_NAME = ".deps"  # inside the plugin folder, before 0.2: moved out once
MANIFEST_NAME = "s2cloudmask-packages.json"
SELF_TEST_NAME = "self-test.txt"

# import name -> distribution name, in the order a user would want them reported
REQUIRED_MODULES: dict[str, str] = {
    "rasterio": "rasterio",
    "scipy": "scipy",
    "onnxruntime": "onnxruntime",
    "ukis_csmask": "ukis-csmask",
    "sklearn": "scikit-learn",  # reference masks only; imported when one is made
}
# found is enough for these: importing scikit-learn takes a second, too long for every QGIS start
FOUND_IS_ENOUGH = {"sklearn"}
# distribution names whose import name differs from the name with "-" as "_"
IMPORT_NAMES: dict[str, str] = {"attrs": "attr", "click-plugins": "click_plugins"}

INSTALL_MENU = "Raster > Sentinel-2 Cloud Mask > Install dependencies…"


# --- pins and folders ---------------------------------------------------------------------------


def requirement_lines(path: Path = REQUIREMENTS) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def distribution_name(line: str) -> str:
    return re.split(r"[=<>!~;\[ ]", line, maxsplit=1)[0].strip()


def import_name(distribution: str) -> str:
    return IMPORT_NAMES.get(distribution, distribution.replace("-", "_"))


def dependency_tag() -> str:
    """The folder name: Python version and a hash of every pin (a changed pin gives a new folder)."""
    pins = requirement_lines(REQUIREMENTS) + requirement_lines(IF_MISSING_REQUIREMENTS)
    digest = hashlib.sha1("\n".join(pins).encode()).hexdigest()[:8]
    return f"{python_tag()}-{digest}"


def python_tag() -> str:
    return f"py{sys.version_info.major}.{sys.version_info.minor}"


def qgis_settings_root() -> Path:
    """QGIS's settings folder (the one holding profiles/): QGIS_CUSTOM_CONFIG_PATH, else the platform default."""
    custom = os.environ.get("QGIS_CUSTOM_CONFIG_PATH")
    if custom:
        return Path(custom)
    system = platform.system()
    if system == "Windows":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "QGIS" / "QGIS3"
    if system == "Darwin":
        return Path.home() / "Library" / "Application Support" / "QGIS" / "QGIS3"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "QGIS" / "QGIS3"


def profile_settings_root(plugin_dir: Path) -> Path | None:
    """The settings folder above a plugin installed in a profile, or None when the plugin lies elsewhere."""
    parts = plugin_dir.parts
    if len(parts) >= 6 and parts[-2] == "plugins" and parts[-3] == "python" and parts[-5] == "profiles":
        return plugin_dir.parents[4]
    return None


def dependency_root(plugin_dir: Path = PLUGIN_DIR) -> Path:
    """The folder holding one package folder per Python version and pins (see the module's docstring)."""
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV])
    settings = profile_settings_root(plugin_dir)
    if settings is not None:
        return settings / ROOT_FOLDER_NAME
    if (plugin_dir / ".git").exists():
        return plugin_dir / LEGACY_FOLDER_NAME
    return qgis_settings_root() / ROOT_FOLDER_NAME


def dependency_dir(plugin_dir: Path = PLUGIN_DIR) -> Path:
    """The private folder for this Python version and these pins."""
    return dependency_root(plugin_dir) / dependency_tag()


# --- activation ---------------------------------------------------------------------------------


def legacy_dir(plugin_dir: Path = PLUGIN_DIR) -> Path | None:
    """Where versions before 0.2 installed the packages (inside the plugin folder), for a plugin installed in a
    QGIS profile and left to the profile rules; None for a checkout or a given root, whose .deps is no legacy."""
    if os.environ.get(ROOT_ENV) or profile_settings_root(plugin_dir) is None:
        return None
    return plugin_dir / LEGACY_FOLDER_NAME / dependency_tag()


def migrate_legacy(plugin_dir: Path = PLUGIN_DIR) -> None:
    """Move packages an older version installed inside the plugin folder to the dependency root, once."""
    legacy, target = legacy_dir(plugin_dir), dependency_dir(plugin_dir)
    if legacy is None or not legacy.is_dir() or target.exists():
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.moving-{os.getpid()}")
        shutil.move(str(legacy), str(staging))  # a rename on one disk; a copy across disks
        staging.rename(target)
        legacy.parent.rmdir()  # only when nothing else is left in it
    except OSError:
        return  # read-only or busy: activate() uses the packages where they are


def activate(plugin_dir: Path = PLUGIN_DIR) -> Path:
    """Put the private folder first on sys.path (once) so the required modules import from it."""
    migrate_legacy(plugin_dir)
    folder = dependency_dir(plugin_dir)
    legacy = legacy_dir(plugin_dir)
    if not folder.is_dir() and legacy is not None and legacy.is_dir():
        folder = legacy
    if folder.is_dir() and str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
        if (folder / "rasterio").is_dir():
            use_own_rasterio_data(folder)
    importlib.invalidate_caches()
    return folder


def use_own_rasterio_data(folder: Path) -> None:
    """Keep the plugin's own rasterio wheel and QGIS each on the GDAL and PROJ data that fit them.

    QGIS sets PROJ_LIB / GDAL_DATA for its own PROJ and GDAL; a wheel that read
    them fails with "no such table: metadata". rasterio re-reads those
    variables whenever a GDAL environment starts, so the data paths are set
    again after each start, through the libraries' own settings; QGIS's
    environment variables are never changed. Two cases:

    - the wheel's GDAL is its own (Windows, macOS, a plain Python): it gets the
      proj_data and gdal_data shipped inside the wheel;
    - QGIS's GDAL already serves the process's global symbols (Linux: qgis and
      qgis_process link it), so the wheel's rasterio runs on QGIS's GDAL and
      PROJ: QGIS's own data paths, read before rasterio's import touched them,
      are put back.
    """
    shared = gdal_in_global_namespace()
    if shared:
        from osgeo import gdal, osr  # QGIS's GDAL, present wherever it is in the global namespace

        proj_paths = list(osr.GetPROJSearchPaths() or [])
        gdal_data = gdal.GetConfigOption("GDAL_DATA")
    try:
        import rasterio.env  # the plugin's own wheel, imported here once to pin its data folders
        from rasterio._env import set_gdal_config
    except Exception:  # noqa: BLE001 - a broken wheel is reported by missing_modules(), never at load
        return
    package = Path(rasterio.env.__file__).parent
    if not package.is_relative_to(folder):
        return
    if shared:
        def pin() -> None:
            osr.SetPROJSearchPaths(proj_paths)
            gdal.SetConfigOption("GDAL_DATA", gdal_data)
    else:
        from rasterio._env import set_proj_data_search_path

        proj_paths, gdal_data = [str(package / "proj_data")], str(package / "gdal_data")

        def pin() -> None:
            set_proj_data_search_path(proj_paths[0])
            set_gdal_config("GDAL_DATA", gdal_data)

    class DataPinnedEnv(rasterio.env.GDALEnv):  # type: ignore[misc, name-defined]
        def start(self) -> None:
            super().start()
            pin()

    rasterio.env.GDALEnv = DataPinnedEnv
    pin()


def gdal_in_global_namespace() -> bool:
    """Whether a GDAL library already serves this process's global symbols (ELF platforms only)."""
    return platform.system() == "Linux" and hasattr(ctypes.CDLL(None), "GDALVersionInfo")


# --- what is missing ----------------------------------------------------------------------------


def _imports(module: str) -> bool:
    """Whether a module really imports (found is not enough: a wheel for another Python is found, then fails)."""
    if module in sys.modules:
        return True
    if module in FOUND_IS_ENOUGH:
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            return False
    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        for name in [name for name in sys.modules if name == module or name.startswith(module + ".")]:
            del sys.modules[name]  # a half-imported package must not hide a later, working one
        return False
    return True


def missing_modules() -> list[str]:
    """Distribution names of the required packages that cannot be imported, every one of them."""
    return [dist for module, dist in REQUIRED_MODULES.items() if not _imports(module)]


def missing_message(missing: list[str]) -> str:
    names = ", ".join(missing)
    return (
        f"The Python package(s) {names} needed by Sentinel-2 Cloud Mask are not installed or do not import. "
        f"In QGIS use {INSTALL_MENU}; from a shell run: {shell_command(install_command())}"
    )


# --- installing ---------------------------------------------------------------------------------


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
    """The pins to install: the plugin's own packages always; rasterio, its helpers and scipy only where QGIS
    lacks them."""
    optional = requirement_lines(IF_MISSING_REQUIREMENTS)
    lacking = set(unusable_in_qgis_python([import_name(distribution_name(line)) for line in optional]))
    return requirement_lines(REQUIREMENTS) + [
        line for line in optional if import_name(distribution_name(line)) in lacking
    ]


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


# --- self-test ----------------------------------------------------------------------------------


@dataclass
class SelfTest:
    ok: bool
    text: str


def self_test(plugin_dir: Path = PLUGIN_DIR) -> SelfTest:
    """Run _self_test_checks() in a fresh QGIS Python with the folder activated; its report is kept in the folder."""
    folder = dependency_dir(plugin_dir)
    done = subprocess.run(
        [python_executable(), str(Path(__file__).resolve()), "self-test-checks"],
        capture_output=True, text=True, timeout=600, check=False,
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


def _self_test_checks() -> None:
    """Open a JPEG 2000 band, reproject a window across CRSs, run an onnxruntime session: the three things the
    engine does, through the packages this process imports (the plugin's folder first)."""
    activate()
    # the packages under test, imported only here: this function runs in a child process made for it
    import numpy as np
    import onnxruntime
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.warp import Resampling, reproject, transform

    print(f"rasterio {rasterio.__version__} (GDAL {rasterio.__gdal_version__}) from {Path(rasterio.__file__).parent}")
    with tempfile.TemporaryDirectory() as scratch:
        band = Path(scratch) / "B04.jp2"
        data = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 1000) + 1
        profile = {"driver": "JP2OpenJPEG", "width": 64, "height": 64, "count": 1, "dtype": "uint16",
                   "crs": "EPSG:32629", "transform": from_origin(500000, 5900040, 60, 60), "QUALITY": 100,
                   "REVERSIBLE": "YES"}
        with rasterio.open(band, "w", **profile) as dataset:
            dataset.write(data, 1)
        with rasterio.open(band) as dataset:
            window = dataset.read(1, window=((8, 40), (8, 40)))
            if not np.array_equal(window, data[8:40, 8:40]):
                raise SystemExit("FAILED: a JPEG 2000 band read back different values")
            print("ok: JPEG 2000 band written and read back")
            lon, lat = transform("EPSG:32629", "EPSG:4326", [500000.0], [5900000.0])
            if not (abs(lon[0] + 9.0) < 1e-6 and 53.2 < lat[0] < 53.3):
                raise SystemExit(f"FAILED: UTM 29N (500000, 5900000) became ({lon[0]}, {lat[0]}); PROJ data is wrong")
            target = np.zeros((32, 32), dtype=np.float32)
            reproject(window.astype(np.float32), target, src_transform=dataset.window_transform(((8, 40), (8, 40))),
                      src_crs=dataset.crs, dst_transform=from_origin(-9.01, 53.245, 0.0009, 0.0006),
                      dst_crs="EPSG:4326", resampling=Resampling.nearest)
            if not np.isfinite(target).all() or target.max() <= 0:
                raise SystemExit("FAILED: reprojecting a window to EPSG:4326 gave no data")
            print("ok: window reprojected from EPSG:32629 to EPSG:4326")
    spec = importlib.util.find_spec("ukis_csmask")
    models = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.onnx")) if spec else []
    if not models:
        raise SystemExit("FAILED: ukis-csmask's models are not installed")
    session = onnxruntime.InferenceSession(str(models[0]), providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    shape = [dim if isinstance(dim, int) else 1 for dim in first.shape]
    shape[-2:] = [256, 256] if not all(isinstance(dim, int) for dim in first.shape[-2:]) else shape[-2:]
    outputs = session.run(None, {first.name: np.zeros(shape, dtype=np.float32)})
    print(f"ok: onnxruntime {onnxruntime.__version__} ran {models[0].name} on the CPU, output {outputs[0].shape}")


def main() -> None:
    parser = argparse.ArgumentParser(description="The plugin's private Python packages.")
    actions = ("path", "install", "self-test", "self-test-checks")
    parser.add_argument("action", nargs="?", default="path", choices=actions)
    parser.add_argument("--force", action="store_true", help="install again even if the folder exists")
    args = parser.parse_args()
    if args.action == "path":
        print(dependency_dir())
    elif args.action == "install":
        folder = install(force=args.force)
        if folder is None:
            return
        result = self_test()
        print(result.text)
        print(f"Self-test {'passed' if result.ok else 'FAILED'}; packages in {folder}")
        raise SystemExit(0 if result.ok else 3)
    elif args.action == "self-test":
        result = self_test()
        print(result.text)
        raise SystemExit(0 if result.ok else 3)
    else:
        _self_test_checks()


if __name__ == "__main__":
    main()
