"""Training script settings in nanoGPT's style: module-level globals that config files override."""

import os
import pickle

out_dir = "out"
dataset = "openwebtext"
batch_size = 12
block_size = 1024
n_layer = 12
n_head = 12
n_embd = 768
dropout = 0.0
bias = False
dtype = "bfloat16"
learning_rate = 6e-4
exec(open("configurator.py").read())  # overrides the globals above from config/<name>.py

meta_path = os.path.join("data", dataset, "meta.pkl")
meta_vocab_size = None
if os.path.exists(meta_path):
    with open(meta_path, "rb") as f:
        meta_vocab_size = pickle.load(f)["vocab_size"]
model_args = dict(
    n_layer=n_layer,
    n_head=n_head,
    n_embd=n_embd,
    block_size=block_size,
    bias=bias,
    vocab_size=meta_vocab_size if meta_vocab_size is not None else 50304,
    dropout=dropout,
)
