"""Safe output: riskengine writes only where it may, and swaps results atomically.

Ownership
---------
riskengine writes only into paths it created or that carry its own mark, and never
moves or deletes anything else:

- a results folder ``DIR`` (``backtest --out``) is a symbolic link riskengine made
  into its store ``.DIR.riskengine`` beside it (below);
- a single JSON file (``allocate --out``, ``calibrate-simulator --out``) is replaced
  only if riskengine wrote it, as its content shows (the allocation's ``schema``,
  the calibration's ``description``);
- a datasets folder (``sweep --out``) holds the mark ``.riskengine-sweep``.

A missing path is created, with its missing parent folders. An empty folder is
adopted: it holds nothing to lose (a results folder's is removed and replaced by
the link). A results folder of an older riskengine (a real folder holding only
riskengine's result files, manifest included) moves into the store once: for that
one run the swap takes two renames. Anything else (a folder holding other files, a
file where a folder is expected, a device, a pipe, a socket, a symbolic link
riskengine did not make, ``.``) is an `OutputError` naming it. Names from specs
become paths only through `slug`.

Atomic swap
-----------
::

    results/
      vol-target-fund -> .vol-target-fund.riskengine/v-20261201T101500123456Z-4242
      .vol-target-fund.riskengine/
        riskengine-store     the store's mark
        lock                 writers' advisory lock (fcntl.flock), holder's pid
        v-20261201T101500123456Z-4242/   the current results: manifest.json, ...

A run writes a new version folder in the store, makes a new link to it and renames
that link over ``DIR`` (`os.replace`): one rename, so a reader, or a kill at any
instant, finds the old results or the new ones, whole, never neither, and
``DIR/manifest.json``, ``DIR/report.html`` ... keep their documented paths. The
older version is removed once the new one is in place. A writer holds the store's
lock from before it writes until it has cleaned up, so runs on one ``DIR`` are
serialised (a run waits up to ``WAIT_SECONDS``, then is refused, naming the process
that holds the lock). The kernel releases a dead process's lock, so what a writer
finds in the store besides the current version was left by a killed run, and goes.
Single files are written to a hidden temporary beside them (its name carries the
writer's pid; one whose writer is dead is removed by the next write) and renamed
into place. POSIX only (symbolic links, ``fcntl``).

Operating-system failures (read-only or full disk, permissions) become one-line
`OutputError` exceptions; before the swap, the previous output is left as it was.
"""

from riskengine.output.files import check_json_file, replace_file, write_json_file
from riskengine.output.folders import (
    check_results_folder,
    datasets_folder,
    new_results_folder,
)
from riskengine.output.formats import csv_safe, dumps, slug, write_csv

__all__ = [
    "check_json_file",
    "check_results_folder",
    "csv_safe",
    "datasets_folder",
    "dumps",
    "new_results_folder",
    "replace_file",
    "slug",
    "write_csv",
    "write_json_file",
]
