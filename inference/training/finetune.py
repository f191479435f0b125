"""Fine-tune a U-Net on a patch folder: prepare, train in the PyTorch subprocess, score on the test split, publish.

    finetune("patches/", "my_model.onnx", base_model="auto", epochs=20)

writes, only when everything succeeded:
  my_model.onnx             ONNX, symbolic batch and spatial sides, the model card embedded in its metadata
  my_model.card.json        the same card beside it (bands, normalisation, classes, tile size and overlap,
                            and under "training" the provenance: patches manifest, epochs, device, scores)
  my_model.validation.json  base and fine-tuned model scored on the test split, side by side
  my_model.validation.html  the same as a page

The training subprocess (`python -m trainer train`, in the environment of
environment.py) reports JSON lines; each becomes progress, a stage text with
the epoch's losses and validation scores, or an error. Cancel terminates it
and removes every partial file.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..about import PLUGIN_DIR, software_version
from ..classes import CLASS_NAMES, CLOUD, SEMI_TRANSPARENT
from ..defaults import SPLITS, model_file
from ..errors import Cancelled, ModelError, OutputError, TrainingError
from ..feedback import Feedback, SilentFeedback, check_cancelled
from ..masking.model_card import METADATA_KEY, ClassSpec, ModelCard, builtin_card, load_card, sidecar_path
from ..outputs import atomic_output, check_outputs, check_writable
from ..patch_format import patch_folder_files
from .dataset import IGNORE, model_bands, prepare_split, write_dataset
from .environment import training_python
from .finetune_report import finetune_report, finetune_report_paths
from .patch_set import PatchSet, read_patches
from .published import publish_model
from .scoring import score_model

STOP_SECONDS = 10.0  # how long a cancelled trainer may take to exit before it is killed
PROGRESS = {"prepare": (0.0, 10.0), "train": (10.0, 80.0), "base": (80.0, 88.0), "tuned": (88.0, 97.0)}


@dataclass(frozen=True)
class TrainingSettings:
    """Fine-tuning settings; the defaults suit a few hundred patches on a CPU or a small GPU."""

    epochs: int = 20
    patience: int = 4  # epochs without a lower validation loss before stopping early
    batch_size: int = 4
    crop: int = 256  # side of the random training crops on the model grid (a multiple of 32)
    learning_rate: float = 1e-4
    head_learning_rate: float = 1e-3  # the last layer, where a new class must part from the one it copies
    train_encoder: bool = False  # a few hundred patches: keep the encoder's features, train decoder and head
    gain_jitter: float = 0.03
    offset_jitter: float = 0.01
    seed: int = 0
    device: str = "auto"  # "auto" trains on CUDA when PyTorch sees one; "cpu" forces the CPU
    threads: int = 0


@dataclass
class FinetuneResult:
    output: str
    card: str
    report: str
    report_html: str
    device_used: str
    epochs_run: int
    best_epoch: int
    history: list[dict[str, Any]]
    base_scores: dict[str, Any]
    finetuned_scores: dict[str, Any]
    classes: list[str]
    seconds: float
    warnings: list[str] = field(default_factory=list)


def base_card(base_model: str | Path, patches: PatchSet) -> ModelCard:
    """The card of the model to start from: the built-in U-Net for the patches' level and bands, or a file's."""
    card = builtin_card(patches.level, patches.bands) if str(base_model).lower() == "auto" else load_card(base_model)
    if card.levels and patches.level not in card.levels:
        raise ModelError(f"The base model {card.label} is meant for {', '.join(card.levels)}, but the patches in "
                         f"{patches.folder} are {patches.level}; choose a base model for {patches.level} or auto.")
    if card.output != "logits":
        raise ModelError(f"The base model {card.label} outputs {card.output}; fine-tuning needs a model that "
                         "outputs logits (its last layer a convolution).")
    return card


def target_classes(card: ModelCard, patches: PatchSet) -> tuple[tuple[ClassSpec, ...], int | None]:
    """The fine-tuned model's classes, and the channel a new semi-transparent channel starts from (or None).

    The head gains a fourth output when the training labels hold semi-transparent
    cloud and the base model has none; it starts as a copy of cloud, the class
    thin cloud is most often taken for.
    """
    codes = card.class_codes()
    if SEMI_TRANSPARENT in codes or not patches.has_semi_transparent("train"):
        return card.classes, None
    if CLOUD not in codes:
        raise ModelError(f"The base model {card.label} has no cloud output to start a semi-transparent cloud "
                         "output from; choose a base model with a cloud class.")
    return (*card.classes, ClassSpec(CLASS_NAMES[SEMI_TRANSPARENT].lower(), SEMI_TRANSPARENT)), codes.index(CLOUD)


def _reader(stream: Any, lines: "queue.Queue[str | None]") -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_trainer(arguments: list[str], feedback: Feedback, on_event: Any, log: Path) -> dict[str, Any]:
    """Run `python -m trainer ARGS` in the training environment; relay its events; return the "done" event."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
    env["PYTHONPATH"] = str(PLUGIN_DIR)
    command = [str(training_python()), "-m", "trainer", *arguments]
    with open(log, "w", encoding="utf-8") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL,
                                   text=True, env=env, cwd=str(PLUGIN_DIR))
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_reader, args=(process.stdout, lines), daemon=True).start()
        done: dict[str, Any] | None = None
        failure = ""
        try:
            while True:
                if feedback.is_cancelled():
                    _stop(process)
                    raise Cancelled("Fine-tuning was cancelled; no model was written.")
                try:
                    line = lines.get(timeout=0.2)
                except queue.Empty:
                    continue
                if line is None:
                    break
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a library printing to stdout: not a report
                if event.get("event") == "done":
                    done = event
                elif event.get("event") == "error":
                    failure = str(event.get("message", ""))
                else:
                    on_event(event)
            process.wait()
        except BaseException:
            if process.poll() is None:
                _stop(process)
            raise
    if process.returncode != 0 or done is None:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        raise TrainingError(f"Fine-tuning failed in the training environment ({failure or 'exit code ' + str(process.returncode)}). "
                            f"Last lines of its log: {' | '.join(tail) or 'none'}")
    return done


