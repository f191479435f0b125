#!/usr/bin/env bash
# Idempotent set-up for developing and testing the plugin:
#   1. QGIS >= 3.22 with its Python bindings, rasterio built on QGIS's GDAL, scipy, Xvfb and
#      pylupdate5 (apt, where missing);
#   2. the plugin's runtime packages in the checkout's development folder (.deps/<python>-<pins hash>;
#      $S2CLOUDMASK_DEPS_ROOT overrides it), through the same installer the plugin uses;
#   3. test tools in .venv ($S2CLOUDMASK_VENV), a virtual environment that sees the system's QGIS, numpy and rasterio.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
APT_PACKAGES="qgis qgis-providers python3-qgis python3-rasterio python3-scipy python3-venv python3-pip xvfb xauth pyqt5-dev-tools"

need_apt() {
    for pkg in $APT_PACKAGES; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || return 0
    done
    return 1
}

if need_apt; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        echo "Installing system packages: $APT_PACKAGES"
        $SUDO apt-get update -q
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $APT_PACKAGES
    else
        cat >&2 <<MSG
This is not a Debian/Ubuntu system, so set-up cannot install the system packages itself.
Install these, then run 'make setup' again:
  - QGIS 3.22 or newer with its Python bindings (qgis, python3-qgis / the OSGeo4W or QGIS.app installer)
  - rasterio linked against the same GDAL as QGIS, and scipy
  - Xvfb (only for the screenshot tests)
MSG
        exit 1
    fi
fi

QGIS_VERSION=$($PY -c "from qgis.core import Qgis; print(Qgis.QGIS_VERSION_INT)" 2>/dev/null || echo 0)
if [ "$QGIS_VERSION" -lt 32200 ]; then
    echo "QGIS 3.22 or newer is required; found version code $QGIS_VERSION." >&2
    exit 1
fi

# The plugin's own installer (the one the QGIS dialog runs): a no-op when the folder for these pins exists.
DEPS_DIR=$($PY packages/installer.py path)
$PY packages/installer.py install

# numpy stays the system's: rasterio and QGIS are built against it. $S2CLOUDMASK_VENV names another
# environment (a Debian lane of tools/debian_lane.sh keeps its own beside the host's); one made by another
# Python is made again.
VENV=${S2CLOUDMASK_VENV:-.venv}
NUMPY_VERSION=$($PY -c "import numpy; print(numpy.__version__)")
PY_VERSION=$($PY -c "import sys; print('%d.%d' % sys.version_info[:2])")
if [ ! -f "$VENV/.complete" ] || [ requirements-dev.txt -nt "$VENV/.complete" ] \
        || [ ! -x "$VENV/bin/python$PY_VERSION" ]; then
    echo "Creating the test environment in $VENV"
    rm -rf "$VENV"
    $PY -m venv --system-site-packages "$VENV"
    echo "numpy==$NUMPY_VERSION" > "$VENV/constraints.txt"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input \
        -c "$VENV/constraints.txt" -r requirements-dev.txt
    touch "$VENV/.complete"
fi
echo "Set-up complete: QGIS $($PY -c 'from qgis.core import Qgis; print(Qgis.QGIS_VERSION)'), packages in $DEPS_DIR"
