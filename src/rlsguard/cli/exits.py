"""The exit statuses of every ``rlsguard`` command."""

EXIT_OK = 0  # nothing failed
EXIT_FAILED = 1  # a check failed
EXIT_UNABLE = 2  # the run could not happen
