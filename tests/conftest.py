from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_models"
#: The real Keras files (not in the repository): ``$LSTM_INSPECT_REALWORLD``, else ../shared/realworld.
REALWORLD = Path(os.environ.get("LSTM_INSPECT_REALWORLD") or ROOT.parent / "shared" / "realworld")

# Rich renders deterministically for exact-output tests.
os.environ["NO_COLOR"] = "1"
os.environ["COLUMNS"] = "80"
os.environ.pop("FORCE_COLOR", None)
os.environ.pop("TTY_COMPATIBLE", None)


def load_manifest():
    with open(SAMPLES / "manifest.json") as fh:
        return json.load(fh)


MANIFEST = load_manifest()

#: Recurrent layers whose gates and traces the generator does not record (its numpy reference
#: covers top-level and Bidirectional LSTM/GRU/SimpleRNN/RNN(cell)/ConvLSTM2D only); their numbers
#: are checked through the model's outputs (test_run_samples) where run computes them.
UNRECORDED = {"td_masked_lstm": ("td/lstm",), "td_embedding_lstm": ("td_lstm/lstm",)}
MODELS = {m["name"]: m for m in MANIFEST["models"]}

#: Every way a sample model can be stored and read: (form, generation, config form or None).
#: A weights-only form is read with its generation's config (architecture known) and alone.
FORMS = [
    ("k2_h5", "k2", None),
    ("k2_weights_h5", "k2", "k2_config"),
    ("k2_weights_h5", "k2", None),
    ("k2_keras", "k2", None),
    ("k3_h5", "k3", None),
    ("k3_keras", "k3", None),
    ("k3_weights_h5", "k3", "k3_config"),
    ("k3_weights_h5", "k3", None),
]


@dataclass(frozen=True)
class Sample:
    """One sample model in one form that sample_models/manifest.json says was written."""

    name: str
    form: str
    gen: str
    path: Path
    config: Optional[Path]  #: the companion config of a weights-only form, or None

    @property
    def id(self) -> str:
        return f"{self.name}-{self.form}" + ("+config" if self.config else "")

    @property
    def info(self) -> dict:
        return MODELS[self.name]

    @property
    def runnable(self) -> bool:
        """The file (or its config) holds the architecture, so the model can be run."""
        return "weights" not in self.form or self.config is not None

    @property
    def expected(self):
        """What that generation's Keras computed (sample_models/expected/<gen>/<name>.npz)."""
        return expected_npz(self.name, self.gen)

    def inputs(self) -> List[np.ndarray]:
        return [self.expected[f"input/{i}"] for i in range(len(self.info["inputs"]))]

    def load(self):
        import lstm_inspect

        return lstm_inspect.load(self.path, config=self.config)


@functools.cache
def expected_npz(name: str, gen: str):
    with np.load(SAMPLES / MODELS[name]["expected"][gen]) as npz:
        arrays = _Arrays({k: npz[k] for k in npz.files})
    for a in arrays.values():
        a.flags.writeable = False  # shared by every test that reads them
    return arrays


class _Arrays(dict):
    """An npz read once: ``arrays[key]`` and ``arrays.files`` as with ``np.load``."""

    @property
    def files(self) -> List[str]:
        return list(self)


def samples(forms: Optional[Sequence[str]] = None, runnable: bool = False, names=None) -> List[Sample]:
    """The sample models in the forms the manifest lists (never one it does not), in
    ``FORMS`` order per model: only ``forms`` (form keys, e.g. ``["k2_h5", "k3_keras"]``)
    when given, only runnable ones (full models, weights with their config, not refused by
    name: the manifest's ``refused``) when asked."""
    out = []
    for name in sorted(MODELS if names is None else names):
        written = MODELS[name]["forms"]
        for form, gen, cfg in FORMS:
            if form not in written or (cfg is not None and cfg not in written):
                continue
            if forms is not None and form not in forms:
                continue
            sample = Sample(name, form, gen, SAMPLES / written[form], SAMPLES / written[cfg] if cfg else None)
            if runnable and (not sample.runnable or "refused" in sample.info):  # refused by name: test_issue10
                continue
            out.append(sample)
    return out


