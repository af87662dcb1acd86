"""`python -m scanner` is the same as the `cmaudit` console script."""

from scanner.cli.main import main

raise SystemExit(main())
