"""Named model sizes, litgpt-style: a list of dicts and Config(...) calls, looked up by name."""

from model import Config

configs = [
    dict(name="gpt-tiny", n_layer=2, n_head=2, n_embd=64, vocab_size=512, block_size=128,
         bias=False),
    Config(name="gpt-small", n_layer=4, n_head=4, n_embd=128, vocab_size=1024, block_size=256),
]

name_to_config = {c["name"] if isinstance(c, dict) else c.name: c for c in configs}
