#!/usr/bin/env python3
"""make_safetensors_fixture.py — writes the Python-made safetensors fixtures that
tests/test_safetensors.c reads (never needed by CI; the outputs are committed).

  tools/oracle/.venv/bin/python tools/oracle/make_safetensors_fixture.py [outdir]

py_written.safetensors: written by safetensors.torch.save_file from torch tensors — fp32, fp16,
  bf16, int64, a scalar and a zero-size tensor — plus several metadata strings (quotes,
  backslashes, control characters, non-ASCII). The C test checks every value and string
  exactly. The crate writes metadata in hash-map order, so regenerating may reorder those
  header bytes; the content stays the same.
py_written_exact.safetensors: written by safetensors.serialize from raw bytes — every dtype,
  a scalar, a zero-size tensor, a name with escapes, and one metadata key (so the crate's
  output is deterministic). The C test rebuilds the same content with st_writer and requires
  byte-identical output.
"""
import os
import sys

import torch
from safetensors import serialize
from safetensors.torch import save_file

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden", "safetensors")
os.makedirs(out, exist_ok=True)

# ---- py_written.safetensors (values mirrored in tests/test_safetensors.c)
tensors = {
    "f32": (torch.arange(6, dtype=torch.float32) * 0.25 - 0.5).reshape(2, 3),
    "f16": torch.tensor([1.0, -2.5, 65504.0, 2.0 ** -24], dtype=torch.float16),
    "bf16": torch.tensor([[1.0, -3.0], [0.5, 2.0 ** 100]], dtype=torch.bfloat16),
    "i64": torch.tensor([-1, 2 ** 40 + 7, 2 ** 63 - 1], dtype=torch.int64),
    "scalar": torch.tensor(0.125, dtype=torch.float32),
    "empty": torch.zeros((0, 3), dtype=torch.float32),
}
metadata = {
    "ss_network_dim": "32",
    'quote"back\\slash': "line\nbreak\ttab\x01",
    "unicode": "h\u00e9llo \U0001F600 \u2713",
    "empty": "",
}
save_file(tensors, os.path.join(out, "py_written.safetensors"), metadata=metadata)

# ---- py_written_exact.safetensors (layout mirrored in tests/test_safetensors.c)
DTYPES = [  # (safetensors name, serialize() name, bytes per element), in sdlora's StDtype order
    ("BOOL", "bool", 1), ("U8", "uint8", 1), ("I8", "int8", 1), ("I16", "int16", 2),
    ("U16", "uint16", 2), ("F16", "float16", 2), ("BF16", "bfloat16", 2), ("I32", "int32", 4),
    ("U32", "uint32", 4), ("F32", "float32", 4), ("I64", "int64", 8), ("U64", "uint64", 8),
    ("F64", "float64", 8), ("F8_E4M3", "float8_e4m3fn", 1), ("F8_E5M2", "float8_e5m2", 1),
]


def pattern(nbytes, seed):
    return bytes((j * 31 + seed * 7) & 255 for j in range(nbytes))


entries = {}
for k, (st_name, py_name, size) in enumerate(DTYPES):
    data = pattern(2 * 3 * size, k)
    if st_name == "BOOL":
        data = bytes(j & 1 for j in range(6))
    entries["t_" + st_name] = {"dtype": py_name, "shape": [2, 3], "data": data}
entries["scalar"] = {"dtype": "float64", "shape": [], "data": pattern(8, 20)}
entries["zero"] = {"dtype": "float16", "shape": [0, 5], "data": b""}
entries['q"b\\s\n\x01\x7f\u00e9\U0001F600'] = {"dtype": "float32", "shape": [1], "data": pattern(4, 21)}
blob = serialize(entries, metadata={"format": 'pt"\\\n\x1f\u2713'})
with open(os.path.join(out, "py_written_exact.safetensors"), "wb") as f:
    f.write(blob)
print("wrote", out)
