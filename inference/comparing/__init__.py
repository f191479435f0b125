"""Comparing and validating: difference codes, metrics, the raster I/O of a comparison, reports and quicklooks."""
