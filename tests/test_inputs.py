"""Inputs for ``run`` read from .npy, .npz, text tables, JSON and stdin; states read and
results written safely. Every error is one ``InputError`` line, ``<file>: <what>``."""

import io
import json
import os
import pickle

import numpy as np
import pytest

from lstm_inspect.errors import InputError, LstmInspectError
from lstm_inspect.limits import memory_budget
from lstm_inspect.reading import files
from lstm_inspect.reading.files import load_states, save_npz
from lstm_inspect.reading.inputs import InputSpec, load_inputs

SEQ = InputSpec("x", (None, 5, 3), "float32")
ANY_SEQ = InputSpec("x", (None, None, 3), "float32")
TOKENS = InputSpec("tok", (None, 6), "int32")
IN_A = InputSpec("in_a", (None, 5, 3), "float32")
IN_B = InputSpec("in_b", (None, 4, 2), "float32")

A = np.arange(15, dtype=np.float64).reshape(1, 5, 3) / 10
B = np.arange(8, dtype=np.float64).reshape(1, 4, 2) - 3


def error(source, specs, stdin=None) -> str:
    with pytest.raises(InputError) as info:
        load_inputs(str(source), specs, stdin)
    message = str(info.value)
    assert "\n" not in message
    return message


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def npy(tmp_path, array, name="x.npy", **kw):
    path = tmp_path / name
    np.save(path, array, **kw)
    return path


def npz(tmp_path, *args, name="x.npz", **arrays):
    path = tmp_path / name
    np.savez(path, *args, **arrays)
    return path


def test_input_error_is_a_library_error():
    assert issubclass(InputError, LstmInspectError)


# ------------------------------------------------------------------------------------
# .npy


def test_npy_with_batch_axis(tmp_path):
    arrays, notes = load_inputs(str(npy(tmp_path, A)), [SEQ])
    assert arrays[0].dtype == np.float32 and arrays[0].shape == (1, 5, 3)
    np.testing.assert_array_equal(arrays[0], A.astype(np.float32))
    assert notes == []


def test_npy_one_sequence_gets_a_batch_axis_and_a_note(tmp_path):
    arrays, notes = load_inputs(str(npy(tmp_path, A[0])), [SEQ])
    assert arrays[0].shape == (1, 5, 3)
    assert notes == ["input 'x': one sequence of shape (5, 3); added a batch axis"]


def test_npy_batch_of_several_sequences_kept(tmp_path):
    batch = np.random.default_rng(0).normal(size=(4, 5, 3))
    arrays, notes = load_inputs(str(npy(tmp_path, batch)), [SEQ])
    assert arrays[0].shape == (4, 5, 3) and notes == []


def test_npy_fortran_order_and_big_endian_read(tmp_path):
    array = np.asfortranarray(A[0].astype(">f8"))
    arrays, _ = load_inputs(str(npy(tmp_path, array)), [SEQ])
    np.testing.assert_array_equal(arrays[0][0], A[0].astype(np.float32))


def test_npy_for_two_inputs_refused(tmp_path):
    assert error(npy(tmp_path, A), [IN_A, IN_B]) == (
        f"{tmp_path / 'x.npy'}: the file holds one array; the model has 2 inputs ('in_a', 'in_b'): "
        "use .npz or .json with one array per input"
    )


def test_nan_and_inf_allowed_with_a_note(tmp_path):
    array = A.copy()
    array[0, 1, 2] = np.nan
    array[0, 3, 0] = np.inf
    arrays, notes = load_inputs(str(npy(tmp_path, array)), [SEQ])
    assert np.isnan(arrays[0][0, 1, 2]) and np.isinf(arrays[0][0, 3, 0])
    assert notes == ["input 'x': 2 of 15 values are NaN or infinite"]


