"""Mask inspection: shapes, polarity and strength per API, and the incremental decoding path."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from behaviour_corpus import VOCAB, HFPrefixMean, StepPrefixMean, spec
from torch import Tensor, nn

from pytest_archcheck import behaviour

DEC = spec(model={"causal": True, "vocab": VOCAB})
ENC_PAD = spec(model={"causal": False, "vocab": VOCAB, "pad_id": 0})


class MHAModel(nn.Module):
    """Token model around one nn.MultiheadAttention; `style` picks the mask it passes."""

    def __init__(self, style: str) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.style = style

    def forward(self, tokens: Tensor) -> Tensor:
        h = self.emb(tokens)
        n = tokens.size(1)
        if self.style == "sdpa_bool":  # SDPA convention (True = attend) given to MHA
            out, _ = self.attn(h, h, h, attn_mask=torch.ones(n, n, dtype=torch.bool).tril())
        elif self.style == "mha_bool":
            out, _ = self.attn(h, h, h, attn_mask=torch.ones(n, n, dtype=torch.bool).triu(1))
        elif self.style == "kpm_transposed":
            out, _ = self.attn(h, h, h, key_padding_mask=(tokens == 0).T)
        else:  # key padding from pad_id, correct polarity
            out, _ = self.attn(h, h, h, key_padding_mask=tokens == 0)
        return out


class SDPAKeyPadding(nn.Module):
    """SDPA given a (B, S) key-padding mask without the head and query axes."""

    def __init__(self, unsqueeze: bool, mha_polarity: bool = False) -> None:
        super().__init__()
        self.emb, self.unsqueeze = nn.Embedding(VOCAB, 8), unsqueeze
        self.mha_polarity = mha_polarity

    def forward(self, tokens: Tensor) -> Tensor:
        q = self.emb(tokens).unsqueeze(1)  # (B, 1, n, 8)
        keep = tokens == 0 if self.mha_polarity else tokens != 0
        mask = keep[:, None, None, :] if self.unsqueeze else keep
        return F.scaled_dot_product_attention(q, q, q, attn_mask=mask).squeeze(1)


class DeadRows(nn.Module):
    """An additive mask whose first row blocks every key (NaN in softmax)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 8)

    def forward(self, tokens: Tensor) -> Tensor:
        n = tokens.size(1)
        mask = torch.zeros(n, n)
        mask[0] = -torch.inf
        q = self.emb(tokens).unsqueeze(1)
        return F.scaled_dot_product_attention(q, q, q, attn_mask=mask).squeeze(1)


def codes(model: nn.Module, sp: object) -> list[str]:
    return [f.code for f in behaviour.check_masks(model, sp, "m")]  # type: ignore[arg-type]


def test_mha_polarity() -> None:
    (f,) = behaviour.check_masks(MHAModel("sdpa_bool"), DEC, "m")
    assert f.code == "ARC204" and "treats True as blocked" in f.message
    assert codes(MHAModel("mha_bool"), DEC) == []


def test_mha_key_padding_shape_and_twin() -> None:
    (f,) = behaviour.check_masks(MHAModel("kpm_transposed"), ENC_PAD, "m")
    assert f.code == "ARC203" and "transposed" in f.message
    assert codes(MHAModel("kpm"), ENC_PAD) == []


def test_sdpa_key_padding_shape() -> None:
    (f,) = behaviour.check_masks(SDPAKeyPadding(unsqueeze=False), ENC_PAD, "m")
    assert f.code == "ARC203" and "mask[:, None, None, :]" in f.message
    assert codes(SDPAKeyPadding(unsqueeze=True), ENC_PAD) == []


def test_fully_masked_rows() -> None:
    (f,) = behaviour.check_masks(DeadRows(), spec(model={"causal": False, "vocab": VOCAB}), "m")
    # row 0 of each of the probe's 2 sequences (one head): 2 dead rows
    assert f.code == "ARC209" and "2 query rows" in f.message


def test_incremental_step_path() -> None:
    assert behaviour.check_causality(StepPrefixMean(), DEC, "m") == []
    # t = 0 runs without a cache; the first cached step, t = 1, uses position 0 instead of 1
    (f,) = behaviour.check_causality(StepPrefixMean(stale_positions=True), DEC, "m")
    assert f.code == "ARC205" and f.data["path"] == "step" and f.data["t"] == 1


def test_incremental_past_key_values_path() -> None:
    assert behaviour.check_causality(HFPrefixMean(), DEC, "m") == []
    (f,) = behaviour.check_causality(HFPrefixMean(stale_positions=True), DEC, "m")
    assert f.data["path"] == "past_key_values"


def test_sdpa_key_padding_polarity() -> None:
    (f,) = behaviour.check_masks(SDPAKeyPadding(unsqueeze=True, mha_polarity=True), ENC_PAD, "m")
    assert f.code == "ARC204" and "True where tokens are padding" in f.message


class PerBatchMask(nn.Module):
    """An MHA mask repeated per batch row only: (B, L, S) where (B·num_heads, L, S) is due."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, tokens: Tensor) -> Tensor:
        h, (b, n) = self.emb(tokens), tokens.shape
        mask = torch.ones(n, n, dtype=torch.bool).triu(1).expand(b, n, n)
        return self.attn(h, h, h, attn_mask=mask)[0]


def test_run_all_reports_shape_instead_of_crashing() -> None:
    # the forward cannot run at all; run_all reports ARC203 (probe batch 2, 2 heads -> 4 rows)
    (f,) = behaviour.run_all(PerBatchMask(), DEC, "m")
    assert f.code == "ARC203" and "(4, 12, 12)" in f.message and "(2, 12, 12)" in f.message
