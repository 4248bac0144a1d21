"""One slice view (axial, sagittal or coronal) drawn with pyqtgraph.

Mouse and keys (ITK-SNAP / 3D Slicer habits)
--------------------------------------------
- Left button: the active tool (press, drag, release). With no tool, or a tool that does not
  capture drags, a left click/drag moves the linked crosshair (a click still goes to the tool).
- Right-drag: window/level in every mode (Slicer's convention): horizontal = window width
  (right widens), vertical = level (down raises the level: the image darkens). A right
  click without dragging is the active tool's alternative action (erase, negative point,
  close a polygon; ITK-SNAP's right button), or, in Navigate mode, opens the view menu
  (presets, reset, maximise).
- Ctrl + right-drag or Ctrl + wheel: zoom (about the mouse); middle-drag: pan.
- Wheel, Up/Down arrows: one slice; PageUp/PageDown: five slices; Shift + wheel: five slices.
  "Up" increases the slice number shown in the header.
- Double-click (when no drawing tool is active) or the header button: maximise / restore.
- Home: reset zoom and pan. Esc: cancel the tool's unfinished action; with nothing
  pending, back to Navigate.

The slice shown is always the one through the shared cursor; stepping slices moves the cursor
along the view's normal, so the crosshairs of the other views follow.

Rendering
---------
Each layer is an ``ImageItem`` in display millimetres (see :mod:`segviewer.app.display`):
grey levels (``uint8`` from the window), heat map, labels (RGBA through the label table's
lookup table, global opacity, filled or outline), preview, scribbles, then point markers and
the crosshair. A label or scribble change repaints only the part of the displayed slice
inside the changed box, and nothing when the box misses the slice.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPen
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QMenu, QSizePolicy, QStyle, QToolButton,
                               QVBoxLayout, QWidget)

from segviewer.app.display import (CT_PRESETS, GrayMapper, SliceOrientation, colour_heatmap,
                                   colour_labels, heatmap_lut, outline_mask, slice_orientations)
from segviewer.model.geometry import Box
from segviewer.tools.base import SliceEvent
from segviewer.views.brush_outline import BrushOutline
from segviewer.views.controller import ViewerController

#: Header colours per view, as in 3D Slicer (red axial, yellow sagittal, green coronal).
VIEW_COLOURS = {"axial": "#d9534f", "sagittal": "#e6c229", "coronal": "#5cb85c", "3d": "#6f8fcf"}
VIEW_TITLES = {"axial": "Axial", "sagittal": "Sagittal", "coronal": "Coronal"}
CROSSHAIR_COLOUR = QColor(80, 170, 255, 210)
#: Colour of background-class scribbles (label scribbles use their label's colour).
BACKGROUND_SCRIBBLE_COLOUR = (120, 180, 255)
PREVIEW_FILL_ALPHA = 110

_MODIFIER_NAMES = (
    (Qt.KeyboardModifier.ShiftModifier, "shift"),
    (Qt.KeyboardModifier.ControlModifier, "ctrl"),
    (Qt.KeyboardModifier.AltModifier, "alt"),
)
_BUTTON_NAMES = {Qt.MouseButton.LeftButton: "left", Qt.MouseButton.RightButton: "right",
                 Qt.MouseButton.MiddleButton: "middle"}
DRAG_THRESHOLD_PX = 3


@functools.cache
def partial_repaint_supported() -> bool:
    """Whether this pyqtgraph lets a layer repaint only an edited region.

    pyqtgraph 0.13-0.14 keep a private ``_renderRequired`` flag on every ImageItem: setting it
    makes the next paint rebuild the QImage from our edited buffer, and ``update(rect)`` limits
    that paint to the region. A pyqtgraph without the flag gets the whole layer redrawn
    (correct, only slower). Asked once, of a throw-away item, when the first edit is drawn.
    """
    return "_renderRequired" in vars(pg.ImageItem())


def modifier_names(modifiers) -> frozenset:
    return frozenset(name for flag, name in _MODIFIER_NAMES if modifiers & flag)


class _SliceGraphicsView(pg.GraphicsView):
    """The drawing surface; every mouse/key event is handled by its :class:`SliceView`."""

    def __init__(self, owner: "SliceView") -> None:
        #: Called after every resize once the owner's overlay labels exist (the view is
        #: resized while it is being built, before they do).
        self.on_resize: Callable[[], None] | None = None
        super().__init__(background="k")
        self.owner = owner
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def mousePressEvent(self, event) -> None:
        self.setFocus()
        self.owner._mouse_press(event)

    def mouseMoveEvent(self, event) -> None:
        self.owner._mouse_move(event)

    def mouseReleaseEvent(self, event) -> None:
        self.owner._mouse_release(event)

    def mouseDoubleClickEvent(self, event) -> None:
        self.owner._mouse_double_click(event)

    def wheelEvent(self, event) -> None:
        self.owner._wheel(event)

    def keyPressEvent(self, event) -> None:
        if not self.owner._key_press(event):
            super().keyPressEvent(event)

    def leaveEvent(self, event) -> None:
        self.owner._hover_readout(None)
        super().leaveEvent(event)

    def enterEvent(self, event) -> None:
        # Keys go to the view under the mouse (slice keys, Esc), as in ITK-SNAP, unless the
        # user is typing in a field.
        from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit, QPlainTextEdit, QTextEdit

        focused = QApplication.focusWidget()
        if not isinstance(focused, (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit)):
            self.setFocus(Qt.FocusReason.MouseFocusReason)
        super().enterEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.on_resize is not None:
            self.on_resize()


class ViewHeader(QFrame):
    """The title bar of a view: colour tag, name, slice number, reset and maximise buttons."""

    maximise_clicked = Signal()
    reset_clicked = Signal()

    def __init__(self, key: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ViewHeader")
        colour = VIEW_COLOURS[key]
        self.setStyleSheet(
            f"#ViewHeader {{ background: #23262b; border-left: 4px solid {colour}; }}"
            "#ViewHeader QLabel { color: #d8dadf; }"
            "#ViewHeader QToolButton { color: #d8dadf; border: none; padding: 0 4px; }"
            "#ViewHeader QToolButton:hover { background: #3a3f47; }")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 1, 2, 1)
        layout.setSpacing(6)
        self.title = QLabel(title)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.info = QLabel("")
        style = self.style()
        self.reset_button = QToolButton()
        self.reset_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_BrowserReload))
        self.reset_button.setToolTip("Reset zoom and pan (Home)")
        self.reset_button.clicked.connect(self.reset_clicked)
        self.maximise_button = QToolButton()
        self.maximise_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_TitleBarMaxButton))
        self.maximise_button.setToolTip("Maximise / restore this view (double-click)")
        self.maximise_button.clicked.connect(self.maximise_clicked)
        layout.addWidget(self.title)
        layout.addWidget(self.info, 1)
        layout.addWidget(self.reset_button)
        layout.addWidget(self.maximise_button)
        self.setFixedHeight(22)

    def mouseDoubleClickEvent(self, event) -> None:
        self.maximise_clicked.emit()


def _overlay_label(parent: QWidget, align) -> QLabel:
    """Text over the image, with a dark halo so it stays readable on bright pixels."""
    from PySide6.QtWidgets import QGraphicsDropShadowEffect

    label = QLabel(parent)
    label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    label.setStyleSheet("color: #f0e68c; background: transparent;")
    label.setAlignment(align)
    shadow = QGraphicsDropShadowEffect(label)
    shadow.setBlurRadius(4)
    shadow.setOffset(1, 1)
    shadow.setColor(QColor(0, 0, 0, 230))
    label.setGraphicsEffect(shadow)
    return label


class SliceView(QWidget):
    """A linked slice view of the controller's session along one patient plane."""

    maximise_requested = Signal(str)
    #: The user zoomed or panned this view (linked views follow).
    view_moved = Signal()

    def __init__(self, controller: ViewerController, key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.key = key  # "axial", "sagittal" or "coronal"
        self.orientation: SliceOrientation | None = None
        self.slice_index = 0
        self._gray: GrayMapper | None = None
        self._label_lut: np.ndarray | None = None
        self._scribble_lut: np.ndarray | None = None
        self._label_rgba: np.ndarray | None = None
        self._scribble_rgba: np.ndarray | None = None
        self._drag: dict | None = None
        self._hover_index: tuple[float, float, float] | None = None
        self._wheel_rest = 0.0
        self.render_count = 0  # full-slice renders (tests check partial updates)

        self.header = ViewHeader(key, VIEW_TITLES[key])
        self.header.maximise_clicked.connect(lambda: self.maximise_requested.emit(self.key))
        self.header.reset_clicked.connect(self.reset_view)
        self.graphics = _SliceGraphicsView(self)
        self.view_box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view_box.setMouseEnabled(False, False)
        self.view_box.setDefaultPadding(0.02)
        self.graphics.setCentralItem(self.view_box)

        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.heatmap_item = pg.ImageItem(axisOrder="row-major")
        self.label_item = pg.ImageItem(axisOrder="row-major")
        self.preview_item = pg.ImageItem(axisOrder="row-major")
        self.scribble_item = pg.ImageItem(axisOrder="row-major")
        for z, item in enumerate((self.image_item, self.heatmap_item, self.label_item,
                                  self.preview_item, self.scribble_item)):
            item.setZValue(z)
            self.view_box.addItem(item)
        #: One item per outline layer (review: each annotator's mask), above the labels.
        self.outline_items: list[pg.ImageItem] = []
        self.points_item = pg.ScatterPlotItem(pxMode=True)
        self.points_item.setZValue(10)
        self.view_box.addItem(self.points_item)
        pen = QPen(CROSSHAIR_COLOUR)
        pen.setCosmetic(True)
        pen.setWidthF(1.0)
        self.cross_v = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.cross_h = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        for line in (self.cross_v, self.cross_h):
            line.setZValue(20)
            self.view_box.addItem(line, ignoreBounds=True)

        # Text drawn over the view: orientation letters, window/level, hover readout.
        align = Qt.AlignmentFlag
        self.letter_labels = {side: _overlay_label(self.graphics, align.AlignCenter)
                              for side in ("left", "right", "top", "bottom")}
        for label in self.letter_labels.values():
            font = QFont(label.font())
            font.setBold(True)
            font.setPointSize(font.pointSize() + 2)
            label.setFont(font)
        self.window_label = _overlay_label(self.graphics, align.AlignLeft | align.AlignBottom)
        self.readout_label = _overlay_label(self.graphics, align.AlignRight | align.AlignBottom)
        self.readout_label.setStyleSheet("color: #cfd3da; background: transparent;")
        self.notice_label = _overlay_label(self.graphics, align.AlignRight | align.AlignTop)
        self.notice_label.setStyleSheet("color: #ffb347; background: transparent;")
        self.graphics.on_resize = self._place_overlays

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(self.graphics, 1)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 120)

        c = controller
        c.session_changed.connect(self._on_session)
        c.cursor_changed.connect(self._on_cursor)
        c.labels_changed.connect(self._on_labels_changed)
        c.scribbles_changed.connect(self._on_scribbles_changed)
        c.points_changed.connect(self._render_points)
        c.label_table_changed.connect(self._on_table)
        c.window_level_changed.connect(self._on_window)
        c.display_changed.connect(self._on_display)
        c.preview_changed.connect(self._on_preview_changed)
        c.heatmap_changed.connect(self._on_heatmap_changed)
        c.outlines_changed.connect(self._render_outlines)
        c.active_label_changed.connect(lambda _value: self._render_points())
        self._on_session(c.session)
        self.brush_outline = BrushOutline(self)  # the brush footprint at the mouse

    # == binding =========================================================================
    @property
    def session(self):
        return self.controller.session

    def _on_session(self, session) -> None:
        self._drag = None
        if session is None:
            self.orientation = None
            for item in (self.image_item, self.heatmap_item, self.label_item, self.preview_item,
                         self.scribble_item):
                item.clear()
            self.points_item.clear()
            self._render_outlines()
            self.header.info.setText("")
            for label in self.letter_labels.values():
                label.setText("")
            return
        self.orientation = slice_orientations(session.geometry)[self.key]
        self._gray = GrayMapper(session.image.array.dtype)
        self._gray.set_window(*self.controller.window)
        self._rebuild_luts()
        rows, columns = self.orientation.shape
        row_mm, column_mm = self.orientation.spacing[:2]
        self._full_rect = QRectF(-0.5 * column_mm, -0.5 * row_mm, columns * column_mm, rows * row_mm)
        for item in (self.image_item, self.label_item, self.scribble_item):
            item.setImage(np.zeros((rows, columns), np.uint8), autoLevels=False)
            item.setRect(self._full_rect)
        for side, label in self.letter_labels.items():
            label.setText(self.orientation.letters[side])
        self.notice_label.setText("oblique: image grid" if self.orientation.oblique else "")
        self.notice_label.setToolTip(
            "The image is oblique: slices follow its own voxel grid; letters name the nearest axes."
            if self.orientation.oblique else "")
        self.slice_index = int(session.cursor[self.orientation.normal_index_axis])
        self.render_all()
        self._place_cursor()
        self.reset_view()
        self._place_overlays()

    def _rebuild_luts(self) -> None:
        session = self.session
        if session is None:
            return
        table = session.label_table
        size = 256 if session.labels.array.dtype == np.uint8 else max(table.max_value + 1, 256)
        self._label_lut = table.lookup_table(size)
        self._label_lut_dtype = session.labels.array.dtype
        scribbles = session.scribbles
        scribble_size = 256 if scribbles.array.dtype == np.uint8 else 65536
        lut = np.zeros((scribble_size, 4), np.uint8)
        solid = table.lookup_table(min(scribble_size, max(table.max_value + 1, 1)))
        lut[: solid.shape[0], :3] = solid[:, :3]
        lut[: solid.shape[0], 3] = np.where(solid[:, 3] > 0, 255, 0)
        lut[0] = (*BACKGROUND_SCRIBBLE_COLOUR, 255)
        lut[scribbles.unannotated] = 0
        self._scribble_lut = lut

    # == rendering ========================================================================
    def render_all(self) -> None:
        """Redraw every layer of the displayed slice."""
        if self.orientation is None:
            return
        self.render_count += 1
        self._render_image()
        self._render_labels(None)
        self._render_scribbles(None)
        self._render_preview()
        self._render_heatmap()
        self._render_outlines()
        self._render_points()
        self._update_header()

    def _render_image(self) -> None:
        plane = self.orientation.extract(self.session.image.array, self.slice_index)
        self.image_item.setImage(self._gray(plane), autoLevels=False, levels=None)
        self._update_window_text()

    def _label_region(self, rows: slice, columns: slice, outline: bool) -> tuple[np.ndarray, tuple]:
        """RGBA of the label plane in (rows, columns); outline needs a one-pixel margin."""
        orientation = self.orientation
        if not outline:
            plane = orientation.extract(self.session.labels.array, self.slice_index)[rows, columns]
            return colour_labels(plane, self._label_lut), (rows, columns)
        full = orientation.extract(self.session.labels.array, self.slice_index)
        n_rows, n_columns = full.shape
        r0, r1 = max(rows.start - 1, 0), min(rows.stop + 1, n_rows)
        c0, c1 = max(columns.start - 1, 0), min(columns.stop + 1, n_columns)
        m0, m1 = max(r0 - 1, 0), min(r1 + 1, n_rows)
        k0, k1 = max(c0 - 1, 0), min(c1 + 1, n_columns)
        plane = full[m0:m1, k0:k1]
        rgba = colour_labels(plane, self._label_lut)
        rgba[~outline_mask(plane)] = 0
        return rgba[r0 - m0: r1 - m0, c0 - k0: c1 - k0], (slice(r0, r1), slice(c0, c1))

    def _render_labels(self, box: Box | None) -> None:
        display = self.controller.display
        self.label_item.setVisible(display.show_labels)
        self.label_item.setOpacity(display.label_opacity)
        if not display.show_labels:
            self._label_rgba = None
            return
        orientation = self.orientation
        rows_all, columns_all = orientation.shape
        if box is None or self._label_rgba is None:
            region = (slice(0, rows_all), slice(0, columns_all))
            self._label_rgba, _ = self._label_region(*region, display.outline)
            self.label_item.setImage(self._label_rgba, autoLevels=False)
            return
        region = orientation.region_of_box(box, self.slice_index)
        if region is None:
            return
        rgba, region = self._label_region(*region, display.outline)
        self._label_rgba[region] = rgba
        self._invalidate(self.label_item, region)

    def _render_scribbles(self, box: Box | None) -> None:
        display = self.controller.display
        if not display.show_scribbles:
            self.scribble_item.setVisible(False)
            self._scribble_rgba = None
            return
        scribbles = self.session.scribbles
        orientation = self.orientation
        plane = orientation.extract(scribbles.array, self.slice_index)
        if box is None or self._scribble_rgba is None:
            # An empty scribble layer is not drawn at all (most slices have none).
            if not np.any(plane != scribbles.unannotated):
                self.scribble_item.setVisible(False)
                self._scribble_rgba = None
                return
            self._scribble_rgba = colour_labels(plane, self._scribble_lut)
            self.scribble_item.setImage(self._scribble_rgba, autoLevels=False)
            self.scribble_item.setVisible(True)
            return
        region = orientation.region_of_box(box, self.slice_index)
        if region is None:
            return
        self._scribble_rgba[region] = colour_labels(plane[region], self._scribble_lut)
        self._invalidate(self.scribble_item, region)

    def _invalidate(self, item: pg.ImageItem, region: tuple[slice, slice]) -> None:
        """Repaint only ``region`` (display rows, columns) of a layer whose array was edited in
        place: pyqtgraph wraps our RGBA buffer, so the next paint of that area shows it."""
        if not partial_repaint_supported():
            item.updateImage()
            return
        item._renderRequired = True
        rows, columns = region
        item.update(QRectF(columns.start, rows.start, columns.stop - columns.start, rows.stop - rows.start))

    def _crop_plane(self, box: Box, crop: np.ndarray) -> tuple[np.ndarray, QRectF] | None:
        """The displayed plane of an array-order ``crop`` on ``box`` and its display rect."""
        orientation = self.orientation
        region = orientation.region_of_box(box, self.slice_index)
        if region is None:
            return None
        local = self.slice_index - box[orientation.normal_array_axis].start
        plane = orientation.extract(crop, local)
        rows, columns = region
        row_mm, column_mm = orientation.spacing[:2]
        rect = QRectF((columns.start - 0.5) * column_mm, (rows.start - 0.5) * row_mm,
                      (columns.stop - columns.start) * column_mm, (rows.stop - rows.start) * row_mm)
        return plane, rect

    def _render_preview(self) -> None:
        preview = self.controller.preview
        shown = preview is not None and self.controller.display.show_preview
        part = self._crop_plane(preview.box, preview.labels) if shown else None
        if part is None:
            self.preview_item.setVisible(False)
            return
        values, rect = part
        local = self.slice_index - preview.box[self.orientation.normal_array_axis].start
        mask = self.orientation.extract(preview.shown_mask, local)
        values = np.where(mask, values, 0)
        rgba = colour_labels(values, self._label_lut)
        rgba[..., 3] = np.where(mask, PREVIEW_FILL_ALPHA, 0)
        rgba[outline_mask(values), 3] = 255
        self.preview_item.setImage(rgba, autoLevels=False)
        self.preview_item.setRect(rect)
        self.preview_item.setVisible(True)

    def _render_heatmap(self) -> None:
        heatmap = self.controller.heatmap
        shown = heatmap is not None and self.controller.display.show_heatmap
        part = self._crop_plane(heatmap.box, heatmap.values) if shown else None
        if part is None:
            self.heatmap_item.setVisible(False)
            return
        plane, rect = part
        rgba = colour_heatmap(plane, heatmap.low, heatmap.high, heatmap_lut(heatmap.colormap))
        self.heatmap_item.setImage(rgba, autoLevels=False)
        self.heatmap_item.setRect(rect)
        self.heatmap_item.setOpacity(self.controller.display.heatmap_opacity)
        self.heatmap_item.setVisible(True)

    def _render_outlines(self) -> None:
        """Draw each outline layer's boundaries on this slice in the layer's colour."""
        layers = self.controller.outlines if self.orientation is not None else []
        while len(self.outline_items) < len(layers):
            item = pg.ImageItem(axisOrder="row-major")
            item.setZValue(2.5)  # above the labels, below the preview
            self.view_box.addItem(item)
            self.outline_items.append(item)
        for item, layer in zip(self.outline_items, layers):
            plane = self.orientation.extract(layer.labels, self.slice_index)
            rgba = np.zeros((*plane.shape, 4), np.uint8)
            rgba[outline_mask(plane)] = (*layer.colour, 255)
            item.setImage(rgba, autoLevels=False)
            item.setRect(self._full_rect)
            item.setVisible(self.controller.display.show_labels)
        for item in self.outline_items[len(layers):]:
            item.setVisible(False)

    def _render_points(self) -> None:
        session = self.session
        display = self.controller.display
        if session is None or self.orientation is None or not display.show_points or not len(session.points):
            self.points_item.clear()
            self.points_item.setVisible(False)
            return
        orientation = self.orientation
        spots = []
        table = session.label_table
        for point in session.points:
            index = session.geometry.physical_to_index(point.position_mm)
            x, y, normal = orientation.index_to_display(index)
            distance = abs(normal - self.slice_index)
            if distance >= 0.5:
                continue
            colour = QColor(*table.colour_of(point.label))
            spots.append({
                "pos": (x, y), "size": 11,
                "symbol": "o" if point.positive else "x",
                "brush": pg.mkBrush(colour),
                "pen": pg.mkPen("w" if point.positive else "k", width=1.5),
                "data": point,
            })
        self.points_item.setData(spots)
        self.points_item.setVisible(bool(spots))

    # == event handlers from the controller =================================================
    def _on_cursor(self, index) -> None:
        if self.orientation is None:
            return
        new_slice = int(index[self.orientation.normal_index_axis])
        if new_slice != self.slice_index:
            self.slice_index = new_slice
            self.render_all()
        self._place_cursor()

    def _on_labels_changed(self, box: Box) -> None:
        if self.orientation is not None:
            if self.session.labels.array.dtype != self._label_lut_dtype:  # widened to uint16
                self._rebuild_luts()
                self._label_rgba = None
            self._render_labels(box)

    def _on_scribbles_changed(self, box: Box) -> None:
        if self.orientation is not None:
            if self._scribble_lut.shape[0] != np.iinfo(self.session.scribbles.array.dtype).max + 1:
                self._rebuild_luts()
                self._scribble_rgba = None
            self._render_scribbles(box)

    def _on_table(self) -> None:
        if self.orientation is not None:
            self._rebuild_luts()
            self._render_labels(None)
            self._render_scribbles(None)
            self._render_preview()
            self._render_points()

    def _on_window(self, low: float, high: float) -> None:
        if self.orientation is not None:
            self._gray.set_window(low, high)
            self._render_image()

    def _on_display(self) -> None:
        if self.orientation is None:
            return
        display = self.controller.display
        self._render_labels(None)
        self._render_scribbles(None)
        self._render_preview()
        self._render_heatmap()
        self._render_outlines()
        self._render_points()
        for line in (self.cross_v, self.cross_h):
            line.setVisible(display.show_crosshair)

    def _on_preview_changed(self, _box) -> None:
        if self.orientation is not None:
            self._render_preview()

    def _on_heatmap_changed(self, _box) -> None:
        if self.orientation is not None:
            self._render_heatmap()

    # == cursor, header, overlays =============================================================
    def _place_cursor(self) -> None:
        x, y, _ = self.orientation.index_to_display(self.session.cursor)
        self.cross_v.setValue(x)
        self.cross_h.setValue(y)
        self._update_header()

    def _update_header(self) -> None:
        if self.orientation is None:
            return
        self.header.info.setText(f"Slice {self.slice_index + 1} / {self.orientation.slice_count}")

    def _update_window_text(self) -> None:
        width, level = self.controller.window_width_level
        self.window_label.setText(f"W {width:.0f}  L {level:.0f}")

    def _place_overlays(self) -> None:
        width, height = self.graphics.width(), self.graphics.height()
        letter = 22
        positions = {"left": (4, height // 2 - letter // 2), "right": (width - letter - 4, height // 2 - letter // 2),
                     "top": (width // 2 - letter // 2, 2), "bottom": (width // 2 - letter // 2, height - letter - 2)}
        for side, (x, y) in positions.items():
            self.letter_labels[side].setGeometry(x, y, letter, letter)
        self.window_label.setGeometry(6, height - 20, width // 2, 18)
        self.readout_label.setGeometry(width // 3, height - 20, width - width // 3 - 6, 18)
        self.notice_label.setGeometry(width // 2, 2, width // 2 - 6, 18)

    def _hover_readout(self, index) -> None:
        session = self.session
        if index is None or session is None:
            self.readout_label.setText("")
            return
        voxel = tuple(int(round(v)) for v in index)
        if not session.geometry.contains_index(voxel):
            self.readout_label.setText("")
            return
        value = session.image.value_at(voxel)
        label = session.labels.value_at(voxel)
        text = f"({voxel[0]}, {voxel[1]}, {voxel[2]})  {value:g}"
        if label:
            text += f"  {session.label_table.name_of(label)}"
        self.readout_label.setText(text)

    # == view range ===========================================================================
    def reset_view(self) -> None:
        """Fit the whole slice in the view (zoom and pan reset)."""
        if self.orientation is not None:
            self.view_box.setRange(rect=self._full_rect, padding=0.02)

    def zoom_by(self, factor: float, centre: QPointF | None = None) -> None:
        """Zoom in (factor > 1) about ``centre`` (display mm; default: view centre)."""
        self.view_box.scaleBy((1.0 / factor, 1.0 / factor), center=centre)
        self.view_moved.emit()

    def view_rect(self) -> QRectF:
        return self.view_box.viewRect()

    # == mouse and keys ===========================================================================
    def _display_point(self, event) -> QPointF:
        scene_point = self.graphics.mapToScene(event.position().toPoint())
        return self.view_box.mapSceneToView(scene_point)

    def display_to_index(self, point: QPointF) -> tuple[float, float, float]:
        return self.orientation.display_to_index(point.x(), point.y(), self.slice_index)

    def index_to_widget(self, index) -> QPointF:
        """Where continuous index (i, j, k) is drawn, in the graphics viewport's pixels."""
        x, y, _ = self.orientation.index_to_display(index)
        scene = self.view_box.mapViewToScene(QPointF(x, y))
        return QPointF(self.graphics.mapFromScene(scene))

    def _slice_event(self, event, button: str) -> SliceEvent:
        index = self.display_to_index(self._display_point(event))
        return SliceEvent(index, self.orientation.normal_array_axis, button,
                          modifier_names(event.modifiers()))

    def _mouse_press(self, event) -> None:
        if self.orientation is None:
            return
        button = event.button()
        position = event.position()
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        drag = {"button": button, "start": position, "last": position, "moved": False}
        if button == Qt.MouseButton.LeftButton:
            if self.controller.tool is not None and self.controller.tool_captures_drag:
                drag["mode"] = "tool"
                self.controller.tool_press(self._slice_event(event, "left"))
            elif self.controller.tool is not None:
                drag["mode"] = "click-or-cursor"
            else:
                drag["mode"] = "cursor"
                self._move_cursor_to(event)
        elif button == Qt.MouseButton.RightButton:
            drag["mode"] = "zoom" if ctrl else "window"
            drag["window"] = self.controller.window_width_level
        elif button == Qt.MouseButton.MiddleButton:
            drag["mode"] = "pan"
        else:
            return
        self._drag = drag
        self.controller.dragging = True

    def _mouse_move(self, event) -> None:
        if self.orientation is None:
            return
        drag = self._drag
        if drag is None:
            self._hover_index = self.display_to_index(self._display_point(event))
            self._hover_readout(self._hover_index)
            return
        position = event.position()
        if not drag["moved"]:
            offset = position - drag["start"]
            if abs(offset.x()) + abs(offset.y()) < DRAG_THRESHOLD_PX:
                return
            drag["moved"] = True
        mode = drag["mode"]
        if mode == "tool":
            self.controller.tool_drag(self._slice_event(event, "left"))
        elif mode in ("cursor", "click-or-cursor"):
            self._move_cursor_to(event)
        elif mode == "window":
            total = position - drag["start"]
            width0, level0 = drag["window"]
            width = width0 * float(np.exp(total.x() / 200.0))
            level = level0 + total.y() * width0 / 200.0
            self.controller.set_window_width_level(width, level)
        elif mode == "zoom":
            dy = position.y() - drag["last"].y()
            start_scene = self.graphics.mapToScene(drag["start"].toPoint())
            centre = self.view_box.mapSceneToView(start_scene)
            self.zoom_by(float(np.exp(-dy / 100.0)), centre)
        elif mode == "pan":
            last = self.view_box.mapSceneToView(self.graphics.mapToScene(drag["last"].toPoint()))
            now = self.view_box.mapSceneToView(self.graphics.mapToScene(position.toPoint()))
            self.view_box.translateBy(x=last.x() - now.x(), y=last.y() - now.y())
            self.view_moved.emit()
        drag["last"] = position

    def _mouse_release(self, event) -> None:
        drag, self._drag = self._drag, None
        self.controller.dragging = False
        if drag is None or self.orientation is None or event.button() != drag["button"]:
            return
        mode = drag["mode"]
        if mode == "tool":
            self.controller.tool_release(self._slice_event(event, "left"))
        elif mode == "click-or-cursor" and not drag["moved"]:
            slice_event = self._slice_event(event, "left")
            self.controller.tool_press(slice_event)
            self.controller.tool_release(slice_event)
        elif mode == "window" and not drag["moved"]:
            if self.controller.tool is not None:
                # A right click is the tool's alternative action (erase, negative point,
                # close a polygon), as in ITK-SNAP; right-drag stays window/level.
                slice_event = self._slice_event(event, "right")
                self.controller.tool_press(slice_event)
                self.controller.tool_release(slice_event)
            else:
                self._context_menu(event.globalPosition().toPoint())

    def _mouse_double_click(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and not self.controller.tool_captures_drag:
            self._drag = None
            self.maximise_requested.emit(self.key)
        else:
            self._mouse_press(event)

    def _move_cursor_to(self, event) -> None:
        index = self.display_to_index(self._display_point(event))
        size = self.session.geometry.size
        voxel = tuple(int(min(max(round(v), 0), n - 1)) for v, n in zip(index, size))
        self.controller.set_cursor(voxel)

    def _wheel(self, event) -> None:
        if self.orientation is None:
            return
        steps = event.angleDelta().y() / 120.0
        if steps == 0:
            steps = event.angleDelta().x() / 120.0
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            scene_point = self.graphics.mapToScene(event.position().toPoint())
            self.zoom_by(1.25 ** steps, self.view_box.mapSceneToView(scene_point))
            return
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            steps *= 5
        # Touchpads send many small deltas: accumulate them into whole slices.
        self._wheel_rest += steps
        whole = int(self._wheel_rest) if abs(self._wheel_rest) >= 1 else 0
        self._wheel_rest -= whole
        self.step_slice(whole)

    def step_slice(self, delta: int) -> None:
        """Move the cursor ``delta`` slices along this view's normal."""
        if self.orientation is None or delta == 0:
            return
        cursor = list(self.session.cursor)
        axis = self.orientation.normal_index_axis
        cursor[axis] = int(min(max(cursor[axis] + delta, 0), self.orientation.slice_count - 1))
        self.controller.set_cursor(tuple(cursor))

    def _key_press(self, event) -> bool:
        key = event.key()
        keys = Qt.Key
        steps = {keys.Key_Up: 1, keys.Key_Down: -1, keys.Key_PageUp: 5, keys.Key_PageDown: -5}
        if key in steps:
            self.step_slice(steps[key])
            return True
        if key == keys.Key_Home:
            self.reset_view()
            return True
        if key == keys.Key_Escape:
            self.controller.escape()
            return True
        return False

    def _context_menu(self, global_position) -> None:
        menu = QMenu(self)
        menu.addAction("Reset view", self.reset_view)
        menu.addAction("Maximise / restore", lambda: self.maximise_requested.emit(self.key))
        presets = menu.addMenu("Window preset")
        for name in ("Auto", *CT_PRESETS):
            presets.addAction(name, lambda n=name: self.controller.apply_preset(n))
        menu.popup(global_position)

    # == helpers for tests and screenshots ==========================================================
    def displayed_image(self) -> np.ndarray | None:
        """The grey-level slice currently displayed (uint8, rows x columns)."""
        return self.image_item.image

    def displayed_labels(self) -> np.ndarray | None:
        """The RGBA label overlay currently displayed."""
        return self._label_rgba
