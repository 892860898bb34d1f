"""``python -m verify`` runs the ``icl-verify`` command line."""
import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while numpy loads: the same one line as during a run
    sys.stderr.write("icl-verify: interrupted\n")
    raise SystemExit(130) from None

raise SystemExit(main())
