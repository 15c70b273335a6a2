"""The fixture repositories build, and their parameter counts agree with hand computations."""

from __future__ import annotations

import pytest

from .repos import REPOS, true_params

torch = pytest.importorskip("torch")


def test_nanogpt_default_is_gpt2_small_with_padded_vocab() -> None:
    n = true_params(REPOS / "nanogpt", "model", lambda m: m.GPT(m.GPTConfig()))
    # GPT-2 small (124,439,808 with vocab 50257) + 47 padded rows of 768: 124,475,904
    assert n == 124_439_808 + 47 * 768


def test_llama2c_default_is_llama2_7b_with_tied_output() -> None:
    n = true_params(REPOS / "llama2c", "model", lambda m: m.Transformer(m.ModelArgs()))
    # Llama-2-7B (6,738,415,616, untied) less one 32000 x 4096 output matrix
    assert n == 6_738_415_616 - 32000 * 4096


def test_cifar_resnet18_matches_the_published_count() -> None:
    n = true_params(REPOS / "cifar-resnet", "resnet", lambda m: m.ResNet18())
    assert n == 11_173_962  # kuangliu/pytorch-cifar ResNet18 (the README's 11.2M)


def test_word_lm_count_by_hand() -> None:
    def build(m: object) -> object:
        return m.RNNModel("LSTM", 33278, 200, 200, 2, 0.2)  # type: ignore[attr-defined]

    n = true_params(REPOS / "wordlm", "model", build)
    lstm = 2 * (4 * 200 * (200 + 200) + 2 * 4 * 200)
    assert n == 33278 * 200 + lstm + 200 * 33278 + 33278


def test_mingpt_gpt_mini_count_by_hand() -> None:
    def build(m: object) -> object:
        cfg = m.GPT.get_default_config()  # type: ignore[attr-defined]
        cfg.model_type, cfg.vocab_size, cfg.block_size = "gpt-mini", 65, 128
        return m.GPT(cfg)  # type: ignore[attr-defined]

    n = true_params(REPOS / "mingpt", "mingpt.model", build)
    d = 192
    block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
    assert n == 65 * d + 128 * d + 6 * block + 2 * d + 65 * d


def test_tcn_adding_problem_count_by_hand() -> None:
    def build(m: object) -> object:
        return m.TCN(2, 1, [30] * 8, kernel_size=7, dropout=0.0)  # type: ignore[attr-defined]

    n = true_params(REPOS / "tcn", "TCN.adding_problem.model", build)
    # weight_norm: weight_v (out, in, k) + weight_g (out, 1, 1) + bias, per conv
    first = (30 * 2 * 7 + 30 + 30) + (30 * 30 * 7 + 30 + 30) + (30 * 2 + 30)  # + 1x1 downsample
    rest = (30 * 30 * 7 + 30 + 30) * 2
    assert n == first + 7 * rest + 30 + 1


def test_vit_default_count_by_hand() -> None:
    n = true_params(REPOS / "vit", "vit", lambda m: m.ViT())
    d, patch_dim, f = 768, 3 * 16 * 16, 3072
    embed = 2 * patch_dim + patch_dim * d + d + 2 * d + (196 + 1) * d + d
    layer = 2 * d + 3 * d * d + d * d + d + 2 * d + d * f + f + f * d + d
    assert n == embed + 12 * layer + 2 * d + d * 1000 + 1000


def test_char_model_needs_its_vocab() -> None:
    def build(m: object) -> object:
        cfg = m.CharConfig(vocab_size=65, block_size=256)  # type: ignore[attr-defined]
        return m.CharGPT(cfg)  # type: ignore[attr-defined]

    n = true_params(REPOS / "charlm", "model", build)
    d = 128
    block = 2 * d + (3 * d * d + 3 * d + d * d + d) + 2 * d + (4 * d * d + 4 * d + 4 * d * d + d)
    assert n == 65 * d + 256 * d + 4 * block + 2 * d
    with pytest.raises(TypeError):  # None vocab: the model cannot be built without the data
        true_params(REPOS / "charlm", "model", lambda m: m.CharGPT(m.CharConfig()))
