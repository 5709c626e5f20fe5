"""Hostile files, built here with h5py and zipfile from copies of the sample models:

2. nothing in a file is executed (Lambda bytecode, custom objects, pickles) and nothing
   is imported by a name a config gives;
3. HDF5 features that reach outside the file (external links, external storage,
   virtual datasets) are refused, never followed;
4. memory stays bounded: declared sizes are checked before reading, against one budget
   per invocation (--max-memory); zip bombs, absurd JSON and damaged heaps are refused;
5. the model is opened read-only, and written results never land on it.

Every refusal is the one-line error of README "Errors and exit codes".
"""

import base64
import json
import marshal
import os
import pickle
import shutil
import subprocess
import sys
import time
import zipfile

import h5py
import numpy as np
import pytest
from conftest import MODELS, ROOT, SAMPLES, assert_one_error, invoke

import lstm_inspect
from lstm_inspect import limits

SEED_H5 = SAMPLES / MODELS["seed"]["forms"]["k2_h5"]
SEED_WEIGHTS = SAMPLES / MODELS["seed"]["forms"]["k2_weights_h5"]
SEED_CONFIG = SAMPLES / MODELS["seed"]["forms"]["k2_config"]
SEED_KERAS = SAMPLES / MODELS["seed"]["forms"]["k3_keras"]
SEED_V3_WEIGHTS = SAMPLES / MODELS["seed"]["forms"]["k3_weights_h5"]
SEED_V3_CONFIG = SAMPLES / MODELS["seed"]["forms"]["k3_config"]
SEED_INPUT = SAMPLES / "seed_input.json"


def commands(model, *extra):
    """Every command that reads a model, with and without --json."""
    run = ["run", model, "--input", SEED_INPUT]
    return [["gates", model, *extra], ["gates", model, *extra, "--json"], ["layers", model, *extra],
            ["layers", model, *extra, "--json"], [*run, *extra], [*run, *extra, "--json"]]


def fingerprint(path):
    st = os.stat(path)
    return path.read_bytes(), st.st_mtime_ns, st.st_mode


def copy(source, tmp_path, name=None):
    path = tmp_path / (name or source.name)
    shutil.copyfile(source, path)
    return path


def names(values):
    return np.array([v.encode() for v in values])


# ------------------------------------------------------------------------------------
# 2. Nothing is executed, unpickled or imported by a name from the file


#: Audit events that would mean code from a file is being run or loaded.
FORBIDDEN_EVENTS = ("exec", "compile", "import", "marshal.loads", "marshal.load", "pickle.find_class",
                    "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "code.__new__",
                    "builtins.input", "ctypes.dlopen")
_AUDIT = {"on": False, "events": []}


def _audit(event, args):
    if _AUDIT["on"] and event in FORBIDDEN_EVENTS:
        if event == "compile" and isinstance(args[0], bytes) and args[0].startswith(b"{'descr'"):
            return  # numpy reads a .npy header with ast.literal_eval, which evaluates literals only
        _AUDIT["events"].append((event, repr(args)[:200]))


sys.addaudithook(_audit)  # cannot be removed; records only while a test switches it on


def audited(runner, args):
    """Run ``args`` twice: once to let the CLI import what it imports lazily, then with
    Python's audit hooks watching for exec, compile, import, unmarshal and unpickle."""
    invoke(runner, args)
    _AUDIT["events"].clear()
    _AUDIT["on"] = True
    try:
        result = invoke(runner, args)
    finally:
        _AUDIT["on"] = False
    assert _AUDIT["events"] == [], _AUDIT["events"]
    return result


def _with_config(tmp_path, edit, name="hostile.h5"):
    """seed.h5 (Keras 2) with its model_config changed by ``edit(config) -> config``."""
    path = copy(SEED_H5, tmp_path, name)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        f.attrs["model_config"] = json.dumps(edit(config))
    return path


def _payload_code(sentinel):
    """Bytecode that would create ``sentinel`` if anything ran it."""
    return compile(f"open({str(sentinel)!r}, 'w').write('ran')", "<hostile>", "exec")


