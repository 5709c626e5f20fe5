"""What a writer's ``keras_version`` implies for the meaning of a file.

Defaults changed between Keras versions; a config that leaves a value out means
what the writer's Keras meant. See docs/formats.md section 5.1.
"""

from __future__ import annotations

import re
from typing import Optional, Tuple

Version = Tuple[int, int, int]


def parse_version(text: Optional[str]) -> Optional[Version]:
    """``"2.2.4-tf"`` -> ``(2, 2, 4)``; None or unparseable -> None."""
    if not text:
        return None
    m = re.match(r"\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?", str(text))
    if not m:
        return None
    return tuple(int(p) if p else 0 for p in m.groups())  # type: ignore[return-value]


def hard_sigmoid_flavour(keras_version: Optional[str]) -> str:
    """``"keras3"`` (clip(x/6 + 0.5)) for files written by Keras 3, else ``"keras2"`` (clip(0.2x + 0.5))."""
    v = parse_version(keras_version)
    return "keras3" if v is not None and v[0] >= 3 else "keras2"


HARD_SIGMOID_FORMULAS = {
    "keras2": "clip(0.2*x + 0.5, 0, 1)",
    "keras3": "clip(x/6 + 0.5, 0, 1)",
}


def default_recurrent_activation(keras_version: Optional[str]) -> str:
    """The LSTM/GRU ``recurrent_activation`` a config without the key means.

    Keras 1.x and 2.0-2.2 (and tf.keras of TF 1.x, which reports 2.1.x/2.2.x-tf)
    default to hard_sigmoid; Keras 2.3, tf.keras of TF 2.x and Keras 3 to sigmoid.
    """
    v = parse_version(keras_version)
    if v is None or v < (2, 3, 0):
        return "hard_sigmoid"
    return "sigmoid"