def sample_params(forms: Optional[Sequence[str]] = None, runnable: bool = False, names=None):
    """``samples(...)`` as pytest parameters named ``<model>-<form>[+config]``."""
    return [pytest.param(s, id=s.id) for s in samples(forms, runnable, names)]


def recorded_traces(expected) -> dict:
    """``{(path, call): {quantity: array}}`` from an expected npz; ``call`` counts the
    calls of a layer called more than once (``node_trace/<path>/<n>/...``), else 0."""
    out = {}
    for key in expected.files:
        if key.startswith("trace/"):
            path, quantity = key[len("trace/"):].rsplit("/", 1)
            call = 0
        elif key.startswith("node_trace/"):
            path, call, quantity = key[len("node_trace/"):].rsplit("/", 2)
            call = int(call)
        else:
            continue
        out.setdefault((path, call), {})[quantity] = expected[key]
    return out


def realworld(name: str) -> Path:
    path = REALWORLD / name
    if not REALWORLD.is_dir():
        pytest.skip(f"real Keras files absent ({REALWORLD} is not a folder; set LSTM_INSPECT_REALWORLD)")
    return path


def assert_one_error(result, *phrases, file=None) -> str:
    """The CLI's contract for anything a user or a file can cause: exit 1, nothing on
    stdout, exactly one line ``Error: ...`` on stderr (``Error: <file>: ...`` when ``file``
    is given) holding every phrase, no traceback and no bug report. Returns that line."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == "", result.stdout
    err = result.stderr
    assert err.startswith("Error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err and "this is a bug" not in err, err
    if file is not None:
        assert err.startswith(f"Error: {file}: "), err
    for phrase in phrases:
        assert phrase.lower() in err.lower(), (phrase, err)
    return err


def dl4j_keras2_weights():
    """The real Keras 2.0.8 weights file of DL4J with its companion config, its 283 recorded
    input sequences (4 steps of 12 features) and the predictions Keras made for them."""
    import lstm_inspect

    path = realworld("k2_dl4j_lstm_th_weights.h5")
    companions = path.parent / "companions"
    model = lstm_inspect.load(path, config=companions / "k2_dl4j_lstm_th_weights.model_config.json")
    sequences = companions / "k2_dl4j_lstm_th_weights.sequences"
    x = np.stack([np.loadtxt(sequences / f"{i}.csv", delimiter=";")[:, :12] for i in range(283)]).astype(np.float32)
    return model, x, np.load(companions / "k2_dl4j_lstm_th_weights.predictions.npy")


def assert_chunks_match_keras(chunks, expected, n_outputs: int) -> None:
    """A run cut into chunks (``[(first step, RunResult)]``; one chunk for a whole run)
    gives what real Keras computed (sample_models/expected): every model output, and each
    recurrent layer's output and returned states."""
    last = chunks[-1][1]
    for k in range(n_outputs):
        want, got = expected[f"output/{k}"], last.outputs[k]
        if got.shape != want.shape:  # a sequence: the chunks' outputs, joined
            got = np.concatenate([r.outputs[k] for _, r in chunks], axis=1)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0, err_msg=f"output {k}")
    for j, t in enumerate(last.traces):
        key = f"layer/{t.path}"
        if f"{key}/0" not in expected.files:
            continue
        hidden = np.concatenate([r.traces[j].trace.hidden for _, r in chunks], axis=1)
        want = expected[f"{key}/0"]
        got = hidden if t.view.return_sequences else hidden[:, -1]
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0, err_msg=key)
        for n, state in ((1, "h"), (2, "c")):
            if f"{key}/{n}" in expected.files:
                np.testing.assert_allclose(t.trace.states[state], expected[f"{key}/{n}"], atol=1e-5, rtol=0,
                                           err_msg=f"{key} {state}")


@pytest.fixture
def runner():
    from click.testing import CliRunner

    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # Click >= 8.2 keeps stderr apart by default
        return CliRunner()


def invoke(runner, args):
    from lstm_inspect.cli import cli

    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
