"""The WS-Management request envelope cmaudit writes, and the check that a reply answers it.

pypsrp's WinRS builds each request's body (Shell, CommandLine, Receive, Signal) and calls `WSMan.invoke`, its
public hook; scanner.winrm.session overrides `invoke` to write the whole envelope here, with the header every
WS-Management request carries (MS-WSMV 2.2.4: wsa:Action, wsmv:DataLocale, wsman:Locale, wsman:MaxEnvelopeSize,
wsa:MessageID, wsman:OperationTimeout, wsa:ReplyTo, wsman:ResourceURI, wsmv:SessionId, wsa:To, then the option
and selector sets), in the order and with the attributes pypsrp 0.9 writes, so servers see the same requests.
The bytes come from scanner.winrm.envelope.serialize (ElementTree's exact output, in a quarter of its CPU).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from pypsrp.wsman import NAMESPACES

from scanner.winrm.envelope import serialize
from scanner.winrm.pypsrp_compat import WSMAN_CONSTRUCTION

_S, _WSA, _WSMAN, _WSMV, _XML = (NAMESPACES[p] for p in ("s", "wsa", "wsman", "wsmv", "xml"))
_MUST = f"{{{_S}}}mustUnderstand"
_LANG = f"{{{_XML}}}lang"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

with WSMAN_CONSTRUCTION:  # the prefixes pypsrp uses (it registers the same in every WSMan it builds)
    for _prefix, _uri in NAMESPACES.items():
        ET.register_namespace(_prefix, _uri)


@dataclass(frozen=True, slots=True)
class Addressing:
    """What every request of one host's session carries in its header."""

    endpoint: str  # wsa:To
    max_envelope_size: int
    operation_timeout: int  # seconds, unless a request asks for another
    locale: str = "en-US"
    data_locale: str = "en-US"
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()).upper())


def request(addressing: Addressing, action: str, resource_uri: str, resource: ET.Element | None,
            option_set: Any = None, selector_set: Any = None, timeout: int | None = None) -> tuple[str, bytes]:
    """(message id, envelope bytes) of one request; `option_set`/`selector_set` are pypsrp's (their `pack()`)."""
    message_id, element = envelope(addressing, action, resource_uri, resource, option_set, selector_set, timeout)
    with WSMAN_CONSTRUCTION:  # never while a WSMan (re-)registers its prefixes (see WSMAN_CONSTRUCTION)
        return message_id, serialize(element)


def envelope(addressing: Addressing, action: str, resource_uri: str, resource: ET.Element | None,
             option_set: Any = None, selector_set: Any = None, timeout: int | None = None) -> tuple[str, ET.Element]:
    """(message id, the s:Envelope element) of one request."""
    message_id = f"uuid:{str(uuid.uuid4()).upper()}"
    root = ET.Element(f"{{{_S}}}Envelope")
    header = ET.SubElement(root, f"{{{_S}}}Header")
    ET.SubElement(header, f"{{{_WSA}}}Action", {_MUST: "true"}).text = action
    ET.SubElement(header, f"{{{_WSMV}}}DataLocale", {_MUST: "false", _LANG: addressing.data_locale})
    ET.SubElement(header, f"{{{_WSMAN}}}Locale", {_MUST: "false", _LANG: addressing.locale})
    ET.SubElement(header, f"{{{_WSMAN}}}MaxEnvelopeSize", {_MUST: "true"}).text = str(addressing.max_envelope_size)
    ET.SubElement(header, f"{{{_WSA}}}MessageID").text = message_id
    ET.SubElement(header, f"{{{_WSMAN}}}OperationTimeout").text = f"PT{timeout or addressing.operation_timeout}S"
    reply_to = ET.SubElement(header, f"{{{_WSA}}}ReplyTo")
    ET.SubElement(reply_to, f"{{{_WSA}}}Address", {_MUST: "true"}).text = ANONYMOUS
    ET.SubElement(header, f"{{{_WSMAN}}}ResourceURI", {_MUST: "true"}).text = resource_uri
    ET.SubElement(header, f"{{{_WSMV}}}SessionId", {_MUST: "false"}).text = f"uuid:{addressing.session_id}"
    ET.SubElement(header, f"{{{_WSA}}}To").text = addressing.endpoint
    if option_set is not None:
        header.append(option_set.pack())
    if selector_set is not None:
        header.append(selector_set.pack())
    body = ET.SubElement(root, f"{{{_S}}}Body")
    if resource is not None:
        body.append(resource)
    return message_id, root


def relates_to(reply: ET.Element) -> str:
    """The reply's wsa:RelatesTo: the MessageID of the request it answers ("" without one)."""
    element = reply.find(f"{{{_S}}}Header/{{{_WSA}}}RelatesTo")
    return (element.text or "") if element is not None else ""