def test_pickled_object_npy_refused(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    assert error(path, [SEQ]) == f"{path}: the array holds Python objects (dtype object); pickled data is never loaded"


def test_raw_pickle_named_npy_refused(tmp_path):
    path = write(tmp_path / "p.npy", pickle.dumps([1, 2, 3]))
    assert error(path, [SEQ]) == f"{path}: not a .npy file (it is a Python pickle, which is never loaded)"


def test_zip_named_npy_refused(tmp_path):
    path = npz(tmp_path, A, name="z.npz")
    os.rename(path, tmp_path / "z.npy")
    assert error(tmp_path / "z.npy", [SEQ]) == f"{tmp_path / 'z.npy'}: not a .npy file (it is a zip archive: name it .npz)"


def test_garbage_npy_refused(tmp_path):
    path = write(tmp_path / "g.npy", b"hello world, not numpy")
    assert error(path, [SEQ]) == f"{path}: not a .npy file (it does not start with the NumPy header)"


def test_malformed_npy_header_refused(tmp_path):
    path = write(tmp_path / "h.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': <f8, }\n")
    assert error(path, [SEQ]).startswith(f"{path}: the array is not a valid .npy array (")


def test_truncated_npy_refused(tmp_path):
    path = npy(tmp_path, A)
    path.write_bytes(path.read_bytes()[:-16])
    assert error(path, [SEQ]) == (
        f"{path}: the array is truncated: its header promises 120 bytes of data, the file has 104"
    )


def test_huge_shape_in_header_refused_without_allocating(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 5, 3)})
    path = write(tmp_path / "huge.npy", buf.getvalue() + b"\0" * 120)
    assert error(path, [SEQ]) == (
        f"{path}: the array is truncated: its header promises 120000000000000 bytes of data, the file has 120"
    )


def test_text_npy_is_not_numeric(tmp_path):
    path = npy(tmp_path, np.array([["a", "b", "c"]] * 5))
    assert error(path, [SEQ]) == f"{path}: the array is not numeric (dtype <U1)"


def test_npy_over_the_memory_budget_refused(tmp_path):
    path = npy(tmp_path, A)
    with memory_budget(100):
        assert error(path, [SEQ]) == (
            f"{path}: the file is 248 bytes, more than the 100 bytes left of the memory limit (100 bytes); "
            "raise it with --max-memory"
        )
    with memory_budget(250):
        load_inputs(str(path), [SEQ])


def test_npy_budget_is_shared_with_what_was_read_before(tmp_path):
    path = npy(tmp_path, A)
    with memory_budget(300) as budget:
        budget.charge(200, "the model")
        message = error(path, [SEQ])
    assert "more than the 100 bytes left of the memory limit (300 bytes)" in message


# ------------------------------------------------------------------------------------
# .npz: by name, else by position


def test_npz_by_name_in_spec_order_and_extra_arrays_noted(tmp_path):
    path = npz(tmp_path, in_b=B, expected=np.zeros(2), in_a=A)
    arrays, notes = load_inputs(str(path), [IN_A, IN_B])
    np.testing.assert_array_equal(arrays[0], A.astype(np.float32))
    np.testing.assert_array_equal(arrays[1], B.astype(np.float32))
    assert notes == ["ignored 1 array not named after a model input: 'expected'"]


def test_npz_by_position_when_no_name_matches(tmp_path):
    arrays, notes = load_inputs(str(npz(tmp_path, A, B)), [IN_A, IN_B])
    assert arrays[0].shape == (1, 5, 3) and arrays[1].shape == (1, 4, 2)
    assert notes == ["array names do not match the model's inputs; taken in order: 'arr_0' -> 'in_a', 'arr_1' -> 'in_b'"]


def test_npz_single_array_any_name(tmp_path):
    arrays, notes = load_inputs(str(npz(tmp_path, seq=A[0])), [SEQ])
    assert arrays[0].shape == (1, 5, 3)
    assert notes == ["input 'x': one sequence of shape (5, 3); added a batch axis"]


def test_npz_missing_name_refused(tmp_path):
    path = npz(tmp_path, in_a=A, other=B)
    assert error(path, [IN_A, IN_B]) == (
        f"{path}: no array named 'in_b' (the file holds 'in_a', 'other'); "
        "name one array after each model input: 'in_a', 'in_b'"
    )


