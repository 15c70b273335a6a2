"""Wall time of each behavioural check on a GPT-2-small-sized Transformer and a ResNet-50.

Run: python benchmarks/behaviour_timing.py [--threads N]
Models are built by hand (torchvision is not a dependency): a 12-layer d=768 decoder on SDPA
with a learned 1024-row positional table and a 50257-token vocabulary (~124M parameters), the
same stack as a bidirectional encoder with a 1 = keep attention mask, and a ResNet-50
(bottleneck blocks 3-4-6-3, ~25.6M parameters) at 224x224.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pytest_archcheck import behaviour
from pytest_archcheck.spec.model import Spec

D, H, LAYERS, VOCAB, POSITIONS = 768, 12, 12, 50257, 1024


class Block(nn.Module):
    def __init__(self, causal: bool) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))
        self.causal = causal

    def forward(self, x: Tensor, keep: Tensor | None) -> Tensor:
        B, n, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, n, 3, H, D // H).permute(2, 0, 3, 1, 4)
        mask = None if keep is None else keep[:, None, None, :].bool()
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal)
        x = x + self.proj(y.transpose(1, 2).reshape(B, n, D))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, causal: bool = True) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, D), nn.Embedding(POSITIONS, D)
        self.blocks = nn.ModuleList(Block(causal) for _ in range(LAYERS))
        self.ln = nn.LayerNorm(D)
        self.head = nn.Linear(D, VOCAB, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, tokens: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        x = self.wte(tokens) + self.wpe(torch.arange(tokens.size(1)))
        for blk in self.blocks:
            x = blk(x, attention_mask)
        return self.head(self.ln(x))


class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = 4 * width
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.down: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return F.relu(self.bn3(self.conv3(y)) + self.down(x))


class ResNet50(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(True),
            nn.MaxPool2d(3, 2, 1),
        )
        blocks: list[nn.Module] = []
        cin = 64
        for width, count, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for i in range(count):
                blocks.append(Bottleneck(cin, width, stride if i == 0 else 1))
                cin = 4 * width
        self.layers = nn.Sequential(*blocks)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(2048, 1000)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


def timed(label: str, fn: Callable[[], list[object]]) -> float:
    t0 = time.perf_counter()
    findings = fn()
    dt = time.perf_counter() - t0
    codes = sorted({f.code for f in findings}) or "-"  # type: ignore[attr-defined]
    print(f"  {label:<26} {dt:7.2f} s   findings: {codes}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    torch.manual_seed(0)
    gpt_spec = Spec.model_validate(
        {
            "model": {
                "family": "transformer",
                "causal": True,
                "vocab": VOCAB,
                "layers": LAYERS,
                "d_model": D,
                "max_positions": POSITIONS,
                "pad_id": VOCAB - 1,
            },
            "budget": {"max_n": POSITIONS, "span": 512},
        }
    )
    bert_spec = Spec.model_validate(
        {
            "model": {
                "family": "transformer",
                "causal": False,
                "vocab": VOCAB,
                "layers": LAYERS,
                "d_model": D,
                "max_positions": POSITIONS,
                "pad_id": 0,
                "mask_arg": "attention_mask",
            },
            "budget": {"max_n": POSITIONS, "span": 512},
        }
    )
    cnn_spec = Spec.model_validate(
        {
            "model": {"family": "cnn", "input": "image", "image_size": 224, "in_channels": 3},
        }
    )
    worst = 0.0
    for label, model, sp in (
        ("12-layer d=768 causal decoder", GPT(True), gpt_spec),
        ("12-layer d=768 bidirectional encoder", GPT(False), bert_spec),
        ("ResNet-50 at 224x224", ResNet50(), cnn_spec),
    ):
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"{label} ({params:.1f}M parameters)")
        checks: dict[str, Callable[[], list[object]]] = {
            "ARC202 positional table": lambda m=model, s=sp: behaviour.check_positional_table(
                m, s, "b"
            ),
            "ARC201 permutation": lambda m=model, s=sp: behaviour.check_positional(m, s, "b"),
            "ARC205 causality": lambda m=model, s=sp: behaviour.check_causality(m, s, "b"),
            "ARC206 padding": lambda m=model, s=sp: behaviour.check_padding(m, s, "b"),
            "ARC203/204/209 masks": lambda m=model, s=sp: behaviour.check_masks(m, s, "b"),
            "ARC104/207/304 reach": lambda m=model, s=sp: behaviour.check_reach(m, s, "b"),
            "ARC210 forget gate": lambda m=model, s=sp: behaviour.check_forget_gate(m, s, "b"),
        }
        for name, fn in checks.items():
            worst = max(worst, timed(name, fn))
        timed("run_all (one conversion)", lambda m=model, s=sp: behaviour.run_all(m, s, "b"))
    print(f"slowest single check: {worst:.2f} s")


if __name__ == "__main__":
    main()
