"""Putting the package folder first on sys.path, and saying which required package does not import."""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import os
import platform
import shutil
import sys
from pathlib import Path

from . import PLUGIN_DIR
from .folders import dependency_dir, legacy_dir
from .installer import install_command, shell_command

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

INSTALL_MENU = "Raster > Sentinel-2 Cloud Mask > Install dependencies…"


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


def rasterio_has_own_gdal(plugin_dir: Path = PLUGIN_DIR) -> bool:
    """Whether rasterio runs on a GDAL of its own (the plugin's wheel outside Linux) rather than on QGIS's.

    A setting made through QGIS's GDAL (osgeo) then does not reach rasterio's reads, and one made through
    rasterio does not reach QGIS: the two libraries keep separate settings.
    """
    import rasterio  # the caller reads through rasterio, so it is imported already

    package = Path(rasterio.__file__).parent
    return package.is_relative_to(dependency_dir(plugin_dir)) and not gdal_in_global_namespace()


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
