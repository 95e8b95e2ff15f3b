"""A minimal safetensors reader (and writer) on NumPy alone, so the PyTorch twin needs no `safetensors` package.

Format (https://github.com/huggingface/safetensors): 8 bytes little-endian unsigned header length N; N bytes of UTF-8
JSON mapping each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the first
byte after the header) plus an optional "__metadata__" object of strings; then the raw little-endian, row-major data.
The reader checks what diffusion4j's own reader checks: the header fits, offsets tile the data area exactly and
agree with shape and dtype.
"""
import json
import struct

import numpy as np

# safetensors dtype -> (NumPy dtype, bytes per element); BF16 is read as uint16 and widened to float32
_DTYPES = {
    "F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2),
    "I64": ("<i8", 8), "I32": ("<i4", 4), "I16": ("<i2", 2), "I8": ("i1", 1),
    "U64": ("<u8", 8), "U32": ("<u4", 4), "U16": ("<u2", 2), "U8": ("u1", 1), "BOOL": ("?", 1),
}

MAX_HEADER = 100_000_000


class SafetensorsError(ValueError):
    pass


def read_header(data, source="<bytes>"):
    """Parses and validates the header; returns (tensors: dict name -> (dtype, shape, begin, end), metadata, data_start)."""
    if len(data) < 8:
        raise SafetensorsError(f"{source}: truncated, {len(data)} bytes, no header")
    (n,) = struct.unpack("<Q", data[:8])
    if n < 2 or n > len(data) - 8 or n > MAX_HEADER:
        raise SafetensorsError(f"{source}: header length {n} does not fit in {len(data)} bytes")
    try:
        header = json.loads(bytes(data[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{source}: bad JSON header: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{source}: header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError(f"{source}: __metadata__ must map strings to strings")
    start = 8 + n
    length = len(data) - start
    tensors = {}
    for name, info in header.items():
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(f"{source}: tensor '{name}' lacks dtype, shape or data_offsets") from None
        if dtype not in _DTYPES:
            raise SafetensorsError(f"{source}: tensor '{name}' has unsupported dtype {dtype}")
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise SafetensorsError(f"{source}: tensor '{name}' has a bad shape {shape}")
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end):
            raise SafetensorsError(f"{source}: tensor '{name}' has bad data_offsets {info['data_offsets']}")
        need = int(np.prod(shape, dtype=np.int64)) * _DTYPES[dtype][1]
        if end - begin != need:
            raise SafetensorsError(f"{source}: tensor '{name}' holds {end - begin} bytes, shape {shape} of {dtype} needs {need}")
        tensors[name] = (dtype, tuple(shape), begin, end)
    expect = 0
    for name, (_, _, begin, end) in sorted(tensors.items(), key=lambda kv: kv[1][2]):
        if begin != expect:
            raise SafetensorsError(f"{source}: tensor '{name}' data_offsets [{begin}, {end}] "
                                   + ("overlap the previous tensor" if begin < expect else f"leave a gap after byte {expect}"))
        if end > length:
            raise SafetensorsError(f"{source}: truncated, tensor '{name}' ends at {end} of {length} data bytes")
        expect = end
    if expect != length:
        raise SafetensorsError(f"{source}: {length - expect} bytes after the last tensor")
    return tensors, metadata, start


def load(path):
    """Reads a file: returns (dict name -> np.ndarray in file order, metadata dict). F32 stays float32; BF16 becomes float32."""
    with open(path, "rb") as f:
        data = f.read()
    return loads(data, str(path))


def loads(data, source="<bytes>"):
    tensors, metadata, start = read_header(data, source)
    out = {}
    for name, (dtype, shape, begin, end) in sorted(tensors.items(), key=lambda kv: kv[1][2]):
        np_dtype, _ = _DTYPES[dtype]
        a = np.frombuffer(data, dtype=np_dtype, count=int(np.prod(shape, dtype=np.int64)), offset=start + begin)
        if dtype == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[name] = a.reshape(shape).copy()
    return out, metadata


def dtypes(path):
    """dict name -> safetensors dtype string, reading (and validating) the header only."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise SafetensorsError(f"{path}: truncated, no header")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER:
            raise SafetensorsError(f"{path}: header of {n} bytes is too large")
        head += f.read(n)
        f.seek(0, 2)
        size = f.tell()
    header = json.loads(head[8:].decode("utf-8"))
    header.pop("__metadata__", None)
    if 8 + n > size:
        raise SafetensorsError(f"{path}: header length {n} does not fit in {size} bytes")
    return {k: v["dtype"] for k, v in header.items()}


_WRITE = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
          np.dtype(np.int64): "I64", np.dtype(np.int32): "I32", np.dtype(np.int16): "I16", np.dtype(np.int8): "I8",
          np.dtype(np.uint8): "U8", np.dtype(np.bool_): "BOOL"}


def save(path, tensors, metadata=None):
    """Writes NumPy arrays (float32, float64, float16, integers, bool) in dict order; header padded to 8 bytes."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        dt = _WRITE.get(a.dtype.newbyteorder("=")) if a.dtype.byteorder in "<=|" else None
        if dt is None:
            raise SafetensorsError(f"cannot write dtype {a.dtype} of '{name}'")
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    js = json.dumps(header, separators=(",", ":")).encode("utf-8")
    js += b" " * ((8 - len(js) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)
