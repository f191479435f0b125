"""The Processing provider: the engine's entry points as toolbox, modeler and qgis_process algorithms (provider.py
lists them), one thin module per algorithm."""