def test_lambda_bytecode_is_never_run(runner, tmp_path):
    sentinel = tmp_path / "lambda-ran"
    function = base64.b64encode(marshal.dumps(_payload_code(sentinel))).decode()

    def add_lambda(config):
        layers = config["config"]["layers"]
        layers.insert(2, {"class_name": "Lambda", "config": {
            "name": "evil", "trainable": True, "dtype": "float32", "function": [function, None, None],
            "function_type": "lambda", "module": "__main__", "output_shape": None, "output_shape_type": "raw",
            "output_shape_module": None, "arguments": {}}})
        return config

    path = _with_config(tmp_path, add_lambda)
    result = audited(runner, ["gates", path, "--json"])
    assert result.exit_code == 0, result.stderr
    result = audited(runner, ["layers", path, "--json"])
    assert result.exit_code == 0
    (row,) = [r for r in json.loads(result.stdout)["layers"] if r["path"] == "evil"]
    assert (row["class_name"], row["runnable"]) == ("Lambda", False)
    assert "never executed" in row["reason"]
    assert_one_error(audited(runner, ["run", path, "--input", SEED_INPUT]), "'evil' is a Lambda", "never executes",
              "--until", file=path)
    result = audited(runner, ["run", path, "--input", SEED_INPUT, "--until", "lstm", "--json"])
    assert result.exit_code == 0, result.stderr
    assert not sentinel.exists()


@pytest.fixture
def trap_module(tmp_path, monkeypatch):
    """A module on sys.path that leaves a file behind if anything imports it."""
    sentinel = tmp_path / "imported"
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "lstm_inspect_trap.py").write_text(
        f"open({str(sentinel)!r}, 'w').write('imported')\nclass Evil:\n    pass\ndef evil(x):\n    return x\n"
    )
    monkeypatch.syspath_prepend(str(folder))
    yield sentinel
    assert "lstm_inspect_trap" not in sys.modules
    assert not sentinel.exists()


def test_custom_layer_is_refused_by_name_and_never_imported(runner, tmp_path, trap_module):
    def add_custom(config):
        config["config"]["layers"].insert(2, {
            "module": "lstm_inspect_trap", "class_name": "Evil", "registered_name": "lstm_inspect_trap>Evil",
            "config": {"name": "custom_block", "trainable": True}})
        return config

    path = _with_config(tmp_path, add_custom)
    assert audited(runner, ["gates", path]).exit_code == 0
    result = audited(runner, ["layers", path, "--json"])
    (row,) = [r for r in json.loads(result.stdout)["layers"] if r["path"] == "custom_block"]
    assert row["runnable"] is False and "Evil" in row["reason"]
    assert_one_error(audited(runner, ["run", path, "--input", SEED_INPUT, "--json"]), "'custom_block' (Evil)",
              "cannot be computed", file=path)


@pytest.mark.parametrize("where", ["activation", "recurrent_activation"])
def test_custom_activation_is_refused_by_name_and_never_imported(runner, tmp_path, trap_module, where):
    def custom_activation(config):
        lstm = config["config"]["layers"][1]["config"]
        lstm[where] = {"module": "lstm_inspect_trap", "class_name": "function", "config": "evil",
                       "registered_name": "evil"}
        return config

    path = _with_config(tmp_path, custom_activation)
    gates = audited(runner, ["gates", path, "--json"])
    assert gates.exit_code == 0 and json.loads(gates.stdout)["layers"][0][where] == "evil"
    layers = audited(runner, ["layers", path, "--json"])
    (row,) = [r for r in json.loads(layers.stdout)["layers"] if r["path"] == "lstm"]
    assert row["runnable"] is False and row["reason"] == "activation 'evil' is not one lstm_inspect can compute"
    assert_one_error(audited(runner, ["run", path, "--input", SEED_INPUT]), "activation 'evil'", file=path)


def test_pickled_inputs_and_states_are_never_unpickled(runner, tmp_path):
    sentinel = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    evil = tmp_path / "evil.npy"
    with open(evil, "wb") as fh:
        np.lib.format.write_array(fh, np.array([Payload()], dtype=object), allow_pickle=True)
    raw = tmp_path / "raw.npy"
    raw.write_bytes(pickle.dumps(Payload()))
    states = tmp_path / "states.npz"
    with zipfile.ZipFile(states, "w") as zf:
        zf.writestr("lstm/h.npy", evil.read_bytes())
    assert_one_error(audited(runner, ["run", SEED_H5, "--input", evil]), "pickled data is never loaded", file=evil)
    assert_one_error(audited(runner, ["run", SEED_H5, "--input", raw]), "Python pickle, which is never loaded", file=raw)
    assert_one_error(audited(runner, ["run", SEED_H5, "--input", SEED_INPUT, "--initial-state", states]),
              "pickled data is never loaded", file=states)
    assert not sentinel.exists()


