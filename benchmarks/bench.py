#!/usr/bin/env python
"""Benchmarks for lstm-inspect: start-up, traced forward pass, streaming memory.

Every result is a ratio measured within one run on one machine (never a unit test):

1. start-up   ``lstm-inspect gates sample_models/seed.h5`` in a fresh process, against
              ``python -c "import numpy"`` (goal <= 3x) and against
              ``keras.models.load_model("sample_models/seed.h5")`` with the TensorFlow
              backend in a fresh process (goal: lstm-inspect >= 20x faster).
2. forward    two stacked LSTM(256) (and 2x GRU(256)) over 1,000 steps of 64 features,
              batch 1 and 32: ``lstm_inspect.run_model`` (every gate, cell and hidden kept)
              on a file saved by Keras, against Keras 3 (TensorFlow backend; the fastest
              of ``predict``, ``predict_on_batch`` and a direct ``model(x)`` call) and
              against PyTorch's fused ``torch.nn.LSTM``/``GRU`` under ``no_grad``.
3. streaming  peak RSS of ``lstm-inspect run MODEL --input X.npy --jsonl > /dev/null`` for
              an LSTM(128) over 100,000 and 10,000 steps (goal < 200 MB, and independent
              of the sequence length).

Each framework runs in its own long-lived worker process (spawned with the same
thread settings), so no library's thread pool competes with another's; the workers
are called alternately within each repetition and medians are reported.

    python benchmarks/bench.py              # full run (>= 5 repetitions)
    python benchmarks/bench.py --quick      # short run
    python benchmarks/bench.py --profile    # also: where run_recurrent spends its time

Keras comparisons need ``keras`` (3.x) and ``tensorflow``; torch comparisons need
``torch``. Anything missing is skipped with the reason printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED_MODEL = "sample_models/seed.h5"  # relative to REPO, as in the README command
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)

# forward-pass case
UNITS, STEPS, FEATURES = 256, 1000, 64
# streaming case
STREAM_UNITS, STREAM_FEATURES = 128, 16
MB = 1024.0 * 1024.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# =====================================================================================
# environment


def configure_env(threads: int) -> None:
    """Thread settings for this process and every child (set before numpy is imported)."""
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["NO_COLOR"] = "1"
    # the working tree, not some other installed lstm_inspect
    paths = [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def cpu_busy_fraction(interval: float = 1.0) -> float:
    """Fraction of all CPUs busy over ``interval`` seconds (from /proc/stat), -1 if unknown."""

    def sample():
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values), idle

    try:
        t0, i0 = sample()
        time.sleep(interval)
        t1, i1 = sample()
    except OSError:
        return -1.0
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


class ForeignLoad:
    """CPU used by everything outside this benchmark's process tree, in cores on average
    between start() and stop(): the system's busy time (/proc/stat) minus the time of this
    process and its descendants (/proc/<pid>/stat, reaped children included), so that
    short-lived processes of others count too. -1 where /proc is unreadable."""

    def __init__(self):
        self.t0 = self.snap = None

    @staticmethod
    def _system_busy():
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...: busy = user+nice+system+irq+softirq
        return v[0] + v[1] + v[2] + v[5] + v[6], (v[7] if len(v) > 7 else 0)

    @staticmethod
    def _tree_ticks():
        procs = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as fh:
                    rest = fh.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # ppid; utime + stime + cutime + cstime (time of reaped children included)
            procs[int(name)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
        children = {}
        for pid, (ppid, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        total, todo = 0, [os.getpid()]
        while todo:
            pid = todo.pop()
            total += procs.get(pid, (0, 0))[1]
            todo.extend(children.get(pid, []))
        return total

    def _sample(self):
        busy, steal = self._system_busy()
        return busy, steal, self._tree_ticks(), time.perf_counter()

    def start(self):
        try:
            self.snap = self._sample()
        except OSError:
            self.snap = None
        return self

    def stop(self) -> float:
        if self.snap is None:
            return -1.0
        try:
            end = self._sample()
        except OSError:
            return -1.0
        hz = os.sysconf("SC_CLK_TCK")
        elapsed = max(end[3] - self.snap[3], 1e-9)
        others = (end[0] - self.snap[0]) - (end[2] - self.snap[2])
        self.steal = (end[1] - self.snap[1]) / hz / elapsed
        return max(0.0, others / hz / elapsed)


def wait_until_idle(limit_s: float, threshold: float = 0.15) -> float:
    busy = cpu_busy_fraction()
    deadline = time.time() + limit_s
    while busy > threshold and time.time() < deadline:
        log(f"machine is {busy:.0%} busy; waiting for it to go idle ...")
        time.sleep(10)
        busy = cpu_busy_fraction()
    return busy


def machine_info() -> dict:
    info = {"cpu": "unknown", "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["cores_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        info["cores_usable"] = os.cpu_count()
    try:
        with open("/proc/meminfo") as fh:
            info["ram_gb"] = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/proc/cpuinfo") as fh:
            text = fh.read()
        info["hypervisor"] = "hypervisor" in text.split("flags", 1)[-1].split("\n", 1)[0]
    except OSError:
        pass
    info["os"] = f"{platform.system()} {platform.release()}"
    info["python"] = platform.python_version()
    info["python_exe"] = sys.executable
    info["threads_env"] = {v: os.environ.get(v) for v in THREAD_VARS}
    return info


def blas_info() -> dict:
    """numpy's BLAS and the thread count it really uses (OpenBLAS, read through ctypes)."""
    import ctypes

    import numpy as np

    out = {"numpy": np.__version__}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        out["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:
        out["blas"] = "unknown"
    lib = _openblas()
    if lib is not None:
        for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads"):
            if hasattr(lib, name):
                out["blas_threads"] = int(getattr(lib, name)())
                break
        for name in ("scipy_openblas_get_config64_", "openblas_get_config64_", "openblas_get_config"):
            if hasattr(lib, name):
                f = getattr(lib, name)
                f.restype = ctypes.c_char_p
                out["blas_config"] = f().decode()
                break
    return out


def _openblas():
    import ctypes

    try:
        with open("/proc/self/maps") as fh:
            libs = sorted({line.split()[-1] for line in fh if "openblas" in line.lower() and ".so" in line})
    except OSError:
        return None
    for path in libs:
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def set_blas_threads(n: int) -> bool:
    lib = _openblas()
    if lib is None:
        return False
    for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads"):
        if hasattr(lib, name):
            import ctypes

            getattr(lib, name)(ctypes.c_int(n))
            return True
    return False


# =====================================================================================
# inputs and model files


def make_input(batch: int, steps: int, features: int):
    import numpy as np

    return np.random.default_rng(1234).standard_normal((batch, steps, features), dtype=np.float32)


def keras_make_models(directory: str) -> dict:
    """Save the benchmark models with real Keras (weights seeded)."""
    import keras

    keras.utils.set_random_seed(0)
    paths = {}
    for kind in ("LSTM", "GRU"):
        layer = getattr(keras.layers, kind)
        model = keras.Sequential(
            [keras.Input((STEPS, FEATURES)), layer(UNITS, return_sequences=True), layer(UNITS)],
            name=f"stacked_{kind.lower()}",
        )
        path = os.path.join(directory, f"stacked_{kind.lower()}.keras")
        model.save(path)
        paths[kind.lower()] = path
    model = keras.Sequential([keras.Input((None, STREAM_FEATURES)), keras.layers.LSTM(STREAM_UNITS)], name="stream")
    path = os.path.join(directory, "stream_lstm.keras")
    model.save(path)
    paths["stream"] = path
    return {"paths": paths, "writer": f"Keras {keras.__version__} (model.save, .keras)"}


def h5py_make_models(directory: str) -> dict:
    """Without Keras: the same models as legacy Keras 2 .h5 files written with h5py
    (layout of tf.keras's model.save("x.h5"); random Glorot-like weights)."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(0)

    def layer_config(kind, name, units, return_sequences):
        cfg = {"name": name, "units": units, "activation": "tanh", "recurrent_activation": "sigmoid",
               "use_bias": True, "return_sequences": return_sequences, "return_state": False,
               "go_backwards": False, "stateful": False, "unroll": False, "dtype": "float32"}
        if kind == "GRU":
            cfg["reset_after"] = True
        return {"class_name": kind, "config": cfg}

    def write(path, kind, layers, features, steps):
        gates = 4 if kind == "LSTM" else 3
        cfg_layers = [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, steps, features],
                                                               "dtype": "float32", "name": "input"}}]
        with h5py.File(path, "w") as f:
            f.attrs["keras_version"] = "2.21.0"
            f.attrs["backend"] = "tensorflow"
            mw = f.create_group("model_weights")
            mw.attrs["keras_version"] = "2.21.0"
            mw.attrs["backend"] = "tensorflow"
            names = []
            n_in = features
            for k, (units, rs) in enumerate(layers):
                name = f"{kind.lower()}_{k}"
                names.append(name)
                cfg_layers.append(layer_config(kind, name, units, rs))
                cell = "lstm_cell" if kind == "LSTM" else "gru_cell"
                g = mw.create_group(name)
                arrays = {
                    "kernel:0": rng.uniform(-1, 1, (n_in, gates * units)) * np.sqrt(6 / (n_in + gates * units)),
                    "recurrent_kernel:0": rng.uniform(-1, 1, (units, gates * units)) / np.sqrt(units),
                    "bias:0": np.zeros((gates * units,) if kind == "LSTM" else (2, gates * units)),
                }
                if kind == "LSTM":
                    arrays["bias:0"][units : 2 * units] = 1.0
                g.attrs["weight_names"] = [f"{name}/{cell}/{w}".encode() for w in arrays]
                for w, value in arrays.items():
                    g.create_dataset(f"{name}/{cell}/{w}", data=value.astype(np.float32))
                n_in = units
            mw.attrs["layer_names"] = [n.encode() for n in names]
            f.attrs["model_config"] = json.dumps(
                {"class_name": "Sequential", "config": {"name": "bench", "layers": cfg_layers}}
            )

    paths = {}
    for kind in ("LSTM", "GRU"):
        path = os.path.join(directory, f"stacked_{kind.lower()}.h5")
        write(path, kind, [(UNITS, True), (UNITS, False)], FEATURES, STEPS)
        paths[kind.lower()] = path
    path = os.path.join(directory, "stream_lstm.h5")
    write(path, "LSTM", [(STREAM_UNITS, False)], STREAM_FEATURES, None)
    paths["stream"] = path
    return {"paths": paths, "writer": "benchmarks/bench.py with h5py (Keras not importable; Keras 2 .h5 layout)"}


# =====================================================================================
# worker processes: one per framework, driven over a pipe


class Worker:
    """A spawned process that imports one framework and times calls on request."""

    def __init__(self, kind: str, threads: int):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.kind = kind
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(kind, threads, child), daemon=True)
        self.proc.start()
        child.close()
        self.available, self.reason, self.info = self.call("hello")

    def call(self, command: str, **kwargs):
        self.conn.send((command, kwargs))
        status, payload = self.conn.recv()
        if status == "error":
            raise RuntimeError(f"{self.kind} worker, {command}: {payload}")
        return payload

    def close(self) -> None:
        try:
            self.conn.send(("quit", {}))
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.terminate()


def _worker_main(kind: str, threads: int, conn) -> None:
    handler = {"lstm_inspect": LstmInspectWorker, "keras": KerasWorker, "torch": TorchWorker}[kind](threads)
    while True:
        try:
            command, kwargs = conn.recv()
        except EOFError:
            return
        if command == "quit":
            return
        try:
            conn.send(("ok", getattr(handler, command)(**kwargs)))
        except Exception:
            conn.send(("error", traceback.format_exc(limit=6)))


class _Base:
    def __init__(self, threads: int):
        self.threads = threads
        self.variants = {}
        self.error = None
        try:
            self.setup_framework()
        except Exception as e:
            self.error = f"{e.__class__.__name__}: {e}"

    def hello(self):
        if self.error:
            return False, self.error, {}
        return True, None, self.describe()

    def time(self, variant: str) -> float:
        f = self.variants[variant]
        t0 = time.perf_counter()
        f()
        return time.perf_counter() - t0

    def output(self, variant: str):
        import numpy as np

        return np.asarray(self.variants[variant]())


class LstmInspectWorker(_Base):
    def setup_framework(self):
        import numpy  # noqa: F401

        import lstm_inspect

        self.li = lstm_inspect

    def describe(self):
        info = blas_info()
        info["lstm_inspect"] = f"{self.li.__version__} ({Path(self.li.__file__).parent})"
        return info

    def make_models(self, directory):
        return h5py_make_models(directory)

    def setup(self, path, batch, steps, features):
        model = self.li.load(path)
        x = make_input(batch, steps, features)

        def run():
            result = self.li.run_model(model, [x])
            assert len(result.traces) == 2 and result.traces[0].trace.hidden.shape[1] == steps
            return result.outputs[0]

        self.variants = {"run_model": run}
        views = self.li.recurrent_layers(model)
        return {"variants": ["run_model"], "activations": [(v.activation, v.recurrent_activation) for v in views],
                "reset_after": [v.reset_after for v in views]}

    def profile(self, paths, steps, features):
        return profile_forward(self.li, paths, steps, features, self.threads)


class KerasWorker(_Base):
    def setup_framework(self):
        import keras
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(self.threads)
        tf.config.threading.set_inter_op_parallelism_threads(self.threads)
        if keras.__version__.split(".")[0] != "3":
            raise RuntimeError(f"keras {keras.__version__} is not Keras 3")
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(f"Keras backend is {keras.backend.backend()}, not tensorflow")
        self.keras, self.tf = keras, tf

    def describe(self):
        tf = self.tf
        return {
            "keras": self.keras.__version__,
            "tensorflow": tf.__version__,
            "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "tf_devices": [d.device_type for d in tf.config.list_physical_devices()],
        }

    def make_models(self, directory):
        return keras_make_models(directory)

    def resave_seed(self, path, directory):
        """The seed model rebuilt in Keras 3 from the file's config and weights, saved as .keras."""
        import h5py
        import numpy as np

        keras = self.keras
        with h5py.File(path, "r") as f:
            raw = f.attrs["model_config"]
            config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
            weights = []
            mw = f["model_weights"]
            for name in mw.attrs["layer_names"]:
                g = mw[name.decode() if isinstance(name, bytes) else name]
                for w in g.attrs["weight_names"]:
                    weights.append(np.asarray(g[w.decode() if isinstance(w, bytes) else w]))
        layers = []
        for spec in config["config"]["layers"]:
            c = spec["config"]
            if spec["class_name"] == "InputLayer":
                layers.append(keras.Input(tuple(c["batch_input_shape"][1:])))
            elif spec["class_name"] == "LSTM":
                layers.append(keras.layers.LSTM(c["units"], activation=c["activation"], name=c["name"],
                                                recurrent_activation=c["recurrent_activation"],
                                                return_sequences=c["return_sequences"]))
            elif spec["class_name"] == "Dense":
                layers.append(keras.layers.Dense(c["units"], activation=c["activation"], name=c["name"]))
            else:
                raise RuntimeError(f"the seed model has a {spec['class_name']} layer, which this re-save does not handle")
        model = keras.Sequential(layers)
        model.set_weights(weights)
        out = os.path.join(directory, "seed_keras3.keras")
        model.save(out)
        return out

    def setup(self, path, batch, steps, features):
        keras = self.keras
        model = keras.models.load_model(path)
        xla = keras.models.load_model(path)
        xla.compile(jit_compile=True)
        x = make_input(batch, steps, features)
        self.variants = {
            "predict": lambda: model.predict(x, verbose=0),
            "predict_on_batch": lambda: model.predict_on_batch(x),
            "call": lambda: model(x, training=False).numpy(),
            "xla": lambda: xla.predict_on_batch(x),
        }
        return {"variants": list(self.variants), "jit_compile_default": bool(model.jit_compile)}


class TorchWorker(_Base):
    def setup_framework(self):
        import torch

        torch.set_num_threads(self.threads)
        import lstm_inspect  # reads the Keras file's weights for torch

        self.torch, self.li = torch, lstm_inspect

    def describe(self):
        torch = self.torch
        return {
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(),
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
        }

    def setup(self, path, batch, steps, features):
        import numpy as np

        torch = self.torch
        views = self.li.recurrent_layers(self.li.load(path))
        kind = views[0].kind
        for v in views:
            if (v.activation, v.recurrent_activation) != ("tanh", "sigmoid"):
                raise RuntimeError(f"{v.path}: torch needs tanh/sigmoid, the file has {v.activation}/{v.recurrent_activation}")
            if kind == "gru" and not v.reset_after:
                raise RuntimeError(f"{v.path}: torch's GRU is reset_after=True only")
        cls = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
        net = cls(features, views[0].units, num_layers=len(views), batch_first=True)
        u = views[0].units

        def torch_order(a):  # Keras z, r, h -> torch r, z, n
            return np.concatenate([a[..., u : 2 * u], a[..., :u], a[..., 2 * u :]], axis=-1) if kind == "gru" else a

        with torch.no_grad():
            for k, v in enumerate(views):
                w = v.canonical()
                bias = w["bias"]
                b_ih, b_hh = (bias, np.zeros_like(bias)) if kind == "lstm" else (bias[0], bias[1])
                for name, value in (("weight_ih", torch_order(w["kernel"]).T), ("weight_hh", torch_order(w["recurrent_kernel"]).T),
                                    ("bias_ih", torch_order(b_ih)), ("bias_hh", torch_order(b_hh))):
                    getattr(net, f"{name}_l{k}").copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))
        net.eval()
        xt = torch.from_numpy(make_input(batch, steps, features))

        def run():
            with torch.no_grad():
                out, _ = net(xt)
            return out[:, -1].numpy()

        self.variants = {"fused": run}
        return {"variants": ["fused"]}


