"""Comparing and validating: difference codes, figures, the raster I/O of a comparison, reports and quicklooks."""
