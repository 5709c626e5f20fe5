"""Write the port used by README "Checking a port": a PyTorch port of the sample GRU
(``k2/gru_reset_after.h5``) that copies Keras's weights into ``nn.GRU`` with the
transposes but without swapping the z and r blocks (PyTorch's order is r, z, n).

Run from the repository root with torch installed:
``python sample_models/ports/make_ports.py`` writes ``gru_input.npy`` and
``gru_rz_swapped.npz`` beside this script."""

from pathlib import Path

import h5py
import numpy as np
import torch

HERE = Path(__file__).resolve().parent
expected = np.load(HERE.parent / "expected" / "k2" / "gru_reset_after.npz")
x = expected["input/0"]
K, U, b = (expected[f"weights/gru/{k}"] for k in ("kernel", "recurrent_kernel", "bias"))
with h5py.File(HERE.parent / "k2" / "gru_reset_after.h5", "r") as f:
    dense_kernel, dense_bias = (f[f"model_weights/dense/dense/{k}:0"][()] for k in ("kernel", "bias"))

gru = torch.nn.GRU(input_size=3, hidden_size=4, batch_first=True)
dense = torch.nn.Linear(4, 2)
with torch.no_grad():
    gru.weight_ih_l0.copy_(torch.from_numpy(K.T))  # the mistake: Keras's z,r,h blocks kept as they are
    gru.weight_hh_l0.copy_(torch.from_numpy(U.T))
    gru.bias_ih_l0.copy_(torch.from_numpy(b[0]))
    gru.bias_hh_l0.copy_(torch.from_numpy(b[1]))
    dense.weight.copy_(torch.from_numpy(dense_kernel.T))
    dense.bias.copy_(torch.from_numpy(dense_bias))

captured = {}
gru.register_forward_hook(lambda module, args, out: captured.update({"gru/output": out[0]}))
dense.register_forward_hook(lambda module, args, out: captured.update({"output/0": out}))
with torch.no_grad():
    dense(gru(torch.from_numpy(x))[0])
arrays = {k: v.numpy() for k, v in captured.items()}
arrays["gru/hidden"] = arrays["gru/output"]  # the GRU returns every step: its hidden states
np.save(HERE / "gru_input.npy", x)
np.savez(HERE / "gru_rz_swapped.npz", **arrays)
