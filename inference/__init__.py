"""The masking engine: read a Sentinel-2 product, mask it with an ONNX U-Net, compare it with SCL.

Pure Python, numpy, rasterio and onnxruntime; nothing here imports qgis, so the
same code serves the Processing algorithms, the dock widget and plain scripts.
"""
