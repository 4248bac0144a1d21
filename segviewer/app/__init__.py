"""The application tier: the viewer's state and workflows with no Qt, no pyqtgraph and no VTK.

The window (:mod:`segviewer.views`) builds these objects with Qt implementations of their
ports (asking the user, choosing a file, running work in the background) and binds widgets
to them; tests drive them with plain functions and no display. ``app`` may import ``workers``,
``evaluation`` and everything below them, never ``views`` or ``cli``.
"""
