"""The pypsrp internals cmaudit overrides are all still there in the installed pypsrp."""

from __future__ import annotations

import logging
import threading
import xml.etree.ElementTree as ET

import pytest
from pypsrp.exceptions import WinRMError, WinRMTransportError, WSManFaultError
from pypsrp.wsman import NAMESPACES, OptionSet, SelectorSet, WSMan, _TransportHTTP

from scanner.winrm.pypsrp_compat import WSMAN_CONSTRUCTION, invoke, missing_internals, write_envelope
from tests.support.wsman_fakes import fake_wsman, fixed_ids, reply

RSP = NAMESPACES["rsp"]


def test_installed_pypsrp_has_every_overridden_internal():
    """An upgrade of pypsrp that renames or reshapes what cmaudit hooks into fails here, not in the field."""
    assert missing_internals() == []


def test_a_changed_internal_is_reported(monkeypatch: pytest.MonkeyPatch):
    """The check names what is missing or whose signature changed, so the failure says what to fix."""
    monkeypatch.delattr(_TransportHTTP, "_build_session")
    monkeypatch.setattr(_TransportHTTP, "_send_request", lambda self, request: b"")
    assert missing_internals() == ["_TransportHTTP._build_session", "_TransportHTTP._send_request('self', 'request')"]


def test_a_changed_wsman_invoke_is_reported(monkeypatch: pytest.MonkeyPatch):
    """A pypsrp whose WSMan.invoke differs from the one pypsrp_compat.invoke copies fails the check."""
    original = WSMan.invoke

    def invoke(self, action, resource_uri, resource, option_set=None, selector_set=None, timeout=None, *,
               retries_on_read_timeout=0):
        return original(self, action, resource_uri, resource, option_set, selector_set, timeout,
                        retries_on_read_timeout=retries_on_read_timeout)

    monkeypatch.setattr(WSMan, "invoke", invoke)
    monkeypatch.setattr(WSMan, "_create_header", staticmethod(lambda action, resource_uri: ("", None)))
    assert missing_internals() == ["WSMan.invoke (changed: compare pypsrp_compat.invoke with it)",
                                   "WSMan._create_header('action', 'resource_uri')",
                                   "WSMan._create_header -> self.transport.endpoint"]


# -- pypsrp_compat.invoke against pypsrp's WSMan.invoke ------------------------------------------------------------

RESOURCE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
ACTION = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"


def _requests() -> list[tuple[str, ET.Element | None, dict]]:
    """(action, resource, keyword arguments) of each kind of request cmaudit sends, with options and selectors."""
    options = OptionSet()
    options.add_option("WINRS_CODEPAGE", "65001")
    options.add_option("WINRS_NOPROFILE", "TRUE", {"MustComply": "true"})
    selectors = SelectorSet()
    selectors.add_option("ShellId", "2D6534D0-6B12-40E3-B773-CBA26459CFA8")
    shell = ET.Element(f"{{{RSP}}}Shell")
    ET.SubElement(shell, f"{{{RSP}}}InputStreams").text = "stdin"
    command = ET.Element(f"{{{RSP}}}CommandLine")
    ET.SubElement(command, f"{{{RSP}}}Command").text = 'type "C:\\a&b\\<wsyncmgr>.log" é'
    receive = ET.Element(f"{{{RSP}}}Receive")
    ET.SubElement(receive, f"{{{RSP}}}DesiredStream", CommandId="C").text = "stdout stderr"
    signal = ET.Element(f"{{{RSP}}}Signal", CommandId="C")
    ET.SubElement(signal, f"{{{RSP}}}Code").text = f"{RSP}/signal/terminate"
    return [
        ("http://schemas.xmlsoap.org/ws/2004/09/transfer/Create", shell, {"option_set": options}),
        (ACTION + "Command", command, {"selector_set": selectors}),
        (ACTION + "Receive", receive, {"option_set": options, "selector_set": selectors, "timeout": 20,
                                       "retries_on_read_timeout": 2}),
        (ACTION + "Signal", signal, {"selector_set": selectors}),
        ("http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete", None, {"selector_set": selectors, "timeout": 5}),
    ]


def _call(invoke, wsman, action, resource, kwargs):
    with fixed_ids():
        try:
            return invoke(wsman, action, RESOURCE, resource, **kwargs)
        except (WinRMError, WSManFaultError) as exc:  # compared below (WinRMTransportError is a WinRMError)
            return exc


