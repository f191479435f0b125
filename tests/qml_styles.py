"""Reading the plugin's QML styles as QGIS's paletted renderer reads them: value -> (label, RGBA)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


def qml_palette(path: Path) -> dict[int, tuple[str, tuple[int, int, int, int]]]:
    palette = {}
    root = ET.parse(path).getroot()
    renderer = root.find("pipe/rasterrenderer")
    assert renderer is not None and renderer.get("type") == "paletted" and renderer.get("band") == "1"
    for entry in renderer.iter("paletteEntry"):
        colour = entry.get("color").lstrip("#")
        rgb = tuple(int(colour[i : i + 2], 16) for i in (0, 2, 4))
        palette[int(entry.get("value"))] = (entry.get("label"), (*rgb, int(entry.get("alpha"))))
    return palette
