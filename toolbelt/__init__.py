"""Small helpers shared by the plugin's QGIS glue: layer styles, settings, logging, diagnostics, samples from features."""
