"""Reading a WS-Management fault out of a reply body, nested reasons included.

    s:Envelope/s:Body/s:Fault
      s:Code/s:Value, s:Code/s:Subcode/s:Value      -> `subcode` (w:AccessDenied...), the code when nothing else
      s:Reason/s:Text                               -> the reason when no message is nested below
      s:Detail/f:WSManFault[@Code, @Machine]        -> `code` (the first Code of any nested WSManFault), machine
        f:Message > f:ProviderFault > f:WSManFault > f:Message ...   -> the innermost text is the reason
      s:Detail/wmi:MSFT_WmiError/wmi:error_Code, wmi:Message          -> WinRM 3.0+'s detail form

pypsrp keeps only the outer, often empty, text; the innermost one says why. Codes are read with their own
bound (at most 10 digits: a 32-bit code) before Python's; anything else is kept as the text it is.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from defusedxml import ElementTree as SafeET
from pypsrp.exceptions import WSManFaultError

try:
    from defusedxml import DefusedXmlException
except ImportError:  # pragma: no cover
    DefusedXmlException = ()  # type: ignore[assignment,misc]

__all__ = ["NS", "DefusedXmlException", "WSManFault", "code_number", "parse_fault"]

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "wmi": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
}
_F_WSMAN_FAULT = f"{{{NS['f']}}}WSManFault"
_F_MESSAGE = f"{{{NS['f']}}}Message"
_F_PROVIDER = f"{{{NS['f']}}}ProviderFault"
_CODE = re.compile(r"[0-9]{1,10}")  # a 32-bit fault code in decimal


class WSManFault(WSManFaultError):
    """pypsrp's WSManFaultError with what its parser drops: the subcode, and the reason a provider nests in
    f:Message > f:ProviderFault > f:WSManFault > f:Message (pypsrp keeps only the outer, often empty, text)."""

    def __init__(self, code: int | str | None, machine: str | None, reason: str | None, provider: str | None,
                 provider_path: str | None, provider_fault: str | None, subcode: str | None = None,
                 relates_to: str | None = None) -> None:
        super().__init__(code, machine, reason, provider, provider_path, provider_fault)
        self.subcode = subcode
        self.relates_to = relates_to  # the MessageID of the request it answers (wsa:RelatesTo), if it names one


def code_number(text: str) -> int | str:
    """A fault code as a number when it is one (at most 10 digits), else the text as it is."""
    text = text.strip()
    return int(text) if _CODE.fullmatch(text) else text


def parse_fault(text: str) -> WSManFault | None:
    """The SOAP fault in a reply body (None when it holds none, or is not XML)."""
    try:
        root = SafeET.fromstring(text, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError):
        return None
    fault = root.find("s:Body/s:Fault", NS)
    if fault is None:
        return None
    subcode = _text(fault.find("s:Code/s:Subcode/s:Value", NS))
    detail = fault.find("s:Detail", NS)
    wsman = detail.find("f:WSManFault", NS) if detail is not None else None
    code = _detail_code(detail, wsman)
    if code is None:
        code = subcode or _text(fault.find("s:Code/s:Value", NS))
    texts = _messages(wsman) + _wmi_messages(detail)
    reason = texts[-1] if texts else _text(fault.find("s:Reason/s:Text", NS)) or ""
    provider, provider_path, provider_fault = _provider(wsman)
    return WSManFault(code, wsman.get("Machine") if wsman is not None else None, reason or None, provider,
                      provider_path, provider_fault, subcode, _text(root.find("s:Header/a:RelatesTo", NS)))


def _text(element: ET.Element | None) -> str | None:
    return (element.text or "").strip() if element is not None else None


def _detail_code(detail: ET.Element | None, wsman: ET.Element | None) -> int | str | None:
    """The first Code attribute of the (nested) WSManFaults, else WinRM 3.0's MSFT_WmiError code."""
    if wsman is not None:
        codes = [el.get("Code") or "" for el in wsman.iter(_F_WSMAN_FAULT)]
        found = next((code_number(c) for c in codes if c), None)
        if found is not None:
            return found
    wmi_code = detail.find("wmi:MSFT_WmiError/wmi:error_Code", NS) if detail is not None else None
    return code_number(wmi_code.text or "") if wmi_code is not None else None


def _messages(wsman: ET.Element | None) -> list[str]:
    """Every non-blank f:Message / f:ProviderFault text, outermost first."""
    if wsman is None:
        return []
    return [(el.text or "").strip() for el in wsman.iter() if el.tag in (_F_MESSAGE, _F_PROVIDER)
            and (el.text or "").strip()]


def _wmi_messages(detail: ET.Element | None) -> list[str]:
    message = _text(detail.find("wmi:MSFT_WmiError/wmi:Message", NS)) if detail is not None else None
    return [message] if message else []


def _provider(wsman: ET.Element | None) -> tuple[str | None, str | None, str | None]:
    """(provider, path, text) of the first f:ProviderFault."""
    element = next(wsman.iter(_F_PROVIDER), None) if wsman is not None else None
    if element is None:
        return None, None, None
    return element.get("provider"), element.get("path"), (element.text or "").strip() or None
