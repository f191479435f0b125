"""The STAC settings: how Planetary Computer assets are signed (a SAS token, or a signing endpoint)."""

from __future__ import annotations

from qgis.PyQt.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout

from ..toolbelt.preferences import StacSettings

PLANETARY_ENDPOINT_EXAMPLE = "https://planetarycomputer.microsoft.com/api/sas/v1/token/{collection}"


class StacSettingsDialog(QDialog):
    """Two fields, saved in the QGIS profile and handed to the engine at once (StacSettings.set)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("STAC settings"))
        settings = StacSettings.get()
        explanation = QLabel(self.tr(
            "Earth Search needs nothing. Planetary Computer's assets need a SAS token: give a token, or an "
            "endpoint that hands them out ({collection} is replaced by the item's collection)."))
        explanation.setWordWrap(True)
        self.tokenEdit = QLineEdit(settings.token)
        self.tokenEdit.setEchoMode(QLineEdit.EchoMode.Password)
        self.tokenEdit.setPlaceholderText("st=…&se=…&sig=…")
        self.endpointEdit = QLineEdit(settings.signing_url)
        self.endpointEdit.setPlaceholderText(PLANETARY_ENDPOINT_EXAMPLE)
        self.endpointEdit.setToolTip(self.tr("Planetary Computer's: {}").format(PLANETARY_ENDPOINT_EXAMPLE))
        form = QFormLayout()
        form.addRow(self.tr("STAC token"), self.tokenEdit)
        form.addRow(self.tr("STAC signing endpoint"), self.endpointEdit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def accept(self) -> None:
        StacSettings(self.tokenEdit.text().strip(), self.endpointEdit.text().strip()).set()
        super().accept()
