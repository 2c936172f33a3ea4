"""Training code for the default Dance AI engine (data preparation, model, metrics).

Not shipped in the extension zip. Run from the repository root, e.g.
``python -m training.prepare_data --out build/dataset.npz``.
"""
