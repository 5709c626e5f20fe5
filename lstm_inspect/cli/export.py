"""``lstm-inspect export``: the model as ONNX, as a PyTorch module, or as per-gate arrays.
The writers are :mod:`lstm_inspect.export`; this module parses options, calls them and
says what was written (stdout: the files; stderr: the mapping notes)."""

from __future__ import annotations

from typing import Optional

import click

from .options import library_errors, model_options, note_all, terminal, warn_all


@click.command()
@model_options
@click.option("--to", "target", type=click.Choice(["onnx", "torch", "npz"]), required=True,
              help="onnx: one .onnx file; torch: a folder with model.py and model.safetensors; npz: per-gate arrays.")
@click.option("-o", "--output", required=True, type=click.Path(), metavar="OUT",
              help="The file to write (--to torch: a folder, created when absent).")
@click.option("--hard-sigmoid", type=click.Choice(["keras2", "keras3"]), default=None,
              help="What hard_sigmoid means (default: from the Keras version that wrote the file).")
@library_errors
def export(model: str, config: Optional[str], as_json: bool, target: str, output: str,
           hard_sigmoid: Optional[str]) -> None:
    """Write MODEL for another runtime: ONNX (onnxruntime, TensorRT, OpenVINO...),
    a PyTorch module, or every weight per gate (.npz with a JSON manifest). What
    cannot be expressed exactly is refused by name; nothing approximate is written.

    \b
    Examples:
      lstm-inspect export model.h5 --to onnx -o model.onnx
      lstm-inspect export model.keras --to torch -o model_torch/
      lstm-inspect export weights.h5 --config model.json --to npz -o gates.npz
    """
    from .. import export as exporters
    from ..api import load

    if target == "onnx":  # say so before reading the model
        from ..export.onnx import require_onnx

        require_onnx()
    m = load(model, config=config)
    protect = [p for p in (model, config) if p]
    if target == "onnx":
        result = exporters.export_onnx(m, output, hard_sigmoid=hard_sigmoid, protect=protect)
    elif target == "torch":
        result = exporters.export_torch(m, output, hard_sigmoid=hard_sigmoid, protect=protect)
    else:
        result = exporters.export_npz(m, output, hard_sigmoid=hard_sigmoid, protect=protect)
    note_all(result.notes)
    warn_all(m.warnings)
    if as_json:
        import json

        terminal().write_json(json.dumps({"files": result.files, "notes": result.notes}, indent=2) + "\n")
    else:
        terminal().write_lines(result.files)
