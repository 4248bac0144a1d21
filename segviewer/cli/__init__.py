"""The ``segviewer`` command line.

``segviewer [IMAGE] [--labels MASK] [--scribbles S]`` opens the GUI; ``segviewer COMMAND …``
runs a subcommand headless. Each subcommand lives in its own module listed in
``COMMAND_MODULES`` and provides ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. User mistakes print one clear line and exit 2; a bug prints one line
and exits 3 (``SEGVIEWER_DEBUG=1`` shows its traceback); a reader that closes the output
early (``segviewer stats … --json | head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import select
import sys
from types import ModuleType

from segviewer import __version__
from segviewer.errors import SegviewerError

#: Command name -> its module, in the order ``segviewer --help`` lists them. A command imports
#: only its own module (each pulls its libraries in: pydicom, dask, torch ...); only the full
#: help imports them all.
COMMAND_MODULES = {
    "info": "segviewer.cli.info",
    "convert": "segviewer.cli.convert",
    "segment": "segviewer.cli.segment",
    "methods": "segviewer.cli.methods",
    "screenshot": "segviewer.cli.screenshot",
    "evaluate": "segviewer.cli.evaluate",
    "agreement": "segviewer.cli.agreement",
    "consensus": "segviewer.cli.consensus",
    "simulate": "segviewer.cli.simulate",
    "bench": "segviewer.cli.bench",
    "stats": "segviewer.cli.stats",
    "campaign": "segviewer.cli.campaign",
    "export": "segviewer.cli.export",
    "mesh": "segviewer.cli.mesh",
    "train": "segviewer.cli.train",
    "finetune": "segviewer.cli.finetune",
    "pacs": "segviewer.cli.pacs",
    "batch": "segviewer.cli.batch",
    "desktop-install": "segviewer.cli.desktop",
    "desktop-uninstall": "segviewer.cli.desktop_uninstall",
}

EXIT_USER_ERROR = 2
#: An unexpected exception (a bug), told apart from a user's mistake.
EXIT_INTERNAL_ERROR = 3
#: The reader of the output went away: 128 + SIGPIPE, what a shell reports for git there.
EXIT_BROKEN_PIPE = 141
#: Set (to anything) to see the traceback of an internal error instead of its one line.
DEBUG_VARIABLE = "SEGVIEWER_DEBUG"


class CommandLineParser(argparse.ArgumentParser):
    """argparse with segviewer's one-line errors (argparse's own prints the usage first).

    Subcommand parsers are of the same class (``add_subparsers`` uses the parent's type)."""

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f"segviewer: error: {message}; see: {self.prog} --help\n")


class StandardOutputError(SegviewerError):
    """Standard output could not be written (``> file`` on a full disk, ``> /dev/full``)."""


