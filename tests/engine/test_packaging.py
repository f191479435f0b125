"""The release zip and the profile installation contain the plugin and nothing of the development tree."""

from __future__ import annotations

import configparser
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from s2cloudmask.packages import folders

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


def test_make_package_names_the_zip_after_the_version_and_checks_it(tmp_path: Path):
    done = subprocess.run([sys.executable, str(REPO / "tools" / "package.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO / "metadata.txt")
    assert [path.name for path in tmp_path.iterdir()] == [f"s2cloudmask-{parser['general']['version']}.zip"]
    assert "passes the plugin repository's checks" in done.stdout


def test_install_into_profile_enables_plugin_with_its_dependencies(tmp_path: Path):
    settings = tmp_path / "QGIS3"
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "install_plugin.py"), "--settings-dir", str(settings)],
        capture_output=True, text=True, check=True,
    )
    target = settings / "profiles" / "default" / "python" / "plugins" / "s2cloudmask"
    assert str(target) in result.stdout
    assert (target / "metadata.txt").is_file()
    assert (folders.dependency_dir(target) / "onnxruntime").is_dir()
    ini = configparser.ConfigParser()
    ini.read(settings / "profiles" / "default" / "QGIS" / "QGIS3.ini")
    assert ini["PythonPlugins"]["s2cloudmask"] == "true"

    install_plugin.uninstall(settings, "default")
    assert not target.exists()
    ini.read(settings / "profiles" / "default" / "QGIS" / "QGIS3.ini")
    assert ini["PythonPlugins"]["s2cloudmask"] == "false"


def test_zip_passes_the_plugin_repository_checks(tmp_path: Path):
    archive = package.build_zip(tmp_path / "s2cloudmask.zip")
    assert package.check_zip(archive) == []
    assert archive.stat().st_size < 2_000_000  # code, styles, icon and model cards; the models come from ukis-csmask


def test_zip_checks_refuse_what_the_repository_refuses(tmp_path: Path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("s2cloudmask/__init__.py", "def classFactory(iface): pass\n")
        archive.writestr("s2cloudmask/metadata.txt", "[general]\nname=x\ntracker=http://bugs\n")
        archive.writestr("s2cloudmask/LICENSE", "GPL\n")
        archive.writestr("s2cloudmask/__pycache__/plugin.cpython-311.pyc", b"\0")
        archive.writestr("s2cloudmask/.deps/py3.11-0/onnxruntime/capi/lib.so", b"\0")
    problems = " | ".join(package.check_zip(bad))
    for needle in ("__pycache__", ".deps", "a compiled or binary file"):
        assert needle in problems, needle
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("s2cloudmask/__init__.py", "def classFactory(iface): pass\n")
        archive.writestr("s2cloudmask/metadata.txt", "[general]\nname=x\ntracker=bugs\nicon=icon.png\n")
        archive.writestr("s2cloudmask/LICENSE", "GPL\n")
    problems = " | ".join(package.check_zip(bad))
    for needle in ("lacks about", "lacks repository", "tracker is not a web address", "icon.png is not in the zip"):
        assert needle in problems, needle


def test_translations_file_holds_the_strings_in_the_contexts_the_code_asks(tmp_path: Path):
    """pylupdate5 over the QGIS-side sources (as `make translations` runs it) finds the menu entries and algorithm
    names under the contexts the code translates them in."""
    sources = ["plugin.py", *sorted(str(p.relative_to(REPO)) for p in (REPO / "processing").glob("*.py")),
               *sorted(str(p.relative_to(REPO)) for p in (REPO / "ui").glob("*.py")), "ui/dock.ui"]
    ts = tmp_path / "s2cloudmask.ts"
    subprocess.run(["pylupdate5", "-noobsolete", *sources, "-ts", str(ts)], cwd=REPO, check=True, capture_output=True)
    contexts = {
        context.findtext("name"): {message.findtext("source") for message in context.iter("message")}
        for context in ElementTree.parse(ts).getroot().iter("context")
    }
    assert "Install dependencies…" in contexts["CloudMaskPlugin"]
    assert "Mask clouds in a Sentinel-2 product" in contexts["MaskProductAlgorithm"]
    assert "Cloud masking" in contexts["MaskingAlgorithm"]
    assert "Sentinel-2 Cloud Mask" in contexts["CloudMaskProvider"]
    assert (REPO / "i18n" / "s2cloudmask.ts").is_file()
