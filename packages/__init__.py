"""The plugin's own Python packages: where they live, how they get there, how the plugin knows they work.

QGIS embeds a Python that users cannot pip-install into (Debian 12, OSGeo4W and
QGIS.app alike). The plugin keeps onnxruntime, ukis-csmask, scikit-learn and the
batch runner's dask, and rasterio with its pure-Python helpers and scipy where
QGIS has no working copy of them, in a private folder named after the Python
version and a hash of the pins, and puts that folder first on sys.path.

This package lies below both the engine (inference/) and the QGIS glue
(toolbelt/, ui/, processing/): it needs nothing but the standard library, so
its installer also runs as a script with QGIS's Python
(``python packages/installer.py install``): the install dialog, ``make setup``
and a user's shell all install through that one command.

- requirements.py: the pin files and how their lines are read;
- folders.py: where the package folder lies (see its docstring for the order);
- activation.py: putting the folder on sys.path, and saying what is missing;
- installer.py: plan, pip into a temporary folder, rename, prune, self-test;
- self_test.py: the checks the self-test runs in a fresh QGIS Python.
"""

from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent.parent
