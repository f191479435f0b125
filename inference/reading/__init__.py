"""Reading Sentinel-2: product layout and metadata, band files as reflectance on any grid, other rasters as band sources."""
