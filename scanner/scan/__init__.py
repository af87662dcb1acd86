"""A scan's plan and execute steps (inputs, logons, hosts, deadlines, retries, the per-account logon gate, evidence,
results), and the doctor's run."""
