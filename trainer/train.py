"""Fine-tune a converted U-Net on prepared patches; report every step as one JSON line on stdout.

The dataset (.npz, written by inference/training/dataset.py in QGIS's Python)
holds, per split, normalised band stacks on the model grid, class indices
(255 = no label) and validity. Training draws random crops with the
augmentations that suit Sentinel-2: flips and 90-degree rotations (a scene has
no up or down) and a small radiometric jitter (gain and offset per band, in
reflectance units, as between sensors, dates and calibrations). Early stopping
watches the validation loss; the best epoch's weights are exported.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .convert import SIDE_MULTIPLE, OnnxUNet


def report(event: str, **fields: Any) -> None:
    """One JSON line for the parent process; flushed at once so progress is live."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


@dataclass
class Settings:
    epochs: int
    patience: int
    batch_size: int
    crop: int
    learning_rate: float
    head_learning_rate: float  # the last convolution learns faster: a new class starts as a copy of another
    train_encoder: bool  # False: only decoder and head learn (see OnnxUNet.freeze_encoder)
    gain_jitter: float  # standard deviation of the per-band gain (1 = none)
    offset_jitter: float  # standard deviation of the per-band offset, reflectance units
    seed: int
    ignore_index: int  # the class index of unlabelled pixels, which the loss and the scores skip


@dataclass
class Split:
    x: torch.Tensor  # float32 (n, bands, rows, cols), normalised; invalid pixels 0
    y: torch.Tensor  # int64 (n, rows, cols), class index or Settings.ignore_index
    valid: torch.Tensor  # bool (n, rows, cols)

    @classmethod
    def load(cls, data: Any, name: str) -> "Split":
        return cls(torch.from_numpy(data[f"{name}_x"]), torch.from_numpy(data[f"{name}_y"].astype(np.int64)),
                   torch.from_numpy(data[f"{name}_valid"]))

    def __len__(self) -> int:
        return int(self.x.shape[0])


def largest_side(rows: int, cols: int, wanted: int) -> int:
    """The largest crop side up to `wanted` that fits and is a multiple of 32 (the U-Net's need)."""
    side = min(wanted, rows, cols) // SIDE_MULTIPLE * SIDE_MULTIPLE
    if side < SIDE_MULTIPLE:
        raise ValueError(f"patches of {rows} x {cols} pixels on the model grid are smaller than {SIDE_MULTIPLE}")
    return side


