"""QGIS entry point of the Sentinel-2 Cloud Mask plugin."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import CloudMaskPlugin

    return CloudMaskPlugin(iface)
