"""Batches of tiles through one ONNX Runtime session -> class probabilities."""

from __future__ import annotations

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

    def __init__(self, session: Any, card: ModelCard, batch_size: int):
        self.session = session
        self.card = card
        model_input = session.get_inputs()[0]
        self.input_name = model_input.name
        self.fixed_batch = model_input.shape[0] if isinstance(model_input.shape[0], int) else None
        self.batch_size = self.fixed_batch or max(1, batch_size)

    def __call__(self, stack: np.ndarray) -> np.ndarray:
        count = len(stack)
        if count < self.batch_size and self.fixed_batch:
            stack = np.concatenate([stack, np.repeat(stack[-1:], self.batch_size - count, axis=0)])
        try:
            out = self.session.run(None, {self.input_name: stack})[0][:count]
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
