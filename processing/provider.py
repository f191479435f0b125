"""The provider that puts the plugin's algorithms into the Processing toolbox and qgis_process."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..__about__ import ICON_PATH
from .apply_mask import ApplyMaskAlgorithm
from .compare_scl import CompareSclAlgorithm
from .composite import CompositeAlgorithm
from .export_patches import ExportPatchesAlgorithm
from .finetune import FinetuneAlgorithm
from .mask_many import MaskManyAlgorithm
from .mask_product import MaskProductAlgorithm
from .mask_raster import MaskRasterAlgorithm
from .reference_mask import ReferenceMaskAlgorithm
from .validate import ValidateAlgorithm


class CloudMaskProvider(QgsProcessingProvider):
    def tr(self, text: str) -> str:
        return QCoreApplication.translate("CloudMaskProvider", text)

    def id(self) -> str:
        return "s2cloudmask"

    def name(self) -> str:
        return self.tr("Sentinel-2 Cloud Mask")

    def longName(self) -> str:  # noqa: N802 (QGIS's name)
        return self.tr("Sentinel-2 Cloud Mask (U-Net cloud, thin-cloud and cloud-shadow masks)")

    def icon(self) -> QIcon:
        return QIcon(str(ICON_PATH))

    def svgIconPath(self) -> str:  # noqa: N802 (QGIS's name)
        return str(ICON_PATH)

    def loadAlgorithms(self) -> None:  # noqa: N802 (QGIS's name)
        for algorithm in (
            MaskProductAlgorithm(),
            MaskRasterAlgorithm(),
            CompareSclAlgorithm(),
            MaskManyAlgorithm(),
            ApplyMaskAlgorithm(),
            CompositeAlgorithm(),
            ReferenceMaskAlgorithm(),
            ValidateAlgorithm(),
            ExportPatchesAlgorithm(),
            FinetuneAlgorithm(),
        ):
            self.addAlgorithm(algorithm)

    def supportedOutputRasterLayerExtensions(self) -> list[str]:  # noqa: N802 (QGIS's name)
        """The engine writes GeoTIFF only."""
        return ["tif"]
