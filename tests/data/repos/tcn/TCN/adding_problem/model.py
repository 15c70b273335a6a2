"""The adding-problem TCN: channels-first input (batch, 2, seq_len), a regression on the last step."""

from torch import nn

from TCN.tcn import TemporalConvNet


class TCN(nn.Module):
    def __init__(self, input_size, output_size, num_channels, kernel_size, dropout):
        super().__init__()
        self.tcn = TemporalConvNet(input_size, num_channels, kernel_size=kernel_size,
                                   dropout=dropout)
        self.linear = nn.Linear(num_channels[-1], output_size)

    def forward(self, x):
        y1 = self.tcn(x)  # x: (batch, input_size, seq_len)
        return self.linear(y1[:, :, -1])
