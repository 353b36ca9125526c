"""The Jacobian engine: a cell unrolled (`unroll`), its step Jacobians (`linearization`), their
products and norms across time (`jacobians`, `spectral_norm`), the final state's sensitivity to
the parameters (`parameters`), the memory a run needs (`memory`).
Imports only `gradflow.cells`; analyses, training, plotting and the CLI stand on it.
"""