# =====================================================================================
# 1. start-up


def snapshot_seed(directory: str, wait_s: float = 300) -> None:
    """Copy sample_models/seed.h5 to ``directory`` (same relative path): every start-up and
    baseline command runs there, so regenerating sample_models meanwhile disturbs nothing."""
    src = REPO / SEED_MODEL
    deadline = time.time() + wait_s
    while True:
        try:
            size = src.stat().st_size
            time.sleep(2)
            if src.stat().st_size == size and size > 0:
                break
        except FileNotFoundError:
            pass
        if time.time() > deadline:
            raise SystemExit(f"{src} is missing or keeps changing")
        log(f"waiting for {src} (being rewritten?) ...")
        time.sleep(5)
    dst = Path(directory) / SEED_MODEL
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def lstm_inspect_command() -> list:
    script = Path(sys.executable).parent / "lstm-inspect"
    if script.exists():
        return [str(script)]
    found = shutil.which("lstm-inspect")
    return [found] if found else [sys.executable, "-m", "lstm_inspect"]


def undisturbed(args, label, measure):
    """Run ``measure()``; while other processes used more than 0.1 core meanwhile and
    --wait-idle was given, wait for the machine to go idle and measure again (at most
    --retries times). Returns (result, cores used by others, attempts)."""
    attempt = 0
    while True:
        attempt += 1
        foreign = ForeignLoad().start()
        value = measure()
        load = foreign.stop()
        if load <= 0.1 or not args.wait_idle or attempt > args.retries:
            return value, load, attempt
        log(f"{label}: other processes used {load:.2f} cores meanwhile; measuring again once the machine is idle")
        wait_until_idle(args.wait_idle)


