"""The ``lstm-inspect`` command: a thin Click layer over the library.

Library errors become one line ``Error: ...`` on stderr and exit status 1; stdout
carries data only (tables, or one JSON document with ``--json``).
"""

from __future__ import annotations

import errno
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
        import numpy as np

        from .limits import memory_budget

        # One memory budget for everything this invocation reads (model, config, inputs);
        # overflow in garbage weights is a result (inf/nan), not a warning on stderr.
        try:
            with memory_budget(kwargs.pop("max_memory", None), cap_native=True), np.errstate(all="ignore"):
                return func(*args, **kwargs)
        except LstmInspectError as e:
            raise _fail(str(e)) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # the reader of stdout went away (| head): stop quietly
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError, AttributeError):
                pass
            raise click.exceptions.Exit(1) from None
        except OSError as e:
            if e.errno not in _WRITE_ERRNOS:
                raise _unexpected(e, kwargs) from None
            raise _fail(f"cannot write the output: {os.strerror(e.errno)}") from None
        except MemoryError:
            where = kwargs.get("model") or ""
            raise _fail(f"{where}: ran out of memory; the model or input needs more than this machine can give "
                        "(lower --max-memory to have such files refused up front)") from None
        except Exception as e:  # a bug, or an input we did not foresee: still no traceback
            raise _unexpected(e, kwargs) from None

    return wrapper


#: Errors writing stdout or an output file that the user's disk causes, not the model.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS}


def _unexpected(e: Exception, kwargs) -> "click.ClickException":
    if os.environ.get("LSTM_INSPECT_DEBUG"):
        raise e
    where = kwargs.get("model") or ""
    return _fail(
        f"{where}: unexpected {e.__class__.__name__} ({str(e)[:100]}); this is a bug in lstm-inspect, "
        "please report it with the file (set LSTM_INSPECT_DEBUG=1 for a traceback)"
    )


