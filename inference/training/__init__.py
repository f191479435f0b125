"""Fine-tuning: patch folders in, a fine-tuned ONNX model with its card and test-split report out.

The work that needs PyTorch runs in a subprocess in its own environment
(the `trainer` package beside this one); everything here is QGIS's Python:
reading patches, preparing the dataset, scoring with ONNX Runtime.
"""
