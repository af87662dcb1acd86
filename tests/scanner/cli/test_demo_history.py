"""`cmaudit demo` keeps its runs to itself: its own folder, audit and history, whatever else runs."""

from __future__ import annotations


def test_two_demos_started_in_the_same_second_never_share_a_folder_or_history(tmp_path) -> None:
    """Two demos claiming a folder at the same second get two folders, hence two audits and two histories."""
    from datetime import UTC, datetime

    from scanner.cli.commands import demo

    now = datetime(2026, 11, 30, 6, 0, 0, tzinfo=UTC)
    first, second = demo.new_demo_folder(tmp_path, now), demo.new_demo_folder(tmp_path, now)
    assert first != second and first.is_dir() and second.is_dir()
    assert (first.name, second.name) == ("20261130T060000Z", "20261130T060000Z-2")
    assert demo.demo_history(first).parent == first and demo.demo_history(second).parent == second