def augment(x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
            settings: Settings, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A random flip, 90-degree rotation and radiometric jitter of one sample (bands, rows, cols)."""
    k = int(rng.integers(4))
    x, y, valid = (torch.rot90(t, k, dims=(-2, -1)) for t in (x, y, valid))
    if rng.random() < 0.5:
        x, y, valid = (torch.flip(t, dims=(-1,)) for t in (x, y, valid))
    bands = x.shape[0]
    gain = torch.from_numpy(rng.normal(1.0, settings.gain_jitter, bands).astype(np.float32))[:, None, None]
    offset = torch.from_numpy(rng.normal(0.0, settings.offset_jitter, bands).astype(np.float32))[:, None, None]
    # x = (r - mean) / std and r' = r * gain + offset give x' = x * gain + (mean * (gain - 1) + offset) / std
    x = x * gain + (mean * (gain - 1) + offset) / std
    x = torch.where(valid, x, torch.zeros_like(x))
    return x, y


def batches(split: Split, settings: Settings, mean: torch.Tensor, std: torch.Tensor,
            rng: np.random.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of augmented random crops, batched."""
    rows, cols = split.x.shape[2:]
    side = largest_side(rows, cols, settings.crop)
    order = rng.permutation(len(split))
    result = []
    for first in range(0, len(order), settings.batch_size):
        xs, ys = [], []
        for index in order[first: first + settings.batch_size]:
            r, c = int(rng.integers(rows - side + 1)), int(rng.integers(cols - side + 1))
            window = (slice(r, r + side), slice(c, c + side))
            x, y = augment(split.x[index][:, window[0], window[1]], split.y[index][window],
                           split.valid[index][window], mean, std, settings, rng)
            xs.append(x)
            ys.append(y)
        result.append((torch.stack(xs), torch.stack(ys)))
    return result


def class_weights(y: torch.Tensor, classes: int, ignore_index: int) -> torch.Tensor:
    """Inverse square-root frequency: rare classes (thin cloud, shadow) count more, without swamping the rest."""
    counts = torch.bincount(y[y != ignore_index].reshape(-1), minlength=classes).double()
    weights = torch.where(counts > 0, 1.0 / torch.sqrt(counts.clamp(min=1)), torch.zeros_like(counts))
    present = weights > 0
    weights[present] = weights[present] / weights[present].mean()
    return weights.float()


def evaluate(network: OnnxUNet, split: Split, weights: torch.Tensor, classes: int, device: torch.device,
             batch_size: int, ignore_index: int) -> dict[str, Any]:
    """Loss and scores on the largest central crop of every patch (no augmentation)."""
    network.eval()
    rows, cols = split.x.shape[2:]
    side = largest_side(rows, cols, max(rows, cols))
    r0, c0 = (rows - side) // 2, (cols - side) // 2
    matrix = torch.zeros(classes, classes, dtype=torch.int64)
    loss_sum, pixels = 0.0, 0
    with torch.no_grad():
        for first in range(0, len(split), batch_size):
            x = split.x[first: first + batch_size, :, r0: r0 + side, c0: c0 + side].to(device)
            y = split.y[first: first + batch_size, r0: r0 + side, c0: c0 + side].to(device)
            logits = network(x)
            labelled = int((y != ignore_index).sum())
            if labelled:
                loss_sum += float(F.cross_entropy(logits, y, weight=weights.to(device), ignore_index=ignore_index,
                                                  reduction="sum"))
                pixels += labelled
            predicted = logits.argmax(dim=1)
            keep = y != ignore_index
            matrix += torch.bincount(y[keep] * classes + predicted[keep], minlength=classes * classes).reshape(
                classes, classes).cpu()
    total = int(matrix.sum())
    hits = torch.diagonal(matrix)
    union = matrix.sum(0) + matrix.sum(1) - hits
    iou = [float(h) / float(u) if u else None for h, u in zip(hits, union)]
    return {
        "loss": loss_sum / pixels if pixels else None,
        "overall_accuracy": float(hits.sum()) / total if total else None,
        "iou": iou,
        "pixels": total,
    }


def train(network: OnnxUNet, train_split: Split, validation: Split, classes: int, mean: list[float],
          std: list[float], settings: Settings, device: torch.device) -> dict[str, Any]:
    """The fine-tuning loop; returns the history and leaves the best epoch's weights in `network`."""
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    mean_t = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    std_t = torch.tensor(std, dtype=torch.float32)[:, None, None]
    weights = class_weights(train_split.y, classes, settings.ignore_index)
    if not settings.train_encoder:
        report("frozen", encoder_parameters=network.freeze_encoder())
    network.to(device)
    head = list(network.convs[network.head_key].parameters())
    body = [p for p in network.parameters() if p.requires_grad and all(p is not h for h in head)]
    optimiser = torch.optim.AdamW([{"params": body, "lr": settings.learning_rate},
                                   {"params": head, "lr": settings.head_learning_rate}], weight_decay=1e-4)
    best_loss, best_epoch, best_state = math.inf, 0, copy.deepcopy(network.state_dict())
    history: list[dict[str, Any]] = []
    before = evaluate(network, validation, weights, classes, device, settings.batch_size, settings.ignore_index)
    report("baseline", validation=before)
    if before["loss"] is not None:
        best_loss = before["loss"]
    stale = 0
    for epoch in range(1, settings.epochs + 1):
        started = time.perf_counter()
        network.train()
        plan = batches(train_split, settings, mean_t, std_t, rng)
        loss_sum, seen = 0.0, 0
        for number, (x, y) in enumerate(plan, start=1):
            x, y = x.to(device), y.to(device)
            optimiser.zero_grad(set_to_none=True)
            loss = F.cross_entropy(network(x), y, weight=weights.to(device), ignore_index=settings.ignore_index)
            if torch.isfinite(loss):
                loss.backward()
                optimiser.step()
                loss_sum += float(loss) * len(x)
                seen += len(x)
            report("batch", epoch=epoch, batch=number, batches=len(plan), loss=float(loss))
        scores = evaluate(network, validation, weights, classes, device, settings.batch_size, settings.ignore_index)
        entry = {"epoch": epoch, "train_loss": loss_sum / seen if seen else None,
                 "validation_loss": scores["loss"], "validation_overall_accuracy": scores["overall_accuracy"],
                 "validation_iou": scores["iou"], "seconds": round(time.perf_counter() - started, 2)}
        history.append(entry)
        improved = scores["loss"] is not None and scores["loss"] < best_loss
        if improved:
            best_loss, best_epoch, stale = scores["loss"], epoch, 0
            best_state = copy.deepcopy(network.state_dict())
        else:
            stale += 1
        report("epoch", epochs=settings.epochs, best_epoch=best_epoch, **entry)
        if stale >= settings.patience:
            report("early_stop", epoch=epoch, best_epoch=best_epoch, patience=settings.patience)
            break
    network.load_state_dict(best_state)
    network.to("cpu").eval()
    return {"history": history, "best_epoch": best_epoch, "epochs_run": len(history),
            "validation_before": before}
