"""Developer tools: synthetic Sentinel-2 products, demo and benchmark helpers; not loaded by QGIS."""
