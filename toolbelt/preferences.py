"""The plugin's remembered choices: the dock's, and how STAC assets are signed; each one typed object, read and
written in one place.

Only what a user would expect back next session is remembered: the product,
the model and device, the shadow check and buffer, the SCL choice, the folders last used and the band
conversion of the raster door. What follows the product (resolution, extent,
output name) is worked out again from the product each time, so a choice
made for one product never leaks into the next.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from qgis.core import QgsSettings

from ..inference.defaults import DEFAULT_BUFFER, DEFAULT_LEVEL, DEFAULT_SHADOW_CHECK
from ..inference.reading.signing import Signing

SETTINGS_GROUP = "s2cloudmask/dock"


@dataclass
class DockSettings:
    """What the dock remembers between sessions; the defaults are a first start's choices."""

    source: str = "product"  # "product" or "raster": which door of the Input section
    product: str = ""  # the last product path (a .SAFE folder, .zip or MTD xml)
    model: str = ""  # an .onnx path; empty: the built-in model ("auto")
    device: str = "auto"
    scl_mode: str = "product"  # "product", "file" or "none"
    scl_file: str = ""
    output_folder: str = ""  # where the user last saved a mask: the default when the product's folder is read-only
    browse_folder: str = ""  # where the product file dialogs open
    scale: float | None = None  # None: inference.defaults' (Sentinel-2 digital numbers)
    offset: float | None = None
    level: str = DEFAULT_LEVEL
    shadow_check: bool = DEFAULT_SHADOW_CHECK
    buffer: float = DEFAULT_BUFFER


class PlgSettings:
    """Reads and writes DockSettings under SETTINGS_GROUP in the user's QGIS profile."""

    @staticmethod
    def get() -> DockSettings:
        stored = QgsSettings()
        values: dict[str, Any] = {}
        defaults = DockSettings()
        for field in fields(DockSettings):
            key = f"{SETTINGS_GROUP}/{field.name}"
            default = getattr(defaults, field.name)
            if not stored.contains(key):
                continue
            if default is None:  # optional numbers: stored as float, absent means "the form's default"
                value = stored.value(key, None)
                try:
                    values[field.name] = float(value)
                except (TypeError, ValueError):
                    continue
            else:
                values[field.name] = stored.value(key, default, type=type(default))
        return DockSettings(**values)

    @staticmethod
    def set(settings: DockSettings) -> None:
        stored = QgsSettings()
        for name, value in asdict(settings).items():
            key = f"{SETTINGS_GROUP}/{name}"
            if value is None:
                stored.remove(key)
            else:
                stored.setValue(key, value)

    @staticmethod
    def clear() -> None:
        QgsSettings().remove(SETTINGS_GROUP)


STAC_SETTINGS_GROUP = "s2cloudmask/stac"


@dataclass
class StacSettings:
    """How Planetary Computer assets are signed (inference/reading/signing.py): a SAS token, or the URL of a
    signing endpoint; both empty: assets are read unsigned (Earth Search needs nothing)."""

    token: str = ""
    signing_url: str = ""

    @staticmethod
    def get() -> "StacSettings":
        stored = QgsSettings()
        return StacSettings(*(str(stored.value(f"{STAC_SETTINGS_GROUP}/{name}", "") or "")
                              for name in ("token", "signing_url")))

    def set(self) -> None:
        """Save, and hand to the engine at once (emptied fields: assets are read unsigned from now on)."""
        stored = QgsSettings()
        for name, value in asdict(self).items():
            stored.setValue(f"{STAC_SETTINGS_GROUP}/{name}", value)
        self.signing().export()

    def apply(self) -> None:
        """At start: hand the saved settings to the engine (and the batch's workers) through the environment; a
        token given in the environment QGIS started with (S2CLOUDMASK_STAC_TOKEN) stays where none is saved."""
        if self.token or self.signing_url:
            self.signing().export()

    def signing(self) -> Signing:
        return Signing(self.token.strip(), self.signing_url.strip())
