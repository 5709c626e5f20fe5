"""The ``lstm-inspect`` command: a thin Click layer over the library, one module per
command (``gates``, ``layers``, ``run``, ``export``), each parsing its options, calling the library
and writing what it returns through the invocation's one output owner
(:class:`~lstm_inspect.reports.terminal.Terminal`).

Library errors become one line ``Error: ...`` on stderr and exit status 1; stdout
carries data only (tables, or one JSON document with ``--json``).
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import click

from .. import __version__
from . import compare, export, gates, layers, run
from .options import library_errors, model_options  # noqa: F401  (shared by the commands)


class _Commands(click.Group):
    """The command group; a file name given where a command belongs gets a suggestion."""

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name and self.get_command(ctx, name) is None and (
            os.path.exists(name) or os.path.splitext(name)[1].lower() in MODEL_SUFFIXES
        ):
            raise click.UsageError(
                f"'{name}' is not a command; name one first: lstm-inspect gates {name}  "
                f"(or: layers {name}, run {name} --input FILE)"
            )
        return super().resolve_command(ctx, args)


#: Suffixes that say an argument is a model file, not a misspelt command.
MODEL_SUFFIXES = (".h5", ".hdf5", ".keras", ".json")


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="lstm-inspect")
@click.option("--color/--no-color", "color", default=None,
              help="Colour in tables and messages (default: only on a terminal; NO_COLOR and FORCE_COLOR apply).")
def cli(color: Optional[bool]) -> None:
    """Read trained Keras LSTM, GRU and SimpleRNN models without TensorFlow:
    which columns of kernel, recurrent_kernel and bias belong to which gate.

    \b
    Examples:
      lstm-inspect gates model.h5
      lstm-inspect gates model.keras --json | jq '.layers[].path'
      lstm-inspect layers weights.h5 --config model.json
      lstm-inspect export model.h5 --to onnx -o model.onnx
    """


cli.add_command(gates.gates)
cli.add_command(layers.layers)
cli.add_command(run.run)
cli.add_command(compare.compare)
cli.add_command(export.export)


def main() -> None:  # pragma: no cover - console entry point
    """The ``lstm-inspect`` command. A short-lived process: the cyclic garbage collector
    rarely finds anything worth its passes over the freshly imported modules, and tearing
    the interpreter down (freeing every module and array) costs as long as reading a
    small model. So once the command is done and its output flushed, the process exits
    at once (everything it wrote is already closed)."""
    import gc

    gc.set_threshold(50_000, 50, 100)
    try:
        cli(prog_name="lstm-inspect")
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if isinstance(e.code, str):
            sys.stderr.write(e.code + "\n")
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # the reader went away, or the stream is closed
        code = code or 1
    os._exit(code)
