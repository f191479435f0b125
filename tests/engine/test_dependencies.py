"""The private dependency folder: named after Python and the pins, activated on load, reported when missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from s2cloudmask.toolbelt import dependencies, diagnostics

from tests.sandbox_env import REPO


def test_folder_name_follows_python_version_and_pins():
    tag = dependencies.dependency_tag()
    assert tag.startswith(f"py{sys.version_info.major}.{sys.version_info.minor}-")
    assert dependencies.dependency_dir() == REPO / ".deps" / tag


def test_required_packages_import_from_the_private_folder():
    import onnxruntime

    assert dependencies.missing_modules() == []
    assert Path(onnxruntime.__file__).is_relative_to(dependencies.dependency_dir())


def test_missing_packages_are_named_with_what_to_do(tmp_path: Path):
    """A Python without the folder on its path reports every package and the way to install them."""
    code = (
        "import sys; sys.path.insert(0, %r); "
        "from toolbelt import dependencies as d; m = d.missing_modules(); print(m); print(d.missing_message(m))"
    ) % str(REPO)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert "['onnxruntime', 'ukis-csmask', 'scikit-learn']" in out
    assert "Install dependencies" in out and "pip" in out


def test_install_command_never_touches_qgis_numpy():
    command = dependencies.install_command()
    assert "--no-deps" in command and "--target" in command
    assert str(dependencies.dependency_dir()) in command
    assert "numpy" not in " ".join(command)


def test_diagnostics_lists_versions_providers_and_models():
    text = diagnostics.report()
    for needle in ("QGIS: 3.", "Python: 3.", "GDAL: ", "rasterio: ", "numpy: ", "onnxruntime: 1.", "scikit-learn: 1.",
                   "CPUExecutionProvider", "model_6b_l2a.onnx"):
        assert needle in text, needle


def test_scikit_learn_fits_a_forest_with_qgis_numpy_and_scipy():
    """scikit-learn comes from the private folder and works on the numpy and scipy QGIS ships."""
    import numpy
    import scipy
    import sklearn
    from sklearn.ensemble import RandomForestClassifier

    assert Path(sklearn.__file__).is_relative_to(dependencies.dependency_dir())
    assert not Path(numpy.__file__).is_relative_to(dependencies.dependency_dir())
    assert not Path(scipy.__file__).is_relative_to(dependencies.dependency_dir())
    features = numpy.random.default_rng(0).random((200, 3))
    labels = (features[:, 0] > 0.5).astype(int)
    assert RandomForestClassifier(n_estimators=10, random_state=0).fit(features, labels).score(features, labels) > 0.9