def bench_startup(args, env_ok: dict, results: dict, seed_copy=None) -> None:
    log("start-up: fresh processes ...")
    cache = tempfile.mkdtemp(prefix="lstm-inspect-bench-pycache-")
    env = dict(os.environ)
    # Byte-code caches as after a normal pip install, for every command alike, kept out of the
    # source tree (this environment may set PYTHONDONTWRITEBYTECODE).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache
    commands = {
        "lstm-inspect": lstm_inspect_command() + ["gates", SEED_MODEL],
        "numpy": [sys.executable, "-c", "import numpy"],
    }
    # The seed file was written by tf-keras 2.21. Keras 3 is tried on it first; tf_keras (the
    # Keras 2 API on the TensorFlow backend, which wrote the file) loads it when Keras 3 cannot;
    # Keras 3 loading its own re-save of the same model is shown for information.
    candidates = {
        "keras": ("Keras 3 `keras.models.load_model(seed.h5)`",
                  f"import keras; keras.models.load_model({SEED_MODEL!r})"),
        "tf_keras": ("tf_keras `load_model(seed.h5)` (Keras 2 API, TF backend)",
                     f"import tf_keras; tf_keras.models.load_model({SEED_MODEL!r})"),
    }
    if seed_copy:
        candidates["keras_resaved"] = ("Keras 3 `load_model` of its own re-save of seed (.keras), info only",
                                       f"import keras; keras.models.load_model({seed_copy!r})")
    labels = {}
    if not env_ok["keras"][0]:
        results["skipped"].append(f"start-up vs Keras load_model: {env_ok['keras'][1]}")
        candidates = {}
    for name, (label, code) in candidates.items():
        if name == "tf_keras" and "keras" in labels:
            continue
        probe = subprocess.run([sys.executable, "-c", code], cwd=args.workdir, env=env, capture_output=True, text=True)
        if probe.returncode == 0:
            commands[name] = [sys.executable, "-c", code]
            labels[name] = label
        else:
            last = [ln for ln in probe.stderr.strip().splitlines() if ln.strip()][-1:] or ["?"]
            results["skipped"].append(f"start-up with {label}: it fails on this file ({last[0][:160]})")

    def once(cmd):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=args.workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
        return elapsed

    try:
        for cmd in commands.values():  # warm-ups: byte-code caches, page cache
            for _ in range(2):
                once(cmd)
        names = list(commands)

        def measure():
            times = {name: [] for name in commands}
            for rep in range(args.startup_reps):
                order = names[rep % len(names):] + names[: rep % len(names)]
                for name in order:
                    times[name].append(once(commands[name]))
            return times

        times, load, attempts = undisturbed(args, "start-up", measure)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    results["startup"] = {"commands": {k: shlex.join(v) for k, v in commands.items()}, "times": times,
                          "foreign_cores": load, "attempts": attempts}
    li = statistics.median(times["lstm-inspect"])
    add_row(results, "start-up: `lstm-inspect gates seed.h5` vs `python -c \"import numpy\"`",
            li, statistics.median(times["numpy"]), "slower", 3.0, len(times["numpy"]))
    for name, label in labels.items():
        add_row(results, f"start-up: vs {label}", li, statistics.median(times[name]), "faster",
                None if name == "keras_resaved" else 20.0, len(times[name]))


