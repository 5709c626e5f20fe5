"""Recurrent layers run forward in numpy, keeping every gate at every step.

The equations follow Keras (docs/formats.md section 4): one matrix product gives the
input projections of many timesteps at once, then each step adds the recurrent product. Masked
steps carry state and output forward, as Keras's ``rnn`` loop does.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..gates import gate_columns, gate_order, n_blocks
from ..limits import current_budget
from .activations import activation, sigmoid
from .half import computes_in_float16, half_activation, to_half
from .half import prepare as half_prepare
from .recurrent import RecurrentLayer


@dataclass
class Trace:
    """What a recurrent layer did: arrays of shape (batch, steps, units) in processing order."""

    steps: np.ndarray  #: input time index handled at each step
    gates: Dict[str, np.ndarray] = field(default_factory=dict)
    cell: Optional[np.ndarray] = None
    hidden: Optional[np.ndarray] = None
    output: Optional[np.ndarray] = None  #: what the layer returns (sequence or last step)
    states: Dict[str, np.ndarray] = field(default_factory=dict)  #: final h (and c)
    initial_states: Dict[str, np.ndarray] = field(default_factory=dict)  #: h (and c) before the first step
    last_output: Optional[np.ndarray] = None  #: the output of the last step (differs from h when masked)
    #: the batch rows ``gates``, ``cell`` and ``hidden`` hold (``keep_rows``); None: every row
    rows: Optional[List[int]] = None


#: Input projections are computed up to this many steps at a time, into one reused
#: buffer of at most PROJECTION_BYTES.
PROJECTION_CHUNK = 128
PROJECTION_BYTES = 16 << 20


def run_recurrent(
    view: RecurrentLayer,
    x: np.ndarray,
    mask: Optional[np.ndarray] = None,
    hard_sigmoid: str = "keras2",
    initial_state: Optional[Sequence[np.ndarray]] = None,
    zero_output_for_mask: bool = False,
    progress: Optional[Callable[[str, int, int], None]] = None,
    initial_output: Optional[np.ndarray] = None,
    keep_rows: Optional[Sequence[int]] = None,
) -> Trace:
    """Run one recurrent layer over ``x`` of shape (batch, time, features).

    ``initial_state`` is ``[h]`` or ``[h, c]`` (zeros when None). With
    ``zero_output_for_mask`` masked steps output zeros instead of the previous output;
    ``initial_output`` is that previous output before the first step (zeros when None;
    a run continued from an earlier chunk passes the earlier chunk's last output).
    ``progress(path, steps_done, steps_total)`` is called now and then on long runs.

    Every step writes into preallocated time-major buffers (step, batch, units); the
    trace's arrays are (batch, steps, units) views of them. ``keep_rows`` (batch rows,
    ``[]`` for none) keeps the traces of those rows only: the steps then work in two
    reused buffers and copy the kept rows out (``Trace.rows`` says which they are).
    """
    if view.kind == "conv_lstm":
        from ..errors import UnsupportedError

        raise UnsupportedError(f"layer '{view.path}': ConvLSTM is not run yet")
    x = np.asarray(x, dtype=np.float32)
    batch, time = x.shape[0], x.shape[1]
    half = computes_in_float16(view.config)  # every operation rounded to float16 (kinds/half.py)
    if half:
        x = to_half(x)
        step, W, U, input_bias, recurrent_bias, step_bias = half_prepare(view, _weights(view))
    else:
        step, W, U, input_bias, recurrent_bias = prepare(view)
        step_bias = None
    names = gate_order(view.kind)
    u = view.units
    width = n_blocks(view.kind) * u

    # Time-major views in processing order: no copies (reversed for go_backwards).
    x_steps = x.transpose(1, 0, 2)
    if view.go_backwards:
        x_steps = x_steps[::-1]
    order = np.arange(time)[::-1] if view.go_backwards else np.arange(time)
    mask_steps = None
    if mask is not None:
        mask_steps = np.asarray(mask, dtype=bool).T[order][:, :, None]  # (steps, batch, 1)

    kept = None if keep_rows is None else sorted({int(r) for r in keep_rows})
    traced = batch if kept is None else len(kept)
    per_row = (width if names else 0) + (u if view.kind == "lstm" else 0) + (0 if view.return_sequences else u)
    current_budget().check(4 * time * (traced * per_row + (batch * u if view.return_sequences else 0)),
                           f"the traces of layer '{view.path}'")
    gates = np.empty((time, traced, width), np.float32) if names else None
    hidden = np.empty((time, batch if view.return_sequences else traced, u), np.float32)
    cell = np.empty((time, traced, u), np.float32) if view.kind == "lstm" else None
    h_tm1 = np.zeros((batch, u), np.float32)
    c_tm1 = np.zeros((batch, u), np.float32)
    if initial_state is not None:
        h_tm1 = np.broadcast_to(np.asarray(initial_state[0], np.float32), (batch, u)).copy()
        if view.kind == "lstm" and len(initial_state) > 1:
            c_tm1 = np.broadcast_to(np.asarray(initial_state[1], np.float32), (batch, u)).copy()
    out_tm1 = np.zeros((batch, u), np.float32)
    if initial_output is not None:
        out_tm1 = np.broadcast_to(np.asarray(initial_output, np.float32), (batch, u)).copy()
    if half:
        for state in (h_tm1, c_tm1, out_tm1):
            to_half(state, out=state)
        act = half_activation(view.activation)
        rec_act = half_activation(view.recurrent_activation) if names else None
    else:
        act = activation(view.activation, hard_sigmoid)
        rec_act = activation(view.recurrent_activation, hard_sigmoid) if names else None
    initial = {"h": h_tm1, "c": c_tm1} if view.kind == "lstm" else {"h": h_tm1}
    errors = dict(np.geterr(), over="ignore")  # exp(-x) overflowing to inf is sigmoid's 0

    def run_rows(rows: slice, report) -> None:
        """The step loop for one block of batch rows (rows never interact)."""
        n = rows.stop - rows.start
        args = _CellArgs(act=act, rec_act=rec_act, U=U, recurrent_bias=recurrent_bias, units=u,
                         reset_after=view.reset_after, scratch=np.empty((n, width), np.float32), step_bias=step_bias)
        chunk_steps = max(1, min(PROJECTION_CHUNK, PROJECTION_BYTES // (4 * n * width or 1)))
        x_proj = np.empty((min(chunk_steps, time), n, width), np.float32)
        h_tm1_, c_tm1_, out_tm1_ = h_tm1[rows], c_tm1[rows], out_tm1[rows]
        # this block's rows of the trace buffers and of the inputs, (steps, rows, ...)
        x_r = x_steps[:, rows]
        copy_out = None
        if kept is None:
            gates_r = gates[:, rows] if names else None
            cell_r = cell[:, rows] if cell is not None else None
            hidden_r = hidden[:, rows]
        else:  # two reused step buffers (s % 2); the kept rows are copied out after each step
            gates_r = np.empty((2, n, width), np.float32) if names else None
            cell_r = np.empty((2, n, u), np.float32) if cell is not None else None
            hidden_r = hidden[:, rows] if view.return_sequences else np.empty((2, n, u), np.float32)
            local = [r - rows.start for r in kept if rows.start <= r < rows.stop]
            at = [kept.index(r + rows.start) for r in local]
            copy_out = (local, at) if local else None
        mask_r = None if mask_steps is None else mask_steps[:, rows]
        every = kept is None  # every row traced: step s writes slot s of the buffers
        hidden_every = every or view.return_sequences  # the hidden buffer holds every step
        with np.errstate(**errors):
            for s0 in range(0, time, chunk_steps):
                s1 = min(s0 + chunk_steps, time)
                chunk = np.ascontiguousarray(x_r[s0:s1]).reshape(-1, x.shape[2])
                x_chunk = x_proj[: s1 - s0]
                np.matmul(chunk, W, out=x_chunk.reshape(-1, width))  # all steps' x_t @ W at once
                if half:
                    to_half(x_chunk, out=x_chunk)
                if input_bias is not None:
                    x_chunk += input_bias
                    if half:
                        to_half(x_chunk, out=x_chunk)
                for s in range(s0, s1):
                    b = s if every else s & 1  # the step's buffer slot
                    c_t = cell_r[b] if cell_r is not None else None
                    h_t = hidden_r[s if hidden_every else b]
                    c_t = step(args, x_chunk[s - s0], h_tm1_, c_tm1_, gates_r[b] if names else None, c_t, h_t)
                    h_state = h_t
                    if mask_r is not None:
                        # Masked rows keep the states and repeat the previous output (or zeros).
                        m = mask_r[s]
                        h_state = np.where(m, h_t, h_tm1_)
                        if c_t is not None:
                            np.copyto(c_t, c_tm1_, where=~m)
                        np.copyto(h_t, 0.0 if zero_output_for_mask else out_tm1_, where=~m)
                    h_tm1_, out_tm1_ = h_state, h_t
                    if c_t is not None:
                        c_tm1_ = c_t
                    if copy_out is not None:
                        local, at = copy_out
                        if names:
                            gates[s, at] = gates_r[b, local]
                        if c_t is not None:
                            cell[s, at] = c_t[local]
                        if not view.return_sequences:
                            hidden[s, at] = h_t[local]
                    if report is not None and (s % 256 == 255 or s == time - 1):
                        report(view.path, s + 1, time)
        h_tm1[rows], c_tm1[rows], out_tm1[rows] = h_tm1_, c_tm1_, out_tm1_

    initial = {k: v.copy() for k, v in initial.items()}
    parts = row_blocks(batch)
    if len(parts) == 1:
        run_rows(parts[0], progress)
    else:
        # Each block of rows in its own thread, BLAS single-threaded meanwhile: numpy releases
        # the GIL in its matrix products and ufuncs, so the blocks use every core.
        from concurrent.futures import ThreadPoolExecutor

        with _blas_threads(1), ThreadPoolExecutor(len(parts) - 1) as pool:
            others = [pool.submit(run_rows, rows, None) for rows in parts[1:]]
            run_rows(parts[0], progress)
            for f in others:
                f.result()

    states = {"h": h_tm1.copy()} if view.kind != "lstm" else {"h": h_tm1.copy(), "c": c_tm1.copy()}
    by_gate = {}
    if names:
        for g, start, stop in gate_columns(names, u):
            by_gate[g] = gates[:, :, start:stop].transpose(1, 0, 2)
    hidden_bt = hidden.transpose(1, 0, 2)
    if kept is None:
        output = hidden_bt if view.return_sequences else hidden_bt[:, -1]
    else:
        output = hidden_bt if view.return_sequences else out_tm1.copy()
        if view.return_sequences:
            hidden_bt = hidden_bt[kept]
    return Trace(steps=order, gates=by_gate, cell=None if cell is None else cell.transpose(1, 0, 2),
                 hidden=hidden_bt, output=output, states=states, initial_states=initial,
                 last_output=out_tm1.copy(), rows=kept)


def _weights(view: RecurrentLayer):
    return {k: (None if v is None else np.asarray(v, dtype=np.float32)) for k, v in view.canonical().items()}


def prepare(view: RecurrentLayer):
    """``(step function, kernel, recurrent_kernel, input bias, recurrent bias)`` for a layer,
    float32, in the form its step function takes them."""
    w = _weights(view)
    W, U, bias = w["kernel"], w["recurrent_kernel"], w["bias"]
    step = _STEPS[view.kind]
    if view.kind == "lstm" and view.activation == "tanh" and view.recurrent_activation == "sigmoid":
        # The usual LSTM takes one sigmoid pass for all four gates: tanh(x) = 2 sigmoid(2x) - 1,
        # with the candidate's columns of kernel, recurrent_kernel and bias doubled once here.
        u = view.units
        step = _lstm_step_sigmoid_tanh
        double_c = np.ones(W.shape[-1], np.float32)
        double_c[2 * u : 3 * u] = 2.0
        W, U = W * double_c, U * double_c
        bias = None if bias is None else bias * double_c
    if bias is not None and bias.ndim == 2:  # GRU reset_after: (input bias, recurrent bias)
        return step, W, U, bias[0], bias[1]
    return step, W, U, bias, None


#: Batches are split over the cores in blocks of at least this many rows.
MIN_ROWS_PER_THREAD = 16


def row_blocks(batch: int, cores: Optional[int] = None) -> List[slice]:
    """Contiguous blocks of batch rows to run side by side: one per core, each at least
    MIN_ROWS_PER_THREAD rows; a single block when BLAS threads cannot be limited."""
    if batch < 2 * MIN_ROWS_PER_THREAD:  # the usual case: nothing to split, nothing to import
        return [slice(0, batch)]
    if cores is None:
        cores = _usable_cores() if _blas_limiter() is not None else 1
    n = max(1, min(cores, batch // MIN_ROWS_PER_THREAD))
    bounds = [round(k * batch / n) for k in range(n + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@functools.cache
def _blas_limiter():
    """threadpoolctl's ``threadpool_limits``, or None where it is not installed or cannot
    see numpy's BLAS (whose threads would then compete with the blocks' threads)."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return None
    try:
        visible = any(lib.get("user_api") == "blas" for lib in threadpool_info())
    except Exception:  # a platform it does not know
        return None
    return threadpool_limits if visible else None


