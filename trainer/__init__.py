"""Fine-tuning code that runs in the training environment's own Python (PyTorch), never inside QGIS.

The plugin starts it as a subprocess (`python -m trainer`, see
inference/training/finetune.py) and reads its JSON-lines reports. Nothing
under inference/, processing/ or ui/ imports this package.
"""
