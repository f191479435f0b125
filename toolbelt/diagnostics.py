"""A plain-text description of the installation, for bug reports.

Every probe is guarded: diagnostics are most needed exactly when something is
missing or broken, so a failing import is reported, never raised.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import platform
import sys
from pathlib import Path

from ..__about__ import plugin_version
from ..packages import PLUGIN_DIR
from ..packages.activation import missing_modules
from ..packages.folders import dependency_dir, profile_settings_root
from ..packages.installer import last_self_test, python_executable


def _version(module_name: str, attribute: str = "__version__") -> str:
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is what we report
        return f"not available ({type(exc).__name__}: {exc})"
    return str(getattr(module, attribute, "unknown"))


def _installed_version(distribution: str) -> str:
    """A package's version from its metadata, without importing it (scikit-learn takes a second to import)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _onnxruntime_providers() -> str:
    try:
        import onnxruntime  # optional until installed: its absence is what this line reports
    except Exception as exc:  # noqa: BLE001
        return f"not available ({type(exc).__name__})"
    return ", ".join(onnxruntime.get_available_providers())


def _rasterio_origin() -> str:
    """Whose rasterio runs, and on which GDAL: QGIS's Python's own, or the plugin's wheel."""
    try:
        import rasterio  # optional until installed: its absence is what this line reports
    except Exception as exc:  # noqa: BLE001
        return f"not available ({type(exc).__name__}: {exc})"
    folder = Path(rasterio.__file__).parent
    own = folder.is_relative_to(dependency_dir())
    where = "the plugin's own wheel" if own else "QGIS's Python"
    return f"{rasterio.__version__} from {where} ({folder}), running on GDAL {rasterio.__gdal_version__}"


def _model_files() -> list[str]:
    spec = importlib.util.find_spec("ukis_csmask")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations)))
    return [str(path) for path in sorted(folder.glob("*.onnx"))]


def _qgis_version() -> str:
    try:
        from qgis.core import Qgis  # diagnostics also run without QGIS (a plain Python, a bug report script)
    except ImportError:
        return "not running inside QGIS"
    return Qgis.QGIS_VERSION


def _profile() -> str:
    """The QGIS profile the plugin is installed in, and what that means for qgis_process."""
    settings = profile_settings_root(PLUGIN_DIR)
    if settings is None:
        return f"not installed in a QGIS profile ({PLUGIN_DIR})"
    profile = PLUGIN_DIR.parents[2].name
    if profile == "default":
        return "default"
    return (
        f"{profile}; qgis_process reads only the profile named 'default': set "
        f"QGIS_PLUGINPATH={PLUGIN_DIR.parent} and run 'qgis_process plugins enable "
        f"{PLUGIN_DIR.name}' once (README, 'qgis_process and profiles')"
    )


def report() -> str:
    """The text a user pastes into a bug report."""
    try:
        from osgeo import gdal  # reported, never required: a broken GDAL is what a bug report needs to show

        gdal_version = gdal.__version__
    except ImportError:
        gdal_version = "not available"
    lines = [
        f"Sentinel-2 Cloud Mask {plugin_version()}",
        f"QGIS: {_qgis_version()}",
        f"Python: {sys.version.split()[0]} ({python_executable()}; Install dependencies runs pip with it)",
        f"Platform: {platform.platform()}",
        f"QGIS profile: {_profile()}",
        f"GDAL: {gdal_version}",
        f"rasterio: {_rasterio_origin()}",
        f"numpy: {_version('numpy')}",
        f"onnxruntime: {_version('onnxruntime')}",
        f"onnxruntime execution providers: {_onnxruntime_providers()}",
        f"ukis-csmask: {_version('ukis_csmask')}",
        f"scikit-learn: {_installed_version('scikit-learn')}",
        f"jinja2 (QGIS's, for the HTML reports): {_version('jinja2')}",
        f"Dependency folder: {dependency_dir()}"
        + ("" if dependency_dir().is_dir() else " (missing)"),
        f"Missing packages: {', '.join(missing_modules()) or 'none'}",
        f"Dependency self-test: {last_self_test()}",
        "Model files:",
    ]
    models = _model_files()
    lines += [f"  {path}" for path in models] or ["  none found (install ukis-csmask)"]
    return "\n".join(lines)
