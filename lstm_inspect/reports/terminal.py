"""The one owner of a command's output (hatch's ``Terminal``): the stdout console for
data, the stderr console for notes, warnings and progress, both built once from the
``--color/--no-color`` choice. With neither, Rich decides: colour only on a terminal,
and ``NO_COLOR``, ``FORCE_COLOR`` and ``TTY_COMPATIBLE`` are honoured.

Consoles treat every string as data: weight names such as ``kernel:0`` or ``[0]`` are
never markup, never highlighted and never emoji.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional

from rich.console import Console, RenderableType
from rich.text import Text

#: Rendered output held back (characters) before a report is written as it is rendered.
HOLD = 1 << 20


def make_console(color: Optional[bool] = None, stderr: bool = False) -> Console:
    """A console on stdout (or stderr): ``color`` True forces colour, False turns it off,
    None leaves it to Rich (a terminal, NO_COLOR, FORCE_COLOR)."""
    return Console(
        stderr=stderr,
        force_terminal=color,
        no_color=None if color is None else not color,
        markup=False,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )


class Terminal:
    """Where a command writes: data to stdout, messages to stderr."""

    def __init__(self, color: Optional[bool] = None):
        self.color = color
        self.out = make_console(color)
        self.err = make_console(color, stderr=True)

    # ----------------------------------------------------------------------- stdout

    def display(self, renderables: Iterable[RenderableType], hold: int = HOLD) -> None:
        """Render and write to stdout. Output is held back until ``hold`` characters are
        rendered, so a failure while rendering an ordinary report leaves stdout empty
        (the CLI's error contract), never half a report; a long one (a table of many
        steps) is then written as it is rendered, without building all of it first."""
        console = self.out
        held: Optional[List[str]] = []
        size = 0
        for r in renderables:
            lines = getattr(r, "lines", None)
            if callable(lines):  # reports.render.PlainLines: text laid out for the width already
                text = "".join(line + "\n" for line in lines(console.width))
            else:
                with console.capture() as captured:
                    console.print(r, crop=False)
                text = captured.get()
            if held is None:
                console.file.write(text)
                continue
            held.append(text)
            size += len(text)
            if size >= hold:
                console.file.write("".join(held))
                held = None
        if held:
            console.file.write("".join(held))
        console.file.flush()

    def write_json(self, text: str) -> None:
        """One JSON document, written as it is (no wrapping, no styles)."""
        self.out.file.write(text)
        self.out.file.flush()

    def write_chunks(self, chunks: Iterable[bytes]) -> None:
        """UTF-8 text (a JSON document or ``--jsonl`` records) written a piece at a time,
        as it is encoded."""
        file = self.out.file
        for chunk in chunks:
            file.write(chunk.decode())
        file.flush()

    def write_lines(self, lines: Iterable[str]) -> None:
        """Lines of text (``--jsonl`` records), each written as soon as it is produced."""
        file = self.out.file
        for line in lines:
            file.write(line + "\n")
        file.flush()

    # ----------------------------------------------------------------------- stderr

    def note(self, message: str) -> None:
        """``Note: ...`` on stderr, one line, never wrapped."""
        self.err.out(f"Note: {message}", highlight=False)

    def warn(self, message: str) -> None:
        """``Warning: ...`` on stderr, in yellow where there is colour."""
        self.err.print(Text(f"Warning: {message}", style="yellow"))

    @contextlib.contextmanager
    def progress(self) -> Iterator[Optional[Callable[[str, int, int], None]]]:
        """A progress callback for long runs (``progress(path, done, total)``) drawing on
        stderr, or None when stderr is not a terminal; the bar is gone when the block ends."""
        if not _isatty(self.err.file):
            yield None
            return
        bar = StepProgress(self.err)
        try:
            yield bar
        finally:
            bar.close()


def _isatty(file) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class StepProgress:
    """A progress bar for long recurrent loops; appears only after half a second."""

    def __init__(self, console: Console, delay: float = 0.5):
        import time

        self._console = console
        self._clock = time.monotonic
        self._start = self._clock()
        self._delay = delay
        self._progress = None
        self._tasks: Dict[str, Any] = {}

    def __call__(self, path: str, done: int, total: int) -> None:
        if self._progress is None:
            if self._clock() - self._start < self._delay:
                return
            from rich.progress import Progress

            self._progress = Progress(console=self._console, transient=True)
            self._progress.start()
        if path not in self._tasks:
            self._tasks[path] = self._progress.add_task(path, total=total)
        self._progress.update(self._tasks[path], completed=done)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
