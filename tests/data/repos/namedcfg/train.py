"""A training script whose model size is a module-level dict passed to Config(**model_config)."""

from model import GPT, Config

model_config = dict(n_layer=3, n_head=3, n_embd=96, vocab_size=300, block_size=64, bias=True)


def main():
    model = GPT(Config(**model_config))
    return model
