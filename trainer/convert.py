"""ONNX graph -> trainable PyTorch network, for the DLR U-Nets of ukis-csmask and graphs like them.

Why a converter of our own: onnx2torch imports torchvision at start-up, and
the only torchvision on the package index for Linux is a CUDA build that does
not load beside the CPU build of PyTorch. The DLR graphs use 19 operators;
this module covers them.

How: the graph is run once on a small tile. Every tensor that depends only on
constants and shapes (the "same" padding of the EfficientNet encoder is
computed from shapes at run time) is frozen to its value then; a U-Net needs
sides that are multiples of 32, and for all of them these paddings are the same. The
remaining nodes become the network's forward pass: Conv and
BatchNormalization as modules whose weights train, the rest as functions.
Weights stored as float16 become float32, so training and the exported model
run in float32.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from torch import nn

SIDE_MULTIPLE = 32
ONNX_TO_TORCH = {
    onnx.TensorProto.FLOAT: torch.float32, onnx.TensorProto.FLOAT16: torch.float32,
    onnx.TensorProto.DOUBLE: torch.float32, onnx.TensorProto.INT64: torch.int64,
    onnx.TensorProto.INT32: torch.int32, onnx.TensorProto.BOOL: torch.bool,
}  # fmt: skip


class ConversionError(Exception):
    """The graph holds something this converter does not translate; the message names it."""


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _tensor(value: onnx.TensorProto) -> torch.Tensor:
    array = numpy_helper.to_array(value)
    if array.dtype in (np.float16, np.float64):
        array = array.astype(np.float32)
    return torch.from_numpy(np.array(array, copy=True))


def _pad_list(pads: list[int]) -> list[int]:
    """ONNX pads (begin of every axis, then end of every axis) -> F.pad order (last axis first)."""
    half = len(pads) // 2
    result: list[int] = []
    for axis in reversed(range(half)):
        result += [int(pads[axis]), int(pads[axis + half])]
    return result


def _slice(data: torch.Tensor, starts, ends, axes=None, steps=None) -> torch.Tensor:
    """ONNX Slice, negative steps included (numpy's clamping rules)."""
    starts, ends = [int(v) for v in starts], [int(v) for v in ends]
    axes = [int(v) for v in axes] if axes is not None else list(range(len(starts)))
    steps = [int(v) for v in steps] if steps is not None else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        size = data.shape[axis]
        start, end = (v + size if v < 0 else v for v in (start, end))
        if step > 0:
            start, end = min(max(start, 0), size), min(max(end, 0), size)
        else:
            start, end = min(max(start, -1), size - 1), min(max(end, -1), size - 1)
        index = torch.tensor(list(range(start, end, step)), dtype=torch.int64)
        data = torch.index_select(data, axis, index)
    return data


def _reshape(data: torch.Tensor, shape) -> torch.Tensor:
    target = [int(v) for v in shape]
    target = [data.shape[i] if v == 0 else v for i, v in enumerate(target)]
    return data.reshape(target)


def _resize(data: torch.Tensor, scales: list[float], attrs: dict[str, Any], where: str) -> torch.Tensor:
    mode = attrs.get("mode", b"nearest").decode()
    transform = attrs.get("coordinate_transformation_mode", b"half_pixel").decode()
    if scales[:2] != [1.0, 1.0]:
        raise ConversionError(f"{where}: Resize over batch or channels")
    if mode == "nearest" and transform == "asymmetric" and attrs.get("nearest_mode", b"floor").decode() == "floor":
        return F.interpolate(data, scale_factor=scales[2:], mode="nearest")
    if mode == "linear" and transform in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        return F.interpolate(data, scale_factor=scales[2:], mode="bilinear", align_corners=transform == "align_corners")
    raise ConversionError(f"{where}: Resize mode {mode!r} with {transform!r} coordinates")


def _evaluate(op: str, inputs: list[Any], attrs: dict[str, Any], where: str) -> torch.Tensor:
    """One ONNX operator on torch tensors (used for the one-off run that finds the frozen tensors)."""
    x = inputs[0] if inputs else None
    if op == "Shape":
        return torch.tensor(list(x.shape), dtype=torch.int64)
    if op == "Gather":
        axis = int(attrs.get("axis", 0))
        picked = torch.index_select(x, axis, inputs[1].reshape(-1).long())
        return picked.reshape(*x.shape[:axis], *inputs[1].shape, *x.shape[axis + 1:])
    if op == "ConstantOfShape":
        value = attrs.get("value")
        fill = _tensor(value).reshape(-1)[0] if value is not None else torch.tensor(0.0)
        return torch.full([int(v) for v in x], fill.item(), dtype=fill.dtype)
    if op == "Concat":
        return torch.cat(inputs, dim=int(attrs["axis"]))
    if op == "Reshape":
        return _reshape(x, inputs[1])
    if op == "Slice":
        return _slice(x, *inputs[1:])
    if op == "Transpose":
        return x.permute(*attrs["perm"]) if "perm" in attrs else x.permute(*reversed(range(x.dim())))
    if op == "Cast":
        return x.to(ONNX_TO_TORCH.get(int(attrs["to"]), torch.float32))
    if op in ("Mul", "Add", "Sub", "Div"):
        a, b = inputs
        return {"Mul": torch.mul, "Add": torch.add, "Sub": torch.sub, "Div": torch.div}[op](a, b)
    if op == "Sigmoid":
        return torch.sigmoid(x)
    if op == "Relu":
        return torch.relu(x)
    if op == "GlobalAveragePool":
        return x.mean(dim=(2, 3), keepdim=True)
    if op == "Pad":
        return F.pad(x, _pad_list(inputs[1].tolist()), value=float(inputs[2]) if len(inputs) > 2 and inputs[2] is not None else 0.0)
    if op == "Resize":
        return _resize(x, [float(v) for v in inputs[2]], attrs, where)
    raise ConversionError(f"{where}: operator {op} is not supported")


def _name(onnx_name: str) -> str:
    return re.sub(r"\W", "_", onnx_name).strip("_") or "node"


class OnnxUNet(nn.Module):
    """The network of an ONNX segmentation graph, with trainable Conv and BatchNormalization weights."""

    def __init__(self, model: onnx.ModelProto, tile: int):
        super().__init__()
        graph = model.graph
        initialisers = {i.name: _tensor(i) for i in graph.initializer}
        inputs = [i for i in graph.input if i.name not in initialisers]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise ConversionError("the graph must have exactly one input and one output")
        self.input_name, self.output_name = inputs[0].name, graph.output[0].name
        dims = inputs[0].type.tensor_type.shape.dim
        self.bands = int(dims[1].dim_value)
        values: dict[str, torch.Tensor] = {**initialisers, self.input_name: torch.zeros(1, self.bands, tile, tile)}
        static = set(initialisers)
        self.steps: list[tuple[str, str, list[str], str, dict[str, Any]]] = []
        self.convs = nn.ModuleDict()
        self.norms = nn.ModuleDict()
        self.encoder_keys: set[str] = set()  # layers named as the encoder's in the graph ("/encoder/")
        self.constant_keys: dict[str, str] = {}
        with torch.no_grad():
            for index, node in enumerate(graph.node):
                where = f"node {index} ({node.op_type} {node.name or node.output[0]})"
                attrs = _attributes(node)
                if node.op_type == "Constant":
                    values[node.output[0]] = _tensor(attrs["value"])
                    static.add(node.output[0])
                    continue
                args = [values.get(name) if name else None for name in node.input]
                key = f"{index}_{_name(node.name or node.output[0])}"
                if "/encoder/" in node.name and node.op_type in ("Conv", "BatchNormalization"):
                    self.encoder_keys.add(key)
                if node.op_type == "Conv":
                    module = self._conv(attrs, initialisers, node, where)
                    self.convs[key] = module
                    result = module(args[0])
                elif node.op_type == "BatchNormalization":
                    module = self._norm(attrs, initialisers, node)
                    self.norms[key] = module.eval()
                    result = module(args[0])
                else:
                    result = _evaluate(node.op_type, args, attrs, where)
                values[node.output[0]] = result
                if node.op_type == "Shape" or all(not name or name in static for name in node.input):
                    if node.op_type not in ("Conv", "BatchNormalization"):
                        static.add(node.output[0])
                        continue
                self.steps.append((node.op_type, key, list(node.input), node.output[0], attrs))
        read = [name for op, _, names, _, _ in self.steps
                for name in (names[:1] if op in ("Conv", "BatchNormalization") else names)]
        needed = sorted({name for name in read if name in static})
        for number, name in enumerate(needed):  # buffers, so they follow the network onto the GPU
            self.constant_keys[name] = f"constant_{number}"
            self.register_buffer(self.constant_keys[name], values[name])
        self.output_channels = int(values[self.output_name].shape[1])
        self.head_key = self._head()

    @staticmethod
    def _conv(attrs: dict[str, Any], weights: dict[str, torch.Tensor], node: onnx.NodeProto, where: str) -> nn.Conv2d:
        weight = weights[node.input[1]]
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        if pads[:2] != pads[2:]:
            raise ConversionError(f"{where}: asymmetric Conv padding")
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise ConversionError(f"{where}: Conv auto_pad")
        groups = int(attrs.get("group", 1))
        conv = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]),
                         stride=tuple(attrs.get("strides", [1, 1])), padding=tuple(pads[:2]),
                         dilation=tuple(attrs.get("dilations", [1, 1])), groups=groups, bias=len(node.input) > 2)
        conv.weight.data.copy_(weight)
        if len(node.input) > 2:
            conv.bias.data.copy_(weights[node.input[2]])
        return conv

    @staticmethod
    def _norm(attrs: dict[str, Any], weights: dict[str, torch.Tensor], node: onnx.NodeProto) -> nn.BatchNorm2d:
        scale, bias, mean, var = (weights[name] for name in node.input[1:5])
        norm = nn.BatchNorm2d(scale.shape[0], eps=float(attrs.get("epsilon", 1e-5)))
        norm.weight.data.copy_(scale)
        norm.bias.data.copy_(bias)
        norm.running_mean.copy_(mean)
        norm.running_var.copy_(var)
        return norm

    def _head(self) -> str:
        """The key of the last convolution: the one whose output channels are the classes."""
        for op, key, _, _, _ in reversed(self.steps):
            if op == "Conv":
                if self.convs[key].out_channels != self.output_channels:
                    raise ConversionError("the graph's output does not come from its last convolution")
                return key
        raise ConversionError("the graph has no convolution")

    def freeze_encoder(self) -> int:
        """Keep the encoder's weights as they are (train decoder and head); returns the parameters frozen.

        With a few hundred patches the encoder's features, learnt on a large data
        set, are worth keeping; and no gradient flows through it, so a step costs
        about half.
        """
        frozen = 0
        for key in self.encoder_keys:
            module = self.convs[key] if key in self.convs else self.norms[key]  # both hold only Conv / BN keys
            for parameter in module.parameters():
                parameter.requires_grad_(False)
                frozen += parameter.numel()
        return frozen

    def add_class(self, copy_from: int) -> None:
        """One more output channel, initialised as a copy of channel `copy_from` (a class the new one resembles)."""
        old = self.convs[self.head_key]
        new = nn.Conv2d(old.in_channels, old.out_channels + 1, old.kernel_size, stride=old.stride,
                        padding=old.padding, dilation=old.dilation, groups=old.groups, bias=old.bias is not None)
        with torch.no_grad():
            new.weight[: old.out_channels] = old.weight
            new.weight[old.out_channels] = old.weight[copy_from]
            if old.bias is not None:
                new.bias[: old.out_channels] = old.bias
                new.bias[old.out_channels] = old.bias[copy_from]
        self.convs[self.head_key] = new
        self.output_channels += 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, torch.Tensor] = {self.input_name: x}

        def value(name: str) -> Any:
            return env[name] if name in env else getattr(self, self.constant_keys[name])

        for op, key, names, output, attrs in self.steps:
            if op == "Conv":
                env[output] = self.convs[key](env[names[0]])
            elif op == "BatchNormalization":
                env[output] = self.norms[key](env[names[0]])
            elif op == "Cast":
                env[output] = env[names[0]]  # float16 <-> float32 casts: everything runs in float32
            elif op == "Pad":
                env[output] = F.pad(env[names[0]], _pad_list(value(names[1]).tolist()))
            elif op == "Resize":
                env[output] = _resize(env[names[0]], [float(v) for v in value(names[2])], attrs, key)
            else:
                env[output] = _evaluate(op, [value(n) if n else None for n in names], attrs, key)
        return env[self.output_name]

    def train(self, mode: bool = True) -> "OnnxUNet":
        """Training keeps BatchNormalization statistics frozen: a handful of small patches would only spoil them."""
        super().train(mode)
        for norm in self.norms.values():
            norm.eval()
        return self


def convert(path: str) -> OnnxUNet:
    """The network of the ONNX file at `path` (float32, evaluation mode).

    The one run that freezes shape-derived tensors uses a 64 x 64 tile: the
    "same" paddings of a U-Net's convolutions depend only on whether each
    feature map's side is even, which holds alike for every multiple of 32.
    """
    return OnnxUNet(onnx.load(path), 2 * SIDE_MULTIPLE).float().eval()


def export(network: nn.Module, path: str, bands: int) -> None:
    """ONNX with symbolic batch and spatial sides (the model card is embedded later, once it holds the test scores)."""
    network.eval()
    example = torch.zeros(1, bands, 2 * SIDE_MULTIPLE, 2 * SIDE_MULTIPLE)  # any multiple of 32 traces the same graph
    torch.onnx.export(
        network, (example,), path, input_names=["input"], output_names=["output"], opset_version=17,
        dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch", 2: "height", 3: "width"}},
        dynamo=False, do_constant_folding=True,
    )
    onnx.checker.check_model(onnx.load(path))

