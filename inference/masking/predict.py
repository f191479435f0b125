"""Batches of tiles through one ONNX Runtime session -> class probabilities.

On a GPU the predictor binds its input and output through ONNX Runtime's IO
binding, so each batch is copied to the device once and the output is
allocated by the runtime on the device and copied back once, and it sizes its
batches by the GPU's free memory (`gpu_batch_size`). The same IO-binding path
runs on the CPU (device "cpu"), which is how the tests exercise it without a GPU.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import numpy as np

from ..errors import ModelError
from .model_card import ModelCard


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


class TilePredictor:
    """Calls the session on a stack of tiles and returns float32 probabilities (n, classes, rows, cols).

    A model exported with a fixed batch size gets short batches padded with
    copies of the last tile; logits become probabilities by softmax; any
    onnxruntime failure, and any answer holding NaN or infinity (which would
    otherwise become a confident "clear"), becomes a ModelError naming the model.
    """

    def __init__(self, session: Any, card: ModelCard, batch_size: int, io_binding: bool = False):
        self.session = session
        self.card = card
        model_input = session.get_inputs()[0]
        self.input_name = model_input.name
        self.output_name = session.get_outputs()[0].name
        self.fixed_batch = model_input.shape[0] if isinstance(model_input.shape[0], int) else None
        self.batch_size = self.fixed_batch or max(1, batch_size)
        self.io_binding = io_binding
        self.device = "cuda" if session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"

    def _run(self, stack: np.ndarray) -> np.ndarray:
        if not self.io_binding:
            return self.session.run(None, {self.input_name: stack})[0]
        binding = self.session.io_binding()
        binding.bind_cpu_input(self.input_name, np.ascontiguousarray(stack))
        binding.bind_output(self.output_name, self.device)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    def __call__(self, stack: np.ndarray) -> np.ndarray:
        count = len(stack)
        if count < self.batch_size and self.fixed_batch:
            stack = np.concatenate([stack, np.repeat(stack[-1:], self.batch_size - count, axis=0)])
        try:
            out = self._run(stack)[:count]
        except Exception as exc:  # onnxruntime's own exception types
            raise ModelError(f"The model {self.card.model_path or self.card.name} failed on a tile: "
                             f"{str(exc).splitlines()[0][:300]}") from exc
        if not np.isfinite(out).all():
            raise ModelError(
                f"The model {self.card.model_path or self.card.name} gave values that are not numbers (NaN) or are "
                "infinite for a tile; its answer cannot be trusted, so no mask is written. Check the model file and "
                "its card's 'mean' and 'std'."
            )
        return softmax(out.astype(np.float32), axis=1) if self.card.output == "logits" else out


# Device memory one tile pixel takes while the DLR U-Net runs (float32 activations of its largest layers),
# measured as the growth of peak memory from 256 px to 1024 px tiles on the CPU: about 580 bytes per pixel.
BYTES_PER_TILE_PIXEL = 600
GPU_MEMORY_SHARE = 0.5  # of the free memory: leaves room for the runtime's own workspace and other programs
MAX_GPU_BATCH = 64


def gpu_batch_size(free_bytes: int | None, tile_pixels: int, default: int = 8) -> int:
    """Tiles per batch that fit in half the GPU's free memory; `default` when the free memory is unknown."""
    if free_bytes is None:
        return default
    return int(max(1, min(MAX_GPU_BATCH, free_bytes * GPU_MEMORY_SHARE // (tile_pixels * BYTES_PER_TILE_PIXEL))))


def free_gpu_memory() -> int | None:
    """Free memory of the first NVIDIA GPU in bytes (from nvidia-smi), or None where it cannot be known."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return None
    try:
        done = subprocess.run([tool, "--query-gpu=memory.free", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=10, check=True)
        return int(done.stdout.split()[0]) * 1024 * 1024
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
