"""The layers of an earlier run, taken off the map for the moment its files are replaced, and put back if that fails.

A file that a layer reads cannot be replaced on Windows, so the layers go
first. Should the new files not take their place, the layers come back exactly
where they were: same group and position, same name, same styles (all of them,
the current one current), same visibility.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qgis.core import QgsLayerTreeGroup, QgsMapLayerStyle, QgsProject, QgsRasterLayer

from ..toolbelt.compat import abstract, set_abstract


@dataclass
class _Released:
    parent: QgsLayerTreeGroup | None  # None: the layer had no node in the layer tree
    index: int
    source: str
    name: str
    provider: str
    visible: bool
    expanded: bool
    styles: dict[str, str]  # style name -> QML, as the layer's style manager keeps them
    current_style: str
    abstract: str


def _reads(source: str, wanted: set[str]) -> bool:
    path = Path(source.split("|")[0])
    return path.is_absolute() and str(path.resolve()) in wanted


class ReleasedLayers:
    """Takes every layer that reads one of `files` off the project; restore() puts them back, tidy() drops the
    groups they leave empty."""

    def __init__(self, files: list[Path]) -> None:
        project = QgsProject.instance()
        root = project.layerTreeRoot()
        wanted = {str(path.resolve()) for path in files}
        self.released: list[_Released] = []
        taken: list[str] = []
        for layer in list(project.mapLayers().values()):
            if not isinstance(layer, QgsRasterLayer) or not _reads(layer.source(), wanted):
                continue
            node = root.findLayer(layer.id())
            parent = node.parent() if node is not None else None
            manager = layer.styleManager()
            self.released.append(_Released(
                parent=parent, index=parent.children().index(node) if parent is not None else 0,
                source=layer.source(), name=layer.name(), provider=layer.providerType(),
                visible=node.itemVisibilityChecked() if node is not None else True,
                expanded=node.isExpanded() if node is not None else False,
                styles={name: manager.style(name).xmlData() for name in manager.styles()},
                current_style=manager.currentStyle(), abstract=abstract(layer),
            ))
            taken.append(layer.id())
        project.removeMapLayers(taken)  # after every position is known: each removal moves the later ones up

    def restore(self) -> None:
        """Each layer again from its file, at its place, with its styles."""
        project = QgsProject.instance()
        for entry in sorted(self.released, key=lambda entry: entry.index):  # ascending: each index is right again
            layer = QgsRasterLayer(entry.source, entry.name, entry.provider)
            manager = layer.styleManager()
            manager.renameStyle(manager.currentStyle(), entry.current_style)
            QgsMapLayerStyle(entry.styles[entry.current_style]).writeToLayer(layer)
            for name, xml in entry.styles.items():
                if name != entry.current_style:
                    manager.addStyle(name, QgsMapLayerStyle(xml))
            set_abstract(layer, entry.abstract)
            if entry.parent is None:
                project.addMapLayer(layer)
                continue
            project.addMapLayer(layer, False)
            node = entry.parent.insertLayer(entry.index, layer)
            node.setItemVisibilityChecked(entry.visible)
            node.setExpanded(entry.expanded)
        self.released = []

    def tidy(self) -> tuple[QgsLayerTreeGroup, int] | None:
        """Remove the groups the layers left empty; where the first of them stood, for the group that replaces it."""
        root = QgsProject.instance().layerTreeRoot()
        place: tuple[QgsLayerTreeGroup, int] | None = None
        for parent in dict.fromkeys(entry.parent for entry in self.released if entry.parent is not None):
            if parent is root or parent.children():
                continue
            grandparent = parent.parent()
            index = grandparent.children().index(parent)
            grandparent.removeChildNode(parent)
            place = place or (grandparent, index)
        self.released = []
        return place
