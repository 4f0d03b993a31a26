"""Guessed tokens in version-2 decoding: right guesses save model calls, wrong ones change
nothing (nzarc.neural.mix.lanedecode)."""

from __future__ import annotations

import pytest
import torch

from nzarc.neural.codec import NeuralCodec, register_model
from nzarc.neural.mix import lanedecode
from nzarc.neural.mix.lanedecode import Drafter
from nzarc.neural.runtime.session import Session

WINDOW = 32
LOG = b"".join(
    b"2005-12-04 04:%02d:%02d INFO dfs.DataNode: Receiving block blk_%d src: /10.250.19.102\n"
    % (i // 7, (i * 13) % 60, 1000 + i)
    for i in range(12)
)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _codec(tiny, lanes: int = 2) -> NeuralCodec:
    return NeuralCodec.from_params({"model": register_model(tiny), "window": WINDOW, "version": 2, "lanes": lanes})


def _calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count model calls and the tokens they feed."""
    seen = [0, 0]
    extend = Session.extend

    def counting(self: Session, tokens: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        seen[0] += 1
        seen[1] += int(tokens.numel())
        return extend(self, tokens, rows)

    monkeypatch.setattr(Session, "extend", counting)
    return seen


def test_drafter_guesses_what_followed_the_latest_earlier_context() -> None:
    d = Drafter()
    assert d.draft(4) == []
    for t in [1, 2, 3, 4, 5, 9, 1, 2, 3, 7, 8, 1, 2]:
        d.push(t)
    assert d.draft(4) == [3, 7, 8, 1]  # "1 2" last followed by 3 7 8 ...
    d.push(3)
    assert d.draft(2) == [7, 8]  # "1 2 3": its latest earlier occurrence
    assert d.draft(0) == []
    d.push(6)
    assert d.draft(3) == []  # "3 6" never occurred before


def test_repetitive_text_decodes_in_fewer_model_calls(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    codec = _codec(tiny, lanes=1)
    encoded = codec.encode(LOG)
    plain = _calls(monkeypatch)
    monkeypatch.setattr(Drafter, "draft", lambda self, limit: [])
    assert codec.decode(encoded, len(LOG)) == LOG
    monkeypatch.undo()
    guessed = _calls(monkeypatch)
    assert codec.decode(encoded, len(LOG)) == LOG
    tokens = len(tiny.tokenizer.encode(LOG))
    assert plain == [tokens, tokens]  # one call, one fed token, per token without guesses
    assert guessed[0] < tokens * 3 // 4  # guesses decoded several tokens per call
    assert guessed[1] >= tokens


@pytest.mark.parametrize("guess", ["zeros", "off by one", "long"])
def test_wrong_guesses_change_no_byte(tiny, monkeypatch: pytest.MonkeyPatch, guess: str) -> None:
    data = LOG + bytes(range(256)) + b"tail text after the binary part " * 3
    codec = _codec(tiny, lanes=3)
    encoded = codec.encode(data)
    vocab = tiny.vocab_size
    real = Drafter.draft

    def wrong(self: Drafter, limit: int) -> list[int]:
        if guess == "zeros":
            return [0] * limit
        if guess == "off by one":
            return [(t + 1) % vocab for t in real(self, limit)]
        return (real(self, limit) + [5] * limit)[:limit]  # right guesses, then wrong ones

    monkeypatch.setattr(Drafter, "draft", wrong)
    monkeypatch.setattr(lanedecode, "MAX_DRAFTS", 5)
    assert codec.decode(encoded, len(data)) == data


def test_corrupt_streams_are_still_rejected_with_guesses(tiny) -> None:
    from nzarc.errors import CodecError

    codec = _codec(tiny, lanes=1)
    encoded = bytearray(codec.encode(LOG))
    encoded[len(encoded) // 2] ^= 0x55
    with pytest.raises(CodecError):
        codec.decode(bytes(encoded), len(LOG))


def test_a_window_whose_guesses_fail_mostly_stops_guessing(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guesses that are always wrong cost a few rows per window plus about one per
    ``MAX_PAUSE`` tokens, not one per token (the pause after a failed first guess doubles)."""
    codec = _codec(tiny, lanes=1)
    encoded = codec.encode(LOG)
    never = tiny.vocab_size - 1
    tokens = tiny.tokenizer.encode(LOG)
    assert never not in tokens
    monkeypatch.setattr(Drafter, "draft", lambda self, limit: [never] * min(limit, 1))
    seen = _calls(monkeypatch)
    assert codec.decode(encoded, len(LOG)) == LOG
    windows = -(-len(tokens) // WINDOW)
    wasted = seen[1] - len(tokens)
    assert seen[0] == len(tokens)  # a wrong guess decodes nothing more
    assert 0 < wasted <= len(tokens) // lanedecode.MAX_PAUSE + 6 * windows, (wasted, len(tokens))
