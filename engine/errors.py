"""The project's error types. Every one carries a message that names the file, frame or key at fault
and says what to do; the CLI prints it on one line and exits non-zero.

Pure Python: the contract modules and the Nuke plugin raise and catch these too.
"""


class ActAnywhereError(Exception):
    """Base of every error the user is meant to read: always one line (what a library such as
    OpenImageIO adds may hold newlines), so logs, farm task output and the Nuke panel show it whole."""

    exit_code = 2

    def __init__(self, message: str = ""):
        super().__init__(" ".join(str(message).split()))


class ConfigError(ActAnywhereError):
    """A config file or value is wrong: the message names the file and the key path."""


class ShotSpecError(ActAnywhereError):
    """A shot spec is wrong or incomplete: the message names the field."""


class SequenceError(ActAnywhereError, ValueError):
    """A frame-sequence path or frame range cannot be parsed."""


class MediaError(ActAnywhereError):
    """An image file is missing, unreadable or holds unusable pixels: the message names the file."""


class ModelError(ActAnywhereError):
    """Model weights are missing or malformed: the message lists the files expected."""


class EngineError(ActAnywhereError):
    """The engine refused a request or a job failed there; `code` is a protocol error code
    (docs/protocol.md), so a caller can tell a bad path from a dead worker."""

    def __init__(self, message: str = "", code: str = "engine_error"):
        super().__init__(message)
        self.code = code


class EngineUnavailableError(EngineError):
    """No reply from the engine after every retry, or it refused this client's key."""

    def __init__(self, message: str = "", code: str = "unavailable"):
        super().__init__(message, code)
