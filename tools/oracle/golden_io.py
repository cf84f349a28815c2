"""Deterministic .safetensors writer for the golden files.

safetensors.torch.save_file orders __metadata__ by a hash map, so the same content can give
different bytes on every run; this writer sorts metadata keys and tensor names, so
regenerating unchanged goldens leaves the committed files byte-identical.
"""
import json

import torch

_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.int32: "I32"}


def save_sorted(tensors, path, metadata=None):
    """Writes {name: tensor} (contiguous CPU tensors) and string metadata to path."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(metadata[k]) for k in sorted(metadata)}
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # data section starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for data in blobs:
            f.write(data)
