"""``python -m verify`` runs the ``icl-verify`` command line."""
from .cli import main

raise SystemExit(main())
