"""The kinds of change since the last run and the words for them: one table the console, the mail, the page's
tiles and lists and the host table's Change column all read, so they never name one change two ways.

    key                CSV `change` word, the page's data-change; its hosts in Changes.<field>
    title              the heading of its list ("New findings (2)"); lower-cased, the summary's tile
    word               one host's change in a table cell
    hot                something got worse: highlighted
    tile               counted in the summary's tiles (still open and not checked are not news)

Rows in reading order: what got worse, what got better, what is unchanged, who came and went.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner.model.changes import (
    CHANGE_ADDED,
    CHANGE_FIXED,
    CHANGE_NEW,
    CHANGE_OPEN,
    CHANGE_REGRESSED,
    CHANGE_UNREACHABLE,
    CHANGE_WAIVED,
    CHANGE_WAIVER_ENDED,
    Changes,
    HostChange,
    NotChecked,
)

CHANGE_REMOVED = "removed"  # a host of the previous run that is no longer in the inventory (no row of its own)
CHANGE_NOT_CHECKED = "not-checked"  # a host no run has judged for several runs in a row


@dataclass(frozen=True, slots=True)
class ChangeKind:
    key: str
    field: str
    title: str
    word: str
    hot: bool = False
    tile: bool = True

    @property
    def tile_label(self) -> str:
        return self.title[0].lower() + self.title[1:]


CHANGE_KINDS: tuple[ChangeKind, ...] = (
    ChangeKind(CHANGE_NEW, "new_findings", "New findings", "new finding", hot=True),
    ChangeKind(CHANGE_REGRESSED, "regressed", "Regressed", "regressed", hot=True),
    ChangeKind(CHANGE_UNREACHABLE, "newly_unreachable", "Newly unreachable", "newly unreachable", hot=True),
    ChangeKind(CHANGE_WAIVER_ENDED, "waiver_ended", "Waivers ended", "waiver ended", hot=True),
    ChangeKind(CHANGE_FIXED, "fixed", "Fixed", "fixed"),
    ChangeKind(CHANGE_WAIVED, "waived", "Newly waived", "newly waived"),
    ChangeKind(CHANGE_OPEN, "still_open", "Still open", "still open", tile=False),
    ChangeKind(CHANGE_NOT_CHECKED, "not_checked", "Not checked", "still unchecked", tile=False),
    ChangeKind(CHANGE_ADDED, "added", "Hosts added", "added"),
    ChangeKind(CHANGE_REMOVED, "removed", "Hosts removed", "removed"),
)
KIND_OF: dict[str, ChangeKind] = {k.key: k for k in CHANGE_KINDS}


def change_words(key: str) -> str:
    """One host's change as a table cell says it ("" for none; an unknown key as it is)."""
    kind = KIND_OF.get(key)
    return kind.word if kind is not None else key


def hosts_of(changes: Changes, kind: ChangeKind) -> tuple[HostChange, ...] | tuple[NotChecked, ...]:
    """The hosts behind one kind of change."""
    found: tuple[HostChange, ...] | tuple[NotChecked, ...] = getattr(changes, kind.field)
    return found
