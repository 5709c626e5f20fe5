"""The safetensors format, written in plain Python: an 8-byte little-endian header length,
a JSON header (``{"name": {"dtype", "shape", "data_offsets"}}``, padded with spaces to a
multiple of 8), then the raw little-endian, row-major bytes of every tensor back to back
(the format's README, huggingface/safetensors). float32 tensors only."""

from __future__ import annotations

import json
import struct
from typing import Dict

import numpy as np


def safetensors_bytes(tensors: Dict[str, np.ndarray], metadata: Dict[str, str] = None) -> bytes:
    header: Dict[str, object] = {"__metadata__": dict(metadata)} if metadata else {}
    chunks, offset = [], 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(tensors[name])), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)
