"""One module per `cmaudit` sub-command; each has HELP, add_arguments(parser) and run(args) -> int."""
