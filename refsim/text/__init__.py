"""Text models' input side: BERT's WordPiece tokenizer (:mod:`refsim.text.wordpiece`)."""
from refsim.text.wordpiece import Encoding, WordPieceTokenizer, basic_tokenize, load_vocab

__all__ = ["Encoding", "WordPieceTokenizer", "basic_tokenize", "load_vocab"]
