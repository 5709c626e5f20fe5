"""The public Python API the CLI wraps."""

from __future__ import annotations

import os
from typing import Optional, Union

from .model import Model


def load(
    path: Union[str, os.PathLike[str]],
    config: Optional[Union[str, os.PathLike[str]]] = None,
    max_memory: Optional[int] = None,
) -> Model:
    """Read a Keras model or weights file (``.h5``, ``.keras``, ``.weights.h5``; any name).

    ``config`` is a ``model.to_json()`` JSON or a Keras 3 ``config.json`` for
    weights-only files (it overrides a config stored in the file). ``max_memory`` caps
    the bytes read from the file's datasets and archive members, all together (default
    16 GiB, or the budget of an enclosing :func:`lstm_inspect.limits.memory_budget`);
    a file that declares more is refused before anything is read.
    """
    from .kinds.recurrent import recurrent_layers
    from .limits import ensure_budget
    from .reading import read_model

    with ensure_budget(max_memory):
        model = read_model(os.fspath(path), config=os.fspath(config) if config is not None else None)
    # Weights that fit no recurrent layout (or a --config that does not fit them) fail
    # here, for every command, not only when gates are labelled.
    recurrent_layers(model)
    return model
