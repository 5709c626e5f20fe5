"""``lstm-inspect layers``: every layer of a model, and whether ``run`` can compute it."""

from __future__ import annotations

from typing import Optional

import click

from .options import emit, library_errors, model_options, warn_all


@click.command()
@model_options
@library_errors
def layers(model: str, config: Optional[str], as_json: bool) -> None:
    """List every layer of MODEL: path, class, output shape, parameters, the
    config that matters, and whether `run` can compute it."""
    from ..api import load
    from ..reports.overview import layer_rows

    m = load(model, config=config)
    rows = layer_rows(m)
    inputs = model_inputs(m)
    warn_all(m.warnings)

    def document():
        from ..reports.serialize import layers_document

        return layers_document(m, rows, inputs)

    def renderables():
        from ..reports.render import layers_renderables

        return layers_renderables(m, rows, inputs)

    emit(as_json, document, renderables)


def model_inputs(m):
    """The model's inputs (name, shape, dtype) as ``run`` reads them, or none where the
    config does not say (a weights-only file without --config, a graph it cannot follow)."""
    from ..errors import LstmInspectError
    from ..forward.signature import input_signature

    if m.config_source == "weights":
        return []
    try:
        return input_signature(m)
    except LstmInspectError:
        return []
