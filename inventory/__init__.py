"""What to scan: parse the inventories admins already keep into Host records."""
