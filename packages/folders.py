"""Where the plugin's package folder lies.

One folder per Python version and set of pins (``py3.11-<hash>``), so a changed
pin gives a new folder. The folder lies outside the plugin folder, because
QGIS's plugin manager deletes the plugin folder on every update. Its parent,
the dependency root, is the first of:

1. ``$S2CLOUDMASK_DEPS_ROOT`` when set (tests, CI, a folder shared by several installs);
2. ``<QGIS settings folder>/s2cloudmask-packages`` when the plugin lies in a QGIS
   profile (``<settings>/profiles/<profile>/python/plugins/<plugin>``), shared by all profiles;
3. ``<checkout>/.deps`` for a development checkout (a folder holding ``.git``), filled by ``make setup``;
4. ``<QGIS's default settings folder for this platform>/s2cloudmask-packages``.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from pathlib import Path

from . import PLUGIN_DIR
from .requirements import PIN_FILES, requirement_lines

ROOT_ENV = "S2CLOUDMASK_DEPS_ROOT"
ROOT_FOLDER_NAME = "s2cloudmask-packages"
LEGACY_FOLDER_NAME = ".deps"  # inside the plugin folder, before 0.2: moved out once


def dependency_tag() -> str:
    """The folder name: Python version and a hash of every pin (a changed pin gives a new folder)."""
    pins = [line for path in PIN_FILES for line in requirement_lines(path)]
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


def legacy_dir(plugin_dir: Path = PLUGIN_DIR) -> Path | None:
    """Where versions before 0.2 installed the packages (inside the plugin folder), for a plugin installed in a
    QGIS profile and left to the profile rules; None for a checkout or a given root, whose .deps is no legacy."""
    if os.environ.get(ROOT_ENV) or profile_settings_root(plugin_dir) is None:
        return None
    return plugin_dir / LEGACY_FOLDER_NAME / dependency_tag()