def test_the_package_never_evaluates_unpickles_or_imports_by_name():
    """No call in lstm_inspect that could run code from a file: eval, exec, compile,
    __import__, importlib, pickle, marshal, np.load (which can unpickle)."""
    import ast

    builtins = {"eval", "exec", "compile", "__import__", "breakpoint"}
    forbidden_modules = {"pickle", "marshal", "importlib", "dill", "cloudpickle", "yaml", "shelve", "runpy"}
    found = []
    for path in sorted((ROOT / "lstm_inspect").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module = node.module if isinstance(node, ast.ImportFrom) else None
                for name in [module] + [a.name for a in node.names]:
                    if name and name.split(".")[0] in forbidden_modules:
                        found.append(f"{path.name}:{node.lineno} imports {name}")
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id in builtins:
                    found.append(f"{path.name}:{node.lineno} calls {func.id}")
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                    owner, name = func.value.id, func.attr
                    if owner in forbidden_modules or (owner in ("np", "numpy") and name == "load"):
                        found.append(f"{path.name}:{node.lineno} calls {owner}.{name}")
                for kw in node.keywords:
                    if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                        found.append(f"{path.name}:{node.lineno} passes allow_pickle other than False")
    assert found == []


# ------------------------------------------------------------------------------------
# 3. Nothing outside the file is followed


def _replace_group(path, group, link):
    with h5py.File(path, "r+") as f:
        del f[group]
        f[group] = link


@pytest.mark.parametrize("target", ["valid-copy", "/etc/passwd"])
def test_external_link_is_refused_not_followed(runner, tmp_path, target):
    """The 'lstm' group of a weights file is an external link. When its target is a
    valid copy of the same weights, following it would succeed: the refusal is not
    an accident of a broken target."""
    outside = copy(SEED_WEIGHTS, tmp_path, "outside.h5") if target == "valid-copy" else target
    path = copy(SEED_WEIGHTS, tmp_path, "linked.h5")
    _replace_group(path, "lstm", h5py.ExternalLink(str(outside), "/lstm"))
    for args in commands(path, "--config", SEED_CONFIG):
        assert_one_error(invoke(runner, args), "'/lstm' is a ExternalLink", "never followed", file=path)


def test_external_link_target_is_never_opened(tmp_path):
    """The link points at a FIFO: opening it for reading would block until a writer comes,
    so a run that followed the link would hang. It ends at once, refused."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    fifo = tmp_path / "trap.h5"
    os.mkfifo(fifo)
    path = copy(SEED_WEIGHTS, tmp_path, "linked.h5")
    _replace_group(path, "lstm", h5py.ExternalLink(str(fifo), "/lstm"))
    out = subprocess.run([sys.executable, "-m", "lstm_inspect", "gates", str(path), "--config", str(SEED_CONFIG)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 1 and out.stdout == ""
    assert "ExternalLink; links are never followed" in out.stderr and out.stderr.count("\n") == 1


def test_soft_links_are_refused_too(runner, tmp_path):
    path = copy(SEED_V3_WEIGHTS, tmp_path, "soft.weights.h5")
    _replace_group(path, "layers/lstm", h5py.SoftLink("/layers"))  # a cycle, were it followed
    for args in [["gates", path], ["layers", path, "--json"], ["gates", path, "--config", SEED_V3_CONFIG]]:
        assert_one_error(invoke(runner, args), "SoftLink", "never followed", file=path)


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _kernel(path):
    with h5py.File(path, "r") as f:
        name = [_text(n) for n in f["lstm"].attrs["weight_names"] if "/kernel" in _text(n)][0]
        return name, f["lstm"][name][()]


def test_external_dataset_storage_is_refused(runner, tmp_path):
    path = copy(SEED_WEIGHTS, tmp_path, "external.h5")
    name, kernel = _kernel(path)
    raw = tmp_path / "kernel.raw"
    raw.write_bytes(kernel.astype("<f4").tobytes())  # the right bytes: following it would work
    with h5py.File(path, "r+") as f:
        del f["lstm"][name]
        f["lstm"].create_dataset(name, shape=kernel.shape, dtype="<f4", external=[(str(raw), 0, kernel.nbytes)])
    for args in commands(path, "--config", SEED_CONFIG):
        assert_one_error(invoke(runner, args), "stores its data in external files", "refused", file=path)


def test_virtual_dataset_mapping_another_file_is_refused(runner, tmp_path):
    path = copy(SEED_WEIGHTS, tmp_path, "virtual.h5")
    name, kernel = _kernel(path)
    source = tmp_path / "source.h5"
    with h5py.File(source, "w") as f:
        f["kernel"] = kernel
    layout = h5py.VirtualLayout(shape=kernel.shape, dtype=kernel.dtype)
    layout[:] = h5py.VirtualSource(str(source), "kernel", shape=kernel.shape)
    with h5py.File(path, "r+") as f:
        del f["lstm"][name]
        f["lstm"].create_virtual_dataset(name, layout)
    for args in commands(path, "--config", SEED_CONFIG):
        assert_one_error(invoke(runner, args), "is virtual (maps other files)", file=path)


def test_filter_that_needs_a_plugin_is_refused_before_reading(runner, tmp_path):
    """A dataset whose filter pipeline names a filter libhdf5 would look for as a plugin
    library (32001, Blosc). Written with the filter optional, so the data is there."""
    path = copy(SEED_WEIGHTS, tmp_path, "plugin.h5")
    name, kernel = _kernel(path)
    with h5py.File(path, "r+") as f:
        del f["lstm"][name]
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk(kernel.shape)
        dcpl.set_filter(32001, h5py.h5z.FLAG_OPTIONAL)
        space = h5py.h5s.create_simple(kernel.shape)
        dsid = h5py.h5d.create(f["lstm"].id, name.encode(), h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
        dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, kernel.astype("<f4"))
    for args in commands(path, "--config", SEED_CONFIG):
        assert_one_error(invoke(runner, args), "HDF5 filter 32001", "plugin", file=path)


@pytest.mark.parametrize("shape", ["cycle", "diamonds"])
def test_hard_link_loops_end(runner, tmp_path, shape):
    """Groups hard-linked into themselves, or 40 levels of two links to the same group
    (2**40 paths), in a weights file read without a config: one visit each, then refused."""
    path = copy(SEED_V3_WEIGHTS, tmp_path, "loops.weights.h5")
    with h5py.File(path, "r+") as f:
        if shape == "cycle":
            f["layers/lstm/again"] = f["layers"]
        else:
            g = f.create_group("layers/deep")
            for _ in range(40):
                child = g.create_group("x")
                g["y"] = child
                g = child
    started = time.monotonic()
    for args in [["gates", path], ["layers", path, "--json"]]:
        assert_one_error(invoke(runner, args), "linked into the file more than once", file=path)
    assert time.monotonic() - started < 10


# ------------------------------------------------------------------------------------
# 4. Memory stays bounded by what is asked


def _huge_kernel(tmp_path):
    """seed weights whose kernel declares 10**6 x 10**6 float32 (4 TB), chunked and
    never written: the file stays small."""
    path = copy(SEED_WEIGHTS, tmp_path, "huge.h5")
    name, _ = _kernel(path)
    with h5py.File(path, "r+") as f:
        del f["lstm"][name]
        f["lstm"].create_dataset(name, shape=(10**6, 10**6), dtype="f4", chunks=(1000, 1000))
    return path


def test_declared_size_is_checked_before_reading(runner, tmp_path):
    path = _huge_kernel(tmp_path)
    assert path.stat().st_size < 100_000
    started = time.monotonic()
    for args in commands(path, "--config", SEED_CONFIG):
        assert_one_error(invoke(runner, args), "(1000000, 1000000)", "3.6 TiB", "memory limit of 16 GiB",
                  "--max-memory", file=path)
    assert time.monotonic() - started < 10
    # With the limit raised past it, the file still does not hold the data it declares:
    # HDF5 would make it up from zeros, so it is refused as damaged.
    with pytest.raises(lstm_inspect.CorruptFileError, match="declares 3.6 TiB of data but the file stores 0 bytes"):
        lstm_inspect.load(path, config=SEED_CONFIG, max_memory=2**50)


def test_gzip_chunk_bomb_is_refused(runner, tmp_path):
    """One element declared, in a single gzip chunk of 2**24 elements (64 MiB inflated; the
    format allows 4 GiB): the chunk is what HDF5 inflates, so the chunk is what counts."""
    path = copy(SEED_WEIGHTS, tmp_path, "chunk.h5")
    name, _ = _kernel(path)
    with h5py.File(path, "r+") as f:
        del f["lstm"][name]
        f["lstm"].create_dataset(name, shape=(1,), maxshape=(None,), chunks=(2**24,), dtype="f4",
                                 compression="gzip", data=[1.0])
    assert path.stat().st_size < 1_000_000
    assert_one_error(invoke(runner, ["gates", path, "--config", SEED_CONFIG, "--max-memory", "32MiB"]),
              "a chunk of dataset", "would need 64 MiB", file=path)


@pytest.mark.parametrize("limit, ok", [("100", False), ("300", False), ("1KB", True), ("1e6", True), ("24GB", True)])
def test_max_memory_bounds_every_command(runner, limit, ok):
    """seed's weights are 256 bytes (kernel 48, recurrent kernel 144, bias 48, Dense 16)
    and its attributes about 100 more: the budget counts them all together."""
    for args in commands(SEED_H5, "--max-memory", limit):
        result = invoke(runner, args)
        if ok:
            assert result.exit_code == 0, result.stderr
        else:
            assert_one_error(result, "more than the memory limit", "--max-memory", file=SEED_H5)


def test_the_budget_is_cumulative_across_datasets(tmp_path):
    """Two Dense kernels of 48 000 bytes: each fits a 60 000-byte limit alone, not together."""
    path = tmp_path / "two.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["layer_names"] = names(["d1", "d2"])
        for layer in ("d1", "d2"):
            g = f.create_group(layer)
            g.attrs["weight_names"] = names([f"{layer}/kernel:0"])
            g.create_dataset(f"{layer}/kernel:0", data=np.zeros((1000, 12), np.float32))
    lstm_inspect.load(path, max_memory=100_000)
    with pytest.raises(lstm_inspect.UnsupportedError, match="after .* read before it, more than the memory limit"):
        lstm_inspect.load(path, max_memory=60_000)


def test_the_budget_does_not_leak_between_calls(tmp_path):
    with pytest.raises(lstm_inspect.UnsupportedError):
        lstm_inspect.load(SEED_H5, max_memory=10)
    assert limits._current.get() is None
    lstm_inspect.load(SEED_H5)  # the default budget again
    with limits.memory_budget(10**6) as outer:
        lstm_inspect.load(SEED_H5)
        assert outer.used > 0  # load() spent the open budget
        with pytest.raises(lstm_inspect.UnsupportedError):
            lstm_inspect.load(SEED_H5, max_memory=10)  # its own, smaller one
    assert limits._current.get() is None


@pytest.mark.parametrize("value", ["lots", "-3", "0", "1.5XB", ""])
def test_max_memory_usage_errors(runner, value):
    result = invoke(runner, ["gates", SEED_H5, "--max-memory", value])
    assert result.exit_code == 2 and result.stdout == ""
    assert "Invalid value for '--max-memory'" in result.stderr


def test_max_memory_bounds_run_inputs(runner, tmp_path):
    big = tmp_path / "big.npy"
    np.save(big, np.zeros((1, 3000, 1), np.float32))  # 12 kB
    assert_one_error(invoke(runner, ["run", SEED_H5, "--input", big, "--max-memory", "10KB"]), "memory limit", file=big)
    assert invoke(runner, ["run", SEED_H5, "--input", big, "--max-memory", "1MB", "--json"]).exit_code == 0


def _keras_with(tmp_path, name, members, compression=zipfile.ZIP_STORED):
    path = tmp_path / name
    with zipfile.ZipFile(SEED_KERAS) as src, zipfile.ZipFile(path, "w", compression=compression) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, members.get(info.filename, src.read(info.filename)))
        for extra, data in members.items():
            if extra not in src.namelist():
                dst.writestr(extra, data)
    return path


def test_zip_bomb_is_refused(runner, tmp_path):
    """model.weights.h5 is 64 MiB of zeros deflated to 64 kB: refused from the header,
    before anything is inflated."""
    with zipfile.ZipFile(SEED_KERAS) as zf:
        weights = zf.read("model.weights.h5")
    path = _keras_with(tmp_path, "bomb.keras", {"model.weights.h5": weights + bytes(64 * 2**20)}, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 200_000
    for args in commands(path):
        assert_one_error(invoke(runner, args), "model.weights.h5 expands", "refused as a zip bomb", file=path)


def test_zip_member_over_the_budget_is_refused(runner):
    for args in commands(SEED_KERAS, "--max-memory", "8KiB"):
        assert_one_error(invoke(runner, args), "archive member model.weights.h5", "more than the memory limit", file=SEED_KERAS)


def test_zip_member_larger_than_its_header_says(runner, tmp_path):
    """The local and central headers claim a 100-byte config.json; the stream holds more."""
    path = _keras_with(tmp_path, "liar.keras", {})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("config.json")
        real = info.file_size
    size = real.to_bytes(4, "little")
    for at in [i for i in range(len(data)) if data[i:i + 4] == size]:
        data[at:at + 4] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    for args in commands(path):
        assert_one_error(invoke(runner, args), "config.json", file=path)


def _deep(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [150, 5000])
def test_deeply_nested_json_is_refused_everywhere(runner, tmp_path, depth):
    """A config nested 150 (parseable) or 5000 (beyond Python's recursion) levels deep, in
    the model_config attribute, config.json, metadata.json and --config."""
    deep = "[" * depth + "]" * depth

    def nest(config):
        config["config"]["layers"][1]["config"]["kernel_regularizer"] = "DEEP"
        return config

    h5 = _with_config(tmp_path, nest)
    with h5py.File(h5, "r+") as f:
        f.attrs["model_config"] = f.attrs["model_config"].replace('"DEEP"', deep)
    with zipfile.ZipFile(SEED_KERAS) as zf:
        text = zf.read("config.json").decode()
    in_config = _keras_with(tmp_path, "deep.keras", {"config.json": text.replace('"name": "lstm"', f'"junk": {deep}, "name": "lstm"', 1)})
    in_metadata = _keras_with(tmp_path, "deep_meta.keras", {"metadata.json": json.dumps({"keras_version": "3.15.1", "x": "X"}).replace('"X"', deep)})
    config = tmp_path / "deep.json"
    config.write_text(json.dumps({"class_name": "Sequential", "config": {"layers": "DEEP"}}).replace('"DEEP"', deep))
    for path, extra, where in [(h5, [], "the model_config attribute"), (in_config, [], "config.json in the archive"),
                               (in_metadata, [], "metadata.json in the archive"),
                               (SEED_WEIGHTS, ["--config", config], "the --config file")]:
        for args in commands(path, *extra):
            file = config if extra else path
            assert_one_error(invoke(runner, args), where, "nests JSON more than 100 levels deep", file=file)


def test_oversized_json_is_refused(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_JSON_BYTES", 1000)
    assert_one_error(invoke(runner, ["gates", SEED_H5]), "the model_config attribute is", "of JSON, more than the limit",
              file=SEED_H5)
    assert_one_error(invoke(runner, ["layers", SEED_KERAS]), "config.json in the archive is", file=SEED_KERAS)


def _vlen_record(path, text):
    """Where the attribute value ``text`` (a variable-length string) keeps its length:
    the 16-byte record (length, heap collection address, object index) in the file."""
    data = path.read_bytes()
    at_text = data.index(text.encode())
    heap = data.rindex(b"GCOL", 0, at_text)
    # objects: 2-byte index, 2 refs, 4 reserved, 8-byte size, then the data
    index = int.from_bytes(data[at_text - 16:at_text - 14], "little")
    record = len(text).to_bytes(4, "little") + heap.to_bytes(8, "little") + index.to_bytes(4, "little")
    return data, data.index(record), heap, at_text


_PEAK_WRAPPER = """
import sys
from lstm_inspect.cli import cli
try:
    cli.main(args=sys.argv[2:], prog_name="lstm-inspect")
finally:
    with open("/proc/self/status") as fh:
        peak = [line.split()[1] for line in fh if line.startswith("VmHWM:")][0]
    with open(sys.argv[1], "w") as fh:
        fh.write(peak)
"""


def _run_isolated(args, tmp_path, timeout=60):
    """The CLI in its own process: (return code, stdout, stderr, seconds, its peak RSS in
    MiB from /proc, which counts only what this process touched after it started)."""
    wrapper = tmp_path / "peak.py"
    wrapper.write_text(_PEAK_WRAPPER)
    peak = tmp_path / "peak.txt"
    started = time.monotonic()
    out = subprocess.run([sys.executable, str(wrapper), str(peak), *map(str, args)], cwd=ROOT, capture_output=True,
                         text=True, timeout=timeout)
    return out.returncode, out.stdout, out.stderr, time.monotonic() - started, int(peak.read_text()) / 1024


def test_damaged_string_length_does_not_make_hdf5_allocate_gigabytes(tmp_path):
    """A variable-length string attribute whose stored length says 2 GiB: libhdf5 would
    allocate and zero that much before noticing. The CLI caps what C code may allocate
    while it parses, so the read fails at once instead."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("the native allocation cap uses RLIMIT_DATA and /proc (Linux)")
    path = copy(SEED_WEIGHTS, tmp_path, "vlen.h5")
    with h5py.File(path, "r+") as f:
        del f.attrs["backend"]
        f.attrs.create("backend", "hostile-backend-name", dtype=h5py.string_dtype())
    data, at, _, _ = _vlen_record(path, "hostile-backend-name")
    data = bytearray(data)
    data[at:at + 4] = (2**31 - 1).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    code, out, err, seconds, peak_mib = _run_isolated(["gates", path, "--config", SEED_CONFIG], tmp_path)
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"Error: {path}: ") and "backend" in err
    assert seconds < 20
    assert peak_mib < 512  # not the 2 GiB the length asks for


def test_damaged_global_heap_that_would_loop_forever_is_refused(runner, tmp_path):
    """An object in the global heap whose size is set to zero: libhdf5 walks the heap by
    those sizes and would spin on it without end (a C loop nothing can interrupt)."""
    path = copy(SEED_WEIGHTS, tmp_path, "heap.h5")
    with h5py.File(path, "r+") as f:
        del f.attrs["backend"]
        f.attrs.create("backend", "hostile-backend-name", dtype=h5py.string_dtype())
    data, _, heap, at_text = _vlen_record(path, "hostile-backend-name")
    data = bytearray(data)
    data[at_text - 16:at_text - 14] = (0).to_bytes(2, "little")  # the free-space index ...
    data[at_text - 8:at_text] = (0).to_bytes(8, "little")        # ... of size zero
    path.write_bytes(bytes(data))
    started = time.monotonic()
    for args in commands(path, "--config", SEED_CONFIG):
        assert_one_error(invoke(runner, args), f"global heap at byte {heap}", "loop forever", file=path)
    assert time.monotonic() - started < 10


# ------------------------------------------------------------------------------------
# 5. The model is never changed; results are written atomically, never onto an input


def test_read_only_model_and_folder_work(runner, tmp_path):
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root writes anywhere; the permission bits prove nothing")
    folder = tmp_path / "ro"
    folder.mkdir()
    path = copy(SEED_H5, folder)
    os.chmod(path, 0o444)
    os.chmod(folder, 0o555)
    try:
        for args in commands(path):
            assert invoke(runner, args).exit_code == 0
    finally:
        os.chmod(folder, 0o755)


@pytest.mark.parametrize("form", ["k2_h5", "k2_keras", "k3_h5", "k3_keras"])
def test_every_command_leaves_the_model_unchanged(runner, tmp_path, form):
    path = copy(SAMPLES / MODELS["seed"]["forms"][form], tmp_path)
    before = fingerprint(path)
    for args in commands(path):
        assert invoke(runner, args).exit_code == 0
    out = tmp_path / "out.npz"
    assert invoke(runner, ["run", path, "--input", SEED_INPUT, "--npz", out, "--state-out", tmp_path / "s.npz"]).exit_code == 0
    assert fingerprint(path) == before


def _outputs_onto(tmp_path, option):
    model = copy(SEED_H5, tmp_path, "model.h5")
    inputs = copy(SEED_INPUT, tmp_path, "input.json")
    states = tmp_path / "states.npz"
    np.savez(states, **{"lstm/h": np.zeros((1, 3), np.float32), "lstm/c": np.zeros((1, 3), np.float32)})
    symlink = tmp_path / "symlink.npz"
    symlink.symlink_to(model)
    hardlink = tmp_path / "hardlink.npz"
    os.link(model, hardlink)
    return model, inputs, states, [model, symlink, hardlink, inputs, states]


@pytest.mark.parametrize("option", ["--npz", "--state-out"])
def test_results_never_overwrite_what_the_command_reads(runner, tmp_path, option):
    model, inputs, states, targets = _outputs_onto(tmp_path, option)
    before = {p: fingerprint(p) for p in (model, inputs, states)}
    for target in targets:
        result = invoke(runner, ["run", model, "--input", inputs, "--initial-state", states, option, target])
        assert_one_error(result, "refusing to overwrite", "which this command reads", file=target)
    assert {p: fingerprint(p) for p in (model, inputs, states)} == before


def test_npz_and_state_out_cannot_be_the_same_file(runner, tmp_path):
    out = tmp_path / "out.npz"
    result = invoke(runner, ["run", SEED_H5, "--input", SEED_INPUT, "--npz", out, "--state-out", out])
    assert result.exit_code == 2 and "--npz and --state-out name the same file" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("option", ["--npz", "--state-out"])
@pytest.mark.parametrize("existing", [False, True])
def test_interrupted_write_leaves_no_half_written_file(runner, tmp_path, monkeypatch, option, existing):
    """Interrupted (Ctrl-C) in the middle of writing: the old file is intact, or there is
    none, and no temporary file is left."""
    from lstm_inspect.reading import files

    out = tmp_path / "out.npz"
    if existing:
        out.write_bytes(b"the previous result")
    real = np.lib.format.write_array

    def interrupted(fh, array, **kw):
        real(fh, array, **kw)
        fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(files.npy_format, "write_array", interrupted)
    result = invoke(runner, ["run", SEED_H5, "--input", SEED_INPUT, option, out])
    assert result.exit_code == 1 and result.stdout == ""  # Click: "Aborted!"
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out.npz"] if existing else [])
    if existing:
        assert out.read_bytes() == b"the previous result"


# ------------------------------------------------------------------------------------
# Output: names from a file always print; a failing report prints nothing


def test_names_with_lone_surrogates_print(runner, tmp_path):
    """A layer name spelled with a lone surrogate escape (what undecodable bytes become)."""
    def rename(config):
        config["config"]["layers"][2]["config"]["name"] = "DENSE_NAME"
        return config

    path = _with_config(tmp_path, rename)
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = f.attrs["model_config"].replace("DENSE_NAME", "Den\\udc89e")
    for args in [["layers", path], ["layers", path, "--json"], ["gates", path]]:
        result = invoke(runner, args)
        assert result.exit_code == 0, result.stderr
    assert "Den\ufffde" in invoke(runner, ["layers", path]).stdout


def test_a_report_that_fails_while_rendering_prints_nothing(runner, monkeypatch):
    from rich.text import Text

    from lstm_inspect.reports import render

    class Broken:
        def __rich_console__(self, console, options):
            raise lstm_inspect.ConfigError("cannot render this", file=str(SEED_H5))

    monkeypatch.setattr(render, "layers_renderables", lambda m, rows, inputs=(): [Text("first line"), Broken()])
    assert_one_error(invoke(runner, ["layers", SEED_H5]), "cannot render this", file=SEED_H5)


@pytest.mark.parametrize("text, size", [("123", 123), ("1e3", 1000), ("24GB", 24 * 10**9), ("24 gb", 24 * 10**9),
                                        ("2GiB", 2 * 2**30), ("2G", 2 * 2**30), ("500MB", 500 * 10**6),
                                        ("1.5KiB", 1536), ("64KiB", 65536)])
def test_parse_size(text, size):
    assert limits.parse_size(text) == size


def test_json_depth_skips_strings():
    assert limits.json_depth('[[1], {"a": "[[[[\\"[["}]') == 2
    assert limits.json_depth("[" * 300 + "]" * 300) == 300
    assert limits.json_depth('"unterminated [[[') == 0