class _StandardOutput:
    """``sys.stdout`` while a command runs: a failed write is the user's one line and exit 2,
    not a bug's exit 3; a closed reader's ``BrokenPipeError`` passes on as it is."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def __getattr__(self, name: str):
        return getattr(self._stream, name)

    def write(self, text: str) -> int:
        return self._reported(self._stream.write, text)

    def flush(self) -> None:
        self._reported(self._stream.flush)

    @staticmethod
    def _reported(operation, *arguments):
        try:
            return operation(*arguments)
        except BrokenPipeError:
            raise
        except OSError as error:
            from segviewer.io.atomic import describe_os_error  # noqa: PLC0415 - only on failure

            raise StandardOutputError(f"could not write to standard output ({describe_os_error(error)})") from None


def _command_modules(names: list[str] | None = None) -> dict[str, ModuleType]:
    """The command modules by name: all of them, or only those in ``names``."""
    wanted = COMMAND_MODULES if names is None else names
    return {name: importlib.import_module(COMMAND_MODULES[name]) for name in wanted}


def build_parser(commands: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = CommandLineParser(
        prog="segviewer",
        description="Interactive 3D medical image segmentation. With no command, opens the viewer.",
        epilog="commands: " + ", ".join(commands) + " (segviewer COMMAND --help for each)",
    )
    parser.add_argument("--version", action="version", version=f"segviewer {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in commands.items():
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
    return parser


def build_gui_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(prog="segviewer", description="Open the segviewer window.")
    parser.add_argument("image", nargs="?", help="image file or DICOM folder (default: the bundled demo)")
    parser.add_argument("--labels", help="label map to load onto the image")
    parser.add_argument("--scribbles", help="scribble file to load onto the image")
    parser.add_argument("--points", help="point prompts (JSON) to load")
    return parser


def _reopen_closed_standard_streams() -> None:
    """Point a standard stream the shell closed (``>&-``, ``2>&-``) at the null device: notes
    and progress are dropped as asked, instead of failing the command (exit 1, no output) or,
    with ``sys.stderr`` None, landing in standard output (print's fallback); and no file opened
    later takes the stream's number (a native library's prints would land in it)."""
    for number, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if not _stream_usable(number, reading=number == 0):
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free number: often this one
            if null != number:
                os.dup2(null, number)
                os.close(null)
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "r" if number == 0 else "w", encoding="utf-8"))


def _stream_usable(number: int, reading: bool) -> bool:
    """Whether file descriptor ``number`` is open for reading (or writing). A launcher script
    (pyenv's shims) can leave its own file, read-only, on a stream the shell closed."""
    try:
        os.fstat(number)
        import fcntl  # noqa: PLC0415 - POSIX only; elsewhere an open stream is taken as usable
    except ImportError:
        return True
    except OSError:
        return False
    mode = fcntl.fcntl(number, fcntl.F_GETFL) & os.O_ACCMODE
    return mode != (os.O_WRONLY if reading else os.O_RDONLY)


def _run_command(module: ModuleType, args: argparse.Namespace) -> int:
    """Run one subcommand with its standard output watched (see :class:`_StandardOutput`)."""
    stream = sys.stdout
    sys.stdout = _StandardOutput(stream)
    try:
        code = int(module.run(args) or 0)
        sys.stdout.flush()  # a closed reader or a full disk shows here, not in Python's flush at exit
        return code
    finally:
        sys.stdout = stream


def fail(message: str) -> int:
    """Print a one-line error for the user and return the exit code."""
    print(f"segviewer: error: {message}", file=sys.stderr)
    return EXIT_USER_ERROR


def internal_error(error: BaseException) -> int:
    """Print a bug's one line (the traceback only with ``SEGVIEWER_DEBUG``) and return 3."""
    text = " ".join(str(error).split())  # ITK's messages span lines
    print(f"segviewer: internal error: {type(error).__name__}{': ' + text if text else ''} "
          f"(run with {DEBUG_VARIABLE}=1 for the traceback)", file=sys.stderr)
    return EXIT_INTERNAL_ERROR


def stdout_reader_gone() -> bool:
    """True when stdout is a pipe whose reader has closed it (poll reports an error on the
    writing end). A broken pipe elsewhere (a helper process) is a bug, not this."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), or no real stdout
        return False


def end_quietly_for_closed_reader() -> int:
    """Stop as git does when the reader closes the pipe: no message. Later writes (Python's
    flush at exit) go to /dev/null so they cannot raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    """Parsed arguments, or the exit code of ``--help``, ``--version`` or a parse error."""
    try:
        return parser.parse_args(argv)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else EXIT_USER_ERROR


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _reopen_closed_standard_streams()
    try:
        if argv and (argv[0] in COMMAND_MODULES or argv[0] in ("-h", "--help", "--version")):
            if argv[0] in COMMAND_MODULES:
                commands = _command_modules([argv[0]])
            else:  # the full help lists every command; --version needs none
                commands = _command_modules([] if argv[0] == "--version" else None)
            # Commands report problems in their own one line (an unavailable method is named by
            # `methods` and refused by `segment`), so library warnings would only repeat them.
            package_log = logging.getLogger("segviewer")
            if not package_log.handlers:
                package_log.addHandler(logging.NullHandler())
            args = parse(build_parser(commands), argv)
            if isinstance(args, int):
                return args
            if args.command is None:
                build_parser(commands).print_help()
                return 0
            return _run_command(commands[args.command], args)
        args = parse(build_gui_parser(), argv)
        if isinstance(args, int):
            return args
        from segviewer.views.app import run_gui  # Qt is imported only for the GUI

        return run_gui(args)
    except SegviewerError as error:
        return fail(str(error))
    except KeyboardInterrupt:
        return fail("interrupted")
    except BrokenPipeError as error:
        if stdout_reader_gone():
            return end_quietly_for_closed_reader()
        return internal_error(error)
    except Exception as error:  # a bug: one line for the user, not a traceback
        if os.environ.get(DEBUG_VARIABLE):
            raise
        return internal_error(error)
