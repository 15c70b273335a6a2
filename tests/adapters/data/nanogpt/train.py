"""A nanoGPT-style training script (module-level settings, as in karpathy/nanoGPT train.py).

archcheck reads the literal settings below by parsing; it never runs this script.
"""

import os

import torch
from model import GPT, GPTConfig

# I/O
out_dir = "out"
eval_interval = 2000
# data
dataset = "openwebtext"
gradient_accumulation_steps = 5 * 8
batch_size = 12
block_size = 1024
# model
n_layer = 12
n_head = 12
n_embd = 768
dropout = 0.0
bias = False
# adamw optimizer
learning_rate = 6e-4
max_iters = 600000
# system
device = "cuda"
dtype = "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float16"


def main():
    model_args = dict(
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        block_size=block_size,
        bias=bias,
        vocab_size=None,
        dropout=dropout,
    )
    model = GPT(GPTConfig(**model_args))
    model.to(device)
    os.makedirs(out_dir, exist_ok=True)


if __name__ == "__main__":
    main()
