"""One module per ``icl-verify`` subcommand: ``register(parser)`` adds its options
and sets ``run(args) -> (result, summary, ok)``."""
