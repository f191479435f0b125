"""QGIS glue: the Processing provider, the dock, the menu and toolbar entries.

initProcessing() is separate from initGui() so that qgis_process, which never
builds a GUI, still gets the provider.
"""

from __future__ import annotations

from qgis.core import Qgis, QgsApplication, QgsSettings
from qgis.PyQt.QtCore import QCoreApplication, Qt, QTranslator
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QPushButton

from .__about__ import I18N_DIR, ICON_PATH, PLUGIN_NAME, PLUGIN_SLUG
from .packages.activation import activate, missing_modules
from .processing.provider import CloudMaskProvider
from .toolbelt.preferences import StacSettings
from .ui.dependency_dialog import DependencyDialog
from .ui.diagnostics_dialog import DiagnosticsDialog
from .ui.dock import CloudMaskDock
from .ui.training_env_dialog import TrainingEnvDialog


class CloudMaskPlugin:
    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider = None
        self.dock = None
        self.actions: list[QAction] = []
        self.missing_item = None  # the message bar's "Missing Python packages" entry while it shows
        self.translator = self._install_translator()
        activate()

    @staticmethod
    def tr(text: str) -> str:
        return QCoreApplication.translate("CloudMaskPlugin", text)

    @staticmethod
    def _install_translator() -> QTranslator | None:
        """The user's QGIS language, where `make translations` and Qt Linguist have made a .qm for it."""
        locale = str(QgsSettings().value("locale/userLocale", "") or "")[:2]
        compiled = I18N_DIR / f"{PLUGIN_SLUG}_{locale}.qm"
        translator = QTranslator()
        if not locale or not compiled.is_file() or not translator.load(str(compiled)):
            return None
        QCoreApplication.installTranslator(translator)
        return translator

    def initProcessing(self) -> None:  # noqa: N802 (QGIS's name)
        StacSettings.get().apply()
        self.provider = CloudMaskProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802 (QGIS's name)
        self.initProcessing()
        self.dock = CloudMaskDock(self.iface, self.iface.mainWindow())
        self.dock.setObjectName("S2CloudMaskDock")
        self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()

        icon = QIcon(str(ICON_PATH))
        show_dock = QAction(icon, self.tr("Sentinel-2 Cloud Mask"), self.iface.mainWindow())
        show_dock.setObjectName("S2CloudMaskShowDock")
        show_dock.setToolTip(self.tr("Mask clouds and cloud shadows in a Sentinel-2 product"))
        show_dock.setCheckable(True)
        show_dock.toggled.connect(self.dock.setVisible)
        self.dock.visibilityChanged.connect(show_dock.setChecked)
        install = QAction(self.tr("Install dependencies…"), self.iface.mainWindow())
        install.setObjectName("S2CloudMaskInstallDependencies")
        install.triggered.connect(self.show_dependency_dialog)
        training = QAction(self.tr("Create the fine-tuning environment…"), self.iface.mainWindow())
        training.setObjectName("S2CloudMaskTrainingEnvironment")
        training.triggered.connect(self.show_training_env_dialog)
        diagnostics = QAction(self.tr("Diagnostics…"), self.iface.mainWindow())
        diagnostics.setObjectName("S2CloudMaskDiagnostics")
        diagnostics.triggered.connect(self.show_diagnostics)
        self.actions = [show_dock, install, training, diagnostics]

        self.iface.addRasterToolBarIcon(show_dock)  # QGIS's Raster toolbar: no toolbar row of its own for one button
        for action in self.actions:
            self.iface.addPluginToRasterMenu(PLUGIN_NAME, action)

        missing = missing_modules()
        if missing:
            self._offer_install(missing)

    def _offer_install(self, missing: list[str]) -> None:
        bar = self.iface.messageBar()
        text = self.tr("Missing Python packages: {names}.").format(names=", ".join(missing))
        item = bar.createMessage(PLUGIN_NAME, text)
        button = QPushButton(self.tr("Install dependencies…"))
        button.clicked.connect(self.show_dependency_dialog)
        item.layout().addWidget(button)
        bar.pushWidget(item, Qgis.MessageLevel.Warning)
        self.missing_item = item

    def show_dependency_dialog(self) -> None:
        dialog = DependencyDialog(self.iface.mainWindow())
        dialog.installed.connect(self.dependencies_installed)
        dialog.exec_()

    def dependencies_installed(self) -> None:
        """Everything that told of the missing packages says so no longer: the bar, the dock's devices."""
        if self.missing_item is not None:
            self.iface.messageBar().popWidget(self.missing_item)
            self.missing_item = None
        if self.dock is not None:
            self.dock.dependencies_changed()

    def show_training_env_dialog(self) -> None:
        TrainingEnvDialog(self.iface.mainWindow()).exec_()

    def show_diagnostics(self) -> None:
        DiagnosticsDialog(self.iface.mainWindow()).exec_()

    def unload(self) -> None:
        if self.actions:
            self.iface.removeRasterToolBarIcon(self.actions[0])
        for action in self.actions:
            self.iface.removePluginRasterMenu(PLUGIN_NAME, action)
            action.deleteLater()
        self.actions = []
        if self.dock is not None:
            if self.dock.task is not None:
                self.dock.cancel()  # a running task must not outlive the plugin
            self.dock.reference.unload()
            self.iface.removeDockWidget(self.dock)
            self.dock.close()
            self.dock.deleteLater()
            self.dock = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        if self.translator is not None:
            QCoreApplication.removeTranslator(self.translator)
            self.translator = None
