"""Seeded-bug corpus: small models, each bug a real-world one, each with a correct twin."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pytest_archcheck.spec.model import Spec

D, HEADS, VOCAB = 16, 2, 50


def spec(**tables: dict[str, Any]) -> Spec:
    return Spec.model_validate(tables)


def sinusoid(n: int, d: int) -> Tensor:
    pos = torch.arange(n).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class TutorialPE(nn.Module):
    """The PyTorch tutorial's PositionalEncoding: pe is (max_len, 1, d), made for (n, B, d)."""

    def __init__(self, d: int, max_len: int = 256, batch_axis_bug: bool = False) -> None:
        super().__init__()
        self.bug = batch_axis_bug
        self.register_buffer("pe", sinusoid(max_len, d).unsqueeze(1))

    def forward(self, x: Tensor) -> Tensor:  # x: (B, n, d), batch_first
        if self.bug:
            return x + self.pe[: x.size(0)]  # indexes by the batch axis
        return x + self.pe[: x.size(1)].transpose(0, 1)


class SinusoidalEncoder(nn.Module):
    """nn.TransformerEncoder with sinusoidal encoding; optional padding mask and pooling."""

    def __init__(
        self, batch_axis_bug: bool = False, hf_mask_bug: bool = False, pooled: bool = False
    ) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, D)
        self.pe = TutorialPE(D, batch_axis_bug=batch_axis_bug)
        layer = nn.TransformerEncoderLayer(D, HEADS, 32, dropout=0.1, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.hf_mask_bug, self.pooled = hf_mask_bug, pooled

    def forward(self, tokens: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        kpm = None
        if attention_mask is not None:
            # nn.MultiheadAttention wants True = pad; a Hugging Face mask is 1 = keep.
            kpm = attention_mask.bool() if self.hf_mask_bug else attention_mask == 0
        h = self.enc(self.pe(self.emb(tokens)), src_key_padding_mask=kpm)
        if self.pooled:
            if attention_mask is None:
                return h.mean(1)
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            return (h * m).sum(1) / m.sum(1)
        return h


class MeanPooled(SinusoidalEncoder):
    """Mask-unaware pooling: averages the pads too."""

    def forward(self, tokens: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        kpm = None if attention_mask is None else attention_mask == 0
        return self.enc(self.pe(self.emb(tokens)), src_key_padding_mask=kpm).mean(1)


class CausalDecoder(nn.Module):
    """A causal decoder without positional encoding (nn.TransformerEncoder + causal mask)."""

    def __init__(self, masked: bool = True) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, D)
        layer = nn.TransformerEncoderLayer(D, HEADS, 32, dropout=0.1, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(D, VOCAB)
        self.masked = masked

    def forward(self, tokens: Tensor) -> Tensor:
        n = tokens.size(1)
        mask = nn.Transformer.generate_square_subsequent_mask(n) if self.masked else None
        return self.head(self.enc(self.emb(tokens), mask=mask, is_causal=self.masked))


class SDPABlock(nn.Module):
    """Multi-head self-attention on SDPA with a mask the block builds itself."""

    def __init__(self, mask_style: str) -> None:
        super().__init__()
        self.qkv, self.out = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.mask_style = mask_style

    def forward(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        B, n, _ = x.shape
        q, k, v = self.qkv(x).view(B, n, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        style = self.mask_style
        if style in ("mha_bool", "sdpa_bool"):
            blocked = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)  # MHA: True = blocked
            mask = blocked if style == "mha_bool" else ~blocked  # SDPA: True = attend
        else:  # Hugging Face style extended additive padding mask
            assert keep is not None
            fill = -1e4 if style == "minus_1e4" else torch.finfo(torch.float16).min
            mask = (1.0 - keep[:, None, None, :].to(x.dtype)) * fill
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return x + self.out(y.transpose(1, 2).reshape(B, n, D))


class SDPAModel(nn.Module):
    """Token model: learned positions + one SDPA block + head."""

    def __init__(self, mask_style: str, positions: int = 64) -> None:
        super().__init__()
        self.tok, self.pos = nn.Embedding(VOCAB, D), nn.Embedding(positions, D)
        self.block = SDPABlock(mask_style)
        self.head = nn.Linear(D, VOCAB)

    def forward(self, tokens: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        pos = torch.arange(tokens.size(1))
        h = self.tok(tokens) + self.pos(pos)
        return self.head(self.block(h, attention_mask))


class TinyGPT(nn.Module):
    """GPT-style decoder with a learned positional table of `positions` rows."""

    def __init__(self, positions: int) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, 8), nn.Embedding(positions, 8)
        self.head = nn.Linear(8, VOCAB)

    def forward(self, tokens: Tensor) -> Tensor:
        pos = torch.arange(tokens.size(1))
        return self.head(self.wte(tokens) + self.wpe(pos))


class LSTMModel(nn.Module):
    """Single-layer LSTM over embeddings; forget-gate bias optionally set to 1."""

    def __init__(self, forget_bias_one: bool = True) -> None:
        super().__init__()
        self.lstm = nn.LSTM(4, 8, batch_first=True)
        if forget_bias_one:
            with torch.no_grad():
                self.lstm.bias_ih_l0[8:16] = 1.0
                self.lstm.bias_hh_l0[8:16] = 0.0
        self.head = nn.Linear(8, 4)

    def forward(self, x: Tensor, state: Any = None) -> Any:
        y, state = self.lstm(x, state)
        return self.head(y), state


def tbptt(chunk: int):  # type: ignore[no-untyped-def]
    """A truncated-BPTT training pass that detaches the state every `chunk` steps."""

    def train_step(model: nn.Module, x: Tensor) -> Tensor:
        state, outs = None, []
        for i in range(0, x.size(1), chunk):
            y, state = model(x[:, i : i + chunk], state)
            state = tuple(s.detach() for s in state)
            outs.append(y)
        return torch.cat(outs, 1)

    return train_step


class ConvStack1d(nn.Module):
    """`layers` centred 'same' Conv1d layers of kernel 3 over (B, C, n)."""

    def __init__(self, layers: int) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        for _ in range(layers):
            mods += [nn.Conv1d(4, 4, 3, padding=1), nn.ReLU()]
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock, by hand."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.down(x))


class TinyResNet(nn.Module):
    """torchvision-style ResNet: 7x7/2 stem, 3x3/2 max pool, basic blocks, avg pool, fc."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 7, 2, 3, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        self.layer1 = BasicBlock(8, 8, 1)
        self.layer2 = BasicBlock(8, 16, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(h), 1))


class TinyVGG(nn.Module):
    """torchvision-style VGG: conv-relu pairs, max pools, classifier with dropout."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(
            nn.Linear(64, 32), nn.ReLU(True), nn.Dropout(), nn.Linear(32, classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class StridedDilated(nn.Module):
    """conv k3 · conv k3/2 · conv k3 dil 2 · maxpool 2/2 · conv k3 dil 3, with ReLUs."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(2, 4, 3, 1, 1)
        self.c2 = nn.Conv2d(4, 4, 3, 2, 1)
        self.c3 = nn.Conv2d(4, 4, 3, 1, 2, dilation=2)
        self.p4 = nn.MaxPool2d(2, 2)
        self.c5 = nn.Conv2d(4, 4, 3, 1, 3, dilation=3)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.c2(F.relu(self.c1(x))))
        return self.c5(self.p4(F.relu(self.c3(x))))


class PrefixMean(nn.Module):
    """Causal model y_t = head(mean_{j<=t} emb(x_j) + pos(t)) with a cached decoding path.

    `stale_positions` reproduces the classic cache bug: the cached path keeps using position 0
    instead of advancing position ids with the cache. `api` picks how the path is exposed.
    """

    def __init__(self, api: str = "step", stale_positions: bool = False) -> None:
        super().__init__()
        self.emb, self.pos = nn.Embedding(VOCAB, 8), nn.Embedding(64, 8)
        self.head = nn.Linear(8, VOCAB)
        self.api, self.stale = api, stale_positions

    def _run(self, tokens: Tensor, cache: Any) -> tuple[Tensor, Any]:
        e = self.emb(tokens)
        total, count = cache if cache is not None else (torch.zeros_like(e[:, :1]), 0)
        sums = total + e.cumsum(1)
        steps = torch.arange(count + 1, count + 1 + tokens.size(1))
        pos_ids = steps - 1 if not (self.stale and cache is not None) else steps * 0
        y = self.head(sums / steps[None, :, None] + self.pos(pos_ids))
        return y, (sums[:, -1:], count + tokens.size(1))

    def forward(self, tokens: Tensor, **kw: Any) -> Any:
        if self.api == "hf":
            y, cache = self._run(tokens, kw.get("past_key_values"))
            return {"logits": y, "past_key_values": cache if kw.get("use_cache") else None}
        return self._run(tokens, None)[0]


class HFPrefixMean(PrefixMean):
    """The same model exposing `past_key_values` / `use_cache` in forward's signature."""

    def __init__(self, stale_positions: bool = False) -> None:
        super().__init__("hf", stale_positions)

    def forward(  # type: ignore[override]
        self, tokens: Tensor, past_key_values: Any = None, use_cache: bool = False
    ) -> Any:
        return super().forward(tokens, past_key_values=past_key_values, use_cache=use_cache)


class StepPrefixMean(PrefixMean):
    """The same model exposing `step(x_t, state) -> (y_t, state)`."""

    def step(self, x_t: Tensor, state: Any) -> tuple[Tensor, Any]:
        return self._run(x_t, state)


class TCN(nn.Module):
    """Causal dilated Conv1d stack (WaveNet/TCN): left padding (k - 1)·d per layer."""

    def __init__(self, dilations: tuple[int, ...] = (1, 2, 4, 8), causal: bool = True) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(4, 4, 3, dilation=d) for d in dilations)
        self.causal = causal

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            p = 2 * conv.dilation[0]
            pads = (p, 0) if self.causal else (p // 2, p // 2)  # centred = the bug
            x = torch.tanh(conv(F.pad(x, pads)))
        return x
