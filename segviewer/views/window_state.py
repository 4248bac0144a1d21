"""The main window's saved state: geometry, dock layout, maximised view and label display,
restored at start and saved at close (``QSettings``); the first start's dock layout."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtWidgets import QApplication, QMainWindow

#: First start: docks used together share a tab group, the first one raised.
TAB_GROUPS = ((Qt.DockWidgetArea.BottomDockWidgetArea, ("statistics", "metrics", "jobs")),
              (Qt.DockWidgetArea.RightDockWidgetArea, ("tool_options", "segment", "measurements", "review")))
#: First start: width of the side docks, height of the bottom ones (pixels).
SIDE_DOCK_WIDTH, BOTTOM_DOCK_HEIGHT = 360, 170


def restore_window_state(window: QMainWindow) -> bool:
    """Geometry, dock layout, maximised view, label opacity and outlines from
    ``window.settings``; True when a saved dock layout was restored."""
    settings = window.settings
    geometry = settings.value("window/geometry")
    if isinstance(geometry, QByteArray):
        window.restoreGeometry(geometry)
    state = settings.value("window/state")
    restored = isinstance(state, QByteArray)
    if restored:
        window.restoreState(state)
    else:
        default_dock_layout(window)
    # The minimum size follows the docks as now laid out, not as first stacked one under the
    # other (taller than a screen): else the window could not be made smaller than that.
    window.layout().activate()
    if not isinstance(geometry, QByteArray):
        screen = QApplication.primaryScreen()
        if screen is not None:
            available = screen.availableGeometry()
            window.resize(min(1400, available.width()), min(900, available.height()))
    window.grid.maximise(str(settings.value("layout/maximised", "") or ""))
    opacity = float(settings.value("display/label_opacity", 0.5))
    outline = str(settings.value("display/outline", "false")).lower() == "true"
    window.opacity_slider.setValue(int(round(opacity * 100)))
    window.outline_action.setChecked(outline)
    link_views = str(settings.value("display/link_views", "false")).lower() == "true"
    window.link_views_action.setChecked(link_views)
    window.controller.update_display(label_opacity=opacity, outline=outline, link_views=link_views)
    return restored


def save_window_state(window: QMainWindow) -> None:
    settings = window.settings
    settings.setValue("window/geometry", window.saveGeometry())
    settings.setValue("window/state", window.saveState())
    settings.setValue("layout/maximised", window.grid.maximised)
    settings.setValue("display/label_opacity", window.controller.display.label_opacity)
    settings.setValue("display/outline", "true" if window.controller.display.outline else "false")
    settings.setValue("display/link_views", "true" if window.controller.display.link_views else "false")
    settings.sync()


def default_dock_layout(window: QMainWindow) -> None:
    """First start: the views keep most of the window. Panels that are used together share a
    tab group (labels stay on their own on the right; tool options and the method panel are
    tabs; statistics, metrics and jobs are tabs along the bottom)."""
    docks = window.docks
    for area, names in TAB_GROUPS:
        members = [docks[name] for name in names if name in docks]
        # Taken out and put back as one group: tabbing docks that sit apart in one area leaves
        # a stale tab bar of the first ones drawn over the window (Qt)
        for dock in members:
            window.removeDockWidget(dock)
        for dock in members[:1]:
            window.addDockWidget(area, dock)
        for other in members[1:]:
            window.tabifyDockWidget(members[0], other)
        for dock in members:
            dock.show()
        if members:
            members[0].raise_()
    by_area: dict = {}
    for dock in docks.values():
        by_area.setdefault(window.dockWidgetArea(dock), []).append(dock)
    sides = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea)
    for area, members in by_area.items():
        if area in sides:
            window.resizeDocks(members, [SIDE_DOCK_WIDTH] * len(members), Qt.Orientation.Horizontal)
        else:
            window.resizeDocks(members, [BOTTOM_DOCK_HEIGHT] * len(members), Qt.Orientation.Vertical)
