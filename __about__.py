"""Who the plugin is and where its files lie: metadata.txt is read once, here, and every path starts here."""

from __future__ import annotations

import configparser
import os
import sys
from functools import lru_cache
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent
PLUGIN_NAME = "Sentinel-2 Cloud Mask"
PLUGIN_SLUG = "s2cloudmask"
RESOURCES_DIR = PLUGIN_DIR / "resources"
ICON_PATH = RESOURCES_DIR / "icons" / "icon.svg"
STYLE_DIR = RESOURCES_DIR / "styles"
MODEL_CARD_DIR = RESOURCES_DIR / "model_cards"
REPORT_TEMPLATE_DIR = RESOURCES_DIR / "reports"  # jinja2 templates of the HTML reports
I18N_DIR = PLUGIN_DIR / "i18n"  # s2cloudmask.ts from `make translations`; translators' .qm files beside it


def user_data_dir() -> Path:
    """Per-user files kept between QGIS sessions and plugin updates (the list of fine-tuned models)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / PLUGIN_SLUG


@lru_cache(maxsize=None)
def plugin_metadata() -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(PLUGIN_DIR / "metadata.txt", encoding="utf-8")
    return dict(parser["general"])


def plugin_version() -> str:
    return plugin_metadata()["version"]


def software_version() -> str:
    """The SOFTWARE tag every output carries."""
    return f"{PLUGIN_SLUG} {plugin_version()}"
