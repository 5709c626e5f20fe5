import json
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_models"
REALWORLD = ROOT.parent / "shared" / "realworld"

# Rich renders deterministically for exact-output tests.
os.environ["NO_COLOR"] = "1"
os.environ["COLUMNS"] = "80"
os.environ.pop("FORCE_COLOR", None)
os.environ.pop("TTY_COMPATIBLE", None)


def load_manifest():
    with open(SAMPLES / "manifest.json") as fh:
        return json.load(fh)


MANIFEST = load_manifest()
MODELS = {m["name"]: m for m in MANIFEST["models"]}


def realworld(name: str) -> Path:
    path = REALWORLD / name
    if not REALWORLD.is_dir():
        pytest.skip("../shared/realworld is absent: the real Keras files are not on this machine")
    return path


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