# =====================================================================================
# 2. forward pass


def bench_forward(args, workers: dict, paths: dict, results: dict) -> None:
    li = workers["lstm_inspect"]
    others = {k: w for k, w in workers.items() if k != "lstm_inspect" and w.available}
    results["forward"] = []
    for cell in ("lstm", "gru"):
        for batch in (1, 32):
            label = f"2x{cell.upper()}({UNITS}) T={STEPS} F={FEATURES} batch {batch}"
            log(f"forward: {label} ...")
            setups = {"lstm_inspect": li.call("setup", path=paths[cell], batch=batch, steps=STEPS, features=FEATURES)}
            active = {}
            for name, w in others.items():
                try:
                    setups[name] = w.call("setup", path=paths[cell], batch=batch, steps=STEPS, features=FEATURES)
                    active[name] = w
                except RuntimeError as e:
                    results["skipped"].append(f"{label} vs {name}: {str(e).strip().splitlines()[-1]}")
            # (worker, variant) pairs; Keras's eager call is slow, so it is timed only while it could win
            variants = [("lstm_inspect", "run_model")]
            for name in active:
                for v in setups[name]["variants"]:
                    if name == "keras" and v == "call" and args.quick:
                        continue
                    variants.append((name, v))
            workers_by_name = {"lstm_inspect": li, **active}
            # correctness: every framework computes the same outputs
            ref = li.call("output", variant="run_model")
            check = {}
            for name, v in variants[1:]:
                if (name, v) == ("keras", "call"):
                    continue
                out = workers_by_name[name].call("output", variant=v)
                check[f"{name}:{v}"] = float(abs(out - ref).max())
            # warm-ups (the outputs above were the first calls)
            for name, v in variants:
                for _ in range(args.warmups if (name, v) != ("keras", "call") else 1):
                    workers_by_name[name].call("time", variant=v)
            def measure():
                times = {f"{n}:{v}": [] for n, v in variants}
                dropped = set()
                for rep in range(args.reps):
                    k = rep % len(variants)
                    for name, v in variants[k:] + variants[:k]:
                        key = f"{name}:{v}"
                        if key in dropped:
                            continue
                        times[key].append(workers_by_name[name].call("time", variant=v))
                        time.sleep(args.pause)
                    if rep == 0 and times.get("keras:call"):
                        fastest = min(times[f"keras:{v}"][0] for v in ("predict", "predict_on_batch"))
                        if times["keras:call"][0] > 3 * fastest:
                            dropped.add("keras:call")
                return times, dropped

            (times, dropped), load, attempts = undisturbed(args, label, measure)
            med = {k: statistics.median(v) for k, v in times.items() if v}
            entry = {"label": label, "cell": cell, "batch": batch, "times": times, "medians": med,
                     "foreign_cores": load, "attempts": attempts,
                     "max_abs_diff_vs_lstm_inspect": check, "dropped": sorted(dropped)}
            results["forward"].append(entry)
            li_med = med["lstm_inspect:run_model"]
            name = f"{cell.upper()} b{batch}"
            if "keras" in active:
                kv = {v: med[f"keras:{v}"] for v in ("predict", "predict_on_batch", "call") if f"keras:{v}" in med}
                best = min(kv, key=kv.get)
                goal = 2.5 if batch == 1 else 1.3
                add_row(results, f"forward {name}: vs Keras `{best}` (fastest of {', '.join(kv)})",
                        li_med, kv[best], "faster", goal, len(times[f"keras:{best}"]))
                if "keras:xla" in med:
                    add_row(results, f"forward {name}: vs Keras `compile(jit_compile=True)` (XLA), info only",
                            li_med, med["keras:xla"], "faster", None, len(times["keras:xla"]))
            if "torch" in active:
                goal = 3.0 if batch == 1 else 2.0
                add_row(results, f"forward {name}: vs torch.nn.{cell.upper()} (fused, no_grad)",
                        li_med, med["torch:fused"], "slower", goal, len(times["torch:fused"]))


