"""The memory budget: a request's memory, estimated from its shapes, is checked before allocating.

Every place that allocates in proportion to a number taken from input (rows from
``--fps`` or ``--num-frames``, a window, ``n_mels``, a model's declared
dimensions, a tensor shape in a ``.pb``, a size in a WAV header) first calls
:func:`check` with its estimate in bytes; above the budget it raises
:class:`~avalign.errors.BudgetError` (exit code 2) with a line that says what it
would take.

The budget, in order: :func:`limit` (a context manager; ``avalign.extract(..., memory_budget="2G")`` and
``avalign.explain`` use it),
the environment variable ``AVALIGN_MEMORY_BUDGET`` (``"2G"``, ``"500M"``,
``"1.5GiB"``, bytes; the CLI's ``--memory-budget`` sets it), else half of the
machine's available memory (``MemAvailable``, else physical memory).

Pure Python (no numpy): the lowest layer, importable from everywhere.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import time

from .errors import BudgetError, InputError

#: The environment variable that sets the budget (``"2G"``, ``"500M"``, bytes).
ENV = "AVALIGN_MEMORY_BUDGET"

#: Fraction of the machine's available memory used when nothing sets the budget.
DEFAULT_SHARE = 0.5

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgtp]?)(i?b)?\s*$", re.IGNORECASE)

_override: list[int] = []  # the stack of limit() values


def parse_size(text) -> int:
    """``"2G"``, ``"500M"``, ``"1.5GiB"``, ``"4096"`` (bytes) -> bytes. Binary units (1 K = 1024).

    Raises :class:`InputError` for anything else, or a size of zero.
    """
    if isinstance(text, bool):
        raise InputError(f"bad memory budget {text!r}: expected a size such as 2G or 500M")
    if isinstance(text, int):
        value = text
    else:
        m = _SIZE.match(str(text))
        if not m:
            raise InputError(f"bad memory budget {text!r}: expected a size such as 2G, 500M or 1.5GiB")
        number = float(m.group(1))
        if not math.isfinite(number):
            raise InputError(f"bad memory budget {text!r}: expected a size such as 2G, 500M or 1.5GiB")
        value = int(number * _UNITS[m.group(2).lower()])
    if value <= 0:
        raise InputError(f"bad memory budget {text!r}: must be more than 0 bytes")
    return value


#: seconds a reading of ``/proc/meminfo`` is reused (a batch clip asks several times in milliseconds)
MEMINFO_TTL = 1.0
_meminfo: list = [float("-inf"), 0]  # [monotonic time read, bytes]


def machine_memory() -> int:
    """Bytes of memory available to this process now: ``MemAvailable`` (Linux, re-read at most once per
    :data:`MEMINFO_TTL` seconds), else physical memory."""
    now = time.monotonic()
    if now - _meminfo[0] < MEMINFO_TTL:
        return _meminfo[1]
    _meminfo[:] = [now, _read_machine_memory()]
    return _meminfo[1]


def _read_machine_memory() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 8 << 30


def budget() -> int:
    """The memory budget in bytes (see the module docstring for where it comes from)."""
    if _override:
        return _override[-1]
    env = os.environ.get(ENV)
    if env not in (None, ""):
        return parse_size(env)
    return max(int(machine_memory() * DEFAULT_SHARE), 1 << 28)


@contextlib.contextmanager
def limit(size):
    """Use ``size`` (bytes, or ``"2G"``) as the budget inside a ``with`` block (``None``: unchanged)."""
    if size is None:
        yield
        return
    _override.append(parse_size(size))
    try:
        yield
    finally:
        _override.pop()


def keyword(func):
    """Decorator: ``func(..., memory_budget=SIZE)`` runs inside :func:`limit` (``"2G"``, bytes; None: unchanged)."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, memory_budget=None, **kwargs):
        with limit(memory_budget):
            return func(*args, **kwargs)

    return wrapper


def format_size(nbytes: int | float) -> str:
    """``8053063680`` -> ``"7.5 GiB"`` (binary units; beyond 1000 EiB a power of ten of bytes)."""
    n = int(nbytes)
    if n < 1024:
        return f"{max(n, 0)} bytes"
    for k, unit in enumerate(("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"), start=1):
        if n < 1000 * 1024 ** k or unit == "EiB" and n < 1000 * 1024 ** 7:
            return f"{n / 1024 ** k:.3g} {unit}"
    return f"10^{len(str(n)) - 1} bytes"


def nbytes(*dims, itemsize: int = 4) -> int:
    """Bytes of an array with these dimensions (exact Python integers: no overflow, any size)."""
    total = int(itemsize)
    for d in dims:
        total *= max(int(d), 0)
    return total


def check(needed: int, what: str) -> None:
    """Raise :class:`BudgetError` when ``needed`` bytes (an estimate made before allocating) exceed the budget.

    ``what`` says where the number comes from, e.g. ``"1000000000 frames x 80 mels x float32"``.
    """
    limit_bytes = budget()
    if needed > limit_bytes:
        source = f"set {ENV} or --memory-budget to change it" if not _override else "set by the caller"
        raise BudgetError(f"this request needs about {format_size(needed)} ({what}); the memory budget is "
                          f"{format_size(limit_bytes)} ({source})")


__all__ = ["DEFAULT_SHARE", "ENV", "budget", "check", "format_size", "keyword", "limit", "machine_memory", "nbytes",
           "parse_size"]
