"""``lstm-inspect gates``: label every gate slice of every recurrent weight array."""

from __future__ import annotations

from typing import Optional

import click

from .options import emit, library_errors, model_options, precision_option, warn_all


@click.command()
@model_options
@click.option(
    "--hard-sigmoid",
    type=click.Choice(["keras2", "keras3"]),
    default=None,
    help="What hard_sigmoid means: keras2 = clip(0.2x+0.5), keras3 = clip(x/6+0.5). "
    "Default: from the Keras version that wrote the file.",
)
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also draw each weight matrix with its gate columns into this .png, .svg or .pdf (needs matplotlib).")
@click.option("--layer", "layers", multiple=True, metavar="PATH",
              help="Only this recurrent layer (repeatable; a Bidirectional's path selects both directions).")
@click.option("--brief", is_flag=True, help="One line per layer: each gate's columns for each weight.")
@precision_option
@library_errors
def gates(model: str, config: Optional[str], as_json: bool, hard_sigmoid: Optional[str], layers, brief: bool,
          precision: int, plot_out: Optional[str] = None) -> None:
    """Label every gate slice of every recurrent weight array in MODEL.

    For each recurrent layer (each direction of a Bidirectional on its own) a
    table per weight array gives each gate's columns start:stop, its shape, and
    mean, std, min, max and L2 norm, with notes on layout and activations.
    """
    from ..api import load
    from ..reports.labels import label_gates

    if plot_out:
        from ..reports.plot import check_plot_file

        check_plot_file(plot_out)
    m = load(model, config=config)
    report = label_gates(m, hard_sigmoid=hard_sigmoid)
    if layers:
        report.layers = only_layers(report.layers, layers)
    if plot_out:
        from ..reports.plot import save_gates_plot

        save_gates_plot(plot_out, report, protect=[p for p in (model, config) if p])
    warn_all(m.warnings)

    def document():
        from ..reports.serialize import gates_document

        return gates_document(report)

    def renderables():
        from ..reports.render import gates_renderables

        return gates_renderables(report, brief=brief, precision=precision)

    emit(as_json, document, renderables)


def only_layers(reports, paths):
    """The layer reports at ``paths`` (a path also selects the layers under it)."""
    from ..reports.selection import SelectionError

    known = [r.layer.path for r in reports]
    for path in paths:
        if not any(k == path or k.startswith(path + "/") for k in known):
            listing = ", ".join(known) if known else "none"
            raise SelectionError(f"--layer '{path}' is not a recurrent layer of this model (they are: {listing})")
    return [r for r in reports if any(r.layer.path == p or r.layer.path.startswith(p + "/") for p in paths)]
