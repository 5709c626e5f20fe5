"""lstm-inspect: read trained Keras recurrent models without TensorFlow.

>>> import lstm_inspect
>>> model = lstm_inspect.load("sample_models/seed.h5")
>>> report = lstm_inspect.label_gates(model)
>>> [(s.gate, s.slice.start, s.slice.stop) for s in report.layers[0].weights[2].slices]
[('i', 0, 3), ('f', 3, 6), ('c', 6, 9), ('o', 9, 12)]
"""

__version__ = "0.1.0"

# The public names are imported on first use (PEP 562), so that ``import lstm_inspect``
# (and the CLI's ``--help`` and ``--version``) does not load numpy and the whole library.
_RUN = ("run_report", "run_report_chunks", "run_records", "read_inputs", "trace_arrays", "state_arrays",
        "RunReport", "ModelInputs")
_COMPARE = ("compare_port", "compare_checkpoints", "CompareReport")
_EXPORT = ("export_onnx", "export_torch", "export_npz")
_ERRORS = ("LstmInspectError", "NotAKerasFileError", "CorruptFileError", "ConfigError", "UnsupportedError")


def __getattr__(name):
    if name == "load":
        from .api import load as value
    elif name == "label_gates":
        from .reports.labels import label_gates as value
    elif name == "recurrent_layers":
        from .kinds.recurrent import recurrent_layers as value
    elif name in _RUN:
        from .reports import run

        value = getattr(run, name)
    elif name in _COMPARE:
        from .reports import compare

        value = getattr(compare, name)
    elif name == "read_port":
        from .reports.ports import read_port as value
    elif name == "Selection":
        from .reports.selection import Selection as value
    elif name == "Keep":
        from .forward.executor import Keep as value
    elif name == "load_states":
        from .reading.files import load_states as value
    elif name in ("run_chunks", "streaming_blocker"):
        from .forward import stream

        value = getattr(stream, name)
    elif name in _EXPORT:
        from . import export

        value = getattr(export, name)
    elif name in _ERRORS:
        from . import errors

        value = getattr(errors, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


def run_model(model, inputs, **options):
    """Run ``model`` forward in numpy; see :func:`lstm_inspect.executor.run_model`."""
    from .forward.executor import run_model as _run

    return _run(model, inputs, **options)


__all__ = [
    "__version__",
    "load",
    "label_gates",
    "recurrent_layers",
    "run_model",
    "run_chunks",
    "streaming_blocker",
    "run_report",
    "run_report_chunks",
    "run_records",
    "read_inputs",
    "trace_arrays",
    "state_arrays",
    "load_states",
    "compare_port",
    "compare_checkpoints",
    "read_port",
    "CompareReport",
    "Selection",
    "export_onnx",
    "export_torch",
    "export_npz",
    "Keep",
    "RunReport",
    "ModelInputs",
    "LstmInspectError",
    "NotAKerasFileError",
    "CorruptFileError",
    "ConfigError",
    "UnsupportedError",
]