# =====================================================================================
# 3. streaming memory


# A tiny launcher forks the command and reads resource.getrusage(RUSAGE_CHILDREN) after it
# exits. Linux carries the RSS of the process that forks (at fork time) into the child's
# ru_maxrss, so forking from this benchmark's own (large) process would inflate every
# number; the launcher is a bare interpreter (-I -S) of a few MB.
_LAUNCHER = """
import json, os, resource, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
_, status = os.waitpid(pid, 0)
wall = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(out, "w") as fh:
    json.dump({"maxrss_kb": usage.ru_maxrss, "wall": wall, "rc": os.waitstatus_to_exitcode(status),
               "launcher_kb": self_kb}, fh)
"""


def peak_rss(cmd, cwd, stdout_path=os.devnull):
    """Run ``cmd`` (stdout to ``stdout_path``); return (peak RSS in MB, wall seconds, return
    code, stderr tail). ru_maxrss is in KiB on Linux."""
    with open(stdout_path, "wb") as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(suffix=".json") as res:
        subprocess.run([sys.executable, "-I", "-S", "-c", _LAUNCHER, res.name] + list(cmd),
                       stdout=out, stderr=err, cwd=cwd, check=True)
        err.seek(0)
        tail = err.read().decode(errors="replace")[-400:]
        with open(res.name) as fh:
            r = json.load(fh)
    return r["maxrss_kb"] / 1024.0, r["wall"], r["rc"], tail


def bench_memory(args, paths: dict, directory: str, results: dict) -> None:
    import numpy as np

    cli = lstm_inspect_command()
    results["memory"] = []
    base = [
        ("baseline: `python -c \"import numpy\"`", [sys.executable, "-c", "import numpy"]),
        ("baseline: `lstm-inspect gates seed.h5`", cli + ["gates", SEED_MODEL]),
    ]
    for label, cmd in base:
        rss, wall, rc, _ = peak_rss(cmd, args.workdir)
        results["memory"].append({"label": label, "peak_mb": rss, "wall_s": wall, "rc": rc})
    for steps in args.memory_steps:
        log(f"streaming: LSTM({STREAM_UNITS}) over {steps:,} steps, --jsonl ...")
        x_path = os.path.join(directory, f"stream_{steps}.npy")
        np.save(x_path, np.random.default_rng(7).standard_normal((1, steps, STREAM_FEATURES), dtype=np.float32))
        cmd = cli + ["run", paths["stream"], "--input", x_path, "--jsonl"]
        foreign = ForeignLoad().start()
        rss, wall, rc, tail = peak_rss(cmd, args.workdir)
        entry = {"label": f"`lstm-inspect run --jsonl` LSTM({STREAM_UNITS}), {steps:,} steps x {STREAM_FEATURES} features",
                 "steps": steps, "peak_mb": rss, "wall_s": wall, "rc": rc,
                 "input_mb": os.path.getsize(x_path) / MB, "foreign_cores": foreign.stop()}
        if rc != 0:
            entry["error"] = tail.strip()
        results["memory"].append(entry)
        os.remove(x_path)


