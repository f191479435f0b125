"""`make finetune`: fine-tune the U-Net on a patch folder from the command line.

    /usr/bin/python3 tools/finetune.py --patches PATCHES --out model.onnx [--epochs 20] [--base-model auto]

Prints one line per stage and per epoch (losses, validation accuracy), then
where the model, its card and the test-split report are, with both models'
scores side by side.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.plugin_package import import_plugin_package  # noqa: E402


def epoch_summary(stage: str) -> bool:
    """An epoch's losses and validation accuracy: kept on screen, one line each."""
    return stage.startswith("Epoch") and "loss" in stage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", required=True, help="a folder written by s2cloudmask:exportpatches")
    parser.add_argument("--out", required=True, help="the fine-tuned model (.onnx)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--base-model", default="auto", help="auto (the built-in U-Net) or an .onnx with a card")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu"))
    parser.add_argument("--crop", type=int, default=256, help="side of the training crops on the model grid")
    args = parser.parse_args(argv)
    import_plugin_package()
    from s2cloudmask.inference.errors import CloudMaskError
    from s2cloudmask.inference.feedback import ConsoleFeedback
    from s2cloudmask.inference.training.finetune import TrainingSettings, finetune
    from s2cloudmask.inference.training.finetune_report import comparison_rows

    feedback = ConsoleFeedback(keep=epoch_summary)
    try:
        result = finetune(args.patches, args.out, base_model=args.base_model,
                          settings=TrainingSettings(epochs=args.epochs, device=args.device, crop=args.crop), feedback=feedback)
    except CloudMaskError as exc:
        feedback.end_line()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    feedback.end_line()
    print(f"model:   {result.output}\ncard:    {result.card}\nreport:  {result.report_html}")
    print(f"trained on {result.device_used}, {result.epochs_run} epoch(s), best epoch {result.best_epoch}, "
          f"classes: {', '.join(result.classes)}, {result.seconds:.0f} s")
    print(f"test split ({result.finetuned_scores['patches']} patches)   base   fine-tuned")
    for name, base, tuned in comparison_rows(result.base_scores, result.finetuned_scores, "as_labelled"):
        print(f"  {name:<34} {base:>8} {tuned:>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