@pytest.mark.parametrize("index", range(5), ids=["create", "command", "receive", "signal", "delete"])
def test_invoke_sends_and_answers_what_pypsrp_invoke_does(index: int):
    """Same bytes, HTTP timeout (operation timeout + 2 s) and read-timeout retries; the same reply element."""
    action, resource, kwargs = _requests()[index]
    wsman = fake_wsman()
    theirs = _call(WSMan.invoke, wsman, action, resource, kwargs)
    ours = _call(invoke, wsman, action, resource, kwargs)
    assert wsman.transport.sent[0] == wsman.transport.sent[1]
    assert ET.tostring(ours) == ET.tostring(theirs)


def _answering(answer):
    wsman = fake_wsman(answer=answer)
    action, resource, kwargs = _requests()[2]
    return _call(WSMan.invoke, wsman, action, resource, kwargs), _call(invoke, wsman, action, resource, kwargs)


def test_reply_to_another_message_is_refused_as_pypsrp_refuses_it():
    """A reply whose RelatesTo is not the request's MessageID raises pypsrp's WinRMError, same words."""
    theirs, ours = _answering(lambda request: reply(request, relates_to="uuid:SOMEONE-ELSE"))
    assert type(ours) is type(theirs) is WinRMError
    assert str(ours) == str(theirs) and "Received: uuid:SOMEONE-ELSE" in str(ours)


def test_fault_in_an_http_error_is_raised_as_pypsrp_raises_it():
    """An HTTP 500 carrying a WS-Management fault becomes the same WSManFaultError pypsrp raises."""
    fault = (f'<s:Envelope xmlns:s="{NAMESPACES["s"]}" xmlns:f="{NAMESPACES["wsmanfault"]}"><s:Body><s:Fault>'
             "<s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Reason><s:Text>busy</s:Text></s:Reason><s:Detail>"
             '<f:WSManFault Code="2150858793" Machine="site01"><f:Message>The operation timed out.</f:Message>'
             "</f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>")
    theirs, ours = _answering(lambda request: WinRMTransportError("http", 500, fault))
    assert type(ours) is type(theirs) is WSManFaultError
    assert (ours.code, ours.machine, ours.reason) == (theirs.code, theirs.machine, theirs.reason) \
        == (2150858793, "site01", "The operation timed out.")


def test_http_error_without_xml_is_raised_as_it_came(caplog: pytest.LogCaptureFixture):
    """An HTTP error whose body is not XML re-raises the transport error, logged where pypsrp logs it."""
    error = WinRMTransportError("http", 503, "Service Unavailable")
    with caplog.at_level(logging.ERROR, logger="pypsrp.wsman"):
        theirs, ours = _answering(lambda request: error)
    assert ours is theirs is error
    assert [(r.name, r.getMessage()) for r in caplog.records][0] == [(r.name, r.getMessage())
                                                                     for r in caplog.records][1]
    assert len(caplog.records) == 2


def test_envelopes_are_never_written_while_a_wsman_registers_its_prefixes():
    """Hosts' threads writing envelopes while other hosts' WSMan objects are built always send the same bytes.

    (pypsrp re-registers its prefixes in every WSMan; ElementTree invents ns0... in between, xml: included.)"""
    envelope = ET.Element(f"{{{NAMESPACES['s']}}}Envelope")
    header = ET.SubElement(envelope, f"{{{NAMESPACES['s']}}}Header")
    ET.SubElement(header, f"{{{NAMESPACES['wsman']}}}Locale", {f"{{{NAMESPACES['xml']}}}lang": "en-US"})
    ET.SubElement(ET.SubElement(envelope, f"{{{NAMESPACES['s']}}}Body"), f"{{{RSP}}}Receive")
    expected = ET.tostring(envelope, encoding="utf-8", method="xml")
    wrong: list[bytes] = []
    stop = threading.Event()

    def build() -> None:
        while not stop.is_set():
            with WSMAN_CONSTRUCTION:  # as scanner.winrm.session builds every WSMan
                WSMan("site01.lab.example", auth="basic", username="auditor", password="unused", ssl=True)

    def write() -> None:
        wrong.extend(written for written in (write_envelope(envelope) for _ in range(3000)) if written != expected)

    builder = threading.Thread(target=build)
    writers = [threading.Thread(target=write) for _ in range(2)]
    builder.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    builder.join()
    assert wrong == []
