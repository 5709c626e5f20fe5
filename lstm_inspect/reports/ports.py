"""A port's numbers for ``compare``: an .npz or .json of arrays keyed as ``run --npz``
writes them (``output/<k>``, ``<layer path>/output``, ``<layer path>/<quantity>``), or
an ONNX model run through onnxruntime (optional) on the same inputs."""

from __future__ import annotations

import json
import os
from typing import Dict, Sequence

import numpy as np

from ..errors import InputError, UnsupportedError

#: Files ``compare`` reads as a second Keras checkpoint rather than a port's numbers.
KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")
ONNX_INSTALL = "pip install onnxruntime"


def is_keras_file(path: str) -> bool:
    return str(path).lower().endswith(KERAS_SUFFIXES)


def read_port(path: str, inputs: Sequence[np.ndarray]) -> Dict[str, np.ndarray]:
    """The arrays a port file holds (an ONNX model is run on ``inputs``)."""
    name = os.fspath(path)
    lower = name.lower()
    if lower.endswith(".onnx"):
        return run_onnx(name, inputs)
    try:
        if lower.endswith(".json"):
            with open(name, encoding="utf-8") as fh:
                doc = json.load(fh)
            if not isinstance(doc, dict):
                raise InputError(f"{name}: a port's JSON is one object of arrays keyed like 'output/0'")
            return {str(k): _array(name, k, v) for k, v in doc.items()}
        with np.load(name, allow_pickle=False) as npz:
            return {k: _array(name, k, npz[k]) for k in npz.files}
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except (OSError, ValueError) as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"{name}: not an .npz, .json or .onnx file of a port's numbers ({str(e)[:80]})") from None


def _array(path: str, key, value) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{path}: '{key}' is not an array of numbers") from None
    return a


def run_onnx(path: str, inputs: Sequence[np.ndarray]) -> Dict[str, np.ndarray]:
    """Run an ONNX model on ``inputs`` (in the model's input order); its outputs are ``output/<k>``."""
    try:
        import onnxruntime
    except ImportError:
        raise UnsupportedError(f"running an ONNX port needs onnxruntime: {ONNX_INSTALL}") from None
    try:
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own types for unreadable models
        raise InputError(f"{path}: onnxruntime cannot load it ({str(e)[:120]})") from None
    names = [i.name for i in session.get_inputs()]
    if len(names) != len(inputs):
        raise InputError(f"{path}: the ONNX model takes {len(names)} inputs; the Keras model takes {len(inputs)}")
    feed = {n: np.asarray(x, dtype=np.float32 if np.asarray(x).dtype.kind == "f" else np.int64)
            for n, x in zip(names, inputs)}
    outs = session.run(None, feed)
    return {f"output/{k}": np.asarray(y, dtype=np.float64) for k, y in enumerate(outs)}
