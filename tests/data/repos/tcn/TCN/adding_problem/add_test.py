"""Trains the TCN on the adding problem (sequences of 2 channels)."""

import argparse

from TCN.adding_problem.model import TCN

parser = argparse.ArgumentParser(description="Sequence Modeling - The Adding Problem")
parser.add_argument("--batch_size", type=int, default=32, metavar="N", help="batch size")
parser.add_argument("--dropout", type=float, default=0.0, help="dropout applied to layers")
parser.add_argument("--ksize", type=int, default=7, help="kernel size")
parser.add_argument("--levels", type=int, default=8, help="# of levels")
parser.add_argument("--seq_len", type=int, default=400, help="sequence length")
parser.add_argument("--nhid", type=int, default=30, help="number of hidden units per layer")
args = parser.parse_args()

input_channels = 2
n_classes = 1
channel_sizes = [args.nhid] * args.levels
model = TCN(input_channels, n_classes, channel_sizes, kernel_size=args.ksize, dropout=args.dropout)
