"""A command line that forgives: suggestions for misspelt options and commands, choices in any case, sizes with
units, empty host selections refused, `-o` never silently among other runs, run folders where files go."""

from __future__ import annotations

import json

import pytest

from reports.json_report import JsonReporter
from scanner.cli.main import build_parser, main
from scanner.history.run_folder import start_run
from tests.support.samples import mixed_run
from tests.support.scans import new_password


@pytest.fixture
def two_hosts(tmp_path, monkeypatch):
    """Two healthy simulated site servers and their inventory, the password in CMAUDIT_PASSWORD."""
    from simulator import Fleet

    password = new_password()
    monkeypatch.setenv("CMAUDIT_PASSWORD", password)
    with Fleet(hosts=2, scenario="sp1-healthy", password=password) as fleet:
        yield fleet, fleet.write_inventory(tmp_path / "hosts.csv")


def _usage_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run argv, expect exit 64, and answer stderr."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 64
    return capsys.readouterr().err


def test_misspelt_option_suggests_the_right_one_with_the_commands_usage(capsys):
    """`cmaudit scan hosts.csv --usernme X` names --username and shows the scan's usage, not the top-level one."""
    err = _usage_error(capsys, ["scan", "hosts.csv", "--usernme", "CORP\\svc"])
    assert "did you mean --username?" in err
    assert err.startswith("usage: cmaudit scan ") and "unrecognized arguments" not in err


def test_misspelt_option_with_its_value_after_an_equals_sign(capsys):
    """`--max-log-byte=32M` is recognised as a misspelling of --max-log-bytes."""
    assert "did you mean --max-log-bytes?" in _usage_error(capsys, ["scan", "x.csv", "--max-log-byts=32M"])


def test_misspelt_command_suggests_the_right_one(capsys):
    """`cmaudit scna` says there is no such command and suggests `scan`."""
    err = _usage_error(capsys, ["scna", "hosts.csv"])
    assert "unknown command 'scna'; did you mean scan?" in err


@pytest.mark.parametrize(("argv", "says"), [
    pytest.param(["scan", "hosts.csv", "-x"], "unknown option -x", id="short-unknown"),
    pytest.param(["scan", "hosts.csv", "-q"], "unknown option -q; did you mean --quiet?", id="short-for-long"),
    pytest.param(["scan", "hosts.csv", "extra.csv"], "unexpected argument 'extra.csv'", id="extra-positional"),
    pytest.param(["report", "a.json", "-x"], "unknown option -x", id="report"),
])
def test_any_typo_after_a_command_gets_the_commands_usage(capsys, argv, says):
    """A short option cmaudit does not know, or one argument too many, is an error of the sub-command: its usage,
    never the top-level one and "unrecognized arguments"."""
    err = _usage_error(capsys, argv)
    assert err.startswith(f"usage: cmaudit {argv[0]} "), err
    assert says in err and "unrecognized arguments" not in err


def test_a_misspelt_top_level_option_is_named(capsys):
    """`cmaudit --verison` suggests --version."""
    err = _usage_error(capsys, ["--verison"])
    assert "unknown option --verison; did you mean --version?" in err and "unrecognized" not in err


@pytest.mark.parametrize("typo", ["--dry-run", "--verbose"])
def test_no_far_fetched_suggestion(capsys, typo):
    """An option that is not a near spelling of any gets no "did you mean" (--dry-run is not --keep-runs)."""
    err = _usage_error(capsys, ["scan", "hosts.csv", typo])
    assert f"unknown option {typo}" in err and "did you mean" not in err


def test_an_abbreviated_option_still_works(capsys, tmp_path):
    """An unambiguous prefix (`--invent` for --inventory-format) is not taken for a misspelling."""
    (tmp_path / "hosts.txt").write_text("sms01\n", encoding="utf-8")
    assert main(["inventory", str(tmp_path / "hosts.txt"), "--invent", "text"]) == 0


