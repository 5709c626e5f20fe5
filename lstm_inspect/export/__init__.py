"""The model exported to other runtimes: ONNX, a PyTorch module, per-gate arrays.

:mod:`.plan` walks the model once with symbols in place of arrays and lowers each layer
by the mapping its kind names in ``Kind.exports``; :mod:`.onnx` and :mod:`.torch` write
the plan for their runtime; :mod:`.npz` writes every weight per gate. Everything a writer
cannot express exactly is refused by name before a file is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from ..errors import LstmInspectError
from ..model import Model


@dataclass
class Export:
    """What an export wrote, and the notes that matter (custom cells, formulas)."""

    files: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def export_onnx(model: Model, path, hard_sigmoid: Optional[str] = None, protect: Sequence[str] = (),
                layer_outputs: bool = False) -> Export:
    """Write ``model`` as one ONNX file at ``path`` (``layer_outputs``: each recurrent layer's
    output too, as further graph outputs named ``layer:<path>``)."""
    from .files import write_atomic
    from .notes import plan_notes
    from .onnx import OPSET, build, require_onnx
    from .plan import lower

    require_onnx()
    plan = lower(model, "onnx", hard_sigmoid)
    try:
        proto, masked = build(plan, layer_outputs)
    except LstmInspectError as e:
        raise e.with_file(model.file) from None
    notes = plan_notes(plan, "onnx")
    notes.append(f"ONNX opset {OPSET}, IR version {proto.ir_version}; batch and time dimensions are symbolic")
    if masked:
        notes.append("masks become sequence_lens: exact for rows whose live steps come first (right padding); "
                     "a row whose mask has a hole or leading padding (or no live step and given initial states) "
                     "gives NaN outputs")
    write_atomic(os.fspath(path), proto.SerializeToString(), protect)
    return Export([os.fspath(path)], notes)


def export_torch(model: Model, folder, hard_sigmoid: Optional[str] = None, protect: Sequence[str] = ()) -> Export:
    """Write ``model`` as ``folder/model.py`` (a PyTorch module) and ``folder/model.safetensors``."""
    from .files import make_folder, write_atomic
    from .notes import plan_notes
    from .plan import lower
    from .safetensors import safetensors_bytes
    from .torch import build

    plan = lower(model, "torch", hard_sigmoid)
    try:
        source, state, notes = build(plan, os.path.basename(model.file))
    except LstmInspectError as e:
        raise e.with_file(model.file) from None
    folder = os.fspath(folder)
    make_folder(folder, protect)
    py, weights = os.path.join(folder, "model.py"), os.path.join(folder, "model.safetensors")
    write_atomic(weights, safetensors_bytes(state), protect)
    write_atomic(py, source.encode("utf-8"), protect)
    return Export([py, weights], plan_notes(plan, "torch") + notes)


def export_npz(model: Model, path, hard_sigmoid: Optional[str] = None, protect: Sequence[str] = ()) -> Export:
    """Write every weight of ``model`` per gate as an .npz at ``path``, with a manifest."""
    from ..reading.files import save_npz
    from .npz import gate_arrays

    arrays, notes = gate_arrays(model, hard_sigmoid)
    save_npz(os.fspath(path), arrays, protect=protect)
    return Export([os.fspath(path)], notes)
