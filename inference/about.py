"""What the engine knows of the plugin it ships in: its resource files, the user's data folder, its software tag.

The engine reads these from the plugin's __about__ here, and only here, so
every other engine module imports from within inference/.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..__about__ import (
    MODEL_CARD_DIR,
    PLUGIN_DIR,
    PLUGIN_SLUG,
    REPORT_TEMPLATE_DIR,
    software_version,
    user_data_dir,
)

__all__ = ["MODEL_CARD_DIR", "PLUGIN_DIR", "PLUGIN_SLUG", "REPORT_TEMPLATE_DIR", "software_version", "user_data_dir",
           "written_here"]


def written_here(tags: Mapping[str, str]) -> bool:
    """Whether a raster's SOFTWARE tag says this plugin wrote it (a mask, a reference, a difference raster)."""
    return tags.get("SOFTWARE", "").startswith(PLUGIN_SLUG)
