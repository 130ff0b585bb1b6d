"""One exception type for problems the user can fix; the CLI prints its message as one sentence."""


class FacelibError(Exception):
    """A bad path, option, image or missing data set, described in one sentence."""
