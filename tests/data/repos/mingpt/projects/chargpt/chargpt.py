"""Trains a character-level GPT: the model config is filled in from the data at run time."""

from mingpt.model import GPT


def get_config(train_dataset):
    C = GPT.get_default_config()
    C.model_type = "gpt-mini"
    C.vocab_size = train_dataset.get_vocab_size()
    C.block_size = train_dataset.get_block_size()
    return C