@pytest.mark.parametrize(("argv", "dest", "value"), [
    pytest.param(["scan", "x.csv", "--auth", "NTLM"], "auth", "ntlm", id="auth"),
    pytest.param(["scan", "x.csv", "--scheme", "HTTPS"], "scheme", "https", id="scheme"),
    pytest.param(["scan", "x.csv", "--tls", "Legacy"], "tls", "legacy", id="tls"),
    pytest.param(["inventory", "x.csv", "--auth", "Kerberos"], "auth", "kerberos", id="inventory-auth"),
])
def test_choices_are_taken_in_any_case(argv, dest, value):
    """`--auth NTLM` means --auth ntlm, as Windows admins write it."""
    assert getattr(build_parser().parse_args(argv), dest) == value


def test_a_wrong_choice_names_the_nearest(capsys):
    """`--auth ntml` lists the choices and suggests ntlm."""
    err = _usage_error(capsys, ["scan", "x.csv", "--auth", "ntml"])
    assert "did you mean ntlm?" in err and "negotiate" in err


@pytest.mark.parametrize(("text", "size"), [
    pytest.param("32M", 32 << 20, id="M"),
    pytest.param("32MiB", 32 << 20, id="MiB"),
    pytest.param("32mb", 32 << 20, id="mb"),
    pytest.param("512K", 512 << 10, id="K"),
    pytest.param("1G", 1 << 30, id="G"),
    pytest.param("33554432", 32 << 20, id="bytes"),
])
def test_log_size_takes_units(text, size):
    """`--max-log-bytes 32M` (as the README's "32 MiB" suggests) is 32 MiB."""
    assert build_parser().parse_args(["scan", "x.csv", "--max-log-bytes", text]).max_log_bytes == size


@pytest.mark.parametrize("text", ["32X", "MiB", "-5M", "12.5M"])
def test_a_size_that_is_not_one_is_a_usage_error(capsys, text):
    """A size cmaudit cannot read is one usage error naming the forms it takes."""
    assert "32MiB" in _usage_error(capsys, ["scan", "x.csv", f"--max-log-bytes={text}"])


@pytest.mark.parametrize("option", ["--tag", "--hosts", "--site"])
def test_an_empty_selection_is_refused_not_taken_for_every_host(capsys, tmp_path, option):
    """`--tag "$UNSET"` is a usage error, one line, exit 64; it never becomes a dry run of the whole inventory."""
    inventory = tmp_path / "hosts.csv"
    inventory.write_text("host,tags,site_code\nsms01,dc1,P01\nsms02,dc2,P02\n", encoding="utf-8")
    assert main(["inventory", str(inventory), option, ""]) == 64
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and f"{option} was given an empty value" in captured.err


@pytest.mark.network
def test_an_empty_selection_stops_the_scan_before_any_host(capsys, tmp_path, two_hosts):
    """`cmaudit scan --tag ""` contacts no host and writes nothing: a scheduled `--tag "$UNSET"` is no full scan."""
    fleet, inventory = two_hosts
    status = main(["scan", str(inventory), "--username", fleet.username, "--tag", "  ", "--no-history",
                   "-o", str(tmp_path / "run"), "--quiet"])
    assert status == 64 and [h.counters.requests for h in fleet.hosts] == [0, 0] and not (tmp_path / "run").exists()
    assert "--tag was given an empty value" in capsys.readouterr().err


def _folder_of_runs(tmp_path):
    runs = tmp_path / "runs"
    for name in ("20261123T060000Z", "20261130T060000Z"):
        (runs / name).mkdir(parents=True)
        start_run(runs / name, name, created=True)
    return runs


def test_o_naming_a_folder_of_other_runs_is_refused(capsys, tmp_path):
    """`-o runs` where runs/ keeps earlier runs' folders is refused before anything, pointing at --runs-dir."""
    runs = _folder_of_runs(tmp_path)
    (tmp_path / "hosts.txt").write_text("127.0.0.1:1\n", encoding="utf-8")
    assert main(["scan", str(tmp_path / "hosts.txt"), "-o", str(runs), "--no-history", "--quiet"]) == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds the folders of 2 other run(s)" in err and f"--runs-dir {runs}" in err
    assert sorted(p.name for p in runs.iterdir()) == ["20261123T060000Z", "20261130T060000Z"]