def test_npz_count_mismatch_refused(tmp_path):
    path = npz(tmp_path, A, B, A)
    assert error(path, [IN_A, IN_B]) == (
        f"{path}: the file holds 3 arrays ('arr_0', 'arr_1', 'arr_2'); the model has 2 inputs "
        "('in_a', 'in_b'): name one array after each input"
    )


def test_empty_npz_refused(tmp_path):
    path = npz(tmp_path)
    assert error(path, [SEQ]) == f"{path}: the file holds no arrays; the model has 1 input ('x'): name one array after each input"


def test_npz_shape_error_names_the_input(tmp_path):
    path = npz(tmp_path, in_a=np.zeros((1, 5, 4)), in_b=B)
    assert error(path, [IN_A, IN_B]) == (
        f"{path}: input 'in_a' has 4 features per step; the model expects 3 (shape (None, 5, 3))"
    )


def test_npz_object_member_refused(tmp_path):
    path = tmp_path / "o.npz"
    np.savez(path, x=np.array([None, 1], dtype=object))
    assert error(path, [SEQ]) == f"{path}: array 'x' holds Python objects (dtype object); pickled data is never loaded"


def test_malformed_npz_refused(tmp_path):
    path = write(tmp_path / "bad.npz", b"PK\x03\x04 truncated")
    assert error(path, [SEQ]) == f"{path}: not a valid .npz file (File is not a zip file)"


def test_npz_member_too_large_refused(tmp_path):
    path = tmp_path / "z.npz"
    np.savez_compressed(path, x=np.zeros((1, 500, 3)))  # a small file holding a 12128-byte member
    with memory_budget(1000):
        assert error(path, [ANY_SEQ]) == (
            f"{path}: array 'x' is 12128 bytes, more than the 1000 bytes left of the memory limit (1000 bytes); "
            "raise it with --max-memory"
        )


# ------------------------------------------------------------------------------------
# .csv / .tsv / .txt: one sequence


@pytest.mark.parametrize(
    "name, text",
    [
        ("comma.csv", "0,0.1,0.2\n0.3,0.4,0.5\n"),
        ("semicolon.csv", "0;0.1;0.2\n0.3;0.4;0.5\n"),
        ("spaced.csv", " 0 , 0.1, 0.2\r\n0.3 ,0.4 ,0.5\r\n\r\n"),
        ("tab.tsv", "0\t0.1\t0.2\n0.3\t0.4\t0.5"),
        ("space.txt", "0 0.1   0.2\n\t0.3 0.4 0.5\n"),
        ("comment.txt", "# saved by np.savetxt\n\n0 0.1 0.2\n0.3 0.4 0.5\n"),
        ("bom.csv", "\ufeff0,0.1,0.2\n0.3,0.4,0.5\n"),
    ],
)
def test_text_tables(tmp_path, name, text):
    arrays, notes = load_inputs(str(write(tmp_path / name, text)), [ANY_SEQ])
    np.testing.assert_array_equal(arrays[0], np.array([[[0, 0.1, 0.2], [0.3, 0.4, 0.5]]], np.float32))
    assert notes == ["input 'x': one sequence of shape (2, 3); added a batch axis"]


def test_text_nan_allowed(tmp_path):
    arrays, notes = load_inputs(str(write(tmp_path / "n.csv", "1,nan,3\ninf,5,6\n")), [ANY_SEQ])
    assert np.isnan(arrays[0][0, 0, 1])
    assert notes[-1] == "input 'x': 2 of 6 values are NaN or infinite"


def test_text_header_refused(tmp_path):
    path = write(tmp_path / "h.csv", "a,b,c\n1,2,3\n")
    assert error(path, [ANY_SEQ]) == (
        f"{path}: row 1 is a header ('a', 'b', 'c'); the file must hold numbers only, one time step per row"
    )


def test_text_non_numeric_value(tmp_path):
    path = write(tmp_path / "v.csv", "1,2,3\n4,5,6\n7,abc,9\n")
    assert error(path, [ANY_SEQ]) == f"{path}: input 'x': non-numeric value 'abc' at row 3, column 2"


def test_text_underscore_number_refused(tmp_path):
    path = write(tmp_path / "u.txt", "1 2 3\n4 1_0 6\n")
    assert error(path, [ANY_SEQ]) == f"{path}: input 'x': non-numeric value '1_0' at row 2, column 2"


