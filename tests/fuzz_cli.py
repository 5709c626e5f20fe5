"""Fuzz the ``lstm-inspect`` command line with broken and hostile files and inputs.

Every case takes a sample model (every form in ``sample_models/``), breaks it one way
(truncation, flipped bytes, HDF5 attributes and datasets dropped or retyped, links,
mangled config JSON, damaged ``.keras`` members) or feeds ``run`` a bad input, runs the
CLI in-process and checks the contract of README "Errors and exit codes":

- exit 0 with a complete result (with ``--json``: stdout is one whole JSON document), or
- exit 1 with nothing on stdout and exactly one line ``Error: ...`` on stderr, which is
  not the catch-all "this is a bug" line, or
- exit 2 (a usage error) only for cases that pass bad options,
- never an exception escaping, a Python warning, or a case slower than the time limit.

Run it by hand::

    python tests/fuzz_cli.py --cases 2000 --seed 7
    python tests/fuzz_cli.py --cases 500 --kind config --keep /tmp/failures

It prints how many cases were tried and how many failed, and each failing case.
``tests/test_fuzz_cli.py`` runs a bounded number of cases in CI. The mutators here
are shared with the hypothesis suite (``tests/test_hostile_property.py``), which
drives them with its own random source.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import h5py
import numpy as np
from conftest import MODELS, ROOT, SAMPLES, Sample, samples

DEFAULT_TIME_LIMIT = 10.0

SAMPLES_LIST = samples()
RUNNABLE = [s for s in SAMPLES_LIST if s.runnable]


def sample_inputs(sample: Sample) -> Dict[str, np.ndarray]:
    """The sample's recorded Keras input, keyed by the model's input names."""
    info = MODELS[sample.name]
    with np.load(SAMPLES / info["expected"][sample.gen]) as expected:
        return {spec["name"]: expected[f"input/{k}"] for k, spec in enumerate(info["inputs"])}


# ------------------------------------------------------------------------------------
# A case: what to run, and the files it needs


@dataclass
class Case:
    kind: str
    sample: str
    what: str  #: the mutation, for people
    args: List[str]
    stdin: Optional[str] = None
    usage_ok: bool = False  #: exit 2 is a fine answer (bad options on purpose)
    files: List[Path] = field(default_factory=list)  #: files the case made (kept with --keep)
    number: int = -1  #: its number in a fuzz run (--replay)
    cwd: Optional[Path] = None  #: where it runs (its scratch folder)

    def describe(self) -> str:
        return f"#{self.number} [{self.kind}] {self.sample}: {self.what}\n    lstm-inspect {' '.join(self.args)}"


COMMANDS = [
    ["gates"], ["gates", "--json"], ["layers"], ["layers", "--json"],
    ["run", "--json"], ["run"], ["run", "--jsonl"],
]


def _command(rng: random.Random, sample: Sample, model: Path, config: Optional[Path], work: Path) -> List[str]:
    command = list(rng.choice(COMMANDS))
    args = [command[0], str(model)]
    if config is not None:
        args += ["--config", str(config)]
    if command[0] == "run":
        path = work / "input.npz"
        if not path.exists():
            np.savez(path, **sample_inputs(sample))
        args += ["--input", str(path)]
    if rng.random() < 0.1:
        args += ["--max-memory", rng.choice(["1MB", "64KiB", "100", "2GiB"])]
    return args + command[1:]


# ------------------------------------------------------------------------------------
# Byte-level damage


def mutate_truncate(rng: random.Random, sample: Sample, work: Path) -> Case:
    data = sample.path.read_bytes()
    cut = rng.randrange(0, len(data))
    path = work / ("cut" + _suffix(sample.path))
    path.write_bytes(data[:cut])
    return Case("truncate", sample.id, f"truncated at byte {cut} of {len(data)}",
                _command(rng, sample, path, sample.config, work), files=[path])


def mutate_flip(rng: random.Random, sample: Sample, work: Path) -> Case:
    data = bytearray(sample.path.read_bytes())
    flips = []
    for _ in range(rng.randint(1, 16)):
        at = rng.randrange(0, len(data))
        value = rng.randrange(0, 256)
        data[at] = value
        flips.append(f"{at}={value}")
    path = work / ("flipped" + _suffix(sample.path))
    path.write_bytes(bytes(data))
    return Case("flip", sample.id, "bytes set: " + ", ".join(flips),
                _command(rng, sample, path, sample.config, work), files=[path])


def _suffix(path: Path) -> str:
    return ".weights.h5" if path.name.endswith(".weights.h5") else path.suffix


# ------------------------------------------------------------------------------------
# HDF5 structure: attributes and datasets dropped, retyped, relinked


def _objects(f: h5py.File) -> Tuple[List[str], List[str]]:
    groups, datasets = ["/"], []
    f.visititems(lambda name, obj: (datasets if isinstance(obj, h5py.Dataset) else groups).append("/" + name))
    return groups, datasets


def _random_attr_value(rng: random.Random):
    choices = [
        lambda: 7,
        lambda: 3.5,
        lambda: np.array([1.0, 2.0]),
        lambda: np.zeros((0,)),
        lambda: "garbage",
        lambda: b"\xff\xfe\x80 not utf8",
        lambda: np.array([b"no_such_layer", b"other"]),
        lambda: np.array([b"a/b/c:0"] * rng.randint(1, 5)),
        lambda: np.array([[b"x", b"y"], [b"z", b"w"]]),
        lambda: np.array([True, False]),
        lambda: "{not json",
        lambda: json.dumps({"class_name": "Sequential", "config": {"layers": []}}),
        lambda: json.dumps([[[[[]]]]] * 3),
        lambda: "[" * 5000 + "]" * 5000,
        lambda: h5py.Empty("f4"),
        lambda: np.array([1 + 2j]),
        lambda: "",
        lambda: np.array([], dtype="S1"),
    ]
    return rng.choice(choices)()


def _random_dataset(rng: random.Random, old: Optional[h5py.Dataset]):
    """(data or None, create_dataset kwargs) of a dataset to put where ``old`` was."""
    shape = tuple(old.shape) if old is not None and old.shape is not None else (3,)
    choices = [
        ("strings", lambda: (np.array([b"abc"] * max(1, int(np.prod(shape)))), {})),
        ("ints", lambda: (np.arange(int(np.prod(shape)) or 1, dtype=np.int64).reshape(shape or (1,)), {})),
        ("float16", lambda: (np.ones(shape, np.float16), {})),
        ("complex", lambda: (np.ones(shape, np.complex64), {})),
        ("bool", lambda: (np.ones(shape, bool), {})),
        ("compound", lambda: (np.zeros(2, dtype=[("a", "f4"), ("b", "i4")]), {})),
        ("scalar", lambda: (np.float32(1.5), {})),
        ("empty", lambda: (np.zeros((0,), np.float32), {})),
        ("transposed", lambda: (np.ones(shape[::-1], np.float32), {})),
        ("extra-axis", lambda: (np.ones(shape + (2,), np.float32), {})),
        ("dropped-axis", lambda: (np.ones(shape[1:] or (0,), np.float32), {})),
        ("bigger", lambda: (np.ones(tuple(d + 1 for d in shape) or (5,), np.float32), {})),
        ("nan", lambda: (np.full(shape, np.nan, np.float32), {})),
        ("inf", lambda: (np.full(shape, np.inf, np.float32), {})),
        ("huge-values", lambda: (np.full(shape, 3e38, np.float32), {})),
        ("declared-terabytes", lambda: (None, {"shape": (10**6, 10**6), "dtype": "f4", "chunks": (100, 100)})),
        ("declared-exabytes", lambda: (None, {"shape": (2**31, 2**31, 2**10), "dtype": "f8", "chunks": (1, 1, 16)})),
        ("gzip-chunk-bomb", lambda: (None, {"shape": (1,), "maxshape": (None,), "dtype": "f4", "chunks": (2**22,),
                                            "compression": "gzip"})),
        ("no-data", lambda: (None, {"shape": shape, "dtype": "f4"})),
    ]
    name, make = rng.choice(choices)
    data, kwargs = make()
    return name, data, kwargs


def _h5_edit(rng: random.Random, f: h5py.File) -> str:
    groups, datasets = _objects(f)
    ops = ["drop-attr", "retype-attr", "drop-dataset", "retype-dataset", "dataset-to-group", "group-to-dataset",
           "rename", "soft-link", "external-link", "hard-link-twice", "drop-group", "junk-group"]
    op = rng.choice(ops)
    with_attrs = [p for p in groups + datasets if len(f[p].attrs)]
    if op in ("drop-attr", "retype-attr") and with_attrs:
        path = rng.choice(with_attrs)
        name = rng.choice(sorted(f[path].attrs))
        del f[path].attrs[name]
        if op == "drop-attr":
            return f"dropped attribute {name!r} of {path}"
        value = _random_attr_value(rng)
        try:
            f[path].attrs[name] = value
        except (TypeError, ValueError) as e:
            return f"dropped attribute {name!r} of {path} (could not retype: {e})"
        return f"attribute {name!r} of {path} set to {value!r:.60}"
    if op in ("drop-dataset", "retype-dataset", "dataset-to-group", "rename") and datasets:
        path = rng.choice(datasets)
        old = f[path]
        parent, leaf = path.rsplit("/", 1)
        parent = parent or "/"
        if op == "rename":
            new = rng.choice([leaf + "_x", "0", "kernel:0", "../" + leaf, leaf.upper()])
            try:
                f[parent].move(leaf, new)
            except (ValueError, KeyError, RuntimeError, OSError) as e:
                return f"could not rename {path}: {e}"
            return f"renamed {path} to {new}"
        what, data, kwargs = _random_dataset(rng, old)
        del f[path]
        if op == "drop-dataset":
            return f"dropped dataset {path}"
        if op == "dataset-to-group":
            f[parent].create_group(leaf)
            return f"dataset {path} replaced by a group"
        f[parent].create_dataset(leaf, data=data, **kwargs)
        return f"dataset {path} replaced: {what}"
    if op in ("group-to-dataset", "drop-group", "soft-link", "external-link", "hard-link-twice") and len(groups) > 1:
        path = rng.choice(groups[1:])
        parent, leaf = path.rsplit("/", 1)
        parent = parent or "/"
        if op == "hard-link-twice":
            target = rng.choice(groups)
            if target == "/" or path.startswith(target) or target.startswith(path):
                f[path][leaf + "_again"] = f[parent]  # a cycle: the parent inside its child
                return f"{path}/{leaf}_again is a hard link to its parent {parent}"
            f[target][leaf + "_twin"] = f[path]
            return f"{path} hard-linked again as {target}/{leaf}_twin"
        del f[path]
        if op == "drop-group":
            return f"dropped group {path}"
        if op == "group-to-dataset":
            f[parent].create_dataset(leaf, data=np.zeros(3, np.float32))
            return f"group {path} replaced by a dataset"
        if op == "soft-link":
            f[parent][leaf] = h5py.SoftLink(rng.choice(["/", "/nowhere", path, parent]))
            return f"group {path} replaced by a soft link"
        f[parent][leaf] = h5py.ExternalLink(rng.choice(["/etc/passwd", str(SAMPLES / "seed.h5")]), rng.choice(["/", path]))
        return f"group {path} replaced by an external link"
    f.create_group(f"junk_{rng.randrange(1000)}").create_dataset("x", data=np.zeros((2, 2), np.float32))
    return "added a junk group"


def mutate_hdf5(rng: random.Random, sample: Sample, work: Path) -> Case:
    """One structural edit of the HDF5 file (for .keras: of model.weights.h5 inside it)."""
    if sample.path.suffix == ".keras":
        with zipfile.ZipFile(sample.path) as zf:
            inner = work / "model.weights.h5"
            inner.write_bytes(zf.read("model.weights.h5"))
            with h5py.File(inner, "r+") as f:
                what = _h5_edit(rng, f)
            path = work / "edited.keras"
            _rezip(sample.path, path, {"model.weights.h5": inner.read_bytes()})
    else:
        path = work / ("edited" + _suffix(sample.path))
        shutil.copyfile(sample.path, path)
        with h5py.File(path, "r+") as f:
            what = _h5_edit(rng, f)
    return Case("hdf5", sample.id, what, _command(rng, sample, path, sample.config, work), files=[path])


def _rezip(source: Path, target: Path, replace: Dict[str, bytes], compression=zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", compression=compression) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))


def mutate_member(rng: random.Random, sample: Sample, work: Path) -> Case:
    """Damage inside a .keras member, with correct CRCs, so the damage reaches the parsers."""
    keras = [s for s in SAMPLES_LIST if s.name == sample.name and s.path.suffix == ".keras"]
    sample = rng.choice(keras) if keras else sample
    if sample.path.suffix != ".keras":
        return mutate_flip(rng, sample, work)
    with zipfile.ZipFile(sample.path) as zf:
        name = rng.choice(zf.namelist())
        data = bytearray(zf.read(name))
    op = rng.choice(["truncate", "flip", "empty", "drop", "duplicate"])
    path = work / "member.keras"
    if op == "drop":
        with zipfile.ZipFile(sample.path) as src, zipfile.ZipFile(path, "w") as dst:
            for info in src.infolist():
                if info.filename != name:
                    dst.writestr(info.filename, src.read(info.filename))
        what = f"member {name} removed"
    elif op == "duplicate":
        shutil.copyfile(sample.path, path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with zipfile.ZipFile(path, "a") as zf:
                zf.writestr(name, b"{}" if name.endswith(".json") else b"\x89HDF\r\n\x1a\n")
        what = f"member {name} appears twice"
    else:
        if op == "truncate":
            data = data[: rng.randrange(0, max(len(data), 1))]
        elif op == "flip":
            for _ in range(rng.randint(1, 8)):
                if data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            data = bytearray()
        _rezip(sample.path, path, {name: bytes(data)}, rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
        what = f"member {name}: {op}"
    return Case("member", sample.id, what, _command(rng, sample, path, None, work), files=[path])


# ------------------------------------------------------------------------------------
# Config JSON mangled: missing keys, wrong types, unknown classes, names that do not match


LAMBDA = {"class_name": "Lambda", "config": {
    "name": "evil", "function": ["4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMIAAAAdABkAYMBUwApAk7aBWhlbGxvKQHaBHByaW50KQHaAXipAHIDAAAA+gEx2gE8bGFtYmRhPgEAAADzAAAAAA==", None, None],
    "function_type": "lambda", "module": "__main__", "output_shape": None, "arguments": {}}}
CUSTOM = {"module": "os", "class_name": "system", "config": {"name": "custom", "command": "touch /tmp/owned"},
          "registered_name": "Custom>system"}


def _wrong_value(rng: random.Random):
    return rng.choice([None, 0, -1, 10**9, 10**30, 1e308, float("nan"), "x", "", [], {}, True, [1, "a", None],
                       {"class_name": "Nope"}, [[[[]]]], "relu" * 100, LAMBDA, CUSTOM])


def _nodes(value, path=()):
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _nodes(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _nodes(v, path + (i,))


def _set(doc, path, value):
    if not path:
        return value
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def mangle_config(rng: random.Random, doc):
    """One edit of a parsed config; returns (new document, what was done)."""
    nodes = list(_nodes(doc))
    op = rng.choice(["delete", "wrong-type", "unknown-class", "lambda", "custom", "rename-layer", "units",
                     "activation", "drop-layer", "duplicate-layer", "shuffle-layers", "deep", "shape"])
    if op == "delete":
        keyed = [(p, v) for p, v in nodes if p and isinstance(p[-1], str)]
        if keyed:
            path, _ = rng.choice(keyed)
            node = doc
            for key in path[:-1]:
                node = node[key]
            del node[path[-1]]
            return doc, f"deleted {'/'.join(map(str, path))}"
    if op == "wrong-type":
        path, _ = rng.choice(nodes)
        value = _wrong_value(rng)
        return _set(doc, path, value), f"{'/'.join(map(str, path)) or 'the whole config'} = {json.dumps(value)[:60]}"
    dict_nodes = [(p, v) for p, v in nodes if isinstance(v, dict)]
    layers = [(p, v) for p, v in dict_nodes if isinstance(v.get("class_name"), str) and p]
    if op in ("unknown-class", "lambda", "custom") and layers:
        path, layer = rng.choice(layers)
        if op == "unknown-class":
            layer["class_name"] = rng.choice(["EvilLayer", "Attention", "lstm", "LSTMv2", "", "Dense "])
            return doc, f"{'/'.join(map(str, path))} class_name = {layer['class_name']!r}"
        value = json.loads(json.dumps(LAMBDA if op == "lambda" else CUSTOM))
        name = layer.get("config", {}).get("name") if isinstance(layer.get("config"), dict) else None
        if name:
            value["config"]["name"] = name
        for key in ("inbound_nodes", "name"):
            if key in layer:
                value[key] = layer[key]
        return _set(doc, path, value), f"{'/'.join(map(str, path))} replaced by a {op} layer"
    named = [(p, v) for p, v in dict_nodes if isinstance(v.get("name"), str)]
    if op == "rename-layer" and named:
        path, node = rng.choice(named)
        node["name"] = rng.choice(["renamed", node["name"] + "_2", "", "a/b", "lstm", "dense"])
        return doc, f"{'/'.join(map(str, path + ('name',)))} = {node['name']!r}"
    if op in ("units", "activation", "shape"):
        key = {"units": "units", "activation": rng.choice(["activation", "recurrent_activation"]),
               "shape": rng.choice(["batch_input_shape", "batch_shape", "target_shape", "input_shape"])}[op]
        having = [(p, v) for p, v in dict_nodes if key in v]
        if having:
            path, node = rng.choice(having)
            node[key] = {
                "units": lambda: rng.choice([0, -3, 1, 7, 10**7, 2.5, "3"]),
                "activation": lambda: rng.choice(["swish_v9", "", None, {"class_name": "Custom", "config": {}},
                                                  {"module": "builtins", "class_name": "function", "config": "eval"}]),
                "shape": lambda: rng.choice([[None], [None, -1, 3], [None, 10**9, 10**9], [], "3", [None, None, None, None]]),
            }[op]()
            return doc, f"{'/'.join(map(str, path + (key,)))} = {json.dumps(node[key])[:60]}"
    lists = [(p, v) for p, v in nodes if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
    if op in ("drop-layer", "duplicate-layer", "shuffle-layers") and lists:
        path, items = rng.choice(lists)
        if op == "drop-layer":
            items.pop(rng.randrange(len(items)))
        elif op == "duplicate-layer":
            items.insert(rng.randrange(len(items) + 1), json.loads(json.dumps(rng.choice(items))))
        else:
            rng.shuffle(items)
        return doc, f"{op} in {'/'.join(map(str, path))}"
    if op == "deep":
        path, _ = rng.choice(nodes)
        value: object = 1
        for _ in range(rng.choice([50, 150, 3000])):
            value = [value]
        return _set(doc, path, value), f"{'/'.join(map(str, path)) or 'the whole config'} nested deep"
    path, _ = rng.choice(nodes)
    return _set(doc, path, _wrong_value(rng)), f"{'/'.join(map(str, path)) or 'the whole config'} replaced"


def _dump(doc) -> str:
    try:
        return json.dumps(doc)
    except (RecursionError, ValueError):
        return "[" * 3000 + "]" * 3000


def mutate_config(rng: random.Random, sample: Sample, work: Path) -> Case:
    """Mangle the config wherever it lives: the model_config attribute, config.json in a
    .keras archive, or the --config file."""
    path, config = sample.path, sample.config
    if config is not None:
        doc, what = mangle_config(rng, json.loads(config.read_text()))
        config = work / "mangled.json"
        config.write_text(_dump(doc))
        files = [config]
    elif sample.path.suffix == ".keras":
        with zipfile.ZipFile(sample.path) as zf:
            doc, what = mangle_config(rng, json.loads(zf.read("config.json")))
        path = work / "mangled.keras"
        _rezip(sample.path, path, {"config.json": _dump(doc).encode()})
        files = [path]
    else:
        path = work / ("mangled" + _suffix(sample.path))
        shutil.copyfile(sample.path, path)
        with h5py.File(path, "r+") as f:
            if "model_config" not in f.attrs:
                f.close()
                return mutate_hdf5(rng, sample, work)
            text = f.attrs["model_config"]
            doc, what = mangle_config(rng, json.loads(text.decode() if isinstance(text, bytes) else text))
            f.attrs["model_config"] = _dump(doc)
        files = [path]
    return Case("config", sample.id, what, _command(rng, sample, path, config, work), files=files)


# ------------------------------------------------------------------------------------
# Inputs for `run`: wrong rank, size, dtype, content and format


def _bad_array(rng: random.Random, good: np.ndarray) -> Tuple[np.ndarray, str]:
    nprng = np.random.default_rng(rng.getrandbits(32))
    shape = good.shape
    ops = {
        "drop-axis": lambda: good[0],
        "add-axis": lambda: good[..., None],
        "scalar": lambda: np.float32(1.0),
        "wrong-features": lambda: np.ones(shape[:-1] + (shape[-1] + rng.randint(1, 3),), np.float32),
        "long-sequence": lambda: np.ones((shape[0], shape[1] * 3) + shape[2:], good.dtype) if len(shape) > 1 else good,
        "one-step": lambda: good[:, :1] if len(shape) > 1 else good,
        "zero-steps": lambda: good[:, :0] if len(shape) > 1 else good[:0],
        "big-batch": lambda: np.repeat(good, rng.randint(2, 9), axis=0),
        "empty-batch": lambda: good[:0],
        "nan": lambda: np.full(shape, np.nan, np.float32),
        "inf": lambda: np.full(shape, -np.inf, np.float32),
        "huge": lambda: np.full(shape, 3e38, np.float32),
        "float64-huge": lambda: np.full(shape, 1e300, np.float64),
        "negative": lambda: -np.abs(good.astype(np.float64)) - 1,
        "random": lambda: nprng.normal(size=shape) * 10 ** rng.randint(-3, 6),
        "fractional": lambda: good + 0.5,
        "int8": lambda: good.astype(np.int8),
        "uint64-max": lambda: np.full(shape, np.iinfo(np.uint64).max, np.uint64),
        "int64-min": lambda: np.full(shape, np.iinfo(np.int64).min, np.int64),
        "bool": lambda: good.astype(bool),
        "float16": lambda: good.astype(np.float16),
        "complex": lambda: good.astype(np.complex64),
        "datetime": lambda: np.zeros(shape, "datetime64[s]"),
        "strings": lambda: good.astype(str),
        "fortran": lambda: np.asfortranarray(good),
        "big-endian": lambda: good.astype(good.dtype.newbyteorder(">")),
    }
    name = rng.choice(sorted(ops))
    return np.asarray(ops[name]()), name


def _write_npy_raw(path: Path, rng: random.Random, good: np.ndarray) -> str:
    op = rng.choice(["pickle", "truncated", "garbage", "bad-header", "huge-header"])
    if op == "pickle":
        np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    elif op == "truncated":
        np.save(path, good)
        data = path.read_bytes()
        path.write_bytes(data[: rng.randrange(len(data))])
    elif op == "garbage":
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200))))
    elif op == "bad-header":
        path.write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (__import__('os'),), }"
                         + b" " * 40 + b"\n")
    else:
        header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({10**6}, {10**6}, {10**6}), }}"
        header = header + " " * (127 - len(header) - 10) + "\n"
        path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\0" * 64)
    return f".npy: {op}"


def mutate_input(rng: random.Random, sample: Sample, work: Path) -> Case:
    """An unbroken model with a broken input."""
    if sample not in RUNNABLE:
        sample = rng.choice(RUNNABLE)
    inputs = sample_inputs(sample)
    names = list(inputs)
    target = rng.choice(names)
    bad, what = _bad_array(rng, inputs[target])
    arrays = dict(inputs, **{target: bad})
    fmt = rng.choice(["npz", "npz", "npy", "json", "json-stdin", "csv", "raw-npy", "npz-names", "state"])
    args_extra: List[str] = []
    stdin = None
    usage_ok = False
    if fmt == "raw-npy":
        path = work / "input.npy"
        what = _write_npy_raw(path, rng, inputs[target])
    elif fmt == "npy" and len(names) == 1:
        path = work / "input.npy"
        np.save(path, bad, allow_pickle=False)
    elif fmt in ("json", "json-stdin"):
        path = work / "input.json"
        if bad.dtype.kind in "fc":
            values = {k: np.asarray(v).real.astype(float).tolist() for k, v in arrays.items()}
        elif bad.dtype.kind in "biu":
            values = {k: np.asarray(v).tolist() for k, v in arrays.items()}
        else:
            values = {k: np.asarray(v).astype(str).tolist() for k, v in arrays.items()}
        shape = rng.choice(["object", "list", "single", "ragged", "null"])
        if shape == "list" or len(names) > 1 and shape == "single":
            doc = [values[k] for k in names]
        elif shape == "single":
            doc = values[target]
        elif shape == "ragged":
            doc = values[target]
            if isinstance(doc, list) and doc:
                doc = doc + [[1.0]]
        elif shape == "null":
            doc = rng.choice([None, "x", 3, {"wrong": 1}, [], {}])
        else:
            doc = values
        text = json.dumps(doc, allow_nan=True)
        path.write_text(text)
        if fmt == "json-stdin":
            stdin, path = text, Path("-")
        what += f" as JSON ({shape})"
    elif fmt == "csv" and len(names) == 1:
        path = work / "input.csv"
        table = bad.reshape(-1, bad.shape[-1]) if bad.ndim > 1 else bad.reshape(-1, 1)
        text = "\n".join(",".join(str(v) for v in row) for row in table.tolist())
        if rng.random() < 0.3:
            text = rng.choice(["a,b,c\n", "", "1,2\n3\n", "1;;2\n", "nan,inf\n", "1_000,2\n"]) + text
        path.write_text(text)
    elif fmt == "npz-names":
        path = work / "input.npz"
        renamed = {rng.choice(["x", "arr_0", target + "_", "in_b"]): v for v in arrays.values()}
        np.savez(path, **renamed)
        what += ", arrays renamed"
    elif fmt == "state":
        path = work / "input.npz"
        np.savez(path, **inputs)
        state = work / "state.npz"
        key = rng.choice(["lstm/h", "lstm/c", "bogus", "lstm/x", "gru/h", "bidirectional/h", "a/b/c/h"])
        np.savez(state, **{key: bad})
        args_extra = ["--initial-state", str(state)]
        what += f" as initial state {key!r}"
    else:
        path = work / "input.npz"
        np.savez(path, **arrays)
    args = ["run", str(sample.path)]
    if sample.config:
        args += ["--config", str(sample.config)]
    args += ["--input", str(path), *args_extra]
    args += rng.choice([["--json"], [], ["--jsonl"], ["--json", "--sample", "0"]])
    if rng.random() < 0.3:
        option, value = rng.choice([
            ("--sample", rng.choice(["-1", "5", "0", "100"])), ("--units", rng.choice(["0:2", "5:1", "a:b", ":", "-1:3", "0:999"])),
            ("--steps", rng.choice(["0:1", "3:", "x", "9:2"])), ("--layer", rng.choice(["lstm", "nope", ""])),
            ("--until", rng.choice(["lstm", "nope", "dense", ""])), ("--pixel", rng.choice(["0,0", "9,9", "x", "-1,2"])),
            ("--max-memory", rng.choice(["1KB", "0", "-3", "lots", "1e3", "16GiB"])),
        ])
        args += [option, value]
        what += f", {option} {value}"
        usage_ok = True
    if rng.random() < 0.2:
        out = work / rng.choice(["out.npz", "sub/missing/out.npz"])
        targets = [out, sample.path] + ([path] if str(path) != "-" else [])
        args += [rng.choice(["--npz", "--state-out"]), str(rng.choice(targets))]
        what += ", writing a result file"
    return Case("input", sample.id, what, args, stdin=stdin, usage_ok=usage_ok, files=[p for p in [path] if str(p) != "-"])


MUTATORS: Dict[str, Callable[[random.Random, Sample, Path], Case]] = {
    "truncate": mutate_truncate,
    "flip": mutate_flip,
    "hdf5": mutate_hdf5,
    "member": mutate_member,
    "config": mutate_config,
    "input": mutate_input,
}


# ------------------------------------------------------------------------------------
# Running a case and judging the result


class CaseTimeout(BaseException):
    """Raised by the alarm inside a case that runs too long (a BaseException, so the
    CLI's own handlers cannot swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Interrupt the block after ``seconds`` where SIGALRM exists (the main thread of a Unix process)."""
    usable = hasattr(signal, "setitimer") and _main_thread()
    if not usable:
        yield
        return

    def alarm(signum, frame):
        raise CaseTimeout(f"still running after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _runner():
    from click.testing import CliRunner

    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # Click >= 8.2 keeps stderr apart by default
        return CliRunner()


@contextlib.contextmanager
def _inside(folder: Optional[Path]):
    """Run with ``folder`` as the working directory, so nothing a case writes by a
    relative name lands anywhere else."""
    if folder is None:
        yield
        return
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def run_case(case: Case, time_limit_s: float = DEFAULT_TIME_LIMIT) -> Optional[str]:
    """Run one case through the CLI in-process; None when it kept the contract, else why not."""
    from lstm_inspect.cli import cli

    runner = _runner()
    started = time.monotonic()
    with _inside(case.cwd), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with time_limit(time_limit_s * 3):
                result = runner.invoke(cli, case.args, input=case.stdin, catch_exceptions=True)
        except CaseTimeout as e:
            return f"hang: {e}"
    elapsed = time.monotonic() - started
    return judge(case, result, elapsed, time_limit_s, caught)


_WARM = False


def warm_up() -> None:
    """Import what the CLI imports lazily, in this process, so that forked cases do not
    each pay for the imports (they would take most of a case's time)."""
    global _WARM
    if _WARM:
        return
    from lstm_inspect.cli import cli

    seed = SAMPLES / "seed.h5"
    inputs = str(SAMPLES / "seed_input.json")
    runner = _runner()
    for args in (["gates", seed], ["gates", seed, "--json"], ["layers", seed], ["layers", seed, "--json"],
                 ["run", seed, "--input", inputs], ["run", seed, "--input", inputs, "--json"],
                 ["run", seed, "--input", inputs, "--jsonl"], ["gates", SAMPLES / MODELS["seed"]["forms"]["k3_keras"]]):
        runner.invoke(cli, [str(a) for a in args])
    _WARM = True


def run_case_isolated(case: Case, time_limit_s: float = DEFAULT_TIME_LIMIT) -> Optional[str]:
    """:func:`run_case` in a forked child, so that a hang inside C code (HDF5) is caught:
    the child is killed after three times the time limit. Falls back to in-process
    where there is no fork."""
    if not hasattr(os, "fork"):
        return run_case(case, time_limit_s)
    import select

    warm_up()
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: run the case, report, and leave without any cleanup of the parent's
        status = 0
        try:
            os.close(read_end)
            reason = run_case(case, time_limit_s)
            payload = json.dumps({"reason": reason}).encode()
            view = memoryview(payload)
            while view:
                view = view[os.write(write_end, view):]
        except BaseException:
            status = 3
        finally:
            os._exit(status)
    os.close(write_end)
    chunks = []
    deadline = time.monotonic() + time_limit_s * 3
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return f"hang: still running after {time_limit_s * 3:.0f} s (killed)"
            ready, _, _ = select.select([read_end], [], [], left)
            if ready:
                chunk = os.read(read_end, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_end)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        return f"the process died (wait status {status}): a crash inside a C library?"
    return json.loads(b"".join(chunks).decode())["reason"]


def judge(case: Case, result, elapsed: float, time_limit_s: float, caught=()) -> Optional[str]:
    stdout, stderr = result.stdout, _stderr(result)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        tb = "".join(traceback.format_exception(type(result.exception), result.exception, result.exception.__traceback__))
        return f"exception escaped: {result.exception!r}\n{tb[-1500:]}"
    if elapsed > time_limit_s:
        return f"too slow: {elapsed:.1f} s (limit {time_limit_s:.0f} s)"
    noisy = [w for w in caught if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    if noisy:
        w = noisy[0]
        return f"a Python warning reached the user: {w.category.__name__}: {w.message} ({w.filename}:{w.lineno})"
    if "Traceback" in stderr or "Traceback" in stdout:
        return "a traceback was printed"
    code = result.exit_code
    if code == 0:
        if "--json" in case.args:
            try:
                json.loads(stdout)
            except ValueError as e:
                return f"exit 0 but stdout is not one JSON document ({e})"
        if "--jsonl" in case.args:
            for line in stdout.splitlines():
                try:
                    json.loads(line)
                except ValueError as e:
                    return f"exit 0 but a --jsonl line is not JSON ({e})"
        return None
    if code == 1:
        if stdout:
            return f"exit 1 with {len(stdout)} characters on stdout: {stdout[:200]!r}"
        if not stderr.startswith("Error: ") or stderr.count("\n") != 1 or not stderr.endswith("\n"):
            return f"exit 1 but stderr is not one 'Error:' line: {stderr[-500:]!r}"
        if "this is a bug" in stderr:
            return f"the catch-all caught it: {stderr.strip()}"
        return None
    if code == 2 and case.usage_ok:
        if stdout:
            return "exit 2 with output on stdout"
        if "Error:" not in stderr:
            return f"exit 2 without an Error line: {stderr[-300:]!r}"
        return None
    return f"exit status {code}: {stderr[-500:]!r}"


def _stderr(result) -> str:
    try:
        return result.stderr
    except ValueError:
        return ""


# ------------------------------------------------------------------------------------
# The fuzz loop


@dataclass
class Failure:
    case: Case
    reason: str


def fuzz(cases: int, seed: int, kinds: Optional[List[str]] = None, time_limit_s: float = DEFAULT_TIME_LIMIT,
         keep: Optional[Path] = None, progress: Optional[Callable[[int, int], None]] = None,
         isolate: bool = True, only: Optional[int] = None) -> Tuple[int, List[Failure]]:
    """Try ``cases`` random cases from ``seed``; return (tried, failures). ``only``
    replays the one case of that number (as printed with a failure)."""
    rng = random.Random(seed)
    kinds = kinds or sorted(MUTATORS)
    order = list(SAMPLES_LIST)
    rng.shuffle(order)  # every sample model in every form, once per len(order) cases
    failures: List[Failure] = []
    tried = 0
    for n in range(cases):
        case_rng = random.Random(rng.getrandbits(64))
        kind = kinds[n % len(kinds)]
        sample = order[n % len(order)]
        if only is not None and n != only:
            continue
        with tempfile.TemporaryDirectory(prefix="lstm-fuzz-") as tmp:
            work = Path(tmp)
            (work / "sub").mkdir()
            try:
                case = MUTATORS[kind](case_rng, sample, work)
            except Exception:  # a mutation the file did not allow: not a case
                if os.environ.get("FUZZ_DEBUG"):
                    traceback.print_exc()
                case = None
            if case is None:
                continue
            case.number = n
            case.cwd = work
            tried += 1
            before = {p: p.read_bytes() for p in {sample.path, *(Path(a) for a in case.args if a.startswith(str(SAMPLES)))}
                      if p.is_file()}
            reason = run_case_isolated(case, time_limit_s) if isolate else run_case(case, time_limit_s)
            for p, data in before.items():
                if p.read_bytes() != data:
                    reason = (reason + "; " if reason else "") + f"the tool changed {p}"
            if reason:
                failures.append(Failure(case, reason))
                if keep is not None:
                    folder = keep / f"case{n:05d}-{kind}"
                    folder.mkdir(parents=True, exist_ok=True)
                    for p in case.files:
                        if p.exists():
                            shutil.copy(p, folder / p.name)
                    (folder / "case.txt").write_text(case.describe() + "\n" + reason + "\n")
        if progress:
            progress(n + 1, len(failures))
    return tried, failures


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300, help="how many cases to try (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--kind", action="append", choices=sorted(MUTATORS), help="only these kinds (repeatable)")
    parser.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT, help="seconds per case (default 10)")
    parser.add_argument("--keep", type=Path, help="copy each failing case's files into this folder")
    parser.add_argument("--replay", type=int, metavar="N", help="run only case #N (same --seed, --kind, --cases)")
    parser.add_argument("--debug", action="store_true",
                        help="run in this process with LSTM_INSPECT_DEBUG=1, so a catch-all case shows its traceback")
    args = parser.parse_args(argv)
    if args.debug:
        os.environ["LSTM_INSPECT_DEBUG"] = "1"
    started = time.monotonic()
    tried, failures = fuzz(args.cases, args.seed, args.kind, args.time_limit, args.keep, isolate=not args.debug,
                           only=args.replay)
    for failure in failures:
        print(failure.case.describe())
        print("    -> " + failure.reason.replace("\n", "\n       "))
    print(f"tried {tried} cases, {len(failures)} failed (seed {args.seed}, {time.monotonic() - started:.1f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
