"""A scan's plan and execute steps (inputs, logons, hosts, deadlines, retries, the lockout breaker, evidence,
results), and the doctor's run."""
