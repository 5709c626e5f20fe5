"""How fast `run` writes what it computed: JSON, JSONL and tables against the forward pass.

Every result is a ratio between two things measured in this one run on this machine (the
host is shared; absolute times drift, ratios less), as in ``bench.py``:

- ``run --jsonl`` and ``run --json`` on 2×LSTM(256) × 1,000 steps against ``run --npz`` (the
  forward pass, with its traces written to a file and nothing shown), batch 1 and 32, each a
  fresh process (``lstm-inspect`` as users call it); goal ≤ 2×;
- peak memory of ``run --json`` at batch 32; goal < 500 MB;
- ``run`` at batch 32 with the default view (sample 0, units 0:8, tables to a file) against a
  plain numpy loop of the same two layers that keeps no traces, in one process; goal ≤ 1.3×;
- ``run --jsonl`` over 100,000 steps of an LSTM(128) against its streamed forward pass
  (``run_chunks``), in one process; goal ≤ 3×;
- the trace tables alone: rendering the default view of 1,000 steps.

``--before DIR`` also times the CLI rows and the table rendering with another checkout of
lstm-inspect (for instance ``git archive main | tar -x -C DIR``), once each. Usage::

    python benchmarks/output.py [--reps 3] [--before DIR [--before-batches 1]] [--skip-before-json32] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from bench import FEATURES, STEPS, STREAM_FEATURES, h5py_make_models, peak_rss  # noqa: E402

STREAM_STEPS = 100_000


def cli(tree: Path, *args) -> list:
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); from lstm_inspect.cli import main; sys.argv[0] = 'lstm-inspect'; main()"
    return [sys.executable, "-c", code, *args]


def median_of(reps, measure):
    values = [measure() for _ in range(reps)]
    return statistics.median(values), min(values), max(values)


def timed_cli(tree, args, workdir, out=os.devnull):
    rss, wall, rc, tail = peak_rss(cli(tree, *args), workdir, out)
    if rc != 0:
        raise SystemExit(f"{' '.join(args)} failed: {tail}")
    return wall, rss


def numpy_loop(model, x):
    """The two LSTM layers as a plain numpy loop that keeps nothing but the states."""
    import numpy as np

    from lstm_inspect import recurrent_layers

    h_seq = x
    for view in recurrent_layers(model):
        w = view.canonical()
        W, U, b = (np.asarray(w[k], np.float32) for k in ("kernel", "recurrent_kernel", "bias"))
        u = view.units
        batch, steps = h_seq.shape[0], h_seq.shape[1]
        h = np.zeros((batch, u), np.float32)
        c = np.zeros((batch, u), np.float32)
        out = np.empty((batch, steps, u), np.float32) if view.return_sequences else None
        xw = h_seq @ W + b
        for t in range(steps):
            z = xw[:, t] + h @ U
            i = 1 / (1 + np.exp(-z[:, :u]))
            f = 1 / (1 + np.exp(-z[:, u : 2 * u]))
            g = np.tanh(z[:, 2 * u : 3 * u])
            o = 1 / (1 + np.exp(-z[:, 3 * u :]))
            c = f * c + i * g
            h = o * np.tanh(c)
            if out is not None:
                out[:, t] = h
        h_seq = out if out is not None else h
    return h_seq


_RENDER = """
import io, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import lstm_inspect
from lstm_inspect.reports import run as pipeline
from lstm_inspect.reports.render import run_renderables
from lstm_inspect.reports.selection import DEFAULT_UNITS, Selection
from lstm_inspect.reports.terminal import Terminal
model = lstm_inspect.load(sys.argv[2])
x = np.load(sys.argv[3])[:1]
report = pipeline.run_report(model, x, Selection(samples=[0]), max_units=DEFAULT_UNITS)
times = []
for _ in range(int(sys.argv[4])):
    term = Terminal(color=False)
    term.out.file = io.StringIO()
    t0 = time.perf_counter()
    term.display(run_renderables(report))
    times.append(time.perf_counter() - t0)
