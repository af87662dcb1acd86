"""The command line: argument parsing and the sub-commands, the one place that wires the layers together."""
