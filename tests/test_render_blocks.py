"""Long trace tables are printed a block of steps at a time; the blocks line up as the
one table Rich would print for all steps at once."""

import numpy as np
import pytest
from conftest import MODELS, SAMPLES

import lstm_inspect
from lstm_inspect.forward.executor import run_model
from lstm_inspect.reports import render
from lstm_inspect.reports.selection import Selection, select
from lstm_inspect.reports.terminal import Terminal


def _printed(capsys, model, result, selected, rows_per_block):
    def renderables():
        for st in selected:
            yield from render._trace_block(st, result.hard_sigmoid, rows_per_block=rows_per_block)

    Terminal().display(renderables())
    return capsys.readouterr().out


@pytest.mark.parametrize("name, units", [("masking", None), ("masking", (1, 2)), ("stacked_lstm", None),
                                         ("gru_reset_after", (0, 1)), ("embedding_mask", None)])
def test_blocks_line_up_as_one_table(capsys, monkeypatch, name, units):
    monkeypatch.setenv("COLUMNS", "200")
    info = MODELS[name]
    expected = np.load(SAMPLES / info["expected"]["k2"])
    model = lstm_inspect.load(SAMPLES / info["forms"]["k2_h5"])
    inputs = [expected[f"input/{i}"] for i in range(len(info["inputs"]))]
    result = run_model(model, inputs)
    for sample in range(inputs[0].shape[0]):
        selected = select(result, Selection(samples=[sample], units=units))
        whole = _printed(capsys, model, result, selected, rows_per_block=10_000)
        for n in (1, 2, 3):
            assert _printed(capsys, model, result, selected, rows_per_block=n) == whole


def test_number_width_covers_signs_and_non_finite_values():
    assert render._number_width(np.array([0.5, 12.25], np.float32)) == len("12.2500")
    assert render._number_width(np.array([-0.0, 0.5], np.float32)) == len("-0.0000")
    assert render._number_width(np.array([-123.5, 1.0], np.float32)) == len("-123.5000")
    assert render._number_width(np.array([np.nan, 0.5], np.float32)) == len("0.5000")
    assert render._number_width(np.array([np.nan], np.float32)) == len("nan")
    assert render._number_width(np.array([-np.inf], np.float32)) == len("-inf")


def test_output_is_held_back_until_it_is_long(capsys):
    from rich.text import Text

    def failing(n):
        for k in range(n):
            yield Text(f"line {k}")
        raise RuntimeError("rendering failed")

    with pytest.raises(RuntimeError):
        Terminal().display(failing(3))
    assert capsys.readouterr().out == ""  # an ordinary report: all or nothing
    with pytest.raises(RuntimeError):
        Terminal().display(failing(3), hold=10)
    assert capsys.readouterr().out == "line 0\nline 1\nline 2\n"  # a long one streams
