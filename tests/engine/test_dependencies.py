"""The private dependency folder: where it lies, how it is installed, moved and pruned, and how missing packages
are reported."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import onnxruntime
import pytest
import rasterio
from child_python import QGIS_PYTHON, plugin_env
from s2cloudmask.packages import activation, folders, installer, requirements
from s2cloudmask.toolbelt import diagnostics

from tests.sandbox_env import PACKAGE_ROOT, REPO


def test_folder_name_follows_python_version_and_pins():
    tag = folders.dependency_tag()
    assert tag.startswith(f"py{sys.version_info.major}.{sys.version_info.minor}-")
    assert folders.dependency_dir() == REPO / ".deps" / tag  # the sandbox names the checkout's folder


def test_root_lies_beside_the_profiles_outside_the_plugin_folder(tmp_path, monkeypatch):
    """The plugin manager deletes the plugin folder on updates: the packages live beside the profiles instead."""
    monkeypatch.delenv(folders.ROOT_ENV)
    plugin = tmp_path / "QGIS3" / "profiles" / "work" / "python" / "plugins" / "s2cloudmask"
    assert folders.dependency_root(plugin) == tmp_path / "QGIS3" / "s2cloudmask-packages"
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    assert folders.dependency_root(checkout) == checkout / ".deps"
    monkeypatch.setenv("QGIS_CUSTOM_CONFIG_PATH", str(tmp_path / "custom"))
    assert folders.dependency_root(tmp_path / "elsewhere") == tmp_path / "custom" / "s2cloudmask-packages"
    monkeypatch.setenv(folders.ROOT_ENV, str(tmp_path / "given"))
    assert folders.dependency_root(plugin) == tmp_path / "given"


def test_required_packages_import_from_the_private_folder():
    assert activation.missing_modules() == []
    assert Path(onnxruntime.__file__).is_relative_to(folders.dependency_dir())


def test_missing_packages_are_all_named_with_what_to_do(tmp_path: Path):
    """A Python whose dependency root is empty reports every missing package and the command to run."""
    code = ("from s2cloudmask.packages.activation import missing_message, missing_modules; m = missing_modules(); "
            "print(m); print(missing_message(m))")
    done = subprocess.run([QGIS_PYTHON, "-c", code], env=plugin_env([PACKAGE_ROOT], tmp_path), capture_output=True,
                          text=True, check=True, cwd=tmp_path)
    assert "['onnxruntime', 'ukis-csmask', 'scikit-learn']" in done.stdout
    assert "Install dependencies" in done.stdout and "installer.py install" in done.stdout


def test_shell_command_survives_paths_with_spaces():
    command = ["/Applications/QGIS 3.40.app/Contents/MacOS/bin/python3", "-u", "/Users/a b/plugins/x/packages/installer.py",
               "install"]
    assert shlex.split(installer.shell_command(command)) == command


def test_pip_never_touches_qgis_numpy(tmp_path):
    command = installer.pip_command(tmp_path / "target", installer.install_plan())
    assert "--no-deps" in command and command[command.index("--target") + 1] == str(tmp_path / "target")
    assert not any(part.startswith("numpy") for part in command)


def test_rasterio_helpers_come_only_with_a_missing_rasterio(monkeypatch):
    """A QGIS whose rasterio works gets none of rasterio's helpers, even where one of them is absent (Debian's
    rasterio 1.5 needs no cligj); a QGIS without rasterio gets the whole block."""
    own = requirements.requirement_lines(requirements.REQUIREMENTS)
    rasterio_block, scipy_block, *_stac_blocks = requirements.requirement_blocks(requirements.IF_MISSING_REQUIREMENTS)
    for lacking, extra in ((["cligj", "click_plugins"], []), (["rasterio"], rasterio_block),
                           (["scipy", "cligj"], scipy_block)):
        monkeypatch.setattr(installer, "unusable_in_qgis_python", lambda modules, lacking=lacking: [
            module for module in modules if module in lacking])
        assert installer.install_plan() == own + extra, lacking


def test_a_failed_install_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    """pip fails (a pin that does not exist): no folder under the final name, no partial folder left."""
    monkeypatch.setenv(folders.ROOT_ENV, str(tmp_path))
    monkeypatch.setattr(installer, "install_plan", lambda: ["s2cloudmask-no-such-package==0.0.0"])
    with pytest.raises(SystemExit, match="pip failed"):
        installer.install(force=True)
    assert list(tmp_path.iterdir()) == []


def test_packages_inside_an_old_plugin_folder_move_out_once(tmp_path):
    """A 0.1 install kept them in <plugin>/.deps: the first load moves them beside the profiles and uses them."""
    plugin = tmp_path / "QGIS3" / "profiles" / "default" / "python" / "plugins" / "s2cloudmask"
    old = plugin / ".deps" / folders.dependency_tag()
    (old / "marker_pkg").mkdir(parents=True)
    (old / "marker_pkg" / "__init__.py").write_text("WHERE = 'moved'\n")
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
        "from packages.activation import activate; folder = activate(Path(sys.argv[2])); "
        "import marker_pkg; print(folder); print(marker_pkg.__file__)"
    )
    env = plugin_env([], None)
    done = subprocess.run([QGIS_PYTHON, "-c", code, str(REPO), str(plugin)], env=env, capture_output=True, text=True,
                          check=True)
    moved = tmp_path / "QGIS3" / "s2cloudmask-packages" / folders.dependency_tag()
    assert done.stdout.splitlines() == [str(moved), str(moved / "marker_pkg" / "__init__.py")]
    assert not (plugin / ".deps").exists()


def test_prune_removes_folders_no_pin_uses_and_installs_cut_short(tmp_path):
    tag = folders.dependency_tag()
    python = folders.python_tag()
    for name in (tag, f"{python}-00000000", "py2.7-12345678", f".{tag}.partial-1"):
        (tmp_path / name).mkdir()
    stale = tmp_path / f".{tag}.partial-1"
    day_ago = stale.stat().st_mtime - 2 * 24 * 3600
    os.utime(stale, (day_ago, day_ago))
    removed = installer.prune(tmp_path, keep=tag)
    assert sorted(path.name for path in removed) == sorted([f"{python}-00000000", f".{tag}.partial-1"])
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([tag, "py2.7-12345678"])


def test_self_test_of_the_checkout_folder_passes():
    result = installer.self_test()
    assert result.ok, result.text
    for line in ("ok: JPEG 2000 band", "ok: window reprojected", "ok: onnxruntime"):
        assert line in result.text
    assert installer.last_self_test().startswith("Self-test passed")


def test_diagnostics_lists_versions_providers_models_and_the_self_test():
    text = diagnostics.report()
    for needle in ("QGIS: 3.", "Python: 3.", "GDAL: ", f"rasterio: {rasterio.__version__} from QGIS's Python", "numpy: ",
                   "onnxruntime: 1.", "scikit-learn: 1.", "CPUExecutionProvider", "model_6b_l2a.onnx",
                   "Dependency self-test: Self-test passed"):
        assert needle in text, needle


def test_scikit_learn_fits_a_forest_with_qgis_numpy_and_scipy():
    """scikit-learn comes from the private folder and works on the numpy and scipy QGIS ships."""
    import numpy
    import scipy
    import sklearn
    from sklearn.ensemble import RandomForestClassifier

    assert Path(sklearn.__file__).is_relative_to(folders.dependency_dir())
    assert not Path(numpy.__file__).is_relative_to(folders.dependency_dir())
    assert not Path(scipy.__file__).is_relative_to(folders.dependency_dir())
    features = numpy.random.default_rng(0).random((200, 3))
    labels = (features[:, 0] > 0.5).astype(int)
    assert RandomForestClassifier(n_estimators=10, random_state=0).fit(features, labels).score(features, labels) > 0.9
