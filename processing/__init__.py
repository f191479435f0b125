"""The Processing provider: the engine's three entry points as toolbox, modeler and qgis_process algorithms."""
