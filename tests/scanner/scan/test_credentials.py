"""Passwords: where they come from, that they never leak, and which transports may carry them."""

from __future__ import annotations

import pickle
import sys
import threading
import types
from typing import Any

import pytest

from scanner.model.errors import UsageError
from scanner.model.host import Host
from scanner.scan import credentials
from scanner.scan.credentials import PasswordResolver, Secret
from scanner.winrm.transport_policy import message_encryption, transport_notes, validate_transport

PASSWORD = "Tr0ub4dor&3-never-shown"


def _host(**kwargs: Any) -> Host:
    fields: dict[str, Any] = {"name": "sms01", "address": "sms01", "port": 5985, "scheme": "http", "auth": "ntlm",
                              "username": "CORP\\svc-cmaudit", "source": "fleet.csv:2"}
    fields.update(kwargs)
    return Host(**fields)


class _Prompt:
    """A getpass stand-in that counts how often the admin was asked."""

    def __init__(self, answer: str = PASSWORD) -> None:
        self.answer, self.calls = answer, 0

    def __call__(self, prompt: str) -> str:
        self.calls += 1
        return self.answer


@pytest.fixture
def no_keyring(monkeypatch):
    """Make the keyring step find nothing, whatever the machine has configured."""
    monkeypatch.setattr(credentials, "keyring_password", lambda username: None)


@pytest.fixture
def fake_keyring(monkeypatch):
    """Install a `keyring` module that knows one password, so the real keyring is never touched."""
    module = types.ModuleType("keyring")
    store = {("cmaudit", "CORP\\svc-cmaudit"): "from-keyring"}
    module.get_password = lambda service, user: store.get((service, user))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", module)
    return store


