"""Install the plugin (and its private Python packages) into a QGIS profile and enable it.

After this, the QGIS GUI loads the plugin and `qgis_process.bin run s2cloudmask:...`
finds its provider. Reuses the packages `make setup` put in .deps when present,
otherwise runs pip into the installed copy.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolbelt import dependencies  # noqa: E402
from tools.package import PLUGIN_FOLDER, REPO, plugin_files  # noqa: E402


def default_settings_dir() -> Path:
    """QGIS's own default, or QGIS_CUSTOM_CONFIG_PATH when set (as QGIS itself honours it)."""
    custom = os.environ.get("QGIS_CUSTOM_CONFIG_PATH")
    if custom:
        return Path(custom)
    system = platform.system()
    if system == "Windows":
        return Path(os.environ["APPDATA"]) / "QGIS" / "QGIS3"
    if system == "Darwin":
        return Path.home() / "Library" / "Application Support" / "QGIS" / "QGIS3"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "QGIS" / "QGIS3"


def set_enabled(settings_dir: Path, profile: str, enabled: bool) -> Path:
    """Write [PythonPlugins] s2cloudmask=true|false with Qt's own INI writer."""
    from PyQt5.QtCore import QSettings

    ini = settings_dir / "profiles" / profile / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(ini), QSettings.IniFormat)
    settings.setValue(f"PythonPlugins/{PLUGIN_FOLDER}", enabled)
    settings.sync()
    return ini


def install(settings_dir: Path, profile: str) -> Path:
    target = settings_dir / "profiles" / profile / "python" / "plugins" / PLUGIN_FOLDER
    staging = target.with_name(PLUGIN_FOLDER + ".installing")
    shutil.rmtree(staging, ignore_errors=True)
    for relative in plugin_files():
        destination = staging / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relative, destination)

    built = dependencies.dependency_dir(REPO)
    installed = dependencies.dependency_dir(staging)
    if built.is_dir():
        shutil.copytree(built, installed, symlinks=True)
    else:
        subprocess.run(dependencies.install_command(staging), check=True)

    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    set_enabled(settings_dir, profile, True)
    return target


def uninstall(settings_dir: Path, profile: str) -> Path:
    target = settings_dir / "profiles" / profile / "python" / "plugins" / PLUGIN_FOLDER
    shutil.rmtree(target, ignore_errors=True)
    set_enabled(settings_dir, profile, False)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings-dir", type=Path, default=None, help="QGIS settings folder (holds profiles/)")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--uninstall", action="store_true")
    args = parser.parse_args()
    settings_dir = args.settings_dir or default_settings_dir()
    if args.uninstall:
        print(f"Removed {uninstall(settings_dir, args.profile)}")
    else:
        print(f"Installed and enabled {install(settings_dir, args.profile)}")


if __name__ == "__main__":
    main()