print(sorted(times)[len(times) // 2])
"""


def render_time(tree, model, x_path, reps) -> float:
    """Rendering the default view of 1,000 steps (sample 0, units 0:8, two layers) to text."""
    done = subprocess.run([sys.executable, "-c", _RENDER, str(tree), model, x_path, str(reps)],
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def in_process(paths, x32_path, reps):
    import numpy as np

    import lstm_inspect
    from lstm_inspect.reports import run as pipeline
    from lstm_inspect.reports.render import run_renderables
    from lstm_inspect.reports.selection import DEFAULT_UNITS, Selection
    from lstm_inspect.reports.serialize import record_chunks
    from lstm_inspect.reports.terminal import Terminal

    model = lstm_inspect.load(paths["lstm"])
    x = np.load(x32_path)
    sink = open(os.devnull, "w")  # noqa: SIM115

    def default_view():
        selection = Selection(samples=[0])
        report = pipeline.run_report(model, x, selection, max_units=DEFAULT_UNITS,
                                     keep=pipeline.selection_keep(selection))
        term = Terminal(color=False)
        term.out.file = sink
        term.display(run_renderables(report))

    def render_only(report):
        term = Terminal(color=False)
        term.out.file = io.StringIO()
        t0 = time.perf_counter()
        term.display(run_renderables(report))
        return time.perf_counter() - t0

    from threadpoolctl import threadpool_limits

    def loop_one_blas_thread():
        with threadpool_limits(limits=1, user_api="blas"):
            numpy_loop(model, x)

    out = {}
    loop_times, loop1_times, view_times = [], [], []
    for _ in range(reps):  # alternate
        t0 = time.perf_counter()
        numpy_loop(model, x)
        loop_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        loop_one_blas_thread()
        loop1_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        default_view()
        view_times.append(time.perf_counter() - t0)
    # the plain loop's better time: BLAS's own threads, or one BLAS thread (on a busy host,
    # OpenBLAS threads on (32, 256) products can spin far longer than they compute)
    out["numpy_loop_b32_default_blas_s"] = statistics.median(loop_times)
    out["numpy_loop_b32_one_blas_thread_s"] = statistics.median(loop1_times)
    out["numpy_loop_b32_s"] = min(out["numpy_loop_b32_default_blas_s"], out["numpy_loop_b32_one_blas_thread_s"])
    out["run_default_view_b32_s"] = statistics.median(view_times)
    one = pipeline.run_report(model, x[:1], Selection(samples=[0]), max_units=DEFAULT_UNITS)
    out["render_default_view_1000_steps_s"] = statistics.median(render_only(one) for _ in range(reps))

    stream_model = lstm_inspect.load(paths["stream"])
    xs = np.random.default_rng(7).standard_normal((1, STREAM_STEPS, STREAM_FEATURES), dtype=np.float32)
    fwd, jsonl = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _start, _chunk in lstm_inspect.run_chunks(stream_model, [xs]):
            pass
        fwd.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for report in pipeline.run_report_chunks(stream_model, xs):
            for chunk in record_chunks(report.selected):
                sink.write(chunk.decode())
        jsonl.append(time.perf_counter() - t0)
    out["stream_forward_100k_s"] = statistics.median(fwd)
    out["stream_jsonl_100k_s"] = statistics.median(jsonl)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--before", type=Path, help="another lstm-inspect checkout to time the CLI rows with")
    parser.add_argument("--skip-before-json32", action="store_true",
                        help="do not run the other checkout's --json at batch 32 (it may need GBs)")
    parser.add_argument("--before-batches", type=int, nargs="+", default=[1, 32],
                        help="the batch sizes to time the other checkout's CLI rows at (default: 1 32)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    import numpy as np

    results = {"reps": args.reps, "cli": {}, "before": {}}
    with tempfile.TemporaryDirectory() as tmp:
        paths = h5py_make_models(tmp)["paths"]
        inputs = {}
        for batch in (1, 32):
            inputs[batch] = os.path.join(tmp, f"x{batch}.npy")
            np.save(inputs[batch], np.random.default_rng(1234).standard_normal((batch, STEPS, FEATURES), dtype=np.float32))
        npz = os.path.join(tmp, "out.npz")
        trees = [("after", REPO)] + ([("before", args.before)] if args.before else [])
        for batch in (1, 32):
            base = ["run", paths["lstm"], "--input", inputs[batch]]
            variants = {"npz": ["--npz", npz], "jsonl": ["--jsonl"], "json": ["--json"], "table": []}
            for name, extra in variants.items():
                for label, tree in trees:
                    if label == "before" and (batch not in args.before_batches or (
                            name == "json" and batch == 32 and args.skip_before_json32)):
                        continue
                    walls, peaks = [], []
                    for _ in range(args.reps if label == "after" else 1):
                        wall, rss = timed_cli(tree, base + extra, tmp)
                        walls.append(wall)
                        peaks.append(rss)
                    key = f"{name}_b{batch}"
                    results["cli" if label == "after" else "before"][key] = {
                        "wall_s": statistics.median(walls), "peak_mb": max(peaks)}
                    print(f"{label:6} {key:10} {statistics.median(walls):7.2f} s  {max(peaks):7.0f} MB", flush=True)
        results["render_tables_1000_steps_s"] = {label: render_time(tree, paths["lstm"], inputs[1], args.reps)
                                                 for label, tree in trees}
        print("render", results["render_tables_1000_steps_s"], flush=True)
        results["in_process"] = in_process(paths, inputs[32], args.reps)
    c, p = results["cli"], results["in_process"]
    ratios = {
        "jsonl/npz b1": c["jsonl_b1"]["wall_s"] / c["npz_b1"]["wall_s"],
        "json/npz b1": c["json_b1"]["wall_s"] / c["npz_b1"]["wall_s"],
        "jsonl/npz b32": c["jsonl_b32"]["wall_s"] / c["npz_b32"]["wall_s"],
        "json/npz b32": c["json_b32"]["wall_s"] / c["npz_b32"]["wall_s"],
        "json b32 peak MB": c["json_b32"]["peak_mb"],
        "default view / numpy loop b32": p["run_default_view_b32_s"] / p["numpy_loop_b32_s"],
        "jsonl / streamed forward 100k": p["stream_jsonl_100k_s"] / p["stream_forward_100k_s"],
        "render default view 1000 steps s": p["render_default_view_1000_steps_s"],
    }
    if "before" in results["render_tables_1000_steps_s"]:
        r = results["render_tables_1000_steps_s"]
        ratios["table rendering, before / after"] = r["before"] / r["after"]
    results["ratios"] = ratios
    print(json.dumps(p, indent=1))
    for k, v in ratios.items():
        print(f"{k:40} {v:8.2f}")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
