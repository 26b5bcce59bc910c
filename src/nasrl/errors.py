"""The one exception type a user can cause: the command line turns it into one sentence and exit code 2."""


class UserError(Exception):
    """A mistake the user can fix (bad config, missing data, bad file); its message says how."""
