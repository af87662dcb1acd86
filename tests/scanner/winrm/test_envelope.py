"""scanner.winrm.envelope.serialize writes exactly what ET.tostring(..., encoding="utf-8", method="xml") writes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypsrp.shell import SignalCode, WinRS
from pypsrp.wsman import NAMESPACES, SelectorSet, WSMan

from scanner.winrm import envelope, wsman
from scanner.winrm.envelope import serialize
from scanner.winrm.winrs import LiftedReceiveWinRS
from tests.support.wsman_fakes import fake_wsman, reply

RSP = NAMESPACES["rsp"]
XML_NS = "http://www.w3.org/XML/1998/namespace"
ESCAPE_PRONE = 'a & b < c > d "q" \'s\' \r\n\t é € 😀'
ODD_CHARACTERS = ["\ud800", "\x01", "\x00", "]]>", "&amp;"]  # not XML, or markup-like: written as ElementTree does


def tostring(element: ET.Element) -> bytes:
    written: bytes = ET.tostring(element, encoding="utf-8", method="xml")
    return written


class Recording(WSMan):
    """pypsrp's WSMan keeping each envelope as cmaudit writes it (scanner.winrm.wsman), answering as Windows would."""

    envelopes: list[ET.Element]

    def invoke(self, action: str, resource_uri: str, resource: Any, option_set: Any = None,  # type: ignore[override]
               selector_set: Any = None, timeout: Any = None, **kwargs: Any) -> ET.Element:
        addressing = wsman.Addressing("https://site01.lab.example:5986/wsman", 153600, 20)
        _, envelope_ = wsman.envelope(addressing, action, resource_uri, resource, option_set, selector_set, timeout)
        self.envelopes.append(envelope_)
        return ET.fromstring(reply(tostring(envelope_)))


def cmaudit_envelopes() -> dict[str, ET.Element]:
    """One envelope of each kind cmaudit sends, with options and text that need escaping."""
    recording = fake_wsman(Recording)
    recording.envelopes = []
    kinds: list[str] = []

    def sent(kind: str) -> None:
        kinds.extend([kind] * (len(recording.envelopes) - len(kinds)))

    LiftedReceiveWinRS(recording, codepage=65001).open()
    sent("create utf-8")
    LiftedReceiveWinRS(recording, codepage=437).open()
    sent("create oem")
    shell = LiftedReceiveWinRS(recording, codepage=65001, environment={"CMAUDIT": ESCAPE_PRONE, "A&B": "<x>"},
                               no_profile=True, idle_time_out=60, working_directory='C:\\Program Files\\"SMS"&<>',
                               lifetime=300)
    shell.open()
    sent("create with environment")
    shell.command('echo "a & b" ^<c^> | type "C:\\Logs\\wsyncmgr.log" é€', None)
    sent("command line")
    shell.command("cmd.exe", ["/c", 'echo "a & b" <c> é € 😀', "\r\n\t"])
    sent("command with arguments")
    shell.receive("stdout stderr", "C0FFEE00-0000-4000-8000-000000000001")
    sent("receive")
    shell.receive("stdout stderr", "C0FFEE00-0000-4000-8000-000000000001", timeout=5)
    sent("receive with timeout")
    shell.signal(SignalCode.TERMINATE, "C0FFEE00-0000-4000-8000-000000000001")
    sent("signal")
    selectors = SelectorSet()
    selectors.add_option("ShellId", "2D6534D0-6B12-40E3-B773-CBA26459CFA8")
    recording.delete(shell.resource_uri, selector_set=selectors)  # the delete over a fresh connection (collect.py)
    sent("delete with selectors")
    shell.close()
    sent("delete")
    plain = WinRS(recording)
    plain.open()
    sent("create without options")
    return dict(zip(kinds, recording.envelopes, strict=True))


ENVELOPES = cmaudit_envelopes()


def test_every_kind_of_envelope_was_built():
    """The table of envelopes covers create, command, receive, signal and delete."""
    assert {kind.split()[0] for kind in ENVELOPES} == {"create", "command", "receive", "signal", "delete"}


