"""lstm-inspect: read trained Keras recurrent models without TensorFlow.

>>> import lstm_inspect
>>> model = lstm_inspect.load("sample_models/seed.h5")
>>> report = lstm_inspect.label_gates(model)
>>> [(s.gate, s.slice.start, s.slice.stop) for s in report.layers[0].weights[2].slices]
[('i', 0, 3), ('f', 3, 6), ('c', 6, 9), ('o', 9, 12)]
"""

__version__ = "0.1.0"

from .api import load  # noqa: E402
from .errors import ConfigError, CorruptFileError, LstmInspectError, NotAKerasFileError, UnsupportedError  # noqa: E402
from .labels import label_gates, recurrent_layers  # noqa: E402


def run_model(model, inputs, **options):
    """Run ``model`` forward in numpy; see :func:`lstm_inspect.executor.run_model`."""
    from .executor import run_model as _run

    return _run(model, inputs, **options)


__all__ = [
    "__version__",
    "load",
    "label_gates",
    "recurrent_layers",
    "run_model",
    "LstmInspectError",
    "NotAKerasFileError",
    "CorruptFileError",
    "ConfigError",
    "UnsupportedError",
]