class _Relay:
    """Trainer events -> progress bar and stage texts, epoch by epoch."""

    def __init__(self, feedback: Feedback, epochs: int):
        self.feedback, self.epochs = feedback, epochs
        self.device = "unknown"

    def __call__(self, event: dict[str, Any]) -> None:
        start, end = PROGRESS["train"]
        kind = event.get("event")
        if kind == "start":
            self.device = str(event.get("device_name", event.get("device", "unknown")))
            self.feedback.progress(start, f"Training on {self.device}: {event.get('train_patches')} training and "
                                          f"{event.get('validation_patches')} validation patches")
        elif kind == "batch":
            share = (event["epoch"] - 1 + event["batch"] / max(1, event["batches"])) / self.epochs
            self.feedback.progress(start + (end - start) * share, f"Epoch {event['epoch']} of {self.epochs}")
        elif kind == "epoch":
            self.feedback.progress(start + (end - start) * event["epoch"] / self.epochs, epoch_line(event))
        elif kind == "early_stop":
            self.feedback.progress(end, f"Stopped early after epoch {event['epoch']}: the validation loss has not "
                                        f"improved for {event['patience']} epochs (best: epoch {event['best_epoch']})")


def _figure(value: Any, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1%}" if percent else f"{value:.4f}"


def epoch_line(event: dict[str, Any]) -> str:
    return (f"Epoch {event['epoch']} of {event['epochs']}: training loss {_figure(event.get('train_loss'))}, "
            f"validation loss {_figure(event.get('validation_loss'))}, validation accuracy "
            f"{_figure(event.get('validation_overall_accuracy'), percent=True)}")


def finetuned_card(card: ModelCard, classes: tuple[ClassSpec, ...], patches: PatchSet, output: Path,
                   training: dict[str, Any], model_path: Path) -> ModelCard:
    """The base card with the new classes, level, provenance and name (after `output`, the published file)."""
    extended = len(classes) > len(card.classes)
    return replace(
        card,
        name=f"{output.stem} (fine-tuned {card.name})",
        version=f"{card.version}+ft{datetime.now(timezone.utc):%Y%m%d%H%M}",
        description=f"{card.description.rstrip('.')}; fine-tuned on {len(patches.split('train'))} patches of "
                    f"{patches.folder.name}" + (", head extended with semi-transparent cloud." if extended else "."),
        levels=(patches.level,),
        classes=classes,
        assumptions=(*card.assumptions,
                     f"Fine-tuned on {patches.level} patches at {patches.resolution:g} m resampled to "
                     f"{card.resolution:g} m; its scores hold for scenes like those patches."),
        training=training,
        model_path=str(model_path),
    )