def test_text_empty_cell(tmp_path):
    path = write(tmp_path / "e.csv", "1,2,3\n4,,6\n")
    assert error(path, [ANY_SEQ]) == f"{path}: input 'x': empty value at row 2, column 2"


def test_text_ragged_rows(tmp_path):
    path = write(tmp_path / "r.tsv", "1\t2\t3\n\n4\t5\n")
    assert error(path, [ANY_SEQ]) == f"{path}: input 'x': row 3 has 2 values; row 1 has 3"


def test_text_without_numbers(tmp_path):
    path = write(tmp_path / "empty.txt", "\n# nothing\n")
    assert error(path, [ANY_SEQ]) == f"{path}: input 'x': the file holds no numbers"


def test_text_wrong_feature_count(tmp_path):
    path = write(tmp_path / "f.csv", "1,2\n3,4\n")
    assert error(path, [ANY_SEQ]) == f"{path}: input 'x' has 2 features per step; the model expects 3 (shape (None, None, 3))"


def test_text_not_utf8(tmp_path):
    path = write(tmp_path / "l.csv", "1,2,3\n4,5,\xe9\n", encoding="latin-1")
    assert error(path, [ANY_SEQ]) == f"{path}: not UTF-8 text (byte 0xe9 at offset 10)"


def test_text_for_two_inputs_refused(tmp_path):
    path = write(tmp_path / "t.csv", "1,2,3\n")
    assert "the file holds one array; the model has 2 inputs" in error(path, [IN_A, IN_B])


@pytest.mark.parametrize("text", ["3\n1\n4\n1\n5\n9\n", "3 1 4 1 5 9\n"])
def test_text_token_sequence_as_column_or_row(tmp_path, text):
    arrays, notes = load_inputs(str(write(tmp_path / "ids.txt", text)), [TOKENS])
    assert arrays[0].dtype == np.int32
    np.testing.assert_array_equal(arrays[0], [[3, 1, 4, 1, 5, 9]])
    assert notes == ["input 'tok': one sequence of shape (6,); added a batch axis"]


def test_text_table_for_token_input_refused(tmp_path):
    path = write(tmp_path / "ids.csv", "1,2\n3,4\n5,6\n")
    assert error(path, [TOKENS]) == (
        f"{path}: input 'tok' expects one row or one column of values (shape (None, 6)); the file has 3 rows of 2 values"
    )


def test_text_for_rank_5_input_refused(tmp_path):
    path = write(tmp_path / "c.csv", "1,2\n")
    spec = InputSpec("frames", (None, 4, 8, 8, 1), "float32")
    assert error(path, [spec]) == (
        f"{path}: input 'frames' expects shape (None, 4, 8, 8, 1); a text file holds one 2-D sequence: use .npy, .npz or .json"
    )


def test_text_over_the_size_cap_refused(tmp_path, monkeypatch):
    path = write(tmp_path / "big.csv", "1,2,3\n" * 10)
    monkeypatch.setattr(files, "MAX_TEXT_BYTES", 32)
    assert error(path, [ANY_SEQ]) == f"{path}: the file is 60 bytes; input files are limited to 32 bytes"


# ------------------------------------------------------------------------------------
# JSON, from a file and from stdin


def test_json_nested_lists_for_one_input(tmp_path):
    path = write(tmp_path / "x.json", json.dumps(A[0].tolist()))
    arrays, notes = load_inputs(str(path), [SEQ])
    np.testing.assert_allclose(arrays[0], A.astype(np.float32))
    assert notes == ["input 'x': one sequence of shape (5, 3); added a batch axis"]


def test_json_list_for_several_inputs(tmp_path):
    path = write(tmp_path / "x.json", json.dumps([A.tolist(), B.tolist()]))
    arrays, notes = load_inputs(str(path), [IN_A, IN_B])
    assert [a.shape for a in arrays] == [(1, 5, 3), (1, 4, 2)] and notes == []


