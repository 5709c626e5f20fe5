"""Gate orders: which block of a fused weight matrix belongs to which gate.

Keras packs gate blocks along the last axis of ``kernel``, ``recurrent_kernel``
and ``bias``. The orders are stated here once, as named constants, and every
other module asks this one.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

#: Keras 2 / tf.keras / Keras 3 LSTM and ConvLSTM (`kernel[:, :u]` is i, `[u:2u]` f, ...).
LSTM_GATES: Tuple[str, ...] = ("i", "f", "c", "o")
#: Keras 1 stores one array per gate, in this order: W_i, U_i, b_i, W_c, U_c, b_c, W_f, ...
KERAS1_LSTM_ARRAY_GATES: Tuple[str, ...] = ("i", "c", "f", "o")
#: GRU in every Keras (Keras 1 arrays are stored in this order too).
GRU_GATES: Tuple[str, ...] = ("z", "r", "h")
KERAS1_GRU_ARRAY_GATES: Tuple[str, ...] = GRU_GATES
#: Other libraries' orders of the same blocks, for exports and for diagnosing ports:
#: ONNX LSTM's W/R/B blocks (the operator specification) are i, o, f, c; ONNX GRU's are z, r, h,
#: Keras's own order (only a transpose). PyTorch nn.LSTM's blocks i, f, g, o are Keras's order
#: (g is Keras's c); nn.GRU's r, z, n swap Keras's first two (n is Keras's h).
ONNX_LSTM_GATES: Tuple[str, ...] = ("i", "o", "f", "c")
ONNX_GRU_GATES: Tuple[str, ...] = GRU_GATES
PYTORCH_LSTM_GATES: Tuple[str, ...] = LSTM_GATES
PYTORCH_GRU_GATES: Tuple[str, ...] = ("r", "z", "h")
#: Orders with a name, for messages: what a port that reads Keras's blocks in that order follows.
NAMED_ORDERS: Dict[Tuple[str, ...], str] = {
    KERAS1_LSTM_ARRAY_GATES: "Keras 1's stored order",
    ONNX_LSTM_GATES: "ONNX's order",
    PYTORCH_GRU_GATES: "PyTorch's order",
}
#: SimpleRNN has no gates.
NO_GATES: Tuple[str, ...] = ()

GATE_NAMES: Dict[str, str] = {
    "i": "input",
    "f": "forget",
    "c": "cell candidate",
    "o": "output",
    "z": "update",
    "r": "reset",
    "h": "candidate",
}

#: Short names for narrow table columns.
GATE_SHORT_NAMES: Dict[str, str] = {**GATE_NAMES, "c": "cell", "h": "cand"}

#: Recurrent kinds the tool knows, and the gate order of each.
KIND_GATES: Dict[str, Tuple[str, ...]] = {
    "lstm": LSTM_GATES,
    "gru": GRU_GATES,
    "simple_rnn": NO_GATES,
    "conv_lstm": LSTM_GATES,
}


def gate_order(kind: str) -> Tuple[str, ...]:
    """The gate letters of a recurrent kind, in Keras's fused order."""
    return KIND_GATES[kind]


def n_blocks(kind: str) -> int:
    """How many ``units``-wide blocks a fused kernel of this kind has."""
    return max(1, len(KIND_GATES[kind]))


def gate_columns(gates: Sequence[str], units: int, offset: int = 0) -> List[Tuple[str, int, int]]:
    """``[(gate, start, stop), ...]`` for consecutive blocks of ``units`` columns."""
    return [(g, offset + k * units, offset + (k + 1) * units) for k, g in enumerate(gates)]


def split_gates(array, gates: Sequence[str], axis: int = -1):
    """Split a fused array into ``{gate: block}`` along ``axis`` (the last by default)."""
    import numpy as np

    blocks = np.split(array, len(gates), axis=axis)
    return dict(zip(gates, blocks))
