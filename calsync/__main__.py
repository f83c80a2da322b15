"""``python -m calsync`` runs the command line."""

from calsync.cli import main

raise SystemExit(main())
