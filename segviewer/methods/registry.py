"""The single list of built-in methods. The GUI method panel and the CLI both read it.

Each import below registers its method classes with :func:`segviewer.methods.base.register`.
"""

# Built-in methods are registered here, one import per module, e.g.:
# from segviewer.methods import threshold  # noqa: F401
