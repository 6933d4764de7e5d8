"""Exit codes and the error boundary of every t2c entry point (``t2c``, ``make sim``).

Exit codes (docs/cli.md):

====  ==========================================================================
0     success (co-simulation: every element equal)
1     mismatch: the RTL differs from the reference
2     bad input: an argument, a model, a file that cannot be read or written
3     a tool is missing (simulator, compiler)
4     internal error: a bug in t2c (the message says how to get the traceback)
130   interrupted (Ctrl-C, SIGTERM, SIGHUP)
====  ==========================================================================

:func:`guarded` turns every expected failure into one line on stderr and its code.
``T2C_DEBUG=1`` prints the traceback as well.

Interrupts: SIGINT, SIGTERM and SIGHUP always end in ``t2c: interrupted`` and 130, whatever
the interrupted code made of them (a library that turns a KeyboardInterrupt in the middle of
an import into an error of its own is not believed), and also when the signal arrives after
the work is done.  An unfinished progress bar is ended before the message, so the message
has a line of its own.
"""
from __future__ import annotations

import os
import signal
import sys
import traceback
from typing import Callable

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT, EXIT_TOOL_MISSING, EXIT_INTERNAL = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130


class ToolMissingError(RuntimeError):
    """A program t2c needs (a simulator, g++) is not installed; the message says how to get it."""


class MismatchError(RuntimeError):
    """A co-simulation differed from the reference (exit code 1)."""


def _os_message(e: OSError) -> str:
    what = e.strerror or str(e)
    files = [f for f in (e.filename, getattr(e, "filename2", None)) if f]
    return f"{' -> '.join(map(str, files))}: {what}" if files else what


_STATE = {"interrupted": False, "working": False}


def _interrupt(signum, frame):
    _STATE["interrupted"] = True
    if _STATE["working"]:
        raise KeyboardInterrupt
    _say_interrupted()  # after the work: nothing left to unwind
    os._exit(EXIT_INTERRUPTED)


def _say_interrupted() -> None:
    try:
        _end_progress_bars()
        print("t2c: interrupted", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _end_progress_bars() -> None:
    """Close every open tqdm bar, so what is printed next starts on a line of its own."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is None:
        return
    for bar in list(getattr(tqdm.tqdm, "_instances", ())):
        try:
            bar.close()
        except Exception:  # noqa: BLE001 - a bar that cannot close must not hide the error
            pass
    try:
        sys.stderr.write("")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the exit flush does not fail too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def guarded(fn: Callable[[], int | None], prog: str = "t2c", process: bool = False) -> int:
    """Run ``fn`` and return its exit code; every exception becomes one line on stderr.

    ``process``: ``fn`` is the whole process (the ``t2c`` command), so the interrupt
    handlers stay installed until it exits; otherwise (``main([...])`` called from Python,
    e.g. a test) the previous handlers come back when ``fn`` returns."""
    debug = os.environ.get("T2C_DEBUG", "") not in ("", "0")
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, _interrupt)
        except (ValueError, OSError):  # not the main thread
            pass
    _STATE.update(interrupted=False, working=True)

    def say(code: int, msg: str) -> int:
        if _STATE["interrupted"]:  # whatever the interrupted code raised instead
            code, msg = EXIT_INTERRUPTED, "interrupted"
        if debug:
            traceback.print_exc()
        try:
            _end_progress_bars()
            print(f"{prog}: {msg}", file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass
        return code

    try:
        code = int(fn() or 0)
        return say(EXIT_INTERRUPTED, "interrupted") if _STATE["interrupted"] else code
    except KeyboardInterrupt:
        return say(EXIT_INTERRUPTED, "interrupted")
    except MemoryError:
        return say(EXIT_BAD_INPUT, "error: out of memory: the model, its input shape or the data is too large "
                                   "for this machine")
    except SyntaxError as e:  # a user's Python file (a unit file, a model file)
        return say(EXIT_BAD_INPUT, f"error: {e.filename}:{e.lineno}: syntax error: {e.msg}")
    except BrokenPipeError:
        _quiet_stdout()  # the reader (e.g. `| head`) has what it wanted
        return EXIT_OK
    except ToolMissingError as e:
        return say(EXIT_TOOL_MISSING, f"error: {e}")
    except MismatchError as e:
        return say(EXIT_MISMATCH, str(e))
    except OSError as e:
        return say(EXIT_BAD_INPUT, f"error: {_os_message(e)}")
    except (ValueError, KeyError, TypeError, LookupError, RuntimeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        text = str(msg).strip().splitlines()
        return say(EXIT_BAD_INPUT, f"error: {text[0] if text else type(e).__name__}")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else EXIT_BAD_INPUT
    except Exception as e:  # a bug: one line, and how to see more
        hint = "" if debug else "; run with T2C_DEBUG=1 for the traceback"
        return say(EXIT_INTERNAL, f"internal error: {type(e).__name__}: {e}{hint}")
    finally:
        _STATE["working"] = False
        if not process:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