def model_files(output: str | Path, role: str = "OUTPUT_MODEL") -> dict[str, Path]:
    """What publishing a model at `output` writes, by role: the model, its card and its validation report."""
    output = Path(output)
    report_json, report_html = finetune_report_paths(output)
    return {role: output, f"the card beside {role}": sidecar_path(output),
            f"the report beside {role}": report_html, f"the report's JSON beside {role}": report_json}


def _check_request(output: Path, settings: TrainingSettings, patches: str | Path,
                   base_model: str | Path) -> tuple[Path, Path]:
    """Fail before any work on a bad output name or setting, or an output over an input; the report's two paths."""
    if output.suffix.lower() != ".onnx":
        raise OutputError(f"The output model {output} must be an .onnx file; give a name such as "
                          f"{output.with_suffix('.onnx').name}.")
    if settings.epochs < 1:
        raise TrainingError(f"EPOCHS must be at least 1, not {settings.epochs}.")
    written = model_files(output)
    for path in written.values():
        check_writable(path)
    check_outputs(written, {**patch_folder_files(patches, "PATCHES"), "BASE_MODEL": model_file(base_model)})
    return finetune_report_paths(output)


def _complete_patches(folder: str | Path) -> PatchSet:
    patch_set = read_patches(folder)
    for split in SPLITS:
        if not patch_set.split(split):
            raise TrainingError(f"The patch folder {patch_set.folder} has no {split} patches; export it again with "
                                "a share for each of train, validation and test in SPLIT (e.g. 70,15,15).")
    return patch_set


def _prepare(work: Path, patch_set: PatchSet, card: ModelCard, codes: list[int], feedback: Feedback) -> Path:
    """The train and validation splits on the model grid, normalised, in the .npz the trainer loads."""
    bands = model_bands(card, patch_set)
    low, high = PROGRESS["prepare"]
    middle = (low + high) / 2
    dataset = work / "dataset.npz"
    write_dataset(dataset, {
        "train": prepare_split(patch_set.split("train"), card, bands, codes, feedback, (low, middle)),
        "validation": prepare_split(patch_set.split("validation"), card, bands, codes, feedback, (middle, high)),
    })
    check_cancelled(feedback)
    return dataset