@pytest.mark.parametrize("kind", list(ENVELOPES))
def test_envelope_is_written_byte_for_byte_as_elementtree_writes_it(kind: str):
    """What goes on the wire is exactly what pypsrp's ET.tostring would have sent."""
    assert serialize(ENVELOPES[kind]) == tostring(ENVELOPES[kind])


@pytest.mark.parametrize("kind", list(ENVELOPES))
def test_envelopes_need_no_fallback(kind: str, monkeypatch: pytest.MonkeyPatch):
    """cmaudit's own envelopes are all written by the fast path (ElementTree's writer is never needed)."""
    expected = tostring(ENVELOPES[kind])
    monkeypatch.setattr(ET, "tostring", None)
    assert serialize(ENVELOPES[kind]) == expected


def test_fast_path_is_active_on_this_python():
    """The import-time self-check passed: on a Python whose ElementTree writes differently this fails."""
    assert envelope.FAST


def test_escaping_matches_elementtree():
    """Attribute values escape & < > " CR LF TAB, text escapes & < >, and nothing else changes."""
    written = serialize(ENVELOPES["create with environment"]).decode()
    assert 'Name="A&amp;B"' in written
    assert ">a &amp; b &lt; c &gt; d \"q\" 's' \r\n\t é € 😀<" in written
    assert "WorkingDirectory>C:\\Program Files\\\"SMS\"&amp;&lt;&gt;<" in written


# -- random trees --------------------------------------------------------------------------------------------------

NAMESPACE_CHOICES = [*NAMESPACES.values(), None, "urn:cmaudit:not-registered"]
_names = st.tuples(st.sampled_from(NAMESPACE_CHOICES), st.sampled_from(["Shell", "Stream", "a", "x-y", "Ünï"]))
_pieces = st.lists(st.sampled_from(list(ESCAPE_PRONE) + ODD_CHARACTERS), max_size=10).map("".join)
_texts = st.one_of(st.none(), _pieces)


def _qualified(name: tuple[str | None, str]) -> str:
    uri, local = name
    return f"{{{uri}}}{local}" if uri else local


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> ET.Element:
    element = ET.Element(_qualified(draw(_names)))
    for key in draw(st.lists(st.one_of(_names, st.just((XML_NS, "lang"))), max_size=3, unique=True)):
        element.set(_qualified(key), draw(_pieces))
    element.text = draw(_texts)
    element.tail = draw(_texts) if depth else None
    if depth < 3:
        element.extend(draw(st.lists(trees(depth + 1), max_size=3)))
    return element


@settings(max_examples=300, deadline=None)
@given(trees())
def test_random_trees_are_written_as_elementtree_writes_them(tree: ET.Element):
    """Any small tree of registered (or unknown) namespaces and escaping-prone text comes out identical."""
    assert serialize(tree) == tostring(tree)


# -- what the fast path leaves to ElementTree ----------------------------------------------------------------------

def _with(child: Any) -> ET.Element:
    root = ET.Element(f"{{{RSP}}}Shell", {"ShellId": "S"})
    root.append(child)
    return root


def _tree_with_text(value: object) -> ET.Element:
    root = ET.Element(f"{{{RSP}}}Shell")
    root.text = value  # type: ignore[assignment]
    return root


FALLBACKS = {
    "comment": _with(ET.Comment(" a & b ")),
    "processing instruction": _with(ET.ProcessingInstruction("target", "data")),
    "unregistered namespace": _with(ET.Element("{urn:cmaudit:unknown}Thing", {"{urn:cmaudit:other}a": "1"})),
    "QName tag": _with(ET.Element(ET.QName(RSP, "Stream"))),  # type: ignore[arg-type]
    "QName attribute name": _with(ET.Element("Plain", {ET.QName(RSP, "Name"): "v"})),  # type: ignore[dict-item]
    "QName attribute value": _with(ET.Element("Plain", {"Type": ET.QName(RSP, "Stream")})),  # type: ignore[dict-item]
    "falsy non-str text (not written)": _tree_with_text(0),
}


