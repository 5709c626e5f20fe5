"""Per-layer-kind knowledge: one :class:`~lstm_inspect.kinds.base.Kind` per Keras layer
kind, declared in a family module and found through :mod:`lstm_inspect.kinds.registry`
(``kind_of``, ``kind_for``, ``all_kinds``), plus the numeric helpers the kinds call
(``cells``, ``conv_lstm``, ``ops``, ``activations``) and the gate views (``recurrent``).

Nothing here imports ``reading``, ``forward``, ``reports`` or the CLI.
"""
