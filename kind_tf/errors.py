"""The exception for user mistakes: the scripts print its message on one line and exit 2."""


class UserError(Exception):
    """Bad input from the user (a path, a flag, a file): message says what and how to fix it."""
