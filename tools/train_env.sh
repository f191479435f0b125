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
# On Linux the index's torch is the CUDA build (several GB of NVIDIA libraries). Take it only when asked for
# (S2CLOUDMASK_TRAIN_CUDA=1); otherwise a CPU build must be on offer (pip's find-links, or PyTorch's CPU index).
TORCH_PIN=$(grep '^torch==' "$PINS")
CHOSEN=$("$ENV_DIR/bin/python" -m pip install --dry-run --quiet --report - --no-deps "$TORCH_PIN" 2>/dev/null \
    | /usr/bin/python3 -c "import json, sys; print(json.load(sys.stdin)['install'][0]['download_info']['url'])" || true)
case "$CHOSEN" in
    *%2Bcpu*|*+cpu*) ;;
    *)
        if [ "${S2CLOUDMASK_TRAIN_CUDA:-0}" != 1 ]; then
            rm -rf "$ENV_DIR"
            echo "Not creating $ENV_DIR: pip would fetch ${CHOSEN:-no build of $TORCH_PIN}, not a CPU build."
            echo "Offer a CPU wheel (pip --find-links, or PyTorch's CPU index) or set S2CLOUDMASK_TRAIN_CUDA=1 for the"
            echo "CUDA build; until then fine-tuning and its tests are skipped with this reason."
            exit 0
        fi;;
esac
"$ENV_DIR/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$PINS"
echo "$WANTED" > "$ENV_DIR/.complete"
echo "Fine-tuning environment ready in $(( $(date +%s) - started )) s: $("$ENV_DIR/bin/python" -c 'import torch; print("torch", torch.__version__)')"
