"""Install the plugin (and its private Python packages) into a QGIS profile and enable it.

After this, the QGIS GUI loads the plugin and `qgis_process.bin run s2cloudmask:...`
finds its provider. The packages go where the installed plugin looks for them
(beside the profiles, see packages/folders.py): copied from the folder
`make setup` filled when present, otherwise installed by the plugin's own installer.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from qgis.PyQt.QtCore import QSettings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from packages.folders import dependency_dir, qgis_settings_root  # noqa: E402
from tools.package import PLUGIN_FOLDER, REPO, plugin_files  # noqa: E402


def set_enabled(settings_dir: Path, profile: str, enabled: bool) -> Path:
    """Write [PythonPlugins] s2cloudmask=true|false with Qt's own INI writer."""
    ini = settings_dir / "profiles" / profile / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(ini), QSettings.Format.IniFormat)
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

    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    install_packages(target)
    set_enabled(settings_dir, profile, True)
    return target


def install_packages(plugin: Path) -> Path:
    """Put the packages where the installed plugin looks: a copy (hard links where possible) of the checkout's
    folder, renamed into place when complete, or the plugin's own installer where the checkout has none."""
    built, installed = dependency_dir(REPO), dependency_dir(plugin)
    if installed.is_dir():
        return installed
    if not built.is_dir():
        subprocess.run([sys.executable, str(plugin / "packages" / "installer.py"), "install"], check=True)
        return installed
    staging = installed.with_name(f".{installed.name}.partial-{os.getpid()}")
    installed.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(built, staging, symlinks=True, copy_function=_link_or_copy)
    staging.rename(installed)
    return installed


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


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
    settings_dir = args.settings_dir or qgis_settings_root()
    if args.uninstall:
        print(f"Removed {uninstall(settings_dir, args.profile)}")
    else:
        print(f"Installed and enabled {install(settings_dir, args.profile)}")


if __name__ == "__main__":
    main()
