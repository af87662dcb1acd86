"""The advisory as data and the pure engine that judges a snapshot against it (no I/O here)."""
