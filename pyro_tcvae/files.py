"""Files written atomically: a temporary sibling, renamed into place.

This is the one place where the package renames a file onto another (``os.replace``),
so every writer behaves alike: a reader sees the old content or the new, never a part;
a write that fails (an exception, a full disk) leaves the old file as it was and no
temporary file behind.  A temporary is named ``.NAME.tmpPID`` (:data:`TEMPORARY`
matches it), so that the temporaries of a killed writer can be recognised and removed
(a run folder does so when it is locked).
"""

import contextlib
import os
import re
from pathlib import Path

#: The name of a temporary file: ``.NAME.tmpPID``; group 1 is the writer's pid.
TEMPORARY = re.compile(r"^\..+\.tmp(\d+)$")


def temporary_sibling(path):
    """``path``'s temporary sibling for this process, ``.NAME.tmpPID`` (a Path)."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


@contextlib.contextmanager
def replacing(path):
    """Write ``path`` through a temporary sibling, for writers that need a file name.

    Yields the temporary's path (its folder is created); when the block ends without an
    exception the temporary is renamed onto ``path``.  The temporary is removed in every
    case, so an exception leaves ``path`` as it was.

    >>> with replacing(target) as tmp:
    ...     torch.save(state, tmp)
    """
    path = Path(path)
    tmp = temporary_sibling(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def atomic_write(path, write, sync=False):
    """Write ``path`` atomically: ``write(f)`` gets a binary file open on the temporary.

    Parameters
    ----------
    path : str or Path
    write : callable
        ``write(f)`` writes the whole content to the binary file ``f``.
    sync : bool
        Flush the data to the disk before the rename (``os.fsync``), so that even a
        crash of the machine leaves the old or the new content.
    """
    with replacing(path) as tmp:
        with open(tmp, "wb") as f:
            write(f)
            if sync:
                f.flush()
                os.fsync(f.fileno())
