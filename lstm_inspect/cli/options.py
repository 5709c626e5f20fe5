"""What every command shares: the error contract (``library_errors``), the options of
commands that read a model, the output owner and ``emit``."""

from __future__ import annotations

import errno
import functools
import os
import sys
from typing import TYPE_CHECKING, Callable

import click

from ..errors import LstmInspectError

if TYPE_CHECKING:  # pragma: no cover
    from ..reports.terminal import Terminal

#: Errors writing stdout or an output file that the user's disk causes, not the model.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS}


def library_errors(func: Callable) -> Callable:
    """Run a command inside one memory budget and turn what it raises into one line
    ``Error: ...`` (exit 1): library errors as they are, a closed stdout quietly, a full
    disk as such, and anything else as a bug (with its traceback under
    ``LSTM_INSPECT_DEBUG=1``)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import numpy as np

        from ..limits import memory_budget

        # One memory budget for everything this invocation reads (model, config, inputs);
        # overflow in garbage weights is a result (inf/nan), not a warning on stderr.
        try:
            with memory_budget(kwargs.pop("max_memory", None), cap_native=True), np.errstate(all="ignore"):
                return func(*args, **kwargs)
        except LstmInspectError as e:
            raise click.ClickException(str(e)) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # the reader of stdout went away (| head): stop quietly
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError, AttributeError):
                pass
            raise click.exceptions.Exit(1) from None
        except OSError as e:
            if e.errno not in _WRITE_ERRNOS:
                raise _unexpected(e, kwargs) from None
            raise click.ClickException(f"cannot write the output: {os.strerror(e.errno)}") from None
        except MemoryError:
            where = kwargs.get("model") or ""
            raise click.ClickException(
                f"{where}: ran out of memory; the model or input needs more than this machine can give "
                "(lower --max-memory to have such files refused up front)"
            ) from None
        except Exception as e:  # a bug, or an input we did not foresee: no traceback unless asked
            raise _unexpected(e, kwargs) from None

    return wrapper


def _unexpected(e: Exception, kwargs) -> click.ClickException:
    if os.environ.get("LSTM_INSPECT_DEBUG"):
        raise e
    where = kwargs.get("model") or ""
    return click.ClickException(
        f"{where}: unexpected {e.__class__.__name__} ({str(e)[:100]}); this is a bug in lstm-inspect, "
        "please report it with the file (set LSTM_INSPECT_DEBUG=1 for a traceback)"
    )


class MemorySize(click.ParamType):
    """``--max-memory``: 24GB, 500MB, 2GiB or a number of bytes."""

    name = "size"

    def convert(self, value, param, ctx):
        from ..limits import parse_size

        try:
            return value if isinstance(value, int) else parse_size(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


def model_options(func: Callable) -> Callable:
    """The options every command that reads a model takes."""
    func = click.option(
        "--max-memory",
        "max_memory",
        type=MemorySize(),
        default=None,
        metavar="SIZE",
        help="Refuse files whose arrays need more memory than this, all together (e.g. 24GB, 500MB; default 16GiB).",
    )(func)
    func = click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Write one JSON document to stdout instead of tables (schema in the README).",
    )(func)
    func = click.option(
        "--config",
        "config",
        type=click.Path(dir_okay=False),
        help="Architecture for a weights-only file: a model.to_json() JSON or a Keras 3 config.json.",
    )(func)
    func = click.argument("model", type=click.Path())(func)
    return func


def precision_option(func: Callable) -> Callable:
    """``--precision N``: digits after the decimal point in tables."""
    return click.option(
        "--precision", type=click.IntRange(1, 12), default=4, show_default=True, metavar="N",
        help="Digits after the decimal point in tables; values too small to show in N digits "
        "are written in e-notation (3e-05), never as 0.0000.",
    )(func)


_TERMINAL = "lstm_inspect.terminal"


def terminal() -> Terminal:
    """This invocation's output owner, built on first use from the group's
    ``--color/--no-color`` (so ``--help`` and ``--version`` never import Rich)."""
    ctx = click.get_current_context()
    term = ctx.meta.get(_TERMINAL)
    if term is None:
        from ..reports.terminal import Terminal

        term = ctx.meta[_TERMINAL] = Terminal(color=ctx.find_root().params.get("color"))
    return term


def emit(as_json: bool, document: Callable[[], dict], renderables: Callable[[], list]) -> None:
    """Write a result: JSON (built only when asked) or Rich renderables."""
    if as_json:
        from ..reports.serialize import dumps

        terminal().write_json(dumps(document()))
        return
    terminal().display(renderables())


def warn_all(messages) -> None:
    for message in messages:
        terminal().warn(message)


def note_all(messages) -> None:
    for message in messages:
        terminal().note(message)
