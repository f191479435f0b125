"""QGIS entry point of the Sentinel-2 Cloud Mask plugin."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import CloudMaskPlugin  # only in QGIS: the package is also imported without qgis (the engine)

    return CloudMaskPlugin(iface)