def test_runs_dir_gives_the_run_a_new_folder_below_it(tmp_path, monkeypatch):
    """--runs-dir (and runs_dir in cmaudit.toml) means what `output` always meant there: a new folder per run."""
    from scanner.cli.commands.scan import run_folder_from
    from scanner.config.cmaudit_toml import load_config

    runs = _folder_of_runs(tmp_path)
    args = build_parser().parse_args(["scan", "x.csv", "--runs-dir", str(runs)])
    assert run_folder_from(args, None, lambda parent: parent / "NEW") == runs / "NEW"
    config = tmp_path / "cmaudit.toml"
    config.write_text(f'runs_dir = "{runs.as_posix()}"\n', encoding="utf-8")
    args = build_parser().parse_args(["scan", "x.csv"])
    assert run_folder_from(args, load_config(config), lambda parent: parent / "NEW") == runs / "NEW"
    forced = build_parser().parse_args(["scan", "x.csv", "-o", str(runs), "--force"])
    assert run_folder_from(forced, None, lambda parent: parent / "NEW") == runs


def test_report_takes_run_folders(tmp_path, capsys):
    """`cmaudit report RUN_FOLDER -o DIR` reads the folder's results.json, as `cmaudit diff` does."""
    run = tmp_path / "run"
    run.mkdir()
    JsonReporter().write(mixed_run(), run / "results.json")
    assert main(["report", str(run), "-o", str(tmp_path / "out")]) == 3
    assert (tmp_path / "out" / "report.html").is_file()
    out = capsys.readouterr().out
    assert f"--rescan-failed {tmp_path / 'out' / 'results.json'}" in out  # the hint names the file just written
    assert "RESULTS.json" not in out
    doc = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert len(doc["hosts"]) == len(mixed_run().hosts)


@pytest.mark.network
def test_progress_lines_spell_hosts_as_the_inventory_does(capsys, tmp_path, two_hosts):
    """Each host's progress line names it as the inventory and the reports do (CM000, not cm000)."""
    fleet, inventory = two_hosts
    status = main(["scan", str(inventory), "--username", fleet.username, "--no-history", "-o",
                   str(tmp_path / "run"), "--workers", "1"])
    names = [h.name for h in fleet.hosts]
    progress = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cmaudit: [")]
    assert status == 0 and names == ["CM000", "CM001"]
    assert sorted(line.split("] ", 1)[1].split(":", 1)[0] for line in progress) == names


@pytest.mark.network
def test_simulate_lists_its_hosts_and_the_scan_to_run(tmp_path):
    """Once ready, `cmaudit simulate` shows each simulated host and the scan command to run against them."""
    from scanner.cli.commands.simulate import ready_text
    from simulator import Fleet

    inventory = tmp_path / "fleet.csv"
    with Fleet(hosts=3, scenario="sp1-affected", password=new_password(), faults="1=badxml") as fleet:
        text = ready_text(fleet, inventory, rows=2)
        ports = [h.port for h in fleet.hosts]
    lines = text.splitlines()
    assert any(line.split()[:2] == ["CM000", str(ports[0])] for line in lines)
    assert any(line.split()[0] == "CM001" and line.split()[-1] == "badxml" for line in lines)
    assert "... and 1 more (all in " in text and not any(line.startswith("CM002") for line in lines)
    assert f"cmaudit scan {inventory} --username 'LAB\\auditor'" in text


def test_cmaudit_toml_takes_sizes_with_units_too(tmp_path):
    """`max_log_bytes = "32MiB"` in cmaudit.toml means what `--max-log-bytes 32MiB` does; a bad one names the key."""
    from scanner.cli.config_options import apply_config
    from scanner.config.cmaudit_toml import ConfigError

    config = tmp_path / "cmaudit.toml"
    config.write_text('max_log_bytes = "32MiB"\n', encoding="utf-8")
    args = build_parser().parse_args(["scan", "x.csv", "--config", str(config)])
    apply_config(args)
    assert args.max_log_bytes == 32 << 20
    config.write_text('max_log_bytes = "lots"\n', encoding="utf-8")
    args = build_parser().parse_args(["scan", "x.csv", "--config", str(config)])
    with pytest.raises(ConfigError) as caught:
        apply_config(args)
    assert "max_log_bytes" in str(caught.value) and "32MiB" in str(caught.value)
