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


def _width(values):
    return render._widest(np.array(values, np.float32), render.number_format(4))


def test_number_width_covers_signs_and_non_finite_values():
    assert _width([0.5, 12.25]) == len("12.2500")
    assert _width([-0.0, 0.5]) == len("-0.0000")
    assert _width([-123.5, 1.0]) == len("-123.5000")
    assert _width([np.nan, 0.5]) == len("0.5000")
    assert _width([np.nan]) == len("nan")
    assert _width([-np.inf]) == len("-inf")
    assert _width([3e-5, 0.5]) == len("0.5000")
    assert _width([-3e-5]) == len("-3e-05")
    assert _width([2e7]) == len("2.00e+07")


@pytest.mark.parametrize("precision, value, text", [
    (4, 3e-05, "3e-05"), (4, -3e-05, "-3e-05"), (4, 0.00005, "0.0001"), (4, 0.0, "0.0000"),
    (4, -0.1660, "-0.1660"), (6, 3e-05, "0.000030"), (6, 3e-07, "3.00e-07"), (2, 0.004, "4e-03"),
    (4, 12345678.0, "1.23e+07"), (4, float("nan"), "nan"), (4, float("-inf"), "-inf"),
])
def test_numbers_too_small_for_the_precision_are_never_zero(precision, value, text):
    assert render.number_format(precision)(value) == text


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
