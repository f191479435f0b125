"""The masking engine: read a Sentinel-2 product, mask it with an ONNX U-Net, compare it with SCL.

Pure Python, numpy, rasterio and onnxruntime; nothing here imports qgis, so the
same code serves the Processing algorithms, the dock widget and plain scripts.

Importing this package puts the plugin's private package folder on sys.path
(packages/folders.py says where it lies), so a script needs only the
plugins folder on PYTHONPATH. The entry points below are imported on first use:
this package and its light modules (errors, classes, outputs, feedback,
reading.paths, comparing.difference, masking.session) import without rasterio
or onnxruntime, which is what lets the plugin load and explain itself while
they are missing. Using an entry point without them raises DependencyError
naming every missing package.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..packages.activation import activate, missing_message, missing_modules
from .errors import DependencyError

activate()

# public name -> module that defines it
ENTRY_POINTS = {
    "mask_product": ".masking.engine",
    "mask_raster": ".masking.engine",
    "compare_with_scl": ".comparing.compare",
    "write_report": ".comparing.report",
    "open_product": ".reading.product",
    "as_product": ".reading.product",
    "build_reference": ".reference.build",
    "input_crs": ".reference.features",
    "Sample": ".reference.samples",
    "export_patches": ".reference.patch_export",
    "read_sources": ".reference.patch_export",
    "validate": ".comparing.validate",
    "validate_many": ".comparing.validate",
    "read_pairs": ".comparing.validate",
    "check_validation_report": ".comparing.validation_report",
    "write_validation_report": ".comparing.validation_report",
    "scl_file": ".reading.product",
    "build_true_colour_view": ".reading.context_views",
    "build_scl_view": ".reading.context_views",
    "apply_mask": ".cleaning.apply",
    "composite": ".cleaning.composite",
    "finetune": ".training.finetune",
    "model_files": ".training.finetune",
    "report_files": ".comparing.report",
    "validation_report_files": ".comparing.validation_report",
    "pair_inputs": ".comparing.validate",
    "patch_folder_files": ".patch_format",
    "source_inputs": ".reference.patch_export",
    "TrainingSettings": ".training.finetune",
}

__all__ = [*ENTRY_POINTS, "require"]


def require() -> None:
    """Raise DependencyError naming every package the engine needs and cannot import."""
    missing = missing_modules()
    if missing:
        raise DependencyError(missing_message(missing))


def __getattr__(name: str) -> Any:
    """The entry points, imported when first used (PEP 562), after require() has checked the packages."""
    if name not in ENTRY_POINTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require()
    value = getattr(importlib.import_module(ENTRY_POINTS[name], __name__), name)
    globals()[name] = value
    return value
