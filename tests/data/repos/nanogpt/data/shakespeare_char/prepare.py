# Writes meta.pkl with the character vocabulary of input.txt (65 characters for tiny Shakespeare).
import pickle

chars = sorted(set(open("input.txt").read()))
with open("meta.pkl", "wb") as f:
    pickle.dump({"vocab_size": len(chars)}, f)
