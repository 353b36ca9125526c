"""Files in and out: results tables in CSV, JSON and NPZ (`results`), PyTorch weights (`weights`),
writing without half-written files (`files`). Beside the engine, not above it: `weights` imports
`gradflow.cells`, nothing here imports the engine, analyses, training, plotting or CLI.
"""
