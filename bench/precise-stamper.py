"""Makes a copy of netns-bench's log reader event-driven (first-probe-ab.sh, PRECISE=1).

netns-bench's `tailstamp` re-reads the daemon's log every millisecond, so each detection time
carries 0-1 ms of polling error. This rewrites the idle wait of a *copy* of lib/psb.py to
return as soon as the log is written (inotify IN_MODIFY, at most 0.2 s): what remains is the
reader's own wake-up. Usage: python3 precise-stamper.py COPY/lib/psb.py
"""

import sys

HELPER = '''

import ctypes as _ctypes
import os as _os

_inotify = {}


def _wait_modified(path, interval):
    """Returns once `path` is written to (inotify IN_MODIFY), or after 0.2 s."""
    if "fd" not in _inotify:
        libc = _ctypes.CDLL("libc.so.6", use_errno=True)
        _inotify["fd"] = libc.inotify_init1(0)
        _inotify["add"] = lambda p: libc.inotify_add_watch(_inotify["fd"], p.encode(), 0x2)
    if _inotify.get("wd", -1) < 0:
        _inotify["wd"] = _inotify["add"](path)
        if _inotify["wd"] < 0:  # the log does not exist yet
            time.sleep(interval)
            return
    if select.select([_inotify["fd"]], [], [], 0.2)[0]:
        _os.read(_inotify["fd"], 4096)
'''

ANCHOR = "def cmd_tailstamp("

# tailstamp's idle wait: the one "time.sleep(interval)" right after the ready file is written.
OLD = """                    ready = None
                time.sleep(interval)"""
NEW = """                    ready = None
                _wait_modified(path, interval)"""


def main() -> None:
    path = sys.argv[1]
    with open(path) as f:
        src = f.read()
    if src.count(OLD) != 1 or src.count(ANCHOR) != 1 or "import select" not in src:
        sys.exit(f"{path}: tailstamp's poll loop not found; this netns-bench differs, run without PRECISE")
    # The helper goes before tailstamp: the script dispatches at its end.
    src = src.replace(OLD, NEW).replace(ANCHOR, HELPER.lstrip("\n") + "\n\n" + ANCHOR)
    with open(path, "w") as f:
        f.write(src)


main()
