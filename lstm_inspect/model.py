"""The neutral in-memory model every reader produces and every consumer reads.

Nothing here touches a file: readers fill these dataclasses, the labeller and
the executor read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

#: Container formats, as reported in ``gates --json``.
FORMATS = ("keras-h5", "keras-h5-weights", "keras-v3", "keras-v3-weights")


@dataclass
class StoredArray:
    """One weight array exactly as the file stores it."""

    name: str  #: the weight's own name in the file (``lstm_1/kernel:0``, ``vars/0``)
    h5_path: str  #: absolute path of the dataset inside the HDF5 file
    value: np.ndarray

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(self.value.shape)


@dataclass
class Layer:
    """One layer of the model, with its own weights and (for wrappers and models) children."""

    name: str
    class_name: str
    path: str  #: names from the top model down, joined with ``/``
    config: Dict[str, Any] = field(default_factory=dict)
    weights: List[StoredArray] = field(default_factory=list)
    children: List[Layer] = field(default_factory=list)
    #: Functional graph edges: one entry per call, each a list of
    #: ``(layer_name, node_index, tensor_index)`` plus call kwargs.
    inbound_nodes: List[Any] = field(default_factory=list)
    #: True when the class and config were inferred from weight shapes (no config given).
    inferred: bool = False

    def walk(self) -> Iterator[Layer]:
        """This layer, then every layer inside it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def param_count(self) -> int:
        own = sum(int(w.value.size) for w in self.weights)
        return own + sum(c.param_count for c in self.children)


@dataclass
class Model:
    """A whole Keras model (or weights file) as read from disk."""

    file: str
    format: str  #: one of FORMATS
    keras_version: Optional[str]
    backend: Optional[str]
    layers: List[Layer]
    name: Optional[str] = None
    class_name: Optional[str] = None  #: Sequential, Functional, Model, or None without config
    #: where the architecture came from: "file", "--config" or "weights" (inferred from shapes)
    config_source: str = "file"
    input_layers: List[Any] = field(default_factory=list)
    output_layers: List[Any] = field(default_factory=list)
    #: things a reader noticed that the user should hear about
    warnings: List[str] = field(default_factory=list)
    #: the Keras major version taken as the writer when the file records none ("3" for .weights.h5)
    assumed_keras_major: Optional[str] = None

    def walk(self) -> Iterator[Layer]:
        for layer in self.layers:
            yield from layer.walk()

    @property
    def semantics_version(self) -> Optional[str]:
        """The keras_version whose meanings (hard_sigmoid, defaults) apply to this file."""
        return self.keras_version or self.assumed_keras_major
