#!/usr/bin/env bash
# Idempotent: the fine-tuning environment .venv-train (PyTorch, onnx, numpy from resources/requirements-train.txt).
# Training runs there in a subprocess, never inside QGIS's Python. Rebuilt only when the pins change.
set -euo pipefail
cd "$(dirname "$0")/.."
ENV_DIR=${S2CLOUDMASK_TRAIN_ENV:-.venv-train}
PINS=resources/requirements-train.txt
WANTED=$(grep -v '^\s*#' "$PINS" | sed '/^\s*$/d; s/\s*$//')
if [ -f "$ENV_DIR/.complete" ] && [ "$(cat "$ENV_DIR/.complete")" = "$WANTED" ]; then
    exit 0
fi
echo "Creating the fine-tuning environment in $ENV_DIR (PyTorch; a few minutes the first time)"
started=$(date +%s)
rm -rf "$ENV_DIR"
/usr/bin/python3 -m venv "$ENV_DIR"
"$ENV_DIR/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$PINS"
echo "$WANTED" > "$ENV_DIR/.complete"
echo "Fine-tuning environment ready in $(( $(date +%s) - started )) s: $("$ENV_DIR/bin/python" -c 'import torch; print("torch", torch.__version__)')"
