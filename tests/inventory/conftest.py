"""Shared helpers for the inventory tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.paths import DATA as TEST_DATA

DATA = TEST_DATA / "inventories"


@pytest.fixture
def write(tmp_path):
    """Write text to a named file under tmp_path and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write
