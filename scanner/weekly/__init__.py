"""Weekly audits: run history, changes since the last run, retention, mail, the scheduled-run config."""
