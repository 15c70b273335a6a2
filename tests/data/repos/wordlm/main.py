"""Trains the RNN language model on a word corpus; the vocabulary is counted from the data."""

import argparse

import model

parser = argparse.ArgumentParser(description="PyTorch Wikitext-2 RNN/LSTM Language Model")
parser.add_argument("--data", type=str, default="./data/wikitext-2", help="location of the data")
parser.add_argument("--model", type=str, default="LSTM", help="type of network (LSTM, GRU)")
parser.add_argument("--emsize", type=int, default=200, help="size of word embeddings")
parser.add_argument("--nhid", type=int, default=200, help="number of hidden units per layer")
parser.add_argument("--nlayers", type=int, default=2, help="number of layers")
parser.add_argument("--lr", type=float, default=20, help="initial learning rate")
parser.add_argument("--epochs", type=int, default=40, help="upper epoch limit")
parser.add_argument("--batch_size", type=int, default=20, metavar="N", help="batch size")
parser.add_argument("--bptt", type=int, default=35, help="sequence length")
parser.add_argument("--dropout", type=float, default=0.2, help="dropout applied to layers")
parser.add_argument("--tied", action="store_true", help="tie the word embedding and softmax")


def main():
    args = parser.parse_args()
    corpus = load_corpus(args.data)
    ntokens = len(corpus.dictionary)
    net = model.RNNModel(
        args.model, ntokens, args.emsize, args.nhid, args.nlayers, args.dropout, args.tied
    )
    hidden = net.init_hidden(args.batch_size)
    return net, hidden


def load_corpus(path):
    raise NotImplementedError(path)


if __name__ == "__main__":
    main()
