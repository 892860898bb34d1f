"""One module per ``icl-verify`` subcommand: ``register(parser)`` adds its options
and sets ``run(args) -> (result, summary, ok)``; a command that writes files of its
own also sets ``outputs(args) -> [verify.output.Output, ...]``, which the CLI checks
(with ``--json``) before ``run`` starts, and writes them with ``verify.output``'s
atomic helpers (``write_text``, ``atomic_path``)."""
