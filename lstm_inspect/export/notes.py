"""The mapping notes an export prints: which activation formula was used."""

from __future__ import annotations

from typing import List

from .plan import Plan

_FORMULA = {"keras2": "clip(0.2x + 0.5, 0, 1) (Keras 1/2)", "keras3": "clip(x/6 + 0.5, 0, 1) (Keras 3)"}


def uses_hard_sigmoid(plan: Plan) -> bool:
    for op in plan.ops:
        if op.op == "act" and op.attrs["fn"] == "hard_sigmoid":
            return True
        cells = [op.attrs.get(k) for k in ("cell", "forward", "backward")]
        if any(c and "hard_sigmoid" in (c["activation"], c["recurrent_activation"]) for c in cells):
            return True
    return False


def plan_notes(plan: Plan, target: str) -> List[str]:
    notes = list(plan.notes)
    if uses_hard_sigmoid(plan):
        op = "HardSigmoid alpha" if target == "onnx" else "written out as"
        alpha = {"keras2": "0.2", "keras3": "1/6"}[plan.hard_sigmoid]
        notes.append(f"hard_sigmoid is {_FORMULA[plan.hard_sigmoid]}: {op} {alpha}, beta 0.5"
                     " (--hard-sigmoid keras2|keras3 to choose)" if target == "onnx" else
                     f"hard_sigmoid is {_FORMULA[plan.hard_sigmoid]} (--hard-sigmoid keras2|keras3 to choose)")
    return notes
