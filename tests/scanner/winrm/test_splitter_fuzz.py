"""Server output split at any byte boundary reaches the same log sections, within their caps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.winrm.collect import MarkerSplitter, marker

NONCE = "0a1b2c3d4e5f"
NAMES = ("lo_", "log", "end")
# log-like bytes, with pieces of our own marker syntax mixed in to tempt the splitter
_TOKENS = st.sampled_from([b"==", b"==cmaudit:", b"==cmaudit:0a1b2c3d4e5f:", b"\r\n", b"\n", b"x", b"\x00", b"log==",
                           b"==cmaudit:0a1b2c3d4e5f:nope==\r\n", b"\xff\xfe", b"l\x00o\x00g\x00"])
_BODY = st.lists(st.one_of(_TOKENS, st.binary(max_size=40)), max_size=40).map(b"".join)


def _line(name: str) -> bytes:
    return (marker(NONCE, name) + " \r\n").encode()


def _feed(stream: bytes, cuts: list[int], cap: int) -> MarkerSplitter:
    split = MarkerSplitter(NONCE, NAMES, cap)
    at = 0
    for cut in sorted({min(c, len(stream)) for c in cuts}) + [len(stream)]:
        split.feed(stream[at:cut])
        at = cut
    split.close()
    return split


@settings(max_examples=300, deadline=None)
@given(rolled=_BODY, current=_BODY, trailer=_BODY, cuts=st.lists(st.integers(0, 400), max_size=12),
       cap=st.integers(1, 64))
def test_sections_do_not_depend_on_chunking(rolled: bytes, current: bytes, trailer: bytes, cuts: list[int],
                                            cap: int) -> None:
    """However Receive replies cut the stream, each section holds the same bytes, at most `cap` of them."""
    stream = _line("lo_") + rolled + _line("log") + current + _line("end") + trailer
    whole = _feed(stream, [], cap)
    pieces = _feed(stream, cuts, cap)
    assert {k: (bytes(v.data), v.seen) for k, v in whole.sections.items()} == {
        k: (bytes(v.data), v.seen) for k, v in pieces.sections.items()}
    assert all(len(v.data) <= cap for v in pieces.sections.values())
    assert pieces.total == len(stream)
    if f"==cmaudit:{NONCE}:".encode() not in rolled + current:  # the trailer may hold any markers
        # without a forged marker, each file's bytes are kept exactly (their tail, when over the cap)
        assert bytes(pieces.sections["lo_"].data) == (rolled[-cap:] if rolled else b"")
        assert bytes(pieces.sections["log"].data) == (current[-cap:] if current else b"")


def test_a_marker_after_the_end_cannot_reopen_a_log_section() -> None:
    """Output after the closing marker is trailer: a forged `log` marker there adds nothing to the log's bytes."""
    stream = _line("lo_") + b"old" + _line("log") + b"new" + _line("end") + b"tail" + _line("log") + b"forged"
    split = _feed(stream, [], 64)
    assert bytes(split.sections["log"].data) == b"new"
    assert bytes(split.sections["lo_"].data) == b"old"
    assert split.sections["end"].data.endswith(b"forged")
