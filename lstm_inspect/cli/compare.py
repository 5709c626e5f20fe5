"""``lstm-inspect compare``: a port's numbers (or a second Keras checkpoint) against the
Keras model on the same input. The pipeline is :mod:`lstm_inspect.reports.compare`."""

from __future__ import annotations

import click

from .options import emit, library_errors, model_options, note_all, warn_all

#: Exit status when the port's numbers diverge from Keras's (0 matches, 1 error, 2 usage).
DIVERGES = 3


@click.command()
@model_options
@click.option("--against", "against", required=True, metavar="PORT",
              help="The port's numbers (.npz/.json keyed like run --npz), an .onnx model, or another Keras file.")
@click.option("--input", "input_path", metavar="FILE",
              help="The input both were run on (as for run); optional only for two Keras files.")
@click.option("--atol", type=click.FloatRange(min=0), default=1e-4, show_default=True, help="Absolute tolerance.")
@click.option("--rtol", type=click.FloatRange(min=0), default=1e-4, show_default=True, help="Relative tolerance.")
@library_errors
def compare(model, config, as_json, against, input_path, atol, rtol) -> None:
    """Compare a port of MODEL with Keras: where its numbers first leave Keras's (layer,
    quantity, sample, step, unit) and which known porting mistake explains them.
    Exit status 0 matches, 1 error, 2 usage, 3 diverges."""
    from ..api import load
    from ..reports import compare as pipeline
    from ..reports.ports import is_keras_file, read_port
    from ..reports.run import model_inputs

    checkpoint = is_keras_file(against)
    if input_path is None and not checkpoint:
        raise click.UsageError("--input is required to compare a port's numbers")
    m = load(model, config=config)
    if checkpoint:
        report = pipeline.compare_checkpoints(m, load(against), input_path, atol=atol, rtol=rtol)
    else:
        given = model_inputs(m, input_path)
        port = read_port(against, given.arrays)
        report = pipeline.compare_port(m, given, port, against, atol=atol, rtol=rtol)
    note_all(report.notes)
    warn_all(m.warnings)

    def renderables():
        from ..reports.render_compare import compare_renderables

        return compare_renderables(report)

    emit(as_json, lambda: pipeline.compare_document(report), renderables)
    if report.compared_run and not report.matches:
        raise click.exceptions.Exit(DIVERGES)
