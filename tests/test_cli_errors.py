"""Every command keeps the error contract: a library error is one ``Error:`` line (exit 1),
a closed stdout stops quietly, a full disk says so, and anything else is reported as a
bug, with its traceback under LSTM_INSPECT_DEBUG=1."""

import errno

import pytest
from conftest import ROOT, invoke

import lstm_inspect

SEED = "sample_models/seed.h5"

#: For each command: its arguments and the library function it calls (to make fail).
COMMANDS = {
    "gates": (["gates", SEED], "lstm_inspect.reports.labels.label_gates"),
    "layers": (["layers", SEED], "lstm_inspect.reports.overview.layer_rows"),
    "run": (["run", SEED, "--input", "sample_models/seed_input.json"], "lstm_inspect.reports.run.run_model"),
}

BUG = (f"Error: {SEED}: unexpected RuntimeError (boom); this is a bug in lstm-inspect, please report it with "
       "the file (set LSTM_INSPECT_DEBUG=1 for a traceback)\n")


@pytest.fixture(autouse=True)
def _in_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("LSTM_INSPECT_DEBUG", raising=False)


def _failing(monkeypatch, target, error):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(target, fail)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_bug_is_one_error_line_that_says_so(runner, monkeypatch, command):
    args, target = COMMANDS[command]
    _failing(monkeypatch, target, RuntimeError("boom"))
    result = invoke(runner, args)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", BUG)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_bug_shows_its_traceback_under_debug(runner, monkeypatch, command):
    args, target = COMMANDS[command]
    _failing(monkeypatch, target, RuntimeError("boom"))
    monkeypatch.setenv("LSTM_INSPECT_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        invoke(runner, args)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("error, code, stderr", [
    (lstm_inspect.ConfigError("the config is odd", file=SEED), 1, f"Error: {SEED}: the config is odd\n"),
    (OSError(errno.ENOSPC, "No space left on device"), 1, "Error: cannot write the output: No space left on device\n"),
    (BrokenPipeError(errno.EPIPE, "Broken pipe"), 1, ""),
    (MemoryError(), 1, f"Error: {SEED}: ran out of memory; the model or input needs more than this machine can give "
                       "(lower --max-memory to have such files refused up front)\n"),
])
def test_errors_from_every_command(runner, monkeypatch, command, error, code, stderr):
    args, target = COMMANDS[command]
    _failing(monkeypatch, target, error)
    result = invoke(runner, args)
    assert (result.exit_code, result.stdout, result.stderr) == (code, "", stderr)


def test_an_unexpected_os_error_is_a_bug_not_a_full_disk(runner, monkeypatch):
    args, target = COMMANDS["layers"]
    _failing(monkeypatch, target, OSError(errno.EBADF, "Bad file descriptor"))
    result = invoke(runner, args)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {SEED}: unexpected OSError (") and "this is a bug" in result.stderr
