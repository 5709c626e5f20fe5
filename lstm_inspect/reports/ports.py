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
    """The arrays a port file holds (an ONNX model is run on ``inputs``). Files are read
    with the bounded readers of ``run``'s inputs: nothing is ever unpickled."""
    from ..reading.files import Npz, check_path, read_text

    name = os.fspath(path)
    lower = name.lower()
    try:
        check_path(name)
        if lower.endswith(".onnx"):
            return run_onnx(name, inputs)
        if lower.endswith(".json"):
            try:
                doc = json.loads(read_text(name))
            except ValueError as e:
                raise InputError(f"not valid JSON ({str(e)[:80]})") from None
            if not isinstance(doc, dict):
                raise InputError("a port's JSON is one object of arrays keyed like 'output/0'")
            return {str(k): _array(k, v) for k, v in doc.items()}
        with Npz(name) as npz:
            return {k: _array(k, npz.array(k)) for k in npz.members}
    except InputError as err:
        raise err.with_file(name) from None


def _array(key, value) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"'{key}' is not an array of numbers") from None


def run_onnx(path: str, inputs: Sequence[np.ndarray]) -> Dict[str, np.ndarray]:
    """Run an ONNX model on ``inputs`` (in the model's input order); its outputs are ``output/<k>``."""
    try:
        import onnxruntime
    except ImportError:
        raise UnsupportedError(f"running an ONNX port needs onnxruntime: {ONNX_INSTALL}") from None
    try:
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own types for unreadable models
        raise InputError(f"onnxruntime cannot load it ({str(e)[:120]})") from None
    names = [i.name for i in session.get_inputs()]
    if len(names) != len(inputs):
        raise InputError(f"the ONNX model takes {len(names)} inputs; the Keras model takes {len(inputs)}")
    feed = {n: np.asarray(x, dtype=np.float32 if np.asarray(x).dtype.kind == "f" else np.int64)
            for n, x in zip(names, inputs)}
    try:
        outs = session.run(None, feed)
    except Exception as e:  # onnxruntime's own error types: the model does not fit the input
        raise InputError(f"onnxruntime cannot run it on this input ({str(e)[:160]})") from None
    return {f"output/{k}": np.asarray(y, dtype=np.float64) for k, y in enumerate(outs)}
