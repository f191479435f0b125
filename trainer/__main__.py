"""Command line of the training subprocess: `python -m trainer train|embed|convert|self-test ...`.

Every message for the parent is one JSON line on stdout ("start", "batch",
"epoch", "early_stop", "done", "error"); anything on stderr is diagnostics.
Exit code 0 only when the model was written completely.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback

import numpy as np


def _train(args: argparse.Namespace) -> None:
    import torch

    from .convert import convert, export
    from .train import Settings, Split, report, train

    request = json.loads(open(args.request, encoding="utf-8").read())
    device = torch.device("cuda" if torch.cuda.is_available() and request.get("device", "auto") != "cpu" else "cpu")
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    torch.set_num_threads(max(1, int(request.get("threads", 0)) or torch.get_num_threads()))
    data = np.load(request["dataset"])
    train_split, validation = Split.load(data, "train"), Split.load(data, "validation")
    report("start", device=device.type, device_name=device_name, torch=torch.__version__,
           train_patches=len(train_split), validation_patches=len(validation))
    network = convert(request["base_model"])
    if request["classes"] > network.output_channels:
        network.add_class(copy_from=request["new_class_from"])
    report("converted", output_channels=network.output_channels, steps=len(network.steps))
    settings = Settings(epochs=request["epochs"], patience=request["patience"], batch_size=request["batch_size"],
                        crop=request["crop"], learning_rate=request["learning_rate"],
                        head_learning_rate=request["head_learning_rate"], train_encoder=request["train_encoder"],
                        gain_jitter=request["gain_jitter"], offset_jitter=request["offset_jitter"],
                        seed=request["seed"], ignore_index=request["ignore_index"])
    outcome = train(network, train_split, validation, request["classes"], request["mean"], request["std"],
                    settings, device)
    started = time.perf_counter()
    export(network, request["output"], network.bands)
    report("done", output=request["output"], device=device.type, device_name=device_name,
           export_seconds=round(time.perf_counter() - started, 1), **outcome)


def _convert(args: argparse.Namespace) -> None:
    """Convert a graph, run it on a saved input (.npy), save its output; optionally export it again."""
    import torch

    from .convert import convert, export

    started = time.perf_counter()
    network = convert(args.model)
    converted = time.perf_counter()
    with torch.no_grad():
        np.save(args.output, network(torch.from_numpy(np.load(args.input))).numpy())
    ran = time.perf_counter()
    if args.export:
        export(network, args.export, network.bands)
    print(json.dumps({"event": "done", "output": args.output, "convert_seconds": round(converted - started, 1),
                      "run_seconds": round(ran - converted, 1), "export_seconds": round(time.perf_counter() - ran, 1)}),
          flush=True)


def _embed(args: argparse.Namespace) -> None:
    """Write the final model card into the ONNX file's metadata_props (key given by the parent)."""
    import onnx
    from onnx import helper

    model = onnx.load(args.model)
    helper.set_model_props(model, {args.key: open(args.card, encoding="utf-8").read()})
    onnx.save(model, args.model)
    print(json.dumps({"event": "done", "output": args.model}), flush=True)


def _self_test(args: argparse.Namespace) -> None:
    """What fine-tuning asks of this environment, on a tiny one-convolution graph: convert it to a network, take a
    training step on it, export it to ONNX again. Prints the versions and the device PyTorch would train on."""
    import tempfile
    from pathlib import Path

    import onnx
    import torch
    import torch.nn.functional as F
    from onnx import TensorProto, helper, numpy_helper

    from .convert import convert, export

    weights = numpy_helper.from_array(np.random.default_rng(0).normal(size=(3, 4, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])], "self-test",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, "height", "width"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "height", "width"])], [weights])
    with tempfile.TemporaryDirectory() as scratch:
        source, exported = Path(scratch) / "tiny.onnx", Path(scratch) / "tuned.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(source))
        network = convert(str(source)).train()
        optimiser = torch.optim.SGD(network.parameters(), lr=0.01)
        loss = F.cross_entropy(network(torch.ones(2, 4, 32, 32)), torch.zeros(2, 32, 32, dtype=torch.int64))
        loss.backward()
        optimiser.step()
        export(network, str(exported), network.bands)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    print(f"ok: torch {torch.__version__}, onnx {onnx.__version__}, numpy {np.__version__}; a graph converted, "
          f"trained one step (loss {loss.item():.3f}) and exported; training would run on {device}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train", help="fine-tune and export; settings in a JSON request file")
    run.add_argument("request")
    embed = commands.add_parser("embed", help="embed a model card into an ONNX file")
    embed.add_argument("model")
    embed.add_argument("card")
    embed.add_argument("--key", required=True)
    check = commands.add_parser("convert", help="convert an ONNX graph and run it on an input saved as .npy")
    check.add_argument("model")
    check.add_argument("input")
    check.add_argument("output")
    check.add_argument("--export", help="also export the converted network to this .onnx")
    commands.add_parser("self-test", help="convert, train one step and export a tiny graph: the environment works")
    args = parser.parse_args(argv)
    try:
        {"train": _train, "embed": _embed, "convert": _convert, "self-test": _self_test}[args.command](args)
    except Exception as exc:  # every failure reaches the parent as one readable line
        traceback.print_exc(file=sys.stderr)
        print(json.dumps({"event": "error", "message": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
