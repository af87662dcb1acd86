"""Advisory files: the built-in 954474 data and validation of hand-written files."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from scanner.advisory.loader import build_name
from scanner.model.errors import AdvisoryFileError, UsageError
from scanner.scan.advisory_file import ADVISORY_DIR, builtin_advisories, load_advisory

BUILTIN = ADVISORY_DIR / "ms-954474.toml"


def test_the_rules_data_marks_what_no_public_source_confirms():
    """6710 and 6711 are marked unverified, the Setup\\Type coding names its source, and the June 2008 catalog
    date is data the engine reads."""
    a = load_advisory()
    assert a.signatures.unverified_statmsg == {6710, 6711} and 6709 not in a.signatures.unverified_statmsg
    assert a.site_types is not None and a.site_types.secondary == {"2"}
    assert a.site_types.source == "SMS 2.0 coding (KB Q273853), assumed for 2007"
    assert a.catalog_cutoff == date(2008, 6, 10) and a.signatures.cycle_settle.total_seconds() == 600
    assert "Warning" not in a.signatures.error_words and "error" in a.signatures.error_words


def test_builtin_advisory_facts():
    """The shipped advisory carries the facts reports show: id, KB, dates, references, remediation."""
    a = load_advisory()
    assert (a.id, a.kb, a.published, a.updated) == ("ms-954474", "951376", date(2008, 6, 13), date(2008, 6, 17))
    assert "951376" in a.kb_url and any("954474" in r for r in a.references)
    assert "951376" in a.remediation
    assert re.fullmatch(r"[0-9a-f]{64}", a.sha256) and a.path == str(BUILTIN)
    assert BUILTIN in builtin_advisories()


@pytest.mark.parametrize(("build", "name"), [
    pytest.param("4.00.5931.0000", "ConfigMgr 2007 RTM", id="rtm"),
    pytest.param("4.00.6221.1000", "ConfigMgr 2007 SP1", id="sp1"),
    pytest.param("4.00.6221.1193", "ConfigMgr 2007 SP1", id="sp1-hotfix"),
    pytest.param("4.00.6487.2000", "ConfigMgr 2007 SP2", id="sp2"),
    pytest.param("4.00.6487.2157", "ConfigMgr 2007 R3 (SP2)", id="r3"),
    pytest.param("2.50.4160.2000", "SMS 2003", id="sms2003"),
    pytest.param("5.00.7804.1000", "ConfigMgr 2012 or later", id="cm2012"),
    pytest.param("4.00.6000.0001", None, id="unknown-4.00"),
    pytest.param("not a build", None, id="garbage"),
    pytest.param(None, None, id="none"),
])
def test_build_names(build, name):
    """Reports name the build; a build no range covers stays unnamed."""
    assert build_name(build, load_advisory()) == name


def _write(tmp_path: Path, text: str, name: str = "ms-954474.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


BASE = BUILTIN.read_text(encoding="utf-8")


@pytest.mark.parametrize(("old", "new", "key"), [
    pytest.param('id = "ms-954474"', 'id = "ms-000000"', "id", id="id-mismatch"),
    pytest.param('id = "ms-954474"\n', "", "id", id="id-missing"),
    pytest.param("published = 2008-06-13", 'published = "June"', "published", id="bad-date"),
    pytest.param("updated = 2008-06-17", "updated = 2008-06-01", "updated", id="updated-before-published"),
    pytest.param('status = "fixed"', 'status = "patched"', "builds[2].status", id="bad-status"),
    pytest.param('below = "4.00.5932"', 'below = "4.00.5930"', "builds[0].from", id="empty-range"),
    pytest.param("start_statmsg = [6709]", 'start_statmsg = ["6709"]', "signatures.start_statmsg", id="statmsg-type"),
    pytest.param("summary_pattern = ':", "summary_pattern = '(:", "signatures.summary_pattern", id="bad-regex"),
    pytest.param('"DeploymentAction"', '"DeploymentAktion\u00e4"', "signatures.failure_all_of", id="non-ascii-token"),
    pytest.param('UNKNOWN = "cmaudit cannot', 'MAYBE = "cmaudit cannot', "verdict_text.UNKNOWN",
                 id="missing-verdict-text"),
    pytest.param('AT_RISK = """', 'AT_RISKY = """', "verdict_remediation.AT_RISK", id="missing-remediation"),
    pytest.param("[verdict_remediation]", "[verdict_remediation]\nERROR = \"x\"", "verdict_remediation.ERROR",
                 id="error-remediation"),
    pytest.param("[verdict_text]", "[verdict_text]\nERROR = \"x\"", "verdict_text.ERROR", id="error-verdict-text"),
    pytest.param("{cause}.\"\n", "{cause} {cause}.\"\n", "verdict_text.NOT_APPLICABLE", id="cause-twice"),
    pytest.param("catalog_cutoff = 2008-06-10", 'catalog_cutoff = "June"', "catalog_cutoff", id="cutoff-not-a-date"),
    pytest.param('secondary = ["2"]', 'secondary = ["1"]', "site_type.secondary", id="type-both-roles"),
    pytest.param('source = "SMS 2.0 coding', 'sauce = "SMS 2.0 coding', "site_type.source", id="type-without-source"),
    pytest.param("cycle_settle_minutes = 10", "cycle_settle_minutes = 0", "signatures.cycle_settle_minutes",
                 id="settle-zero"),
    pytest.param("failure_detail_patterns = ['\\bfor update (\\d{4,10})\\b'",
                 "failure_detail_patterns = ['for update \\d+'", "signatures.failure_detail_patterns",
                 id="detail-without-group"),
    pytest.param('error_words = ["error"', 'error_words = [" error"', "signatures.error_words",
                 id="error-word-with-spaces"),
])
def test_invalid_file_names_file_and_key(tmp_path, old, new, key):
    """A bad advisory file is refused with a one-line error naming the file and the key."""
    assert old in BASE
    path = _write(tmp_path, BASE.replace(old, new, 1))
    with pytest.raises(AdvisoryFileError) as info:
        load_advisory(path)
    assert info.value.key == key
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, UsageError)


@pytest.mark.parametrize(("content", "fragment"), [
    pytest.param("id = [unclosed", "not valid TOML", id="not-toml"),
    pytest.param(None, "cannot read", id="missing-file"),
])
def test_unreadable_file(tmp_path, content, fragment):
    """A file that is not TOML, or not there, is a usage error naming it."""
    path = tmp_path / "ms-954474.toml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(AdvisoryFileError, match=fragment) as info:
        load_advisory(path)
    assert str(path) in str(info.value)


def test_second_advisory_file_loads_from_its_own_name(tmp_path):
    """Another advisory is just another file whose id matches its name."""
    path = _write(tmp_path, BASE.replace('id = "ms-954474"', 'id = "ms-999999"', 1), "ms-999999.toml")
    assert load_advisory(path).id == "ms-999999"
