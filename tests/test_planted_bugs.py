"""A bug in any layer kind's compute reaches the user as a bug, never as their mistake.

For every kind that computes something on some sample model, its compute is replaced by
one that raises an IndexError (what a slicing slip in numpy code raises), and the model is
run through the CLI: the one line must say "this is a bug in lstm-inspect", and with
LSTM_INSPECT_DEBUG=1 the original exception must come through with its traceback."""

import numpy as np
import pytest
from conftest import invoke, samples

from lstm_inspect.kinds.registry import kind_for


def _first_sample_of_each_kind():
    """(kind, sample, input file) for the first k2_h5 or k3_keras sample that uses each kind."""
    seen = {}
    for sample in samples(forms=["k2_h5", "k3_keras"], runnable=True):
        model = sample.load()
        wrapped = {c.path for layer in model.walk() if layer.class_name == "Bidirectional" for c in layer.children}
        for layer in model.walk():
            if layer.path in wrapped:  # a Bidirectional runs its directions itself, not through their kind
                continue
            kind = kind_for(layer)
            # InputLayer only names the input: the walk hands the input array on without calling it
            if kind is not None and kind.compute is not None and kind.role != "input" and id(kind) not in seen:
                seen[id(kind)] = (kind, sample)
    return sorted(seen.values(), key=lambda ks: (ks[0].name, ks[0].role))


CASES = [pytest.param(kind, sample, id=f"{kind.name}-{kind.role}-{sample.id}")
         for kind, sample in _first_sample_of_each_kind()]


def _plant(kind):
    original = kind.compute

    def broken(*args, **kwargs):
        raise IndexError(f"planted bug in {kind.name}")

    object.__setattr__(kind, "compute", broken)
    return original


def _input_file(sample, tmp_path):
    """The recorded inputs as one .npz (arrays matched to the model's inputs by position)."""
    path = tmp_path / "x.npz"
    np.savez(path, *sample.inputs())
    return str(path)


@pytest.mark.parametrize("kind, sample", CASES)
def test_a_bug_in_any_kind_is_reported_as_a_bug(runner, kind, sample, tmp_path, monkeypatch):
    x = _input_file(sample, tmp_path)
    args = ["run", str(sample.path), "--input", x, "--json"]
    if sample.config:
        args += ["--config", str(sample.config)]
    original = _plant(kind)
    try:
        monkeypatch.delenv("LSTM_INSPECT_DEBUG", raising=False)
        result = invoke(runner, args)
        assert (result.exit_code, result.stdout) == (1, "")
        assert result.stderr.count("\n") == 1, result.stderr
        assert f"unexpected IndexError (planted bug in {kind.name})" in result.stderr
        assert "this is a bug in lstm-inspect" in result.stderr
        monkeypatch.setenv("LSTM_INSPECT_DEBUG", "1")
        with pytest.raises(IndexError, match=f"planted bug in {kind.name}"):
            invoke(runner, args)
    finally:
        object.__setattr__(kind, "compute", original)


def test_every_computing_kind_of_the_samples_is_planted():
    assert len(CASES) >= 30
