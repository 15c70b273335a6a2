# a baby GPT on Shakespeare characters
out_dir = "out-shakespeare-char"
dataset = "shakespeare_char"
batch_size = 64
block_size = 256  # context of up to 256 previous characters

n_layer = 6
n_head = 6
n_embd = 384
dropout = 0.2