def _train(work: Path, dataset: Path, card: ModelCard, classes: tuple[ClassSpec, ...], new_from: int | None,
           settings: TrainingSettings, feedback: Feedback) -> tuple[Path, dict[str, Any], str]:
    """Run the trainer on the dataset: the trained model (no card yet), its "done" event, the device that trained."""
    model = work / "model.onnx"
    request = {
        **asdict(settings), "dataset": str(dataset), "base_model": card.model_path, "output": str(model),
        "classes": len(classes), "new_class_from": new_from, "tile_size": card.tile_size,
        "mean": list(card.mean), "std": list(card.std), "ignore_index": IGNORE,
    }
    (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
    relay = _Relay(feedback, settings.epochs)
    done = run_trainer(["train", str(work / "request.json")], feedback, relay, work / "trainer.log")
    return model, done, str(done.get("device_name", relay.device))


def _provenance(card: ModelCard, classes: tuple[ClassSpec, ...], patch_set: PatchSet, settings: TrainingSettings,
                done: dict[str, Any], device: str, python: Path) -> dict[str, Any]:
    """What the card keeps under "training": where the model came from and how it was trained."""
    return {
        "base_model": {"name": card.label, "path": card.model_path},
        "patches": {"folder": str(patch_set.folder), "manifest": str(patch_set.manifest_path),
                    "level": patch_set.level, "resolution": patch_set.resolution,
                    **{split: len(patch_set.split(split)) for split in SPLITS}, "sources": list(patch_set.sources)},
        "classes_added": [spec.name for spec in classes[len(card.classes):]],
        "epochs_requested": settings.epochs, "epochs_run": done["epochs_run"], "best_epoch": done["best_epoch"],
        "settings": asdict(settings), "device": device, "trainer": f"PyTorch (python -m trainer), {python}",
        "validation_before": done["validation_before"], "history": done["history"],
        "software": software_version(),
        "trained": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _score(base_model: str | Path, card: ModelCard, model: Path, draft: ModelCard, patch_set: PatchSet,
           settings: TrainingSettings, feedback: Feedback) -> tuple[dict[str, Any], dict[str, Any]]:
    """The base and the fine-tuned model on the test split, which training never saw."""
    sidecar_path(model).write_text(json.dumps(draft.to_dict(), indent=2), encoding="utf-8")
    device = "cpu" if settings.device == "cpu" else "auto"
    base = score_model(base_model, card, patch_set, device=device, feedback=feedback, progress=PROGRESS["base"],
                       stage="Scoring the base model on the test split")
    tuned = score_model(model, draft, patch_set, device=device, feedback=feedback, progress=PROGRESS["tuned"],
                        stage="Scoring the fine-tuned model on the test split")
    return base, tuned


def _publish(work: Path, model: Path, final: ModelCard, scores: tuple[dict[str, Any], dict[str, Any]], output: Path,
             feedback: Feedback) -> None:
    """Embed the card in the model, then move the model, its card and the report into place together."""
    card_text = json.dumps(final.to_dict(), indent=2)
    (work / "card.json").write_text(card_text, encoding="utf-8")
    feedback.progress(PROGRESS["tuned"][1], "Embedding the model card")
    run_trainer(["embed", str(model), str(work / "card.json"), "--key", METADATA_KEY], feedback,
                lambda event: None, work / "embed.log")
    check_cancelled(feedback)
    report_text, report_page = finetune_report(final, *scores)
    report_json, report_html = finetune_report_paths(output)
    with contextlib.ExitStack() as outputs:
        model_tmp = outputs.enter_context(atomic_output(output))
        card_tmp = outputs.enter_context(atomic_output(sidecar_path(output)))
        json_tmp = outputs.enter_context(atomic_output(report_json))
        html_tmp = outputs.enter_context(atomic_output(report_html))
        shutil.move(str(model), model_tmp)
        card_tmp.write_text(card_text, encoding="utf-8")
        json_tmp.write_text(report_text, encoding="utf-8")
        html_tmp.write_text(report_page, encoding="utf-8")
    publish_model(output)


def finetune(patches: str | Path, output: str | Path, *, base_model: str | Path = "auto",
             settings: TrainingSettings | None = None, feedback: Feedback | None = None) -> FinetuneResult:
    """Fine-tune `base_model` on the patch folder's train split and publish it at `output` (see module doc)."""
    started = time.perf_counter()
    settings = settings or TrainingSettings()
    feedback = feedback or SilentFeedback()
    output = Path(output)
    report_json, report_html = _check_request(output, settings, patches, base_model)
    patch_set = _complete_patches(patches)
    python = training_python()
    card = base_card(base_model, patch_set)
    classes, new_from = target_classes(card, patch_set)
    with tempfile.TemporaryDirectory(prefix="s2cloudmask-finetune-") as work:
        folder = Path(work)
        dataset = _prepare(folder, patch_set, card, [spec.code for spec in classes], feedback)
        model, done, device_used = _train(folder, dataset, card, classes, new_from, settings, feedback)
        training = _provenance(card, classes, patch_set, settings, done, device_used, python)
        draft = finetuned_card(card, classes, patch_set, output, training, model)
        base_scores, tuned_scores = _score(base_model, card, model, draft, patch_set, settings, feedback)
        training["test_scores"] = {"split": "test", "base": base_scores, "finetuned": tuned_scores}
        final = replace(draft, training=training, model_path=str(output))
        _publish(folder, model, final, (base_scores, tuned_scores), output, feedback)
    feedback.progress(100.0, "Done")
    return FinetuneResult(
        output=str(output), card=str(sidecar_path(output)), report=str(report_json), report_html=str(report_html),
        device_used=device_used, epochs_run=done["epochs_run"], best_epoch=done["best_epoch"],
        history=done["history"], base_scores=base_scores, finetuned_scores=tuned_scores,
        classes=[spec.name for spec in classes], seconds=round(time.perf_counter() - started, 1),
    )
