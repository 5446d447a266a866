"""refsim.tools.wordpiece: hand-checked cases, bad input, and the Hugging Face ``tokenizers`` library
reading the model's own tokenizer.json as the oracle (skipped when it or the model is absent)."""
import numpy as np
import pytest

from checks import minilm_dir as model_dir, sts_path
from refsim.tools.wordpiece import WordPieceTokenizer, basic_tokenize

# The example of BERT's README / Wu et al.: "unaffable" -> un ##aff ##able.
TINY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "a", "##ff", "runn", "##ing", ",", "!", "cafe"]

# Inputs beyond STS-B's ASCII: accents, CJK, controls, odd whitespace, long words, symbols.
EXTRA = ["Héllo, Wörld! Ça va? naïve café", "你好世界 and 日本語のテキスト", "tab\there\x00nul\ufffd\x07ctl",
         "a" * 101, "a" * 100, "İstanbul ßtraße ÅNGSTRÖM", "emoji 😀 test", "\u00a0nbsp\u2003em\u3000ideo",
         "don't re-enter $5.00 @home #tag ^_^ `q` ~x |y", "«quoted» ‘curly’ “double” — dash … ellipsis",
         "", "   ", "unaffable supercalifragilistic", "Ωmega ǅ ﬁ ligature", "١٢٣ ٤ arabic", "x\u0301y"]


@pytest.fixture
def tiny():
    return WordPieceTokenizer({t: i for i, t in enumerate(TINY)}, max_length=6)


def test_wordpiece_greedy_longest_match(tiny):
    assert tiny.wordpiece("unaffable") == ["un", "##aff", "##able"]
    assert tiny.wordpiece("running") == ["runn", "##ing"]
    assert tiny.wordpiece("unx") == ["[UNK]"]  # one unmatched piece makes the whole word [UNK]
    assert tiny.tokenize("Unaffable, CAFÉ!") == ["un", "##aff", "##able", ",", "cafe", "!"]


def test_basic_tokenize_rules():
    assert basic_tokenize("Héllo,\tWORLD!\x00") == ["hello", ",", "world", "!"]
    assert basic_tokenize("a你b") == ["a", "你", "b"]
    assert basic_tokenize("Héllo", lowercase=False) == ["Héllo"]
    assert basic_tokenize("$5^") == ["$", "5", "^"]  # ASCII symbols count as punctuation


def test_encoding_padding_truncation(tiny):
    enc = tiny(["unaffable running", "a"])  # 5 pieces -> truncated to 6 - 2 = 4
    assert enc.tokens == [["[CLS]", "un", "##aff", "##able", "runn", "[SEP]"], ["[CLS]", "a", "[SEP]"]]
    np.testing.assert_array_equal(enc.input_ids, [[2, 4, 5, 6, 9, 3], [2, 7, 3, 0, 0, 0]])
    np.testing.assert_array_equal(enc.attention_mask, [[1] * 6, [1, 1, 1, 0, 0, 0]])
    assert enc.token_type_ids.shape == (2, 6) and not enc.token_type_ids.any()
    assert tiny("a", padding="max_length", max_length=4).input_ids.tolist() == [[2, 7, 3, 0]]


def test_bad_input(tiny):
    with pytest.raises(ValueError, match="max_length: received 1"):
        tiny("a", max_length=1)
    with pytest.raises(TypeError, match="texts: received a list holding int"):
        tiny(["a", 3])
    with pytest.raises(ValueError, match="padding: received 'left'"):
        tiny("a", padding="left")
    with pytest.raises(ValueError, match=r"special tokens \['\[UNK\]'\] missing"):
        WordPieceTokenizer({"[PAD]": 0, "[CLS]": 1, "[SEP]": 2})


def _oracle(max_length=None):
    tokenizers = pytest.importorskip(
        "tokenizers", reason="Hugging Face tokenizers (test-only oracle: pip install --no-deps tokenizers)")
    hf = tokenizers.Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    hf.no_padding()
    hf.no_truncation()
    if max_length is not None:
        hf.enable_truncation(max_length)
    hf.enable_padding(pad_id=0, pad_token="[PAD]")
    return hf


def _sts_sentences(n_pairs=300):
    from refsim.tools.sts import load_sts

    d = load_sts(sts_path(), limit=n_pairs)
    return d.sentence1 + d.sentence2


def test_tokens_match_tokenizer_json_on_sts_b():
    hf, sents = _oracle(), _sts_sentences() + EXTRA
    ours = WordPieceTokenizer(model_dir() / "vocab.txt")
    for s in sents:
        assert ours.tokenize(s) == hf.encode(s, add_special_tokens=False).tokens, s


@pytest.mark.parametrize("max_length", [None, 12])
def test_batch_encoding_matches_tokenizer_json(max_length):
    hf, sents = _oracle(max_length), _sts_sentences(100) + EXTRA
    ours = WordPieceTokenizer(model_dir() / "vocab.txt")(sents, max_length=max_length)
    ref = hf.encode_batch(sents)
    np.testing.assert_array_equal(ours.input_ids, [e.ids for e in ref])
    np.testing.assert_array_equal(ours.attention_mask, [e.attention_mask for e in ref])
    np.testing.assert_array_equal(ours.token_type_ids, [e.type_ids for e in ref])
