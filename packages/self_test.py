"""The self-test's checks: open a JPEG 2000 band, reproject a window across CRSs, run an onnxruntime session.

The three things the engine does, through the packages this process imports
(the plugin's folder first). installer.self_test() runs this file in a fresh
QGIS Python, made for it, so a broken package cannot harm the caller.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script: import the sibling modules as their package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "packages"  # noqa: A001

import importlib.util  # noqa: E402
import tempfile  # noqa: E402

from .activation import activate  # noqa: E402


def run_checks() -> None:
    activate()
    # the packages under test, imported only here: this function runs in a child process made for it
    import numpy as np
    import onnxruntime
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.warp import Resampling, reproject, transform

    print(f"rasterio {rasterio.__version__} (GDAL {rasterio.__gdal_version__}) from {Path(rasterio.__file__).parent}")
    with tempfile.TemporaryDirectory() as scratch:
        band = Path(scratch) / "B04.jp2"
        data = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 1000) + 1
        profile = {"driver": "JP2OpenJPEG", "width": 64, "height": 64, "count": 1, "dtype": "uint16",
                   "crs": "EPSG:32629", "transform": from_origin(500000, 5900040, 60, 60), "QUALITY": 100,
                   "REVERSIBLE": "YES"}
        with rasterio.open(band, "w", **profile) as dataset:
            dataset.write(data, 1)
        with rasterio.open(band) as dataset:
            window = dataset.read(1, window=((8, 40), (8, 40)))
            if not np.array_equal(window, data[8:40, 8:40]):
                raise SystemExit("FAILED: a JPEG 2000 band read back different values")
            print("ok: JPEG 2000 band written and read back")
            lon, lat = transform("EPSG:32629", "EPSG:4326", [500000.0], [5900000.0])
            if not (abs(lon[0] + 9.0) < 1e-6 and 53.2 < lat[0] < 53.3):
                raise SystemExit(f"FAILED: UTM 29N (500000, 5900000) became ({lon[0]}, {lat[0]}); PROJ data is wrong")
            target = np.zeros((32, 32), dtype=np.float32)
            reproject(window.astype(np.float32), target, src_transform=dataset.window_transform(((8, 40), (8, 40))),
                      src_crs=dataset.crs, dst_transform=from_origin(-9.01, 53.245, 0.0009, 0.0006),
                      dst_crs="EPSG:4326", resampling=Resampling.nearest)
            if not np.isfinite(target).all() or target.max() <= 0:
                raise SystemExit("FAILED: reprojecting a window to EPSG:4326 gave no data")
            print("ok: window reprojected from EPSG:32629 to EPSG:4326")
    spec = importlib.util.find_spec("ukis_csmask")
    models = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.onnx")) if spec else []
    if not models:
        raise SystemExit("FAILED: ukis-csmask's models are not installed")
    session = onnxruntime.InferenceSession(str(models[0]), providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    shape = [dim if isinstance(dim, int) else 1 for dim in first.shape]
    shape[-2:] = [256, 256] if not all(isinstance(dim, int) for dim in first.shape[-2:]) else shape[-2:]
    outputs = session.run(None, {first.name: np.zeros(shape, dtype=np.float32)})
    print(f"ok: onnxruntime {onnxruntime.__version__} ran {models[0].name} on the CPU, output {outputs[0].shape}")


if __name__ == "__main__":
    run_checks()