# =====================================================================================
# profile: where run_recurrent spends its time


def profile_forward(li, paths, steps, features, threads) -> dict:
    """cProfile of run_model, the cost of one call of cells.py's step functions, and the
    floors (matmul alone, numpy call overhead)."""
    import cProfile
    import io
    import pstats

    import numpy as np

    from lstm_inspect.kinds.activations import sigmoid

    report = {"threads": threads, "cprofile": {}, "lines": {}, "floors": {}}
    for cell in ("lstm", "gru"):
        model = li.load(paths[cell])
        for batch in (1, 32):
            x = make_input(batch, steps, features)
            li.run_model(model, [x])
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            li.run_model(model, [x])
            prof.disable()
            wall = time.perf_counter() - t0
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(8)
            lines = [ln for ln in s.getvalue().splitlines() if ln.strip()]
            start = next((k for k, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
            report["cprofile"][f"{cell} b{batch}"] = {"wall_s_under_profiler": wall, "top": lines[start:start + 9]}

    # the step functions of lstm_inspect/cells.py themselves, called on fixed buffers: what one
    # step of the equations costs, against run_model's time per step and layer
    model = li.load(paths["lstm"])
    views = li.recurrent_layers(model)
    for cell in ("lstm", "gru"):
        cell_model = li.load(paths[cell])
        cell_views = li.recurrent_layers(cell_model)
        for batch in (1, 32):
            x = make_input(batch, steps, features)
            t_run = min(_timed(lambda: li.run_model(cell_model, [x])) for _ in range(3))
            report["lines"][f"{cell} b{batch}"] = {
                "run_model_us_per_step": t_run / (steps * len(cell_views)) * 1e6,
                "step_function_us": _step_function_us(cell_views[1], batch),
            }

    # allocation cost: run_model allocates the input projection and the traces afresh on every
    # call (page faults, zeroing, huge-page compaction show up as system time)
    import resource

    report["allocation"] = {}
    for batch in (1, 32):
        x = make_input(batch, steps, features)
        rows = []
        for _ in range(5):
            r0, t0, c0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), time.process_time()
            li.run_model(model, [x])
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            rows.append({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                         "sys_s": r1.ru_stime - r0.ru_stime, "minor_faults": r1.ru_minflt - r0.ru_minflt})
        report["allocation"][f"b{batch}"] = rows

    # floors
    rng = np.random.default_rng(0)
    U = views[1].canonical()["recurrent_kernel"].astype(np.float32)
    for batch in (1, 32):
        h = rng.standard_normal((batch, UNITS), dtype=np.float32)
        out = np.empty((batch, 4 * UNITS), np.float32)
        a = rng.standard_normal((batch, UNITS), dtype=np.float32)
        b = a.copy()
        o = np.empty_like(a)
        floors = {}
        for n_threads in sorted({1, threads}):
            set_blas_threads(n_threads)
            floors[f"h@U matmul, {n_threads} BLAS thread(s)"] = _per_call(lambda: h @ U)
            floors[f"np.matmul(h, U, out=buf), {n_threads} BLAS thread(s)"] = _per_call(lambda: np.matmul(h, U, out=out))
        set_blas_threads(threads)
        floors["a + b  (B x 256)"] = _per_call(lambda: a + b)
        floors["np.add(a, b, out=o)"] = _per_call(lambda: np.add(a, b, out=o))
        floors["np.tanh(a)  (B x 256)"] = _per_call(lambda: np.tanh(a))
        floors["np.tanh(z) on B x 1024"] = _per_call(lambda: np.tanh(out))
        floors["sigmoid(z, out=buf) as activations.py, B x 1024"] = _per_call(lambda: sigmoid(out, out=out))
        floors["np.exp(z) on B x 1024"] = _per_call(lambda: np.exp(out))
        floors["slice z[:, 0:256]"] = _per_call(lambda: out[:, 0:UNITS])
        report["floors"][f"b{batch}"] = floors

    return report


def _timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def _per_call(f, seconds: float = 0.2) -> float:
    """Microseconds per call."""
    n = 10
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        dt = time.perf_counter() - t0
        if dt > seconds:
            return dt / n * 1e6
        n *= 4


def _step_function_us(view, batch: int) -> float:
    """Microseconds per call of the step function cells.run_recurrent uses for ``view``,
    on the buffers it would use (one step, no loop around it)."""
    import numpy as np

    from lstm_inspect.kinds import cells
    from lstm_inspect.kinds.activations import activation

    u = view.units
    step, _, U, _, recurrent_bias = cells.prepare(view)
    width = U.shape[1]
    args = cells._CellArgs(act=activation(view.activation), rec_act=activation(view.recurrent_activation),
                           U=U, recurrent_bias=recurrent_bias, units=u, reset_after=view.reset_after,
                           scratch=np.empty((batch, width), np.float32))
    rng = np.random.default_rng(0)
    x_t = rng.standard_normal((batch, width), dtype=np.float32)
    h_tm1 = rng.standard_normal((batch, u), dtype=np.float32) * 0.1
    c_tm1 = rng.standard_normal((batch, u), dtype=np.float32) * 0.1
    gates_t = np.empty((batch, width), np.float32)
    c_t, h_t = np.empty((batch, u), np.float32), np.empty((batch, u), np.float32)
    with np.errstate(over="ignore"):
        return _per_call(lambda: step(args, x_t, h_tm1, c_tm1, gates_t, c_t, h_t))


def print_profile(report: dict) -> None:
    print("\n## Profile of the lstm-inspect forward pass")
    print(f"\nBLAS threads {report['threads']}; other processes used {report.get('foreign_cores', -1):.2f} cores meanwhile.")
    for key, value in report["cprofile"].items():
        print(f"\ncProfile, {key} (wall under the profiler {value['wall_s_under_profiler']:.3f} s), top by tottime:")
        print("```")
        for ln in value["top"]:
            print(ln)
        print("```")
    if report["lines"]:
        print("\nTime per step and layer: `run_model` (all of it) against the step function of "
              "`lstm_inspect/cells.py` alone, called on fixed buffers (the rest is the input projection, "
              "the loop, and faulting in the trace buffers):")
        print("\n| case | run_model µs per step | step function µs | share of the step function |")
        print("|---|---:|---:|---:|")
        for key, value in report["lines"].items():
            r, f = value["run_model_us_per_step"], value["step_function_us"]
            print(f"| {key} | {r:.1f} | {f:.1f} | {f / r:.0%} |")
    for key, value in report["floors"].items():
        print(f"\nFloors, {key}:")
        print("\n| operation | µs per call |")
        print("|---|---:|")
        for k, us in value.items():
            print(f"| {k} | {us:.2f} |")
    for key, rows in report.get("allocation", {}).items():
        print(f"\nrun_model 2xLSTM {key}, five calls: wall / CPU / system seconds, minor page faults: "
              + "; ".join(f"{r['wall_s']:.2f} / {r['cpu_s']:.2f} / {r['sys_s']:.2f}, {r['minor_faults']}" for r in rows))


# =====================================================================================
# results


def add_row(results, case, li_s, other_s, sense, goal, n):
    """sense "faster": ratio = other / lstm-inspect, goal: ratio >= goal.
    sense "slower": ratio = lstm-inspect / other, goal: ratio <= goal."""
    if sense == "faster":
        ratio = other_s / li_s
        goal_text = f"≥ {goal:g}× faster" if goal else "—"
        met = None if goal is None else ratio >= goal
        ratio_text = f"{ratio:.2f}× faster" if ratio >= 1 else f"{1 / ratio:.2f}× slower"
    else:
        ratio = li_s / other_s
        goal_text = f"≤ {goal:g}× the time" if goal else "—"
        met = None if goal is None else ratio <= goal
        ratio_text = f"{ratio:.2f}× the time"
    results["rows"].append({"case": case, "lstm_inspect_s": li_s, "other_s": other_s, "sense": sense,
                            "ratio": ratio, "ratio_text": ratio_text, "goal": goal, "goal_text": goal_text,
                            "met": met, "n": n})


def fmt_s(s: float) -> str:
    return f"{s * 1e3:.0f} ms" if s < 10 else f"{s:.1f} s"


def print_report(results: dict) -> None:
    m = results["machine"]
    args = argparse.Namespace(**results["args"])
    print("\n## Machine")
    print(f"\n- CPU: {m['cpu']}, {m['cores']} cores ({m.get('cores_usable')} usable)"
          f"{', virtual machine' if m.get('hypervisor') else ''}, {m.get('ram_gb', '?')} GB RAM; {m['os']}")
    print(f"- Python {m['python']} ({m['python_exe']})")
    for name, w in results["workers"].items():
        if w["available"]:
            print(f"- {name}: " + ", ".join(f"{k} {v}" for k, v in w["info"].items()))
        else:
            print(f"- {name}: not available ({w['reason']})")
    print(f"- threads: {args.threads} everywhere: " + ", ".join(f"{k}={v}" for k, v in m["threads_env"].items()))
    print(f"- machine busy before the run: {results['busy_before']:.0%}, after: {results.get('busy_after', -1):.0%}; "
          f"load average at the end {results.get('loadavg_end')}")
    if results.get("busy_before", 0) > 0.15:
        print("- WARNING: other processes were using the CPU when the run started; timings are unreliable.")
    print(f"- models written by {results.get('models_writer')}; start-up and memory commands run in a temporary "
          f"directory holding a copy of {SEED_MODEL}")
    print(f"- repetitions: forward {args.reps} (after {args.warmups} warm-ups), start-up {args.startup_reps} "
          f"(after 2 warm-ups); medians; calls alternate within each repetition")

    print("\n## Results\n")
    print("| case | lstm-inspect median | other median | ratio | goal | met? |")
    print("|---|---:|---:|---:|---|---|")
    for r in results["rows"]:
        met = "—" if r["met"] is None else ("yes" if r["met"] else "**no**")
        print(f"| {r['case']} | {fmt_s(r['lstm_inspect_s'])} | {fmt_s(r['other_s'])} | {r['ratio_text']} | {r['goal_text']} | {met} |")

    if results.get("memory"):
        print("\n| peak memory (RSS high-water mark of the child) | peak RSS | wall | goal | met? |")
        print("|---|---:|---:|---|---|")
        stream = [e for e in results["memory"] if "steps" in e]
        for e in results["memory"]:
            goal, met = "", ""
            if "steps" in e:
                if e["steps"] >= 100_000:
                    goal = "< 200 MB"
                    met = "yes" if e["rc"] == 0 and e["peak_mb"] < 200 else "**no**"
                if e.get("error"):
                    met = f"failed: {e['error'][-120:]}"
            print(f"| {e['label']} | {e['peak_mb']:.0f} MB | {e['wall_s']:.1f} s | {goal} | {met} |")
        if len(stream) >= 2:
            a, b = stream[0], stream[-1]
            growth = b["peak_mb"] - a["peak_mb"]
            per_step = growth / max(1, b["steps"] - a["steps"]) * 1024
            ok = growth < max(20.0, 0.1 * a["peak_mb"])
            print(f"| growth {a['steps']:,} → {b['steps']:,} steps | {growth:+.0f} MB ({per_step:.2f} KB/step) | | "
                  f"independent of length (< +10% or +20 MB) | {'yes' if ok else '**no**'} |")

    loads = [("start-up", results["startup"]["foreign_cores"])] if "startup" in results else []
    loads += [(f["label"], f["foreign_cores"]) for f in results.get("forward", [])]
    redone = [f["label"] for f in results.get("forward", []) if f["attempts"] > 1]
    if results.get("startup", {}).get("attempts", 1) > 1:
        redone.insert(0, "start-up")
    loads += [(e["label"], e["foreign_cores"]) for e in results.get("memory", []) if "foreign_cores" in e]
    if loads:
        print("\nCPU used by other processes during each measurement (cores): "
              + ", ".join(f"{label}: {v:.2f}" for label, v in loads))
        if redone:
            print("Measured again because other processes used the CPU: " + ", ".join(redone))
        if any(v > 0.1 for _, v in loads):
            print("WARNING: other processes used more than 0.1 core during some measurements; those timings are unreliable.")
    for f in results.get("forward", []):
        print(f"\nForward {f['label']}: median (min–max) " + ", ".join(
            f"{k} {fmt_s(v)} ({fmt_s(min(f['times'][k]))}–{fmt_s(max(f['times'][k]))})" for k, v in f["medians"].items())
              + (f"; dropped after repetition 1 (too slow to win): {', '.join(f['dropped'])}" if f["dropped"] else ""))
        print("  max |output - lstm-inspect output|: "
              + ", ".join(f"{k} {v:.2e}" for k, v in f["max_abs_diff_vs_lstm_inspect"].items()))
    if "startup" in results:
        st = results["startup"]
        print("\nStart-up medians: " + ", ".join(f"{k} {fmt_s(statistics.median(v))}" for k, v in st["times"].items()))
        for k, cmd in st["commands"].items():
            print(f"  {k}: {cmd}")
    for s in results["skipped"]:
        print(f"\nSKIPPED {s}")


# =====================================================================================


def checkpoint(args, results) -> None:
    """Write what is measured so far to --json-out (a long run may be interrupted)."""
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(results, fh, indent=1, default=str)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short run: 2 repetitions, shorter memory runs, no eager Keras call")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for every library (default: all cores)")
    parser.add_argument("--reps", type=int, help="forward-pass repetitions (default 7, quick 2)")
    parser.add_argument("--only", action="append", choices=["startup", "forward", "memory", "profile"],
                        help="run only these parts (repeatable)")
    parser.add_argument("--profile", action="store_true", help="also profile lstm-inspect's forward pass")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                        help="wait up to this long for other processes to stop using the CPU")
    parser.add_argument("--retries", type=int, default=2,
                        help="with --wait-idle: measure again (this many times at most) when other processes used the CPU")
    parser.add_argument("--report", metavar="FILE", help="print the tables from a --json-out file and exit")
    parser.add_argument("--json-out", metavar="FILE", help="also write every raw timing to this JSON file")
    args = parser.parse_args(argv)
    args.reps = args.reps or (2 if args.quick else 7)
    args.warmups = 1 if args.quick else 2
    args.startup_reps = 3 if args.quick else 7
    args.pause = 0.3  # lets the previous library's spinning worker threads go to sleep
    args.memory_steps = [1_000, 10_000] if args.quick else [10_000, 100_000]
    parts = set(args.only or ["startup", "forward", "memory"])
    if args.profile:
        parts.add("profile")

    if args.report:
        with open(args.report) as fh:
            results = json.load(fh)
        print_report(results)
        if "profile" in results:
            print_profile(results["profile"])
        return 0

    configure_env(args.threads)
    results = {"machine": machine_info(), "rows": [], "skipped": [], "workers": {},
               "args": {k: getattr(args, k) for k in ("threads", "reps", "warmups", "startup_reps", "quick")}}
    results["busy_before"] = wait_until_idle(args.wait_idle) if args.wait_idle else cpu_busy_fraction()

    workers = {}
    directory = tempfile.mkdtemp(prefix="lstm-inspect-bench-")
    try:
        for kind in ("lstm_inspect", "keras", "torch"):
            if kind == "keras" and not (parts & {"forward", "startup", "memory"}):
                continue  # (Keras also writes the model files)
            if kind == "torch" and "forward" not in parts:
                continue
            log(f"starting the {kind} worker ...")
            w = Worker(kind, args.threads)
            workers[kind] = w
            results["workers"][kind] = {"available": w.available, "reason": w.reason, "info": w.info}
            if not w.available:
                results["skipped"].append(f"{kind} comparisons: {w.reason}")
        if not workers["lstm_inspect"].available:
            raise SystemExit(f"lstm_inspect is not importable: {workers['lstm_inspect'].reason}")
        env_ok = {k: (results["workers"].get(k, {}).get("available", False), results["workers"].get(k, {}).get("reason") or "not started")
                  for k in ("keras", "torch")}
        snapshot_seed(directory)
        args.workdir = directory
        maker = workers.get("keras") if env_ok["keras"][0] else workers["lstm_inspect"]
        made = maker.call("make_models", directory=directory)
        paths = made["paths"]
        results["models_writer"] = made["writer"]

        if "startup" in parts:
            seed_copy = None
            if env_ok["keras"][0]:
                try:
                    seed_copy = workers["keras"].call("resave_seed", path=os.path.join(directory, SEED_MODEL), directory=directory)
                except RuntimeError as e:
                    results["skipped"].append(f"Keras 3 re-save of the seed model: {str(e).strip().splitlines()[-1]}")
            bench_startup(args, env_ok, results, seed_copy)
        checkpoint(args, results)
        if "forward" in parts:
            bench_forward(args, workers, paths, results)
        for name in ("keras", "torch"):  # free their memory and threads before the rest
            if name in workers:
                workers.pop(name).close()
        checkpoint(args, results)
        if "memory" in parts:
            bench_memory(args, paths, directory, results)
        checkpoint(args, results)
        if "profile" in parts:
            log("profile ...")
            foreign = ForeignLoad().start()  # diagnostic: measured once, the load is reported
            results["profile"] = workers["lstm_inspect"].call("profile", paths=paths, steps=STEPS, features=FEATURES)
            results["profile"]["foreign_cores"] = foreign.stop()
    finally:
        for w in workers.values():
            w.close()
        shutil.rmtree(directory, ignore_errors=True)
    results["busy_after"] = cpu_busy_fraction(0.5)
    results["loadavg_end"] = tuple(round(v, 2) for v in os.getloadavg())

    print_report(results)
    if "profile" in results:
        print_profile(results["profile"])
    checkpoint(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
