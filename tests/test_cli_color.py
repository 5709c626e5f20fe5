"""``--color/--no-color``: one output owner per invocation decides, for stdout and stderr
alike. Without either, Rich decides (no colour when the output is not a terminal)."""

import json
import re

import numpy as np
import pytest
from conftest import ROOT, invoke

SEED = "sample_models/seed.h5"
RUN = ["run", SEED, "--input", "sample_models/seed_input.json"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(autouse=True)
def _in_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("TERM", "xterm-256color")  # a dumb terminal would have no colours to force


@pytest.mark.parametrize("args", [["layers", SEED], ["gates", SEED], RUN])
def test_color_adds_styles_and_nothing_else(runner, args):
    plain = invoke(runner, args)
    colored = invoke(runner, ["--color", *args])
    assert colored.exit_code == plain.exit_code == 0
    assert "\x1b[" not in plain.stdout
    assert "\x1b[1m" in colored.stdout  # the file line is bold
    assert ANSI.sub("", colored.stdout) == plain.stdout


@pytest.mark.parametrize("args", [["layers", SEED], ["gates", SEED], RUN])
def test_no_color_wins_over_force_color(runner, monkeypatch, args):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" in invoke(runner, args).stdout
    result = invoke(runner, ["--no-color", *args])
    assert result.exit_code == 0 and "\x1b[" not in result.stdout


def test_default_without_no_color_is_plain_when_not_a_terminal(runner, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    result = invoke(runner, ["layers", SEED])
    assert result.exit_code == 0 and "\x1b[" not in result.stdout


@pytest.mark.parametrize("args", [["layers", SEED, "--json"], ["gates", SEED, "--json"], [*RUN, "--json"]])
def test_json_never_has_colour(runner, args):
    plain = invoke(runner, args)
    colored = invoke(runner, ["--color", *args])
    assert colored.stdout == plain.stdout
    json.loads(colored.stdout)


def test_jsonl_never_has_colour(runner):
    plain = invoke(runner, [*RUN, "--jsonl"])
    assert invoke(runner, ["--color", *RUN, "--jsonl"]).stdout == plain.stdout
    assert len(plain.stdout.splitlines()) == 3


def test_notes_are_one_plain_line_on_stderr_even_in_colour(runner, tmp_path):
    x = tmp_path / "seq.npy"  # one sequence without batch axis, of 5 steps: two notes
    np.save(x, np.zeros((5, 1), np.float32))
    result = invoke(runner, ["--color", "run", SEED, "--input", x, "--json"])
    assert result.exit_code == 0
    assert result.stderr == (
        "Note: input 'input': one sequence of shape (5, 1); added a batch axis\n"
        "Note: input 'input' has 5 time steps; the model was saved for 3\n"
    )

