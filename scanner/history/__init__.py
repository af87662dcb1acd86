"""The history database, what changed between runs, and the run folders it records."""
