"""Masking: tiles through an ONNX model, blended probabilities, class codes, post-steps, the mask GeoTIFF."""
