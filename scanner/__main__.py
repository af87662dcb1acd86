"""`python -m scanner` is the same as the `cmaudit` console script."""

from scanner.cli import main

raise SystemExit(main())