@contextlib.contextmanager
def _blas_threads(n: int):
    limiter = _blas_limiter()
    if limiter is None:
        yield
        return
    with limiter(limits=n, user_api="blas"):
        yield


@dataclass
class _CellArgs:
    act: Callable
    rec_act: Optional[Callable]
    U: np.ndarray  #: recurrent_kernel, (units, blocks*units)
    recurrent_bias: Optional[np.ndarray]  #: GRU reset_after only
    units: int
    reset_after: bool
    scratch: np.ndarray  #: (batch, blocks*units), reused every step
    step_bias: Optional[np.ndarray] = None  #: float16 LSTM: the bias, added after both products


# Each step function computes one step of the equations into the step's slices of the
# trace buffers (``gates_t`` (batch, blocks*units), ``c_t`` and ``h_t`` (batch, units)) and
# returns the new cell state (None without one). Slices of ``gates_t`` are the gates.


def _lstm_step(a: _CellArgs, x_t, h_tm1, c_tm1, gates_t, c_t, h_t):
    u = a.units
    z = np.matmul(h_tm1, a.U, out=gates_t)  # z = x_t + h_tm1 @ U, for i, f, c, o together
    z += x_t
    z_c = a.scratch[:, :u]
    z_c[...] = z[:, 2 * u : 3 * u]
    a.rec_act(z, out=gates_t)  # i, f, o (the c block is overwritten next)
    i, f, c_hat, o = gates_t[:, :u], gates_t[:, u : 2 * u], gates_t[:, 2 * u : 3 * u], gates_t[:, 3 * u :]
    a.act(z_c, out=c_hat)
    # c = f * c_tm1 + i * c_hat
    np.multiply(f, c_tm1, out=c_t)
    c_t += np.multiply(i, c_hat, out=z_c)
    # h = o * act(c)
    a.act(c_t, out=h_t)
    h_t *= o
    return c_t


