"""The exception hierarchy.

Every error that a user can cause derives from :class:`InputError`; the
command line turns those into one line on stderr and exit code 2.
"""

from __future__ import annotations


class AvalignError(Exception):
    """Base class of every error raised on purpose by avalign."""


class InputError(AvalignError, ValueError):
    """Bad input or usage: a file, an option or a value the user gave (exit code 2)."""


class MediaError(InputError):
    """A file that cannot be read as media: missing, a directory, empty, truncated, not media."""


class NoAudioError(MediaError):
    """The file has no audio stream."""


class NoVideoError(MediaError):
    """The file has no video stream where one is needed."""


class OutputError(InputError):
    """An output that must not or cannot be written: an input, a device, a system folder, a full disk."""


class BudgetError(InputError):
    """A request whose memory, estimated from its shapes before allocating, exceeds the budget."""


class AudioTooShortError(InputError):
    """The audio is shorter than what a feature or model needs (its receptive field)."""


class UnknownNameError(InputError, KeyError):
    """An unknown preset, feature or option name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelError(InputError):
    """A model that cannot be found or loaded, or has the wrong architecture."""


class MissingDependencyError(AvalignError, ImportError):
    """An optional dependency (torch, transformers, ray, matplotlib) is not installed."""


def require(module: str, extra: str):
    """Import an optional dependency, or raise a :class:`MissingDependencyError` naming its extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"{module} is needed for this; install it with: pip install 'avalign[{extra}]'"
        ) from exc
