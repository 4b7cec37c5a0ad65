"""BERT's uncased WordPiece tokenizer, from a vocab.txt alone (no network, no
transformers): the same splitting as Google's BERT `tokenization.py` and
transformers' BertTokenizer(do_lower_case=True), which MLPerf's BERT-Large
(SQuAD v1.1, vocab of 30522 entries) uses.

    tok = WordPiece.from_vocab_file("vocab.txt")
    tok.tokenize("Who wrote it?")            # ['who', 'wrote', 'it', '?']
    tok.convert_tokens_to_ids([...])

Standard library only.
"""

import unicodedata

UNK = "[UNK]"
MAX_CHARS_PER_WORD = 100


def load_vocab(path):
    """token -> id, one token a line, the id being the line number."""
    vocab = {}
    with open(path, encoding="utf-8") as f:
        for index, line in enumerate(f):
            vocab[line.rstrip("\n")] = index  # a repeated token keeps its last line, as BERT's loader does
    if not vocab:
        raise ValueError(f"vocab file {path} is empty")
    return vocab


def _is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch):
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_punctuation(ch):
    cp = ord(ch)
    # All non-letter, non-number ASCII is punctuation here (as in BERT), e.g. "^", "$", "`".
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def basic_tokenize(text, lower_case=True):
    """Clean, split CJK characters and punctuation apart, lower-case and strip accents."""
    cleaned = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            cleaned.append(" ")
        elif _is_cjk(cp):
            cleaned.append(f" {ch} ")
        else:
            cleaned.append(ch)
    words = []
    for word in "".join(cleaned).split():
        if lower_case:
            word = unicodedata.normalize("NFD", word.lower())
            word = "".join(ch for ch in word if unicodedata.category(ch) != "Mn")
        current = []
        for ch in word:
            if _is_punctuation(ch):
                if current:
                    words.append("".join(current))
                    current = []
                words.append(ch)
            else:
                current.append(ch)
        if current:
            words.append("".join(current))
    return words


class WordPiece:
    def __init__(self, vocab, lower_case=True):
        self.vocab = vocab
        self.lower_case = lower_case
        if UNK not in vocab:
            raise ValueError(f"the vocabulary has no {UNK} token")
        for special in ("[CLS]", "[SEP]", "[PAD]"):
            if special not in vocab:
                raise ValueError(f"the vocabulary has no {special} token")

    @classmethod
    def from_vocab_file(cls, path, lower_case=True):
        return cls(load_vocab(path), lower_case)

    def wordpiece(self, word):
        """Greedy longest-match-first split of one word into vocabulary pieces."""
        if len(word) > MAX_CHARS_PER_WORD:
            return [UNK]
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end]
                if start > 0:
                    piece = "##" + piece
                if piece in self.vocab:
                    found = piece
                    break
                end -= 1
            if found is None:
                return [UNK]
            pieces.append(found)
            start = end
        return pieces

    def tokenize(self, text):
        return [piece for word in basic_tokenize(text, self.lower_case) for piece in self.wordpiece(word)]

    def convert_tokens_to_ids(self, tokens):
        unk = self.vocab[UNK]
        return [self.vocab.get(t, unk) for t in tokens]

    def id(self, token):
        return self.vocab[token]
