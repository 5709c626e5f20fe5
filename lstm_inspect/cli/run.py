"""``lstm-inspect run``: the model forward in numpy, with every gate at every step.
The pipeline is :mod:`lstm_inspect.reports.run`; this module parses options, calls it
and writes what it returns."""

from __future__ import annotations

from typing import Optional, Tuple

import click

from .options import library_errors, model_options, note_all, precision_option, terminal, warn_all


@click.command()
@model_options
@click.option("--input", "input_path", required=True, metavar="FILE",
              help="Input: .npy, .npz (by input name), .csv/.tsv/.txt (one sequence), .json, or - for JSON on stdin.")
@click.option("--sample", type=int, default=None, help="Which sample of the batch to show (tables: default 0; JSON: all).")
@click.option("--units", "units", metavar="A:B", help="Units to show (tables: all up to 8, else 0:8; JSON: all).")
@click.option("--steps", "steps", metavar="A:B", help="Steps to show, in processing order.")
@click.option("--layer", "layers", multiple=True, metavar="PATH", help="Only this recurrent layer (repeatable).")
@click.option("--jsonl", is_flag=True, help="One JSON record per layer, sample and step.")
@click.option("--npz", "npz_out", type=click.Path(dir_okay=False),
              help="Write every trace and output to this .npz; the tables then show only the outputs and what was written.")
@click.option("--initial-state", type=click.Path(dir_okay=False), help="Start from these states (.npz: <path>/h, <path>/c).")
@click.option("--state-out", type=click.Path(dir_okay=False), help="Write the final states (.npz, same keys).")
@click.option("--hard-sigmoid", type=click.Choice(["keras2", "keras3"]), default=None,
              help="What hard_sigmoid means (default: from the Keras version that wrote the file).")
@click.option("--until", metavar="PATH", help="Stop after this layer; its output becomes the output.")
@click.option("--pixel", metavar="R,C", help="ConvLSTM: show gate maps at this position (default: spatial mean; ConvLSTM1D/3D: 1 or 3 indices).")
@click.option("--view", type=click.Choice(["heatmap", "table"]), default=None,
              help="Heatmaps or a table per layer (default: table up to 64 steps, heatmap beyond).")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also draw the heatmaps into this .png, .svg or .pdf (needs matplotlib).")
@precision_option
@library_errors
def run(model, config, as_json, input_path, sample, units, steps, layers, jsonl, npz_out, initial_state, state_out,
        hard_sigmoid, until, pixel, view, plot_out, precision) -> None:
    """Run MODEL forward in numpy on --input and show, for each recurrent layer,
    every gate, the cell state and the hidden state at each timestep, then the
    model's outputs (equal to Keras's model.predict)."""
    from ..api import load
    from ..reading.files import same_file, save_npz
    from ..reports import run as pipeline
    from ..reports.selection import DEFAULT_UNITS, Selection, parse_range

    if as_json and jsonl:
        raise click.UsageError("--json and --jsonl cannot be used together")
    if npz_out and state_out and same_file(npz_out, state_out):
        raise click.UsageError("--npz and --state-out name the same file")
    tables = not (as_json or jsonl)
    if view and not tables:
        raise click.UsageError("--view chooses the terminal view; it cannot be used with --json or --jsonl")
    if plot_out:
        from ..reports.plot import check_plot_file

        check_plot_file(plot_out)
    selection = Selection(  # usage errors first, before the model is read
        samples=[sample if sample is not None else 0] if tables or sample is not None else None,
        units=parse_range(units, "--units"),
        steps=parse_range(steps, "--steps"),
        layers=list(layers) or None,
        pixel=_pixel(pixel),
    )
    m = load(model, config=config)
    protect = [p for p in (model, config, input_path, initial_state) if p and p != "-"]
    options = {"hard_sigmoid": hard_sigmoid, "until": until, "initial_states": initial_state,
               "max_units": DEFAULT_UNITS if tables and view == "table" else None,
               # only the traces the output shows; --npz writes them all
               "keep": None if npz_out else pipeline.selection_keep(selection)}
    term = terminal()
    with term.progress() as progress:
        if jsonl and not (npz_out or plot_out):
            return _stream_jsonl(m, input_path, selection, dict(options, progress=progress), state_out, protect)
        report = pipeline.run_report(m, input_path, selection, progress=progress, **options)
    if state_out:
        save_npz(state_out, pipeline.state_arrays(report.result), protect=protect)
    written = None
    if npz_out:
        arrays = pipeline.trace_arrays(report.result)
        save_npz(npz_out, arrays, protect=protect)
        written = (npz_out, arrays)
    if plot_out:
        from ..reports.plot import save_run_plot

        save_run_plot(plot_out, report, _plot_selection(selection, sample), protect=protect)
    show = _show_traces(npz_out, view)
    if tables and view is None:
        from ..reports.views import default_view

        view = default_view(report, DEFAULT_UNITS)
    # Notes and warnings only now: a run that fails prints its one Error line and nothing else.
    note_all(report.notes)
    warn_all(m.warnings)
    if jsonl:
        return _write_records(report)
    if as_json:
        from ..reports.serialize import run_document_chunks

        return term.write_chunks(run_document_chunks(report))
    if show and view == "heatmap":
        from ..reports.heatmap import heatmap_renderables

        return term.display(heatmap_renderables(report))
    from ..reports.render import run_renderables

    term.display(run_renderables(report, traces=show, written=written, precision=precision))


def _show_traces(npz_out: Optional[str], view: Optional[str] = None) -> bool:
    """Whether the terminal shows the traces: the one place this is decided. With --npz the
    traces are in the file, and only the outputs and what was written are shown, unless a
    view is asked for by name (``view``: the --view given, not the default one)."""
    return not npz_out or view is not None


def _stream_jsonl(m, input_path, selection, options, state_out, protect) -> None:
    """``--jsonl`` a chunk of steps at a time. The first chunk is computed before anything
    is written, so a model that cannot be run still gives one Error line and nothing else;
    the final states are written before the last chunk's records."""
    from ..reading.files import save_npz
    from ..reports.run import run_report_chunks, state_arrays

    for report in run_report_chunks(m, input_path, selection, **options):
        if report.final and state_out:
            save_npz(state_out, state_arrays(report.result), protect=protect)
        if report.start == 0:
            note_all(report.notes)
            warn_all(m.warnings)
        _write_records(report)


def _write_records(report) -> None:
    from ..reports.serialize import record_chunks

    terminal().write_chunks(record_chunks(report.selected))


def _plot_selection(selection, sample):
    """The plot's narrowing: the options given (all units unless --units), one sample."""
    import dataclasses

    return dataclasses.replace(selection, samples=[sample if sample is not None else 0])


def _pixel(text: Optional[str]) -> Optional[Tuple[int, ...]]:
    if text is None:
        return None
    try:
        position = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"'{text}' is not R,C", param_hint="--pixel") from None
    if not 1 <= len(position) <= 3:  # ConvLSTM1D: P; ConvLSTM2D: R,C; ConvLSTM3D: three indices
        raise click.BadParameter(f"'{text}' is not R,C", param_hint="--pixel")
    return position
