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
    warn_all(m.warnings)

    def document():
        from ..reports.serialize import layers_document

        return layers_document(m, rows)

    def renderables():
        from ..reports.render import layers_renderables

        return layers_renderables(m, rows)

    emit(as_json, document, renderables)
