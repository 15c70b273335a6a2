"""The harness restores the user's model and global state; the package imports no torch."""

from __future__ import annotations

import subprocess
import sys

import torch
from behaviour_corpus import VOCAB, SinusoidalEncoder, spec

from pytest_archcheck import behaviour

SP = spec(
    model={"causal": False, "vocab": VOCAB, "pad_id": 0, "mask_arg": "attention_mask"},
    budget={"span": 8, "max_n": 64},
)


def test_run_all_restores_mode_flags_dtype_grads_and_rng() -> None:
    model = SinusoidalEncoder()
    model.train()
    model.enc.layers[0].eval()
    model.emb.weight.requires_grad_(False)
    model.enc.layers[1].linear1.weight.grad = torch.ones_like(model.enc.layers[1].linear1.weight)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = {n: m.training for n, m in model.named_modules()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    torch.manual_seed(123)
    rng = torch.get_rng_state()
    behaviour.run_all(model, SP, "m")
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.get_default_dtype() == torch.float32
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    for k, v in model.state_dict().items():
        assert v.dtype == before[k].dtype and torch.equal(v, before[k]), k
    g = model.enc.layers[1].linear1.weight.grad
    assert g is not None and g.dtype == torch.float32 and bool((g == 1).all())
    assert model.emb.weight.grad is None


def test_factory_and_string_factory_accepted() -> None:
    assert behaviour.run_all(SinusoidalEncoder, SP, "m") == []
    assert behaviour.run_all("behaviour_corpus:SinusoidalEncoder", SP, "m") == []


def test_locations_point_at_spec_lines() -> None:
    from behaviour_corpus import TinyGPT

    sp = spec(model={"vocab": VOCAB}, budget={"max_n": 1024})
    (f,) = behaviour.check_positional_table(
        TinyGPT(512), sp, "m.toml", {"budget.max_n": 17, "model": 2}
    )
    assert (f.path, f.line) == ("m.toml", 17)


def test_import_does_not_import_torch() -> None:
    code = "import sys, pytest_archcheck.behaviour as b; b.NAMES; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


class _Stack(torch.nn.Module):
    """Token and learned position tables, three blocks, a head; each block adds a slice of a
    per-model bias buffer of `bias_rows` positions (a table consulted inside the blocks)."""

    def __init__(self, positions: int, bias_rows: int) -> None:
        super().__init__()
        self.tok = torch.nn.Embedding(VOCAB, 12)
        self.pos = torch.nn.Embedding(positions, 12)
        self.blocks = torch.nn.ModuleList(torch.nn.Linear(12, 12) for _ in range(3))
        self.register_buffer("bias", torch.zeros(1, bias_rows, 12))
        self.head = torch.nn.Linear(12, VOCAB)
        self.calls = {"blocks.2": 0, "head": 0}
        self.blocks[2].register_forward_hook(lambda *a: self._count("blocks.2"))
        self.head.register_forward_hook(lambda *a: self._count("head"))

    def _count(self, name: str) -> None:
        self.calls[name] += 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tok(x) + self.pos(torch.arange(x.shape[1]))
        for block in self.blocks:
            h = block(h) + self.bias[:, : x.shape[1]]
        return self.head(h)  # type: ignore[no-any-return]


def test_positional_table_check_stops_before_the_second_block() -> None:
    """Once every table was looked up and one block ran at n, with what the stack does after
    it, the rest of the stack and the head cannot fail on a positional table: they are not run
    (issue #18). A too-short embedding and a bias the stack adds after each block are still
    found."""
    sp = spec(model={"causal": False, "vocab": VOCAB}, budget={"max_n": 16})
    fits = _Stack(positions=16, bias_rows=16)
    assert behaviour.check_positional_table(fits, sp, "m") == []
    assert fits.calls == {"blocks.2": 0, "head": 0}
    (short_table,) = behaviour.check_positional_table(_Stack(8, 16), sp, "m")
    assert short_table.code == "ARC202" and "`pos` has 8 rows" in short_table.message
    (short_bias,) = behaviour.check_positional_table(_Stack(16, 8), sp, "m")
    assert short_bias.code == "ARC202" and "`bias` has 8 rows" in short_bias.message
