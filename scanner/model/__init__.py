"""The data every layer shares: result records, errors, snapshots, scan targets. Imports nothing else of cmaudit."""
