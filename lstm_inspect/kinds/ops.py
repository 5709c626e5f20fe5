"""Keras convolution, pooling, padding and cropping in numpy (docs/formats.md section 5.2).

Semantics are TensorFlow's, which every Keras backend that wrote a TF-era file follows:
``conv`` is cross-correlation (no kernel flip), tensors are channels_last, and
``padding="same"`` pads ``max((out - 1)*stride + reach - length, 0)`` in total with the odd
element on the right (``reach = dilation*(k - 1) + 1``, ``out = ceil(length/stride)``).
``"causal"`` (Conv1D) pads ``dilation*(k - 1)`` on the left only.

Every window is a strided view of the (padded) input; a convolution is then one
im2col reshape and one matrix product. Kernels written by Theano are true convolutions:
:func:`flip_kernel` turns them into the cross-correlation kernels used here (docs/formats.md section 5.4).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ConfigError, UnsupportedError

IntOrTuple = Union[int, Sequence[int]]

PADDINGS = ("valid", "same", "causal")


# --------------------------------------------------------------------------- helpers


def _tuple(value: IntOrTuple, n: int, what: str) -> Tuple[int, ...]:
    """An int or a length-n sequence as a tuple of n ints (Keras's ``normalize_tuple``)."""
    if isinstance(value, (int, np.integer)):
        out = (int(value),) * n
    else:
        out = tuple(int(v) for v in value)
        if len(out) == 1 and n > 1:
            out = out * n
    if len(out) != n or any(v < 1 for v in out):
        raise ConfigError(f"{what} must be {n} positive integer(s); got {value!r}")
    return out


def _padding(padding: str, allowed: Sequence[str] = ("valid", "same")) -> str:
    p = str(padding).lower()
    if p not in allowed:
        raise UnsupportedError(f"padding '{padding}' is not one of {', '.join(allowed)}")
    return p


def same_padding(length: int, window: int, stride: int, dilation: int = 1) -> Tuple[int, int]:
    """TensorFlow's ``"same"`` padding of one axis: ``(left, right)``, the odd element on the right."""
    reach = dilation * (window - 1) + 1
    out = -(-length // stride)
    total = max((out - 1) * stride + reach - length, 0)
    return total // 2, total - total // 2


def _pad_spatial(x: np.ndarray, pads: Sequence[Tuple[int, int]], value: float = 0.0) -> np.ndarray:
    if not any(left or right for left, right in pads):
        return x
    return np.pad(x, [(0, 0), *pads, (0, 0)], mode="constant", constant_values=value)


def _spatial_pads(shape: Sequence[int], window, strides, dilation, padding: str):
    if padding == "same":
        return [same_padding(n, k, s, d) for n, k, s, d in zip(shape, window, strides, dilation)]
    return [(0, 0)] * len(window)


def _windows(x: np.ndarray, window, strides, dilation) -> np.ndarray:
    """Every window of the padded ``x`` (batch, *spatial, channels) as a view of shape
    (batch, *out, channels, *window): window taps ``dilation`` apart, windows ``strides`` apart."""
    n = len(window)
    reach = tuple(d * (k - 1) + 1 for k, d in zip(window, dilation))
    spatial = x.shape[1 : 1 + n]
    if any(r > size for r, size in zip(reach, spatial)):
        raise ConfigError(
            f"input of spatial shape {tuple(spatial)} (after padding) is smaller than the window's reach {reach}"
        )
    views = sliding_window_view(x, reach, axis=tuple(range(1, 1 + n)))
    every_stride = tuple(slice(None, None, s) for s in strides)
    every_tap = tuple(slice(None, None, d) for d in dilation)
    return views[(slice(None), *every_stride, slice(None), *every_tap)]


def _conv(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: Optional[np.ndarray],
    strides: Tuple[int, ...],
    pads: Sequence[Tuple[int, int]],
    dilation: Tuple[int, ...],
    groups: int = 1,
) -> np.ndarray:
    """Cross-correlation over the n spatial axes of ``x`` (batch, *spatial, C) with
    ``kernel`` (*window, C/groups, F): im2col, then one (batched-over-groups) matmul."""
    x = np.asarray(x, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    n = kernel.ndim - 2
    window = kernel.shape[:n]
    c_in, filters = x.shape[-1], kernel.shape[-1]
    if x.ndim != n + 2:
        raise ConfigError(f"a {n}-D convolution needs input (batch, {n} spatial axes, channels); got shape {x.shape}")
    if c_in % groups or filters % groups or kernel.shape[-2] * groups != c_in:
        raise ConfigError(
            f"kernel of shape {kernel.shape} with groups={groups} does not fit an input of {c_in} channels"
        )
    patches = _windows(_pad_spatial(x, pads), window, strides, dilation)  # (B, *out, C, *window)
    batch, out = patches.shape[0], patches.shape[1 : 1 + n]
    # im2col: rows are output positions, columns (*window, C) in the kernel's own order.
    columns = patches.transpose(0, *range(1, 1 + n), *range(n + 2, 2 * n + 2), n + 1)
    k = int(np.prod(window))
    if groups == 1:
        y = columns.reshape(-1, k * c_in) @ kernel.reshape(k * c_in, filters)
    else:
        c_g, f_g = c_in // groups, filters // groups
        cols = columns.reshape(-1, k, groups, c_g).transpose(2, 0, 1, 3).reshape(groups, -1, k * c_g)
        w = kernel.reshape(k, c_g, groups, f_g).transpose(2, 0, 1, 3).reshape(groups, k * c_g, f_g)
        y = (cols @ w).transpose(1, 0, 2).reshape(-1, filters)  # output channel g*f_g + j
    y = y.reshape(batch, *out, filters)
    if bias is not None:
        y += np.asarray(bias, dtype=np.float32)
    return y


# --------------------------------------------------------------------------- convolutions


def conv1d(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: Optional[np.ndarray] = None,
    strides: IntOrTuple = 1,
    padding: str = "valid",
    dilation_rate: IntOrTuple = 1,
    groups: int = 1,
) -> np.ndarray:
    """Keras ``Conv1D`` (without its activation): ``x`` (B, L, C), ``kernel`` (k, C/groups, F)
    -> (B, L', F)."""
    x = np.asarray(x, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 3:
        raise ConfigError(f"a Conv1D kernel is (k, C/groups, F); got shape {kernel.shape}")
    if x.ndim != 3:
        raise ConfigError(f"Conv1D input is (batch, length, channels); got shape {x.shape}")
    s = _tuple(strides, 1, "strides")
    d = _tuple(dilation_rate, 1, "dilation_rate")
    p = _padding(padding, PADDINGS)
    if p == "causal":
        pads = [(d[0] * (kernel.shape[0] - 1), 0)]
    else:
        pads = _spatial_pads(x.shape[1:2], kernel.shape[:1], s, d, p)
    return _conv(x, kernel, bias, s, pads, d, int(groups))


def conv2d(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: Optional[np.ndarray] = None,
    strides: IntOrTuple = (1, 1),
    padding: str = "valid",
    dilation_rate: IntOrTuple = (1, 1),
    groups: int = 1,
) -> np.ndarray:
    """Keras ``Conv2D`` (without its activation), channels_last: ``x`` (B, H, W, C),
    ``kernel`` (kh, kw, C/groups, F) -> (B, H', W', F)."""
    x = np.asarray(x, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 4:
        raise ConfigError(f"a Conv2D kernel is (kh, kw, C/groups, F); got shape {kernel.shape}")
    if x.ndim != 4:
        raise ConfigError(f"Conv2D input is (batch, rows, cols, channels); got shape {x.shape}")
    return conv(x, kernel, bias, strides, padding, dilation_rate, groups)


def conv(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: Optional[np.ndarray] = None,
    strides: IntOrTuple = 1,
    padding: str = "valid",
    dilation_rate: IntOrTuple = 1,
    groups: int = 1,
) -> np.ndarray:
    """Channels_last cross-correlation of any rank: ``kernel`` (*window, C/groups, F) over the
    ``kernel.ndim - 2`` spatial axes of ``x`` (B, *spatial, C); padding valid or same."""
    kernel = np.asarray(kernel, dtype=np.float32)
    x = np.asarray(x, dtype=np.float32)
    n = kernel.ndim - 2
    if n < 1:
        raise ConfigError(f"a convolution kernel is (*window, C/groups, F); got shape {kernel.shape}")
    s = _tuple(strides, n, "strides")
    d = _tuple(dilation_rate, n, "dilation_rate")
    pads = _spatial_pads(x.shape[1 : 1 + n], kernel.shape[:n], s, d, _padding(padding))
    return _conv(x, kernel, bias, s, pads, d, int(groups))


def flip_kernel(kernel: np.ndarray) -> np.ndarray:
    """Reverse every spatial axis (all but the last two, in and out channels) of a conv kernel:
    a Theano-written kernel becomes the cross-correlation kernel TF computes with
    (Keras's ``conv_utils.convert_kernel``). Its own inverse."""
    kernel = np.asarray(kernel)
    n = kernel.ndim - 2
    return np.ascontiguousarray(kernel[(slice(None, None, -1),) * n + (slice(None), slice(None))])


# --------------------------------------------------------------------------- pooling


def _pool_args(x: np.ndarray, pool_size, strides, padding: str):
    n = x.ndim - 2
    if n not in (1, 2, 3):
        raise ConfigError(f"pooling needs input (batch, 1 to 3 spatial axes, channels); got shape {x.shape}")
    window = _tuple(pool_size, n, "pool_size")
    step = window if strides is None else _tuple(strides, n, "strides")
    pads = _spatial_pads(x.shape[1 : 1 + n], window, step, (1,) * n, _padding(padding))
    return n, window, step, pads


def max_pool(
    x: np.ndarray, pool_size: IntOrTuple, strides: Optional[IntOrTuple] = None, padding: str = "valid"
) -> np.ndarray:
    """Keras ``MaxPooling1D/2D/3D``, channels_last; ``"same"`` pads with -inf."""
    x = np.asarray(x, dtype=np.float32)
    n, window, step, pads = _pool_args(x, pool_size, strides, padding)
    patches = _windows(_pad_spatial(x, pads, -np.inf), window, step, (1,) * n)
    return patches.max(axis=tuple(range(-n, 0)))


def avg_pool(
    x: np.ndarray, pool_size: IntOrTuple, strides: Optional[IntOrTuple] = None, padding: str = "valid"
) -> np.ndarray:
    """Keras ``AveragePooling1D/2D/3D``, channels_last; ``"same"`` averages over the window's
    elements inside the input only (padding is not counted)."""
    x = np.asarray(x, dtype=np.float32)
    n, window, step, pads = _pool_args(x, pool_size, strides, padding)
    taps = tuple(range(-n, 0))
    total = _windows(_pad_spatial(x, pads), window, step, (1,) * n).sum(axis=taps)
    inside = np.ones((1, *x.shape[1 : 1 + n], 1), np.float32)
    count = _windows(_pad_spatial(inside, pads), window, step, (1,) * n).sum(axis=taps)
    return (total / count).astype(np.float32)


# --------------------------------------------------------------------------- padding, cropping


def _pair(value: IntOrTuple, what: str) -> Tuple[int, int]:
    pair = (int(value), int(value)) if isinstance(value, (int, np.integer)) else tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < 0:
        raise ConfigError(f"{what} must be an int or a pair (left, right) of non-negative ints; got {value!r}")
    return pair


def zero_pad1d(x: np.ndarray, padding: IntOrTuple = 1) -> np.ndarray:
    """Keras ``ZeroPadding1D``: zeros before and after axis 1 of (B, L, C); ``padding`` an int
    (both sides) or ``(left, right)``."""
    x = np.asarray(x, dtype=np.float32)
    return _pad_spatial(x, [_pair(padding, "ZeroPadding1D padding")])


def crop1d(x: np.ndarray, cropping: IntOrTuple = (1, 1)) -> np.ndarray:
    """Keras ``Cropping1D``: drop ``left`` steps from the start and ``right`` from the end of
    axis 1 of (B, L, C); ``cropping`` an int (both sides) or ``(left, right)``."""
    x = np.asarray(x, dtype=np.float32)
    left, right = _pair(cropping, "Cropping1D cropping")
    if left + right >= x.shape[1]:
        raise ConfigError(f"Cropping1D cropping {(left, right)} leaves nothing of a sequence of length {x.shape[1]}")
    return x[:, left : x.shape[1] - right]
