"""The article's runnable Transformer snippet, verbatim but for the factory around it:

    encoder = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(d_model=32, nhead=4, batch_first=True),
        num_layers=2,
    )
    seq = torch.randn(2, 6, 32)
    print("transformer:", encoder(seq).shape)

It has no positional encoding and no mask: a bidirectional encoder that is
permutation-equivariant (ARC201), found both statically and by the permutation probe.
"""

from __future__ import annotations

from torch import nn


def build() -> nn.Module:
    return nn.TransformerEncoder(
        nn.TransformerEncoderLayer(d_model=32, nhead=4, batch_first=True),
        num_layers=2,
    )
