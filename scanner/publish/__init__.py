"""After a run: record it in the history, mail the report, prune old runs."""
