"""The ``avalign`` command. Each subcommand lives in a module of this package
with ``register(subparsers)``; :func:`main` maps errors to exit codes:
0 success, 1 failure on some inputs of a batch (or a failed check), 2 bad input
or usage (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import AvalignError

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ("probe", "extract", "presets", "check", "explain", "plot", "batch", "sync", "stream", "demo")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2)."""

    def error(self, message):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_budget_argument(p) -> None:
    """``--memory-budget SIZE`` (extract, batch, explain)."""
    p.add_argument("--memory-budget", metavar="SIZE",
                   help="refuse requests estimated to need more memory than this (2G, 500M; default: "
                        "$AVALIGN_MEMORY_BUDGET, else half the available memory)")


def build_parser(argv=None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` naming a subcommand first, only that subcommand's module is imported
    (start-up: the others pull in batch, check, explain, plot)."""
    from .. import __version__

    parser = _Parser(prog="avalign", description="Audio features that are frame-exact against video.")
    parser.add_argument("--version", action="version", version=f"avalign {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    names = argv[:1] if argv and argv[0] in COMMANDS else COMMANDS
    for name in names:
        try:
            mod = importlib.import_module(f"{__name__}.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}_cmd":
                continue
            raise
        mod.register(sub)
    return parser


def main(argv=None) -> int:
    """Entry point; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .. import budget

    saved = os.environ.get(budget.ENV)
    try:
        if getattr(args, "memory_budget", None) is not None:
            # through the environment, so that batch's worker processes get it too; restored after the command
            os.environ[budget.ENV] = str(budget.parse_size(args.memory_budget))
        return int(args.func(args) or 0)
    except AvalignError as exc:
        print(f"avalign: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("avalign: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: one line unless AVALIGN_DEBUG is set
        if os.environ.get("AVALIGN_DEBUG"):
            raise
        print(f"avalign: internal error: {type(exc).__name__}: {exc} (set AVALIGN_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return 1
    finally:
        if saved is None:
            os.environ.pop(budget.ENV, None)
        else:
            os.environ[budget.ENV] = saved


def run() -> None:  # console script
    sys.exit(main())
