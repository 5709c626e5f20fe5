"""The ``lstm-inspect`` command: a thin Click layer over the library.

Library errors become one line ``Error: ...`` on stderr and exit status 1; stdout
carries data only (tables, or one JSON document with ``--json``).
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable, Optional

import click

from . import __version__
from .errors import LstmInspectError


def _fail(message: str) -> "click.ClickException":
    return click.ClickException(message)


def library_errors(func: Callable) -> Callable:
    """Turn library errors (and anything unexpected) into a one-line ``Error:``."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except LstmInspectError as e:
            raise _fail(str(e)) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as e:  # a bug, or an input we did not foresee: still no traceback
            if os.environ.get("LSTM_INSPECT_DEBUG"):
                raise
            where = kwargs.get("model") or ""
            raise _fail(
                f"{where}: unexpected {e.__class__.__name__} ({str(e)[:100]}); this is a bug in lstm-inspect, "
                "please report it with the file (set LSTM_INSPECT_DEBUG=1 for a traceback)"
            ) from None

    return wrapper


def model_options(func: Callable) -> Callable:
    """The options every command that reads a model takes."""
    func = click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Write one JSON document to stdout instead of tables (schema in the README).",
    )(func)
    func = click.option(
        "--config",
        "config",
        type=click.Path(dir_okay=False),
        help="Architecture for a weights-only file: a model.to_json() JSON or a Keras 3 config.json.",
    )(func)
    func = click.argument("model", type=click.Path())(func)
    return func


def emit(as_json: bool, document: Callable[[], dict], renderables: Callable[[], list]) -> None:
    """Write a result: JSON (built and written only when asked) or Rich tables."""
    if as_json:
        from .serialize import dumps

        sys.stdout.write(dumps(document()))
        sys.stdout.flush()
        return
    from .render import print_renderables

    print_renderables(renderables())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="lstm-inspect")
def cli() -> None:
    """Read trained Keras LSTM, GRU and SimpleRNN models without TensorFlow:
    which columns of kernel, recurrent_kernel and bias belong to which gate.

    \b
    Examples:
      lstm-inspect gates model.h5
      lstm-inspect gates model.keras --json | jq '.layers[].path'
      lstm-inspect layers weights.h5 --config model.json
    """


@cli.command()
@model_options
@click.option(
    "--hard-sigmoid",
    type=click.Choice(["keras2", "keras3"]),
    default=None,
    help="What hard_sigmoid means: keras2 = clip(0.2x+0.5), keras3 = clip(x/6+0.5). "
    "Default: from the Keras version that wrote the file.",
)
@library_errors
def gates(model: str, config: Optional[str], as_json: bool, hard_sigmoid: Optional[str]) -> None:
    """Label every gate slice of every recurrent weight array in MODEL.

    For each recurrent layer (each direction of a Bidirectional on its own) a
    table per weight array gives each gate's columns start:stop, its shape, and
    mean, std, min, max and L2 norm, with notes on layout and activations.
    """
    from .api import load
    from .labels import label_gates

    m = load(model, config=config)
    report = label_gates(m, hard_sigmoid=hard_sigmoid)
    _warn(m.warnings)

    def document():
        from .serialize import gates_document

        return gates_document(report)

    def renderables():
        from .render import gates_renderables

        return gates_renderables(report)

    emit(as_json, document, renderables)


@cli.command()
@model_options
@library_errors
def layers(model: str, config: Optional[str], as_json: bool) -> None:
    """List every layer of MODEL: path, class, output shape, parameters, the
    config that matters, and whether `run` can compute it."""
    from .api import load
    from .overview import layer_rows

    m = load(model, config=config)
    rows = layer_rows(m)
    _warn(m.warnings)

    def document():
        from .serialize import layers_document

        return layers_document(m, rows)

    def renderables():
        from .render import layers_renderables

        return layers_renderables(m, rows)

    emit(as_json, document, renderables)


def _warn(messages) -> None:
    if messages:
        from .render import warn

        for message in messages:
            warn(message)


def main() -> None:  # pragma: no cover - console entry point
    cli(prog_name="lstm-inspect")
