import json
import os
from pathlib import Path

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
