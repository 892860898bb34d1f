"""The one exception type for bad user input."""


class PromptError(ValueError):
    """Bad input from a user: the message names the field and the fix.

    The CLI prints it as one line on stderr and exits with status 2.
    """


class Interrupted(KeyboardInterrupt):
    """Ctrl-C after the command saved something worth keeping; the message says what and how to go on.

    The CLI prints it as one line on stderr and exits with status 130.
    """
