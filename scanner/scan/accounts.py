"""Which logons share one lockout allowance: the account a domain counts failed logons for, however it is spelled.

A domain controller keeps one badPwdCount per account, whatever the spelling of its name in a logon and
wherever the password came from. So the logon gate (scanner.scan.logon_gate) keys its counts on the account,
read from the user name like this:

    spelling                      user       domain                      one account with
    LAB\\auditor, lab\\AUDITOR     auditor    LAB                         any case of either part
    auditor@LAB.TEST              auditor    LAB (the realm's first      LAB\\auditor (where the NetBIOS name
                                             label)                      differs, they count apart)
    auditor, .\\auditor            auditor    none: cannot be known       every spelling of `auditor` in the run
                                                                         (when in doubt, share the allowance)
    CM01\\auditor                  auditor    CM01 (a local account of    its own: a host's local account has a
                                             CM01, or a domain CM01)     counter of its own

Names compare case-insensitively; the password source (--password-env, the inventory's password_env) never
splits an account. The shared allowance is decided for the whole run at once (`AccountKey.for_run`): a bare
`auditor` anywhere in it joins every `X\\auditor` and `auditor@X` into one account.

Across runs: a run starts each account with the logons an earlier run left unproven (`carry_into`): the
--rescan-failed run's, the audit's latest recorded run's, and this process's earlier scans' (`UNPROVEN`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scanner.model.records import RejectedPassword
from scanner.scan.logon_gate import AccountTally, LogonGate

if TYPE_CHECKING:
    from scanner.model.host import Host

Identity = tuple[str | None, str | None]  # (user name case-folded, domain upper-cased or None)


def identity(user: str | None) -> Identity:
    """The account a user name names, per the table above; (None, None) without a user name (the jump box's
    Kerberos ticket: no password of ours at all)."""
    if not user:
        return None, None
    domain, backslash, name = user.partition("\\")
    if backslash:
        return name.casefold(), (domain.upper() if domain not in ("", ".") else None)
    name, at, realm = user.rpartition("@")
    if at and name:
        return name.casefold(), realm.split(".", 1)[0].upper() or None
    return user.casefold(), None


def same_account(one: Identity, other: Identity) -> bool:
    """Could these be the same account? The same user name, and the same domain or one of them not known."""
    return one[0] == other[0] and (one[1] is None or other[1] is None or one[1] == other[1])


@dataclass(frozen=True, slots=True)
class Account:
    """An account as the logon gate counts it: its identity, shown as the run first spelled it."""

    user: str | None
    domain: str | None
    shown: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.shown or "the WinRM account"


@dataclass(frozen=True, slots=True)
class AccountKey:
    """The logon gate's key for a host: its account (see the module docstring)."""

    default_user: str | None
    shared: frozenset[str] = frozenset()  # user names with a spelling of unknown domain in the run: one account
    spelled: Mapping[Identity, str] = field(default_factory=dict)  # how each account was first spelled

    @classmethod
    def for_run(cls, default_user: str | None, hosts: Iterable[Host]) -> AccountKey:
        """The key for a run's hosts: which spellings share an allowance is settled over all of them at once."""
        users = [default_user, *(host.username for host in hosts)]
        found = [(identity(user), user) for user in users if user]
        shared = frozenset(name for (name, domain), _ in found if name is not None and domain is None)
        spelled: dict[Identity, str] = {}
        for (name, domain), user in found:
            spelled.setdefault((name, None if name in shared else domain), user)
        return cls(default_user, shared, spelled)

    def of_user(self, user: str | None) -> Account:
        name, domain = identity(user)
        if name in self.shared:
            domain = None
        return Account(name, domain, self.spelled.get((name, domain), user or ""))

    def __call__(self, host: Host) -> Account:
        return self.of_user(host.username or self.default_user)


# -- failed logons from before this run ------------------------------------------------------------------------
Carried = tuple[Identity, int]  # an account, and the logons that may have failed for it since its last proof


def carried_from(rejected: Iterable[RejectedPassword]) -> list[Carried]:
    """What an earlier run's banner lines leave: its rejected and unanswered logons, per account."""
    return [(identity(r.account), r.rejected_by + r.unanswered) for r in rejected if r.rejected_by + r.unanswered]


def carry_into(gate: LogonGate, accounts: Iterable[Account], carried: Iterable[Carried]) -> None:
    """Start each of the run's accounts with what earlier runs left it (the most any match left; the gate keeps
    one logon free so a corrected password can prove itself)."""
    carried = list(carried)
    for account in set(accounts):
        if account.user is None:
            continue
        failed = max((n for ident, n in carried if same_account(ident, (account.user, account.domain))), default=0)
        gate.carry(account, failed)


class UnprovenAccounts:
    """Accounts that runs in this process left unproven, with the logons that may have failed for them: a second
    scan in the same process (a library caller, a scheduled run) starts from there, as --rescan-failed does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._left: dict[Identity, int] = {}

    def remember(self, tallies: Iterable[AccountTally]) -> None:
        with self._lock:
            for tally in tallies:
                account = tally.account
                if not isinstance(account, Account) or account.user is None:
                    continue
                ident = (account.user, account.domain)
                if tally.proven:
                    for known in [k for k in self._left if same_account(k, ident)]:
                        del self._left[known]
                elif tally.spent:
                    self._left[ident] = max(self._left.get(ident, 0), tally.spent)

    def left(self) -> list[Carried]:
        with self._lock:
            return list(self._left.items())

    def forget(self) -> None:
        with self._lock:
            self._left.clear()


UNPROVEN = UnprovenAccounts()
