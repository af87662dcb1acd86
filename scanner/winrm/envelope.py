"""Outgoing WS-Management envelopes serialized several times faster, byte for byte as ElementTree writes them.

pypsrp serializes each request with `ET.tostring(envelope, encoding="utf-8", method="xml")`: a walk of the tree
to collect namespaces, then a pure-Python writer making one call and one encoder write per fragment, for every
envelope of a host (figures in bench/RESULTS.md). `serialize` walks the tree once into a list and encodes the
joined text once, with ElementTree's own rules: the prefix of a namespace is the one registered in ElementTree's
process-wide map (`register_namespace`, which pypsrp calls for every WS-Man prefix), the declarations go on the
root sorted by prefix, `xml:` is never declared, attribute values and text are escaped by the same replacements
(`_escape_attrib`, `_escape_cdata`), an empty element is `<x />`, tails follow their element (the root's too)
and characters UTF-8 cannot encode become character references.

Whatever it does not reproduce exactly goes to `ET.tostring` itself, so the output is always ElementTree's:
comments, processing instructions, QName objects, a tag that is not a plain `str`, text or an attribute that is
not a plain `str`, a namespace without a registered prefix (ElementTree would invent ns0, ns1, ...) or with an
empty one (a default namespace). At import the fast path checks itself against `ET.tostring` on a tree with
every feature it writes itself; on a Python whose ElementTree writes differently, `FAST` is False and every
envelope goes through `ET.tostring` (tests/scanner/winrm/test_envelope.py fails then, so it is noticed).

The names, attributes and namespace declarations are cached as written text (bounded), keyed by the prefixes
registered when they were made: see _Cache for how a registration made later is still honoured.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

# ElementTree's uri -> prefix registry (what `register_namespace` writes and `ET.tostring` reads); read at every
# call, never copied, so a prefix registered later is used exactly as ElementTree would use it.
_PREFIXES: dict[str, str] = ET._namespace_map  # type: ignore[attr-defined]

_CACHE_MAX = 4096  # entries per cache: the same few dozen names and values in every envelope; bounded anyway
_LENGTH_MAX = 256  # a longer name or attribute value is not kept


class _Cache:
    """Written fragments, all made with the prefixes in `prefixes` (uri -> prefix as registered when first met).

    After each envelope the prefixes of the namespaces it used are compared with the registry (what ElementTree
    would have looked up); on any difference a new _Cache replaces this one and the envelope is written again.
    A call keeps the _Cache it started with, so a thread never mixes fragments of two registrations."""

    __slots__ = ("prefixes", "tags", "attrs", "declarations")

    def __init__(self) -> None:
        self.prefixes: dict[str, str] = {}
        self.tags: dict[str, tuple[str, str, str | None]] = {}  # tag -> ("<p:local", "</p:local>", uri or None)
        self.attrs: dict[tuple[str, str], tuple[str, str | None]] = {}  # (name, value) -> (' p:n="v"', uri)
        self.declarations: dict[tuple[str, ...], str] = {}  # namespaces used, in tree order -> ' xmlns:p="uri"..'


_cache = _Cache()


class _Unsupported(Exception):
    """Something the fast path does not write exactly as ElementTree: ET.tostring writes the tree instead."""


def serialize(element: ET.Element) -> bytes:
    """`ET.tostring(element, encoding="utf-8", method="xml")`, byte for byte, in a fraction of its time."""
    if FAST:
        try:
            return _fast(element)
        except _Unsupported:
            pass
    written: bytes = ET.tostring(element, encoding="utf-8", method="xml")
    return written


def _fast(root: ET.Element, again: bool = False) -> bytes:
    global _cache
    cache = _cache
    prefixes = cache.prefixes
    parts: list[str] = []
    used: dict[str, None] = {}  # namespaces in the order ElementTree meets them (tree order, tag before attributes)
    _write(root, parts.append, used, cache)
    if used:
        for uri in used:
            if _PREFIXES.get(uri) != prefixes[uri]:  # registered anew since the fragments were made
                if _cache is cache:
                    _cache = _Cache()
                if again:  # the registry changed while this envelope was written
                    raise _Unsupported
                return _fast(root, again=True)
        key = tuple(used)
        declarations = cache.declarations.get(key)
        if declarations is None:
            declared = sorted(((uri, prefixes[uri]) for uri in key if prefixes[uri] != "xml"),
                              key=lambda item: item[1])  # ElementTree sorts on the prefix
            declarations = "".join(f' xmlns:{prefix}="{_escape_attrib(uri)}"' for uri, prefix in declared)
            if len(cache.declarations) < _CACHE_MAX:
                cache.declarations[key] = declarations
        parts.insert(1, declarations)  # on the root, before its attributes
    return "".join(parts).encode("utf-8", "xmlcharrefreplace")


def _split(name: object, cache: _Cache) -> tuple[str, str | None]:
    """A name as ElementTree writes it ("prefix:local" or "local") and its namespace."""
    if type(name) is not str:
        raise _Unsupported
    if name[:1] != "{":
        return name, None
    if "}" not in name:
        raise _Unsupported  # ElementTree raises its own error for this
    uri, local = name[1:].rsplit("}", 1)
    prefix = cache.prefixes.get(uri)
    if prefix is None:
        prefix = _PREFIXES.get(uri)
        if not prefix:  # unregistered (ElementTree invents ns0...) or "" (a default namespace)
            raise _Unsupported
        prefix = cache.prefixes.setdefault(uri, prefix)  # what another thread set first, if it did
    return f"{prefix}:{local}", uri


def _tag(tag: object, cache: _Cache) -> tuple[str, str, str | None]:
    written, uri = _split(tag, cache)
    entry = (f"<{written}", f"</{written}>", uri)
    if len(written) <= _LENGTH_MAX and len(cache.tags) < _CACHE_MAX:
        cache.tags[tag] = entry  # type: ignore[index]
    return entry


def _attr(item: tuple[object, object], cache: _Cache) -> tuple[str, str | None]:
    key, value = item
    if type(value) is not str:
        raise _Unsupported
    written, uri = _split(key, cache)
    entry = (f' {written}="{_escape_attrib(value)}"', uri)
    if len(written) + len(value) <= _LENGTH_MAX and len(cache.attrs) < _CACHE_MAX:
        cache.attrs[item] = entry  # type: ignore[index]
    return entry


def _write(elem: ET.Element, append: Callable[[str], None], used: dict[str, None], cache: _Cache) -> None:
    end = _open(elem, append, used, cache)
    text = elem.text
    if text:  # ElementTree writes (and type-checks) only a true text or tail
        append(">" + _text(text))
    elif len(elem):
        append(">")
    else:
        append(" />")
        end = ""
    for child in elem:
        _write(child, append, used, cache)
    if end:
        append(end)
    tail = elem.tail
    if tail:
        append(_text(tail))


def _open(elem: ET.Element, append: Callable[[str], None], used: dict[str, None], cache: _Cache) -> str:
    """Write the start tag without its closing ">" (the tag, then each attribute); answer the end tag."""
    tag = elem.tag
    entry = cache.tags.get(tag) if type(tag) is str else None  # a QName equals its text: no cache for it
    if entry is None:
        entry = _tag(tag, cache)
    start, end, uri = entry
    if uri is not None and uri not in used:
        used[uri] = None
    append(start)
    for item in elem.items():
        attr = cache.attrs.get(item)
        if attr is None or type(item[0]) is not str or type(item[1]) is not str:  # QName: written differently
            attr = _attr(item, cache)
        if attr[1] is not None and attr[1] not in used:
            used[attr[1]] = None
        append(attr[0])
    return end


def _text(text: object) -> str:
    """A text or tail as ElementTree writes it (escaped only where it needs to be)."""
    if type(text) is not str:
        raise _Unsupported
    return _escape_cdata(text) if "&" in text or "<" in text or ">" in text else text


def _escape_cdata(text: str) -> str:
    """ElementTree's `_escape_cdata`."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attrib(text: str) -> str:
    """ElementTree's `_escape_attrib`."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#09;"))


def _probe() -> ET.Element:
    """A tree with every feature the fast path writes itself (see the module docstring)."""
    xml = "http://www.w3.org/XML/1998/namespace"
    xsi = "http://www.w3.org/2001/XMLSchema-instance"  # registered by ElementTree itself
    rdf = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    root = ET.Element(f"{{{xsi}}}Root", {f"{{{rdf}}}a": "1 & 2 < 3 > 0 \"q\" 'a'\r\n\t", "plain": "",
                                         f"{{{xml}}}lang": "en-US"})
    root.text = "t & <x> \"q\" 'a'\r\n\t\u00e9\u20ac\U0001f600\ud800"
    child = ET.SubElement(root, f"{{{rdf}}}Child")
    child.tail = "tail & <tail>"
    ET.SubElement(root, "Empty", {"k": "v"}).text = ""
    ET.SubElement(ET.SubElement(root, f"{{{xsi}}}Nested"), f"{{{rdf}}}Deep").text = "deep"
    root.tail = "root tail >"
    return root


def _self_check() -> bool:
    probe = _probe()
    try:
        return bool(_fast(probe) == ET.tostring(probe, encoding="utf-8", method="xml"))
    except _Unsupported:
        return False


FAST = _self_check()
