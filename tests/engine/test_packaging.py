"""The release zip and the profile installation contain the plugin and nothing of the development tree."""

from __future__ import annotations

import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.sandbox_env import REPO

sys.path.insert(0, str(REPO))
from tools import install_plugin, package  # noqa: E402


def test_zip_holds_one_plugin_folder_without_development_files(tmp_path: Path):
    archive = package.build_zip(tmp_path / "s2cloudmask.zip")
    names = zipfile.ZipFile(archive).namelist()
    assert {name.split("/")[0] for name in names} == {"s2cloudmask"}
    for required in ("metadata.txt", "__init__.py", "plugin.py", "LICENSE",
                     "__about__.py", "processing/provider.py", "inference/masking/engine.py", "ui/dock.py", "resources/icons/icon.svg"):
        assert f"s2cloudmask/{required}" in names, required
    for name in names:
        parts = Path(name).parts
        assert not {"tests", "tools", ".deps", ".venv", "__pycache__", ".git", ".ci"} & set(parts), name
        assert not name.endswith(".pyc")


def test_zip_version_comes_from_metadata():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO / "metadata.txt")
    assert package.version() == parser["general"]["version"]


def test_install_into_profile_enables_plugin_with_its_dependencies(tmp_path: Path):
    settings = tmp_path / "QGIS3"
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "install_plugin.py"), "--settings-dir", str(settings)],
        capture_output=True, text=True, check=True,
    )
    target = settings / "profiles" / "default" / "python" / "plugins" / "s2cloudmask"
    assert str(target) in result.stdout
    assert (target / "metadata.txt").is_file()
    from s2cloudmask.toolbelt import dependencies

    assert (dependencies.dependency_dir(target) / "onnxruntime").is_dir()
    ini = configparser.ConfigParser()
    ini.read(settings / "profiles" / "default" / "QGIS" / "QGIS3.ini")
    assert ini["PythonPlugins"]["s2cloudmask"] == "true"

    install_plugin.uninstall(settings, "default")
    assert not target.exists()
    ini.read(settings / "profiles" / "default" / "QGIS" / "QGIS3.ini")
    assert ini["PythonPlugins"]["s2cloudmask"] == "false"