@pytest.mark.parametrize("kind", list(FALLBACKS))
def test_what_the_fast_path_does_not_write_comes_out_as_elementtree_writes_it(kind: str):
    """Comments, PIs, QNames, unknown namespaces (ns0...) and odd values: the same bytes as ET.tostring."""
    assert serialize(FALLBACKS[kind]) == tostring(FALLBACKS[kind])


def test_unregistered_namespace_gets_elementtree_s_invented_prefix():
    """A namespace nobody registered is written with ElementTree's nsN prefix, as pypsrp would send it."""
    written = serialize(FALLBACKS["unregistered namespace"])
    assert b'xmlns:ns1="urn:cmaudit:unknown"' in written and b"<ns1:Thing ns2:a=" in written


@pytest.mark.parametrize("value", [pytest.param(42, id="int"), pytest.param(b"bytes", id="bytes"),
                                   pytest.param(ET.QName(RSP, "Stream"), id="QName")])
def test_text_elementtree_cannot_write_raises_what_elementtree_raises(value: object):
    """A text that is not a string fails as ET.tostring fails, not with output ElementTree would refuse."""
    with pytest.raises(TypeError) as theirs:
        tostring(_tree_with_text(value))
    with pytest.raises(TypeError) as ours:
        serialize(_tree_with_text(value))
    assert str(ours.value) == str(theirs.value)


def test_default_namespace_registration_falls_back(monkeypatch: pytest.MonkeyPatch):
    """A namespace registered with the empty prefix (a default namespace) is written as ElementTree writes it."""
    monkeypatch.setitem(envelope._PREFIXES, "urn:cmaudit:default", "")
    tree = _with(ET.Element("{urn:cmaudit:default}Thing"))
    assert serialize(tree) == tostring(tree)
    assert b' xmlns="urn:cmaudit:default"' in serialize(tree)


# -- the registry changing --------------------------------------------------------------------------------------------

def test_a_prefix_registered_anew_is_used_from_the_next_envelope(monkeypatch: pytest.MonkeyPatch):
    """After re-registering a namespace under another prefix, envelopes use the new prefix, as ElementTree would."""
    receive = ENVELOPES["receive"]
    assert b"<rsp:Receive" in serialize(receive)
    monkeypatch.setitem(envelope._PREFIXES, RSP, "shell")
    assert serialize(receive) == tostring(receive)
    assert b"<shell:Receive" in serialize(receive)
    monkeypatch.undo()
    assert serialize(receive) == tostring(receive)
    assert b"<rsp:Receive" in serialize(receive)


class _Hooked(ET.Element):
    """An element that runs `hook` the first time its attributes are read (i.e. while the tree is written)."""

    hook: Any = None

    def items(self) -> Any:
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        return super().items()


def test_a_registration_while_an_envelope_is_written_is_not_mixed_in(monkeypatch: pytest.MonkeyPatch):
    """A prefix changed mid-envelope (another thread registering) gives the envelope of the new registration."""
    root = ET.Element(f"{{{RSP}}}Shell")
    ET.SubElement(root, f"{{{RSP}}}InputStreams").text = "stdin"
    hooked = _Hooked(f"{{{RSP}}}OutputStreams")
    hooked.hook = lambda: monkeypatch.setitem(envelope._PREFIXES, RSP, "shell")
    root.append(hooked)
    serialize(ENVELOPES["receive"])  # the caches hold rsp: fragments
    written = serialize(root)
    assert written == tostring(root)
    assert b"rsp:" not in written


def test_a_namespace_missing_mid_envelope_is_written_as_elementtree_would(monkeypatch: pytest.MonkeyPatch):
    """register_namespace deletes before it sets: a tree written in that window still equals ET.tostring's."""
    root = ET.Element(f"{{{RSP}}}Shell")
    hooked = _Hooked(f"{{{RSP}}}OutputStreams")
    hooked.hook = lambda: monkeypatch.delitem(envelope._PREFIXES, RSP)
    root.append(hooked)
    serialize(ENVELOPES["receive"])
    written = serialize(root)
    assert written == tostring(root)
    assert b"ns0:" in written