def test_json_object_by_name(tmp_path):
    path = write(tmp_path / "x.json", json.dumps({"in_b": B[0].tolist(), "in_a": A.tolist()}))
    arrays, notes = load_inputs(str(path), [IN_A, IN_B])
    np.testing.assert_allclose(arrays[1], B.astype(np.float32))
    assert notes == ["input 'in_b': one sequence of shape (4, 2); added a batch axis"]


def test_json_object_by_position(tmp_path):
    path = write(tmp_path / "x.json", json.dumps({"first": A.tolist(), "second": B.tolist()}))
    arrays, notes = load_inputs(str(path), [IN_A, IN_B])
    assert arrays[1].shape == (1, 4, 2)
    assert notes == ["array names do not match the model's inputs; taken in order: 'first' -> 'in_a', 'second' -> 'in_b'"]


def test_json_list_with_wrong_count(tmp_path):
    path = write(tmp_path / "x.json", json.dumps([A.tolist()] * 3))
    assert error(path, [IN_A, IN_B]) == (
        f"{path}: a list of 3 arrays for 2 inputs ('in_a', 'in_b'); give one array per input, or an object keyed by input name"
    )


def test_stdin_json():
    arrays, notes = load_inputs("-", [SEQ], io.StringIO(json.dumps(A.tolist())))
    np.testing.assert_allclose(arrays[0], A.astype(np.float32))
    assert notes == []


def test_stdin_defaults_to_sys_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(A.tolist())))
    assert load_inputs("-", [SEQ])[0][0].shape == (1, 5, 3)


def test_stdin_empty():
    assert error("-", [SEQ], io.StringIO("  \n")) == "<stdin>: is empty; expected JSON"


def test_stdin_malformed_json():
    assert error("-", [SEQ], io.StringIO("[[1, 2,]")) == "<stdin>: not valid JSON (Expecting value at line 1 column 8)"


def test_json_nan_literal_allowed_with_a_note():
    arrays, notes = load_inputs("-", [ANY_SEQ], io.StringIO("[[1, NaN, Infinity]]"))
    assert np.isnan(arrays[0][0, 0, 1])
    assert notes[-1] == "input 'x': 2 of 3 values are NaN or infinite"


@pytest.mark.parametrize(
    "doc, message",
    [
        ('[[1, 2, 3], [4, "abc", 6]]', "input 'x': non-numeric value 'abc' at index (1, 1)"),
        ("[[1, 2, 3], [4, null, 6]]", "input 'x': non-numeric value null at index (1, 1)"),
        ("[[1, 2, 3], [true, 5, 6]]", "input 'x': non-numeric value true at index (1, 0)"),
        ('[[1, 2, 3], [4, {"a": 1}, 6]]', "input 'x': non-numeric value {\"a\": 1} at index (1, 1)"),
        ("[[1, 2, 3], [4, 5]]", "input 'x': ragged nested lists: 2 items at index (1,), 3 items at index (0,)"),
        ("[[1, 2, 3], 4]", "input 'x': ragged nested lists: a number at index (1,), a list at index (0,)"),
        ('[[1, 2, 3], "row"]', "input 'x': non-numeric value 'row' at index (1,)"),
        ('"abc"', "expected nested lists of numbers, a list of them (one per input) or an object keyed by input name; got a string"),
        ("7", "expected nested lists of numbers, a list of them (one per input) or an object keyed by input name; got a number"),
        ("null", "expected nested lists of numbers, a list of them (one per input) or an object keyed by input name; got null"),
        ("[[[1, 2, 3]], [[4, 5, 6], [7, 8, 9]]]", "input 'x': ragged nested lists: 2 items at index (1,), 1 item at index (0,)"),
        ("[[[" + "1" * 400 + "]]]", "input 'x': a number is too large"),
        ("[" * 40 + "]" * 40, "input 'x': nested deeper than 32 levels"),
        ("[" * 100000 + "]" * 100000, "JSON nested deeper than 32 levels"),
    ],
)
def test_json_bad_values(doc, message):
    assert error("-", [ANY_SEQ], io.StringIO(doc)) == f"<stdin>: {message}"


