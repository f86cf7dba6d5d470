""":class:`StreamScrubber`: however a text is cut into pieces, it scrubs it as a whole would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from lmux_plug._secrets import StreamScrubber
from lmux_plug._secrets import scrub

SECRETS = ("sk-live-ABCDEFGH1234", "zq-98765432", "sk-live-AB")  # the last starts the first


@st.composite
def cut_text(draw: st.DrawFn) -> tuple[str, list[str]]:
    parts = draw(
        st.lists(st.one_of(st.sampled_from(SECRETS), st.text("sk-liveABzq98 x", max_size=12)))
    )
    text = "".join(parts)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=10)))
    return text, [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


@settings(max_examples=500, deadline=None)
@given(cut_text())
def test_pieces_scrub_like_the_whole(case: tuple[str, list[str]]) -> None:
    text, pieces = case
    scrubber = StreamScrubber(SECRETS, replacement="***")
    out = "".join(scrubber.feed(piece) for piece in pieces) + scrubber.flush()
    assert not any(secret in out for secret in SECRETS)
    assert out == scrub(text, SECRETS).replace("[redacted]", "***")


def test_held_back_text_is_never_longer_than_a_secret_less_one() -> None:
    scrubber = StreamScrubber(SECRETS)
    longest = max(map(len, SECRETS))
    assert scrubber.feed("plain text, no secret") == "plain text, no secret"
    sent = scrubber.feed("then sk-live-ABCDEFGH123")  # one character short of the key
    assert sent == "then "
    assert len("sk-live-ABCDEFGH123") <= longest - 1
    assert scrubber.feed("4!") == "[redacted]!"
    assert scrubber.feed("ends with sk-") == "ends with "
    assert scrubber.flush() == "sk-"
    assert scrubber.flush() == ""
