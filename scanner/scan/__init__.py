"""The fleet run: hosts, deadlines, retries, the lockout breaker, evidence, progress, results."""