def test_json_file_not_utf8(tmp_path):
    path = write(tmp_path / "x.json", b'[[1, 2, "\xff"]]')
    assert error(path, [ANY_SEQ]) == f"{path}: not UTF-8 text (byte 0xff at offset 9)"


def test_json_file_malformed(tmp_path):
    path = write(tmp_path / "x.json", "{'x': [1]}")
    assert error(path, [ANY_SEQ]) == (
        f"{path}: not valid JSON (Expecting property name enclosed in double quotes at line 1 column 2)"
    )


# ------------------------------------------------------------------------------------
# Token ids (int inputs)


def test_whole_floats_become_token_ids():
    arrays, notes = load_inputs("-", [TOKENS], io.StringIO("[[3, 1.0, 4, 1, 5, 9], [2, 6, 5, 3, 5, 8]]"))
    assert arrays[0].dtype == np.int32
    np.testing.assert_array_equal(arrays[0][0], [3, 1, 4, 1, 5, 9])
    assert notes == []


def test_one_token_sequence_gets_a_batch_axis(tmp_path):
    arrays, notes = load_inputs(str(npy(tmp_path, np.arange(6, dtype=np.int64))), [TOKENS])
    assert arrays[0].shape == (1, 6) and arrays[0].dtype == np.int32
    assert notes == ["input 'tok': one sequence of shape (6,); added a batch axis"]


def test_int64_token_spec_kept():
    spec = InputSpec("tok", (None, None), "int64")
    arrays, _ = load_inputs("-", [spec], io.StringIO("[[1, 2]]"))
    assert arrays[0].dtype == np.int64


@pytest.mark.parametrize(
    "doc, message",
    [
        ("[1, 2, 3, 4.5, 5, 6]", "input 'tok' takes whole-number token ids; got 4.5 at index (0, 3)"),
        ("[1, 2, 3, NaN, 5, 6]", "input 'tok' takes whole-number token ids; got nan at index (0, 3)"),
        ("[1, 2, -1, 4, 5, 6]", "input 'tok': token ids must not be negative; got -1.0 at index (0, 2)"),
        ("[1, 2, 3, 4, 5, 3000000000]", "input 'tok': token id too large for int32; got 3000000000.0 at index (0, 5)"),
        ("[1, 2, 3]", "input 'tok' has 3 time steps; the model expects 6 (shape (None, 6))"),
    ],
)
def test_bad_token_ids(doc, message):
    assert error("-", [TOKENS], io.StringIO(doc)) == f"<stdin>: {message}"


def test_negative_int_token_ids_in_npy(tmp_path):
    path = npy(tmp_path, np.array([[1, 2, 3, -4, 5, 6]]))
    assert error(path, [TOKENS]) == f"{path}: input 'tok': token ids must not be negative; got -4 at index (0, 3)"


# ------------------------------------------------------------------------------------
# Shapes


@pytest.mark.parametrize(
    "shape, message",
    [
        ((1, 5, 4), "input 'x' has 4 features per step; the model expects 3 (shape (None, 5, 3))"),
        ((1, 7, 3), "input 'x' has 7 time steps; the model expects 5 (shape (None, 5, 3))"),
        ((1, 2, 5, 3), "input 'x' has 4 dimensions (1, 2, 5, 3); the model expects 3 (shape (None, 5, 3))"),
        ((15,), "input 'x' has 1 dimensions (15,); the model expects 3 (shape (None, 5, 3))"),
        ((), "input 'x' is a single number; the model expects shape (None, 5, 3)"),
        ((0, 5, 3), "input 'x' is empty (shape (0, 5, 3))"),
    ],
)
def test_shape_errors(tmp_path, shape, message):
    path = npy(tmp_path, np.zeros(shape))
    assert error(path, [SEQ]) == f"{path}: {message}"


def test_empty_time_axis_refused(tmp_path):
    path = npy(tmp_path, np.zeros((1, 0, 3)))
    assert error(path, [ANY_SEQ]) == f"{path}: input 'x' is empty (shape (1, 0, 3))"


def test_fixed_batch_size_checked(tmp_path):
    path = npy(tmp_path, np.zeros((1, 5, 3)))
    spec = InputSpec("x", (2, 5, 3), "float32")
    assert error(path, [spec]) == f"{path}: input 'x' has batch size 1; the model expects 2 (shape (2, 5, 3))"


