"""The one error type the runner raises on purpose.

A ``WarehouseError`` carries a message for a person: what failed and what to do next.
The CLI prints it as ``Error: <message>`` and exits with status 1; a traceback is shown
only with ``runner --debug``.
"""


class WarehouseError(Exception):
    """A failure the user can act on; ``str(error)`` says what failed and what to do."""
