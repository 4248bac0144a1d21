"""The viewer seen through Qt: :class:`ViewerController` is the app tier's
:class:`segviewer.app.viewer.Viewer` (session, cursor, active label, display settings, preview,
heat-map and outline layers, tool dispatch, progress) with each of its events re-emitted as a
Qt signal of the same name, so widgets connect Qt slots (queued across threads, dropped with
the widget).

The state and the rules live in :mod:`segviewer.app.viewer` (read its docstring for dock and
tool authors); nothing but the signals is added here. :func:`qt_relay` makes the Qt signals
from the app tier's psygnal group, so a new event is declared once, in the app tier.
"""

from __future__ import annotations

from psygnal import EmissionInfo, SignalGroup
from psygnal import Signal as AppSignal
from PySide6.QtCore import QObject, Signal

from segviewer.app.viewer import Viewer, ViewerEvents

#: Argument types Qt signals carry as such; anything else travels as a Python object.
QT_TYPES = (bool, int, float, str)


def qt_relay(group: type[SignalGroup]) -> type[QObject]:
    """A QObject base class with one Qt signal per signal of the psygnal ``group`` (same name,
    same arguments) and ``relay(events)``, which re-emits every emission of ``events`` (an
    instance of ``group``) as the Qt signal of the same name."""
    signals = {name: Signal(*(parameter.annotation if parameter.annotation in QT_TYPES else object
                              for parameter in signal.signature.parameters.values()))
               for name, signal in vars(group).items() if isinstance(signal, AppSignal)}

    def relay(self, events: SignalGroup) -> None:
        events.connect(self._relay_emission)

    def _relay_emission(self, info: EmissionInfo) -> None:
        getattr(self, info.signal.name).emit(*info.args)

    return type(f"Qt{group.__name__}", (QObject,), {**signals, "relay": relay, "_relay_emission": _relay_emission})


class ViewerController(Viewer, qt_relay(ViewerEvents)):
    """A :class:`Viewer` whose events are also Qt signals (see the module docstring)."""

    def __init__(self, parent: QObject | None = None) -> None:
        QObject.__init__(self, parent)
        Viewer.__init__(self)
        self.relay(self.events)