def test_dense_input_sample_note_and_feature_message(tmp_path):
    spec = InputSpec("d", (None, 6), "float32")
    arrays, notes = load_inputs(str(npy(tmp_path, np.zeros(6))), [spec])
    assert arrays[0].shape == (1, 6)
    assert notes == ["input 'd': one sample of shape (6,); added a batch axis"]
    path = npy(tmp_path, np.zeros((2, 4)), name="w.npy")
    assert error(path, [spec]) == f"{path}: input 'd' has 4 features; the model expects 6 (shape (None, 6))"


# ------------------------------------------------------------------------------------
# Paths


def test_missing_file(tmp_path):
    assert error(tmp_path / "nope.npy", [SEQ]) == f"{tmp_path / 'nope.npy'}: no such file"


def test_directory(tmp_path):
    (tmp_path / "d.npy").mkdir()
    assert error(tmp_path / "d.npy", [SEQ]) == f"{tmp_path / 'd.npy'}: is a directory, not a file"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    path = write(tmp_path / "x.json", "[1]")
    path.chmod(0)
    try:
        assert error(path, [SEQ]) == f"{path}: cannot read the file (permission denied)"
    finally:
        path.chmod(0o644)


def test_unreadable_file_even_as_root(tmp_path, monkeypatch):
    path = write(tmp_path / "x.csv", "1,2,3\n")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files, "open", denied, raising=False)
    assert error(path, [ANY_SEQ]) == f"{path}: cannot read the file (permission denied)"


def test_unknown_suffix(tmp_path):
    path = write(tmp_path / "x.h5", "")
    assert error(path, [SEQ]) == (
        f"{path}: unknown input format '.h5'; use .npy, .npz, .json, .csv, .tsv or .txt (or - for JSON on stdin)"
    )


def test_no_suffix(tmp_path):
    path = write(tmp_path / "data", "")
    assert error(path, [SEQ]) == (
        f"{path}: no file suffix to tell the format; use .npy, .npz, .json, .csv, .tsv or .txt (or - for JSON on stdin)"
    )


def test_suffix_is_case_insensitive(tmp_path):
    path = tmp_path / "X.NPY"
    np.save(tmp_path / "tmp.npy", A)
    os.rename(tmp_path / "tmp.npy", path)
    assert load_inputs(str(path), [SEQ])[0][0].shape == (1, 5, 3)


# ------------------------------------------------------------------------------------
# States and written results


def test_states_round_trip(tmp_path):
    states = {
        "bi/forward_lstm/h": np.ones((1, 3)),
        "bi/forward_lstm/c": np.zeros((1, 3)),
        "gru/h": np.full((2, 4), 0.5, dtype=np.float32),
    }
    path = tmp_path / "state.npz"
    save_npz(str(path), states, protect=[])
    loaded = load_states(str(path))
    assert set(loaded) == {"bi/forward_lstm", "gru"}
    assert set(loaded["bi/forward_lstm"]) == {"h", "c"} and set(loaded["gru"]) == {"h"}
    np.testing.assert_array_equal(loaded["bi/forward_lstm"]["h"], np.ones((1, 3)))
    assert loaded["gru"]["h"].dtype == np.float32 and loaded["gru"]["h"].shape == (2, 4)


def test_save_npz_readable_by_numpy_with_any_key(tmp_path):
    path = tmp_path / "out.npz"
    save_npz(str(path), {"file": np.arange(3), "allow_pickle": np.ones(2), "input/0": A}, protect=[])
    with np.load(path, allow_pickle=False) as data:
        assert data.files == ["file", "allow_pickle", "input/0"]
        np.testing.assert_array_equal(data["input/0"], A)
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]


def test_save_npz_overwrites_an_ordinary_file(tmp_path):
    path = write(tmp_path / "out.npz", "old")
    save_npz(str(path), {"a": np.ones(1)}, protect=[str(tmp_path / "model.h5")])
    assert np.load(path)["a"].tolist() == [1.0]


