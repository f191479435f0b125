"""Small helpers shared by the plugin's QGIS glue: dependencies, settings, logging."""
