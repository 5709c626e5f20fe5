"""Exception types raised by lstm_inspect.

Every error a user can cause is an :class:`LstmInspectError`; its message is a
single line of the form ``<file>: <what is wrong and what to do>`` so the CLI
can print it as ``Error: <message>`` without a traceback.
"""

from __future__ import annotations

from typing import Optional


class LstmInspectError(Exception):
    """Base class of every error lstm_inspect raises on purpose."""

    def __init__(self, message: str, file: Optional[str] = None):
        self.file = file
        self.detail = message
        super().__init__(f"{file}: {message}" if file else message)

    def with_file(self, file: str) -> LstmInspectError:
        """Return the same error with ``file`` prefixed, if it has none yet."""
        if self.file:
            return self
        return type(self)(self.detail, file=file)


class NotAKerasFileError(LstmInspectError):
    """The file is missing, unreadable, or not a Keras model or weights file."""


class CorruptFileError(LstmInspectError):
    """The file looks like a Keras file but is truncated or inconsistent."""


class ConfigError(LstmInspectError):
    """A model config is malformed or does not fit the weights."""


class UnsupportedError(LstmInspectError):
    """The file uses a layer or layout lstm_inspect does not handle."""


class InputError(LstmInspectError):
    """An input, state or output file for ``run`` cannot be used as given."""
