"""Free spatial dimensions for fully convolutional ONNX models, without the onnx package.

The DLR U-Nets declare their input as (batch, bands, 256, 256) although every
layer is convolutional: only the declared shapes pin the tile size. This
module rewrites those declarations in the serialized model (protocol buffer
wire format, walked just deep enough): the rows and columns of every 4-D graph
input and output become the symbolic dimensions "rows" and "cols", and the
graph's intermediate shape annotations (value_info), which would repeat the
old size, are dropped; ONNX Runtime infers them again. Weights and nodes are
copied byte for byte.

Wire format: a message is a sequence of (field number, wire type, value);
length-delimited values (type 2) hold strings, bytes and sub-messages.
ModelProto.graph = 7; GraphProto.input = 11, .output = 12, .value_info = 13;
ValueInfoProto.type = 2; TypeProto.tensor_type = 1; Tensor.shape = 2;
TensorShapeProto.dim = 1; Dimension.dim_value = 1, .dim_param = 2.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import ModelError

SPATIAL_NAMES = ("rows", "cols")
_MODEL_GRAPH, _GRAPH_INPUT, _GRAPH_OUTPUT, _GRAPH_VALUE_INFO = 7, 11, 12, 13
_VALUE_TYPE, _TYPE_TENSOR, _TENSOR_SHAPE, _SHAPE_DIM, _DIM_PARAM = 2, 1, 2, 1, 2
_LEN = 2


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(data: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """(field number, wire type, raw field bytes, payload of a length-delimited field) for each field."""
    pos = 0
    while pos < len(data):
        start = pos
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        payload = b""
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == _LEN:
            length, pos = _varint(data, pos)
            payload = data[pos: pos + length]
            pos += length
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated message")
        yield number, wire, data[start:pos], payload


def _field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | _LEN) + _encode_varint(len(payload)) + payload


def _rewrite(data: bytes, path: tuple[int, ...], change) -> bytes:
    """`data` with every length-delimited field at `path` replaced by change(payload)."""
    out = bytearray()
    for number, wire, raw, payload in _fields(data):
        if wire == _LEN and number == path[0]:
            out += _field(number, change(payload) if len(path) == 1 else _rewrite(payload, path[1:], change))
        else:
            out += raw
    return bytes(out)


def _free_spatial(shape: bytes) -> bytes:
    dims = [raw for number, _, raw, _ in _fields(shape) if number == _SHAPE_DIM]
    if len(dims) != 4:
        return shape
    symbolic = [_field(_SHAPE_DIM, _field(_DIM_PARAM, name.encode())) for name in SPATIAL_NAMES]
    rest = [raw for number, _, raw, _ in _fields(shape) if number != _SHAPE_DIM]
    return b"".join(dims[:2] + symbolic + rest)


def free_spatial_dims(model: bytes, source: str = "the model") -> bytes:
    """The serialized model with free rows and columns on its 4-D inputs and outputs (see the module doc)."""
    shape_path = (_VALUE_TYPE, _TYPE_TENSOR, _TENSOR_SHAPE)

    def graph(payload: bytes) -> bytes:
        kept = bytearray()
        for number, _, raw, value in _fields(payload):
            if number in (_GRAPH_INPUT, _GRAPH_OUTPUT):
                kept += _field(number, _rewrite(value, shape_path, _free_spatial))
            elif number != _GRAPH_VALUE_INFO:
                kept += raw
        return bytes(kept)

    try:
        return _rewrite(model, (_MODEL_GRAPH,), graph)
    except (ValueError, IndexError) as exc:
        raise ModelError(f"{source} is not a readable ONNX file ({exc}); reinstall the dependencies "
                         "or choose another model.") from exc
