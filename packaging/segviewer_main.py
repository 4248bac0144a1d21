"""Entry point of the PyInstaller bundle: the same ``segviewer`` command as the installed one."""

import multiprocessing
import sys

if __name__ == "__main__":
    # The graph cut's helper process is started with "spawn"; in a frozen app the child is this
    # same executable, and freeze_support() turns it into the helper instead of a second app.
    multiprocessing.freeze_support()
    from segviewer.cli import main

    sys.exit(main())