class TestOrder:
    def test_per_host_variable_wins_over_the_default(self, no_keyring):
        """A host with its own password variable uses it even when CMAUDIT_PASSWORD is set."""
        resolver = PasswordResolver(environ={"CMAUDIT_PW_TRD": "per-host", "CMAUDIT_PASSWORD": "shared"})
        assert resolver.secret(_host(password_env="CMAUDIT_PW_TRD")).reveal() == "per-host"
        assert resolver.secret(_host()).reveal() == "shared"

    def test_unset_per_host_variable_falls_back_to_the_default(self, no_keyring):
        """A per-host variable that is not set does not stop the lookup."""
        resolver = PasswordResolver(environ={"CMAUDIT_PASSWORD": "shared"})
        assert resolver.secret(_host(password_env="CMAUDIT_PW_TRD")).reveal() == "shared"

    def test_keyring_is_used_when_no_variable_is_set(self, fake_keyring):
        """`keyring set cmaudit CORP\\svc-cmaudit` is enough on a jump box with a keyring."""
        resolver = PasswordResolver(environ={})
        assert resolver.secret(_host()).reveal() == "from-keyring"
        assert "keyring" in resolver.sources["CORP\\svc-cmaudit"]

    def test_keyring_can_be_switched_off(self, fake_keyring):
        """use_keyring=False never consults the keyring."""
        assert PasswordResolver(environ={}, use_keyring=False).secret(_host()) is None

    def test_broken_keyring_means_not_found(self, monkeypatch):
        """A keyring backend that raises (locked, no D-Bus) is treated as having no password."""
        module = types.ModuleType("keyring")

        def boom(service, user):
            raise RuntimeError(f"backend failed for {PASSWORD}")

        module.get_password = boom  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "keyring", module)
        assert PasswordResolver(environ={}).secret(_host()) is None

    def test_missing_keyring_package_means_not_found(self, monkeypatch):
        """Without the optional keyring package the lookup goes on quietly."""
        monkeypatch.setitem(sys.modules, "keyring", None)  # makes `import keyring` raise ImportError
        assert credentials.keyring_password("CORP\\svc-cmaudit") is None

    def test_prompt_only_on_a_terminal_and_only_once_per_user(self, no_keyring):
        """A fleet under one account prompts once, even with many worker threads asking at once."""
        prompt = _Prompt()
        resolver = PasswordResolver(environ={}, interactive=True, prompt=prompt, is_terminal=lambda: True)
        results: list[Secret | None] = []
        threads = [threading.Thread(target=lambda: results.append(resolver.secret(_host()))) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert prompt.calls == 1
        assert all(found is not None and found.reveal() == PASSWORD for found in results)
        resolver.secret(_host(username="CORP\\other"))
        assert prompt.calls == 2

    @pytest.mark.parametrize("interactive, terminal", [
        pytest.param(False, True, id="not-interactive"),
        pytest.param(True, False, id="no-terminal"),
    ])
    def test_no_prompt_for_schedulers(self, no_keyring, interactive, terminal):
        """A scheduled run never blocks on a prompt: no password is the answer."""
        prompt = _Prompt()
        resolver = PasswordResolver(environ={}, interactive=interactive, prompt=prompt, is_terminal=lambda: terminal)
        assert resolver.secret(_host()) is None
        assert prompt.calls == 0

    @pytest.mark.parametrize("host", [
        pytest.param(_host(auth="certificate", scheme="https", cert_pem="c.pem", cert_key_pem="k.pem"), id="cert"),
        pytest.param(_host(auth="kerberos", username=None), id="kerberos-ticket"),
        pytest.param(_host(auth="negotiate", username=None), id="negotiate-sspi"),
    ])
    def test_no_password_needed_for_certificates_and_tickets(self, no_keyring, host):
        """Certificate auth and Kerberos with the jump box's own ticket never ask for a password."""
        prompt = _Prompt()
        resolver = PasswordResolver(environ={"CMAUDIT_PASSWORD": "x"}, interactive=True, prompt=prompt,
                                    is_terminal=lambda: True)
        assert resolver.secret(host) is None
        assert prompt.calls == 0

    def test_real_environment_is_read_when_none_is_given(self, monkeypatch, no_keyring):
        """Without an explicit environment, the resolver reads CMAUDIT_PASSWORD from os.environ."""
        monkeypatch.setenv("CMAUDIT_PASSWORD", PASSWORD)
        found = PasswordResolver(interactive=False).secret(_host())
        assert found is not None and found.reveal() == PASSWORD
        monkeypatch.delenv("CMAUDIT_PASSWORD")
        assert PasswordResolver(interactive=False).secret(_host()) is None


class TestSecret:
    def test_secret_never_shows_the_password(self):
        """repr, str, f-strings, containers and exception text all show a redaction."""
        secret = Secret(PASSWORD)
        texts = [repr(secret), str(secret), f"{secret}", f"{secret:>30}", repr([secret]), repr({"pw": secret}),
                 str(ValueError(secret)), repr(ValueError(secret))]
        assert all(PASSWORD not in text for text in texts)
        assert secret.reveal() == PASSWORD

    def test_secret_cannot_be_pickled(self):
        """A password cannot end up on disk through pickling a result."""
        with pytest.raises(TypeError):
            pickle.dumps(Secret(PASSWORD))

    def test_secrets_compare_by_value(self):
        """Two lookups of the same password are equal; different ones are not."""
        assert Secret("a") == Secret("a") and Secret("a") != Secret("b")


class TestTransport:
    @pytest.mark.parametrize("auth, scheme, insecure", [
        pytest.param("ntlm", "http", False, id="ntlm-http-encrypted"),
        pytest.param("kerberos", "http", False, id="kerberos-http-encrypted"),
        pytest.param("negotiate", "http", False, id="negotiate-http-encrypted"),
        pytest.param("basic", "https", False, id="basic-https"),
        pytest.param("credssp", "https", False, id="credssp-https"),
        pytest.param("basic", "http", True, id="basic-http-insecure"),
        pytest.param("credssp", "http", True, id="credssp-http-insecure"),
    ])
    def test_allowed_combinations(self, auth, scheme, insecure):
        """Safe transports (and unsafe ones under --insecure) pass."""
        validate_transport(_host(auth=auth, scheme=scheme), insecure=insecure)

    @pytest.mark.parametrize("host, insecure, words", [
        pytest.param(_host(auth="basic"), False, "Basic auth over http", id="basic-http"),
        pytest.param(_host(auth="credssp"), False, "CredSSP", id="credssp-http"),
        pytest.param(_host(auth="certificate", cert_pem="c", cert_key_pem="k"), True, "needs https",
                     id="certificate-http-even-insecure"),
        pytest.param(_host(auth="certificate", scheme="https"), False, "cert_pem", id="certificate-without-files"),
    ])
    def test_refused_combinations_name_the_host(self, host, insecure, words):
        """An unsafe combination is refused with one line naming the host and its inventory line."""
        with pytest.raises(UsageError) as caught:
            validate_transport(host, insecure=insecure)
        message = str(caught.value)
        assert words in message and "sms01 (fleet.csv:2)" in message and "\n" not in message

    @pytest.mark.parametrize("auth, scheme, expected", [
        pytest.param("ntlm", "http", "always", id="ntlm-http"),
        pytest.param("kerberos", "http", "always", id="kerberos-http"),
        pytest.param("ntlm", "https", "auto", id="ntlm-https"),
        pytest.param("basic", "http", "never", id="basic-http-insecure"),
    ])
    def test_message_encryption_is_required_on_http(self, auth, scheme, expected):
        """Over HTTP the scan insists on WinRM message encryption for every auth that can encrypt."""
        assert message_encryption(_host(auth=auth, scheme=scheme)) == expected

    def test_kerberos_to_an_ip_address_is_noted(self):
        """The dry run warns that Kerberos to a host named only by its IP address has no SPN."""
        notes = transport_notes(_host(name="10.0.0.5", auth="kerberos", address="10.0.0.5"))
        assert notes and "SPN" in notes[0] and "host" in notes[0]

    def test_kerberos_to_a_named_host_at_an_ip_is_fine(self):
        """A host with a DNS name and an IP `address` gets its SPN from the name: nothing to warn about."""
        assert transport_notes(_host(name="sms01.corp.example", auth="kerberos", address="10.0.0.5")) == ()