class MemorySize(click.ParamType):
    """``--max-memory``: 24GB, 500MB, 2GiB or a number of bytes."""

    name = "size"

    def convert(self, value, param, ctx):
        from .limits import parse_size

        try:
            return value if isinstance(value, int) else parse_size(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


def model_options(func: Callable) -> Callable:
    """The options every command that reads a model takes."""
    func = click.option(
        "--max-memory",
        "max_memory",
        type=MemorySize(),
        default=None,
        metavar="SIZE",
        help="Refuse files whose arrays need more memory than this, all together (e.g. 24GB, 500MB; default 16GiB).",
    )(func)
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
        from .reports.serialize import dumps

        sys.stdout.write(dumps(document()))
        sys.stdout.flush()
        return
    from .reports.render import print_renderables

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
    from .reports.labels import label_gates

    m = load(model, config=config)
    report = label_gates(m, hard_sigmoid=hard_sigmoid)
    _warn(m.warnings)

    def document():
        from .reports.serialize import gates_document

        return gates_document(report)

    def renderables():
        from .reports.render import gates_renderables

        return gates_renderables(report)

    emit(as_json, document, renderables)


@cli.command()
@model_options
@library_errors
def layers(model: str, config: Optional[str], as_json: bool) -> None:
    """List every layer of MODEL: path, class, output shape, parameters, the
    config that matters, and whether `run` can compute it."""
    from .api import load
    from .reports.overview import layer_rows

    m = load(model, config=config)
    rows = layer_rows(m)
    _warn(m.warnings)

    def document():
        from .reports.serialize import layers_document

        return layers_document(m, rows)

    def renderables():
        from .reports.render import layers_renderables

        return layers_renderables(m, rows)

    emit(as_json, document, renderables)


@cli.command()
@model_options
@click.option("--input", "input_path", required=True, metavar="FILE",
              help="Input: .npy, .npz (by input name), .csv/.tsv/.txt (one sequence), .json, or - for JSON on stdin.")
@click.option("--sample", type=int, default=None, help="Which sample of the batch to show (tables: default 0; JSON: all).")
@click.option("--units", "units", metavar="A:B", help="Units to show (tables: all up to 8, else 0:8; JSON: all).")
@click.option("--steps", "steps", metavar="A:B", help="Steps to show, in processing order.")
@click.option("--layer", "layers", multiple=True, metavar="PATH", help="Only this recurrent layer (repeatable).")
@click.option("--jsonl", is_flag=True, help="One JSON record per layer, sample and step.")
@click.option("--npz", "npz_out", type=click.Path(dir_okay=False), help="Also write every trace and output to this .npz.")
@click.option("--initial-state", type=click.Path(dir_okay=False), help="Start from these states (.npz: <path>/h, <path>/c).")
@click.option("--state-out", type=click.Path(dir_okay=False), help="Write the final states (.npz, same keys).")
@click.option("--hard-sigmoid", type=click.Choice(["keras2", "keras3"]), default=None,
              help="What hard_sigmoid means (default: from the Keras version that wrote the file).")
@click.option("--until", metavar="PATH", help="Stop after this layer; its output becomes the output.")
@click.option("--pixel", metavar="R,C", help="ConvLSTM: show gate maps at this position (default: spatial mean).")
@library_errors
def run(model, config, as_json, input_path, sample, units, steps, layers, jsonl, npz_out, initial_state, state_out,
        hard_sigmoid, until, pixel) -> None:
    """Run MODEL forward in numpy on --input and show, for each recurrent layer,
    every gate, the cell state and the hidden state at each timestep, then the
    model's outputs (equal to Keras's model.predict)."""
    from .api import load
    from .errors import UnsupportedError
    from .forward.executor import run_model
    from .reading.files import same_file
    from .reading.inputs import InputSpec, load_inputs, load_states, save_npz
    from .reports.overview import unrunnable_wrapper
    from .reports.selection import DEFAULT_UNITS, Selection, parse_range, select
    from .forward.signature import input_signature

    if as_json and jsonl:
        raise click.UsageError("--json and --jsonl cannot be used together")
    if npz_out and state_out and same_file(npz_out, state_out):
        raise click.UsageError("--npz and --state-out name the same file")
    ranges = parse_range(units, "--units"), parse_range(steps, "--steps"), _pixel(pixel)  # usage errors first
    m = load(model, config=config)
    declared = input_signature(m)
    # Sequences may be longer or shorter than the model was saved for (chunked runs of
    # stateful models); a layer that needs the saved length still says so.
    specs = [InputSpec(name, _free_time(shape), dtype) for name, shape, dtype in declared]
    arrays, notes = load_inputs(input_path, specs)
    for (name, shape, _), x in zip(declared, arrays):
        if len(shape) >= 3 and shape[1] is not None and x.shape[1] != shape[1]:
            notes.append(f"input '{name}' has {x.shape[1]} time steps; the model was saved for {shape[1]}")
    states = load_states(initial_state) if initial_state else None
    reason = unrunnable_wrapper(m, until)
    if reason:
        raise UnsupportedError(reason, file=model)
    tables = not (as_json or jsonl)
    sel = Selection(
        samples=[sample if sample is not None else 0] if tables or sample is not None else None,
        units=ranges[0],
        steps=ranges[1],
        layers=list(layers) or None,
        pixel=ranges[2],
    )
    protect = [p for p in (model, config, input_path, initial_state) if p and p != "-"]
    streamed = False
    if jsonl and not npz_out:
        from .forward.stream import chunk_steps, streaming_blocker

        blocker = streaming_blocker(m, arrays)
        streamed = blocker is None
        if blocker and arrays and arrays[0].ndim >= 2 and arrays[0].shape[1] > chunk_steps(m, len(arrays[0])):
            notes.append(f"--jsonl holds the whole run in memory: {blocker}")
    progress = None
    if sys.stderr.isatty():
        from .reports.render import StepProgress

        progress = StepProgress()
    options = dict(hard_sigmoid=hard_sigmoid, until=until, initial_states=states, progress=progress)
    try:
        if streamed:
            return _stream_jsonl(m, arrays, options, sel, notes, state_out, protect)
        result = run_model(m, arrays, **options)
    finally:
        if progress is not None:
            progress.close()

    if tables and sel.units is None:
        widest = max((t.view.units for t in result.traces), default=0)
        if widest > DEFAULT_UNITS:
            sel.units = (0, DEFAULT_UNITS)
            notes.append(f"showing units 0:{DEFAULT_UNITS} of up to {widest}; use --units A:B to see others")
    selected = select(result, sel)
    if state_out:
        save_npz(state_out, _final_states(result), protect=protect)
    if npz_out:
        arrays_out = {f"output/{k}": y for k, y in enumerate(result.outputs)}
        for t in result.traces:
            for name, value in {**t.trace.gates, "cell": t.trace.cell, "hidden": t.trace.hidden}.items():
                if value is not None:
                    arrays_out[f"{t.path}/{name}"] = value
            arrays_out[f"{t.path}/steps"] = t.trace.steps
        save_npz(npz_out, arrays_out, protect=protect)
    # Notes and warnings only now: a run that fails prints its one Error line and nothing else.
    _note(notes)
    _warn(m.warnings)
    if jsonl:
        from .reports.serialize import run_records

        for line in run_records(selected):
            sys.stdout.write(line + "\n")
        return
    names = [(spec.name, x) for spec, x in zip(specs, arrays)]

    def document():
        from .reports.serialize import run_document

        return run_document(m, result, selected, names)

    def renderables():
        from .reports.render import run_renderables

        return run_renderables(m, result, selected, outputs_sample=sel.samples[0])

    emit(as_json, document, renderables)


def _stream_jsonl(m, arrays, options, sel, notes, state_out, protect) -> None:
    """``--jsonl`` a chunk of steps at a time: memory stays bounded for any length. The
    first chunk is computed before anything is written, so a model that cannot be run
    still gives one Error line and nothing else."""
    from .reading.inputs import save_npz
    from .reports.selection import select
    from .reports.serialize import run_records
    from .forward.stream import run_chunks

    total = arrays[0].shape[1]
    result = None
    for start, result in run_chunks(m, arrays, **options):
        selected = select(result, sel, offset=start, total_steps=total)
        if start == 0:
            _note(notes)
            _warn(m.warnings)
        for line in run_records(selected):
            sys.stdout.write(line + "\n")
    if state_out and result is not None:
        save_npz(state_out, _final_states(result), protect=protect)


def _final_states(result) -> dict:
    return {f"{t.path}/{k}": v for t in result.traces for k, v in t.trace.states.items()}


def _free_time(shape):
    return (shape[0], None) + tuple(shape[2:]) if len(shape) >= 3 else shape


def _pixel(text: Optional[str]):
    if text is None:
        return None
    try:
        r, c = (int(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"'{text}' is not R,C", param_hint="--pixel") from None
    return (r, c)


def _note(messages) -> None:
    for message in messages:
        click.echo(f"Note: {message}", err=True)


def _warn(messages) -> None:
    if messages:
        from .reports.render import warn

        for message in messages:
            warn(message)


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
