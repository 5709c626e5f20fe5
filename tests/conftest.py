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