def _lstm_step_sigmoid_tanh(a: _CellArgs, x_t, h_tm1, c_tm1, gates_t, c_t, h_t):
    """_lstm_step for sigmoid gates and a tanh candidate, on weights whose candidate
    columns are doubled: sigmoid(z) for i, f, o and sigmoid(2 z_c) for the candidate."""
    u = a.units
    z = np.matmul(h_tm1, a.U, out=gates_t)  # z = x_t + h_tm1 @ U (candidate block: 2 z_c)
    z += x_t
    sigmoid(z, out=gates_t)
    i, f, c_hat, o = gates_t[:, :u], gates_t[:, u : 2 * u], gates_t[:, 2 * u : 3 * u], gates_t[:, 3 * u :]
    c_hat *= 2.0  # c_hat = tanh(z_c) = 2 sigmoid(2 z_c) - 1
    c_hat -= 1.0
    # c = f * c_tm1 + i * c_hat
    np.multiply(f, c_tm1, out=c_t)
    c_t += np.multiply(i, c_hat, out=a.scratch[:, :u])
    # h = o * tanh(c)
    np.tanh(c_t, out=h_t)
    h_t *= o
    return c_t


def _gru_step(a: _CellArgs, x_t, h_tm1, c_tm1, gates_t, c_t, h_t):
    u = a.units
    z, r, hh = gates_t[:, :u], gates_t[:, u : 2 * u], gates_t[:, 2 * u :]
    zr = gates_t[:, : 2 * u]
    if a.reset_after:
        # h_proj = h_tm1 @ U + recurrent bias; the reset gate scales its candidate part
        h_proj = np.matmul(h_tm1, a.U, out=a.scratch)
        if a.recurrent_bias is not None:
            h_proj += a.recurrent_bias
        np.add(x_t[:, : 2 * u], h_proj[:, : 2 * u], out=zr)
        a.rec_act(zr, out=zr)  # z, r
        np.multiply(r, h_proj[:, 2 * u :], out=hh)
    else:
        # the reset gate scales h_tm1 before its candidate product
        np.matmul(h_tm1, a.U[:, : 2 * u], out=zr)
        zr += x_t[:, : 2 * u]
        a.rec_act(zr, out=zr)  # z, r
        r_h = np.multiply(r, h_tm1, out=a.scratch[:, :u])
        np.matmul(r_h, a.U[:, 2 * u :], out=hh)
    hh += x_t[:, 2 * u :]
    a.act(hh, out=hh)
    # h = z * h_tm1 + (1 - z) * hh  =  hh + z * (h_tm1 - hh)
    np.subtract(h_tm1, hh, out=h_t)
    h_t *= z
    h_t += hh
    return None


def _simple_rnn_step(a: _CellArgs, x_t, h_tm1, c_tm1, gates_t, c_t, h_t):
    # h = act(x_t + h_tm1 @ U)
    np.matmul(h_tm1, a.U, out=h_t)
    h_t += x_t
    a.act(h_t, out=h_t)
    return None


_STEPS = {"lstm": _lstm_step, "gru": _gru_step, "simple_rnn": _simple_rnn_step}
