"""The admin's own files: cmaudit.toml, the waivers file and the mail settings, validated when read."""
