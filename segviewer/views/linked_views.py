"""Linked zoom and pan of the slice views (ITK-SNAP's "sync zoom"), as a display option.

With :attr:`DisplaySettings.link_views` on, zooming or panning one slice view gives the other
two the same scale (mm per screen pixel) and moves their centre to the same physical point
along the axes they share with it; each keeps its own position along the axis it does not
share.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF


def view_centre_index(view) -> list[float]:
    """The continuous voxel index (i, j, k) at the centre of ``view``'s visible area."""
    centre = view.view_rect().center()
    return list(view.display_to_index(centre))


def mm_per_pixel(view) -> float:
    """Millimetres per screen pixel of ``view`` (aspect is locked, so one figure)."""
    return view.view_rect().width() / max(view.view_box.width(), 1.0)


def follow(view, leader) -> None:
    """Give ``view`` the scale of ``leader`` and its centre along the axes they share."""
    centre = view_centre_index(view)
    lead = view_centre_index(leader)
    for axis in (leader.orientation.row_index_axis, leader.orientation.column_index_axis):
        centre[axis] = lead[axis]
    x, y, _ = view.orientation.index_to_display(centre)
    scale = mm_per_pixel(leader)
    width, height = scale * view.view_box.width(), scale * view.view_box.height()
    view.view_box.setRange(rect=QRectF(x - width / 2, y - height / 2, width, height), padding=0.0)


class ViewLink:
    """Forwards each slice view's user zoom/pan to the others while the option is on."""

    def __init__(self, controller, views) -> None:
        self.controller = controller
        self.views = list(views)
        self._following = False  # the followers' own range changes are not forwarded again
        for view in self.views:
            view.view_moved.connect(lambda view=view: self.view_moved(view))
        controller.display_changed.connect(self._on_display)
        self._linked = controller.display.link_views

    def _on_display(self) -> None:
        linked = self.controller.display.link_views
        if linked and not self._linked and self.views:
            self.view_moved(self.views[0])  # switching on aligns the others at once
        self._linked = linked

    def view_moved(self, leader) -> None:
        if self._following or not self.controller.display.link_views or leader.orientation is None:
            return
        self._following = True
        try:
            for view in self.views:
                # A hidden view (another one maximised) has no size to scale by.
                if view is not leader and view.orientation is not None and view.isVisible():
                    follow(view, leader)
        finally:
            self._following = False
