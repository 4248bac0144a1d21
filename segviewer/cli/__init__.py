"""The ``segviewer`` command line.

``segviewer [IMAGE] [--labels MASK] [--scribbles S]`` opens the GUI; ``segviewer COMMAND …``
runs a subcommand headless. Each subcommand lives in its own module listed in
``COMMAND_MODULES`` and provides ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. User mistakes print one clear line and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from segviewer import __version__
from segviewer.errors import SegviewerError

#: Subcommand modules, in the order ``segviewer --help`` lists them.
COMMAND_MODULES = [
    "segviewer.cli.info",
    "segviewer.cli.convert",
    "segviewer.cli.segment",
    "segviewer.cli.methods",
    "segviewer.cli.screenshot",
    "segviewer.cli.evaluate",
    "segviewer.cli.simulate",
    "segviewer.cli.bench",
    "segviewer.cli.stats",
    "segviewer.cli.train",
    "segviewer.cli.finetune",
    "segviewer.cli.desktop", "segviewer.cli.desktop_uninstall",
]

EXIT_USER_ERROR = 2


def _command_modules() -> dict[str, ModuleType]:
    modules = {}
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        modules[module.NAME] = module
    return modules


def build_parser(commands: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser = argparse.ArgumentParser(prog="segviewer", description="Open the segviewer window.")
    parser.add_argument("image", nargs="?", help="image file or DICOM folder (default: the bundled demo)")
    parser.add_argument("--labels", help="label map to load onto the image")
    parser.add_argument("--scribbles", help="scribble file to load onto the image")
    parser.add_argument("--points", help="point prompts (JSON) to load")
    return parser


def fail(message: str) -> int:
    """Print a one-line error for the user and return the exit code."""
    print(f"segviewer: error: {message}", file=sys.stderr)
    return EXIT_USER_ERROR


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _command_modules()
    try:
        if argv and (argv[0] in commands or argv[0] in ("-h", "--help", "--version")):
            args = build_parser(commands).parse_args(argv)
            if args.command is None:
                build_parser(commands).print_help()
                return 0
            return int(commands[args.command].run(args) or 0)
        args = build_gui_parser().parse_args(argv)
        from segviewer.views.app import run_gui  # Qt is imported only for the GUI

        return run_gui(args)
    except SegviewerError as error:
        return fail(str(error))
    except KeyboardInterrupt:
        return fail("interrupted")
