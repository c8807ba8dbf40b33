"""Lines that say a step failed without saying why.

"Process completed with exit code 1", make's "Error 1", CircleCI's "Exited with
code exit status 1": every failed job prints one, so matching one is never
evidence of anything (flakiness least of all). The failure-line finder skips
them too.
"""

from __future__ import annotations

import re

_GENERIC = re.compile(
    r"""^\s*(?:
        (?:\#\#\[error\]\s*)?(?:Error:\s*)?Process\ completed\ with\ exit\ code\ \d+\.?
      | Exited\ with\ code\ (?:exit\ status\ )?\d+
      | (?:g?make|ninja)(?:\[\d+\])?:\ \*\*\*\ .*\bError\ \d+
      | ninja:\ build\ stopped:\ subcommand\ failed\.?
      | Error:\ Process\ completed.*
      | \#\#\[error\]\s*$
      | (?:error:\ )?(?:Command|Script)\ .*\ (?:returned\ non-zero|exited\ with)
        \ (?:exit\ )?(?:status|code)\ \d+\.?
      | ERROR:\ Job\ failed:\ exit\ code\ \d+
      | Build\ step\ '.*'\ marked\ build\ as\ failure
      | Finished:\ FAILURE
      | The\ command\ ".*"\ exited\ with\ \d+\.?
      | npm\ ERR!\ code\ E?LIFECYCLE
      | error\ Command\ failed\ with\ exit\ code\ \d+\.?
      | FAILED:\ .*\.o$
      | exit\ status\ \d+
    )\s*$""",
    re.VERBOSE,
)


def is_generic(line: str) -> bool:
    """True for lines that only report that something failed (see module doc)."""
    return _GENERIC.match(line) is not None