def test_states_bad_key(tmp_path):
    path = npz(tmp_path, **{"lstm/h": np.ones((1, 3)), "lstm/x": np.ones((1, 3))})
    with pytest.raises(InputError) as info:
        load_states(str(path))
    assert str(info.value) == f"{path}: array 'lstm/x' is not named '<layer path>/h' or '<layer path>/c'"


def test_states_key_without_layer(tmp_path):
    path = npz(tmp_path, h=np.ones((1, 3)))
    with pytest.raises(InputError, match="array 'h' is not named"):
        load_states(str(path))


def test_states_empty_and_missing(tmp_path):
    path = npz(tmp_path)
    with pytest.raises(InputError) as info:
        load_states(str(path))
    assert str(info.value) == (
        f"{path}: holds no arrays; expected '<layer path>/h' and, for LSTM layers, '<layer path>/c'"
    )
    with pytest.raises(InputError) as info:
        load_states(str(tmp_path / "none.npz"))
    assert str(info.value) == f"{tmp_path / 'none.npz'}: no such file"


def test_states_object_array_refused(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, **{"lstm/h": np.array([None], dtype=object)})
    with pytest.raises(InputError, match="array 'lstm/h' holds Python objects"):
        load_states(str(path))


def test_save_npz_refuses_the_protected_path(tmp_path, monkeypatch):
    model = write(tmp_path / "model.h5", b"model bytes")
    monkeypatch.chdir(tmp_path)
    for target in [str(model), "model.h5", "./sub/../model.h5"]:
        with pytest.raises(InputError) as info:
            save_npz(target, {"a": np.ones(1)}, protect=[str(model)])
        assert str(info.value) == (
            f"{target}: refusing to overwrite {str(model)!r}, which this command reads; choose another output file"
        )
    assert model.read_bytes() == b"model bytes"


def test_save_npz_refuses_a_link_to_the_protected_path(tmp_path):
    model = write(tmp_path / "model.h5", b"model bytes")
    link = tmp_path / "link.npz"
    link.symlink_to(model)
    with pytest.raises(InputError, match="refusing to overwrite"):
        save_npz(str(link), {"a": np.ones(1)}, protect=[str(model)])
    assert model.read_bytes() == b"model bytes"


def test_save_npz_refuses_a_protected_path_that_does_not_exist_yet(tmp_path):
    target = str(tmp_path / "in.npz")
    with pytest.raises(InputError, match="refusing to overwrite"):
        save_npz(target, {"a": np.ones(1)}, protect=[target])


def test_save_npz_errors(tmp_path):
    with pytest.raises(InputError) as info:
        save_npz(str(tmp_path), {"a": np.ones(1)}, protect=[])
    assert str(info.value) == f"{tmp_path}: is a directory, not a file"
    target = tmp_path / "missing" / "out.npz"
    with pytest.raises(InputError) as info:
        save_npz(str(target), {"a": np.ones(1)}, protect=[])
    assert str(info.value) == f"{target}: cannot write: no such folder {str(tmp_path / 'missing')!r}"


@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt, OSError])
def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch, existing, exc):
    target = tmp_path / "out.npz"
    if existing:
        target.write_bytes(b"previous result")
    real = np.lib.format.write_array
    calls = []

    def fail_on_second(fh, array, **kw):
        calls.append(1)
        if len(calls) == 2:
            fh.write(b"partial")
            raise exc("disk full" if exc is OSError else "interrupted")
        real(fh, array, **kw)

    monkeypatch.setattr(np.lib.format, "write_array", fail_on_second)
    with pytest.raises(InputError if exc is OSError else exc):
        save_npz(str(target), {"a": np.ones(3), "b": np.ones(3)}, protect=[])
    assert len(calls) == 2
    if existing:
        assert target.read_bytes() == b"previous result"
    else:
        assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == (["out.npz"] if existing else [])


def test_object_arrays_never_written(tmp_path):
    with pytest.raises(ValueError):
        save_npz(str(tmp_path / "o.npz"), {"a": np.array([None], dtype=object)}, protect=[])
    assert list(tmp_path.iterdir()) == []
