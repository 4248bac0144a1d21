"""The main window's actions and menus, from one table each.

:data:`ACTIONS` names every action: its text, what it calls on the window, its shortcut, tip,
whether it is checkable (and checked at start) and the group it is listed under in Help >
Keyboard shortcuts. The window keeps each as ``window.<name>_action``. :data:`MENUS` lays the
menu bar out from those names: ``"-"`` is a separator, ``(key, title, items)`` a submenu (kept
as ``window.menus[key]``), and ``"layouts"`` / ``"ct_presets"`` expand to the view-layout and
window/level preset actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from segviewer.app.dicom_export import DICOM_SEG, RTSTRUCT, export_labels
from segviewer.app.display import CT_PRESETS
from segviewer.app.documents import POINTS
from segviewer.model.session import LABELS, SCRIBBLES
from segviewer.views import files, window_files

Open, Save, Quit, Undo = (QKeySequence.StandardKey.Open, QKeySequence.StandardKey.Save,
                          QKeySequence.StandardKey.Quit, QKeySequence.StandardKey.Undo)


def _mesh_export():
    """The mesh dialog's module, loaded when first used (it pulls VTK's filters and SciPy in)."""
    from segviewer.views import mesh_export  # noqa: PLC0415

    return mesh_export


def _dicom_dialogs():
    """The DICOM-SEG / RT structure set dialogs, loaded when first used (highdicom)."""
    from segviewer.views import dicom_dialogs  # noqa: PLC0415

    return dicom_dialogs


@dataclass(frozen=True)
class ActionSpec:
    """One menu/toolbar action; ``slot(window)`` gives the function it calls."""

    text: str
    slot: Callable[[Any], Callable]
    shortcut: Any = None  # a key string or a QKeySequence.StandardKey
    tip: str | None = None
    checkable: bool = False
    checked: bool = False
    listed: str | None = None  # group in Help > Keyboard shortcuts (None: not listed)


def _display(setting: str) -> Callable[[Any], Callable]:
    return lambda w: lambda on: w.controller.update_display(**{setting: on})


ACTIONS: dict[str, ActionSpec] = {
    "open_image": ActionSpec("&Open image…", lambda w: lambda: window_files.open_image_dialog(w), Open,
                             "Open an image file or DICOM folder", listed="File"),
    "open_dicom": ActionSpec("Open DICOM &folder…", lambda w: lambda: window_files.open_dicom_dialog(w)),
    "open_pacs": ActionSpec("Open from &PACS…", lambda w: lambda: w.docks["pacs"].widget().present(),
                             tip="Search a PACS (DICOMweb), open a series, store the labels back as DICOM-SEG"),
    "open_campaign": ActionSpec("Open &campaign…", lambda w: lambda: w.docks["campaign"].widget().open_campaign_dialog(),
                                tip="Open a labelling campaign folder and go through its cases"),
    "open_labels": ActionSpec("Open &labels…", lambda w: lambda: window_files.open_layer_dialog(
        w, LABELS, "Open labels", files.LABEL_FILTER), "Ctrl+Shift+O", "Load a label map onto the image",
        listed="File"),
    "save_labels": ActionSpec("&Save labels", lambda w: w.save_labels, Save, "Save the label map", listed="File"),
    "save_labels_as": ActionSpec("Save labels &as…", lambda w: lambda: w.documents.save_layer_as(LABELS),
                                 "Ctrl+Shift+S", listed="File"),
    "open_dicom_labels": ActionSpec("Open DICOM-SEG / RT structures…",
                                    lambda w: lambda: _dicom_dialogs().open_dicom_labels_dialog(w),
                                    tip="Open a DICOM Segmentation or RT Structure Set onto the DICOM series"),
    "export_dicom_seg": ActionSpec("Labels as DICOM-&SEG…", lambda w: lambda: export_labels(w.documents, DICOM_SEG),
                                   tip="Save the labels as a DICOM Segmentation of the open DICOM series"),
    "export_rtstruct": ActionSpec("Labels as &RT structure set…", lambda w: lambda: export_labels(w.documents, RTSTRUCT),
                                  tip="Save the labels as an RT Structure Set of the open DICOM series"),
    "open_scribbles": ActionSpec("Open scri&bbles…", lambda w: lambda: window_files.open_layer_dialog(
        w, SCRIBBLES, "Open scribbles", files.LABEL_FILTER)),
    "save_scribbles": ActionSpec("Save scribbles &as…", lambda w: lambda: w.documents.save_layer_as(SCRIBBLES)),
    "open_points": ActionSpec("Open &points…", lambda w: lambda: window_files.open_layer_dialog(
        w, POINTS, "Open points", files.POINTS_FILTER)),
    "save_points": ActionSpec("Save points as…", lambda w: lambda: w.documents.save_layer_as(POINTS)),
    "export_mesh": ActionSpec("Export &mesh…", lambda w: lambda: _mesh_export().export_mesh_dialog(w),
                              tip="Write the label surfaces as STL, OBJ, PLY or VTP in millimetres"),
    "screenshot": ActionSpec("Export &screenshot…", lambda w: lambda: window_files.export_screenshot_dialog(w), "Ctrl+Shift+P",
                             listed="File"),
    "quit": ActionSpec("&Quit", lambda w: w.close, Quit, listed="File"),
    "undo": ActionSpec("&Undo", lambda w: w.undo, Undo, "Undo the last edit", listed="Edit"),
    "redo": ActionSpec("&Redo", lambda w: w.redo, "Ctrl+Shift+Z", "Redo", listed="Edit"),
    "reset_views": ActionSpec("Reset &views", lambda w: w.reset_views, "Ctrl+0",
                              "Fit every slice view and reset the 3D camera", listed="View"),
    "link_views": ActionSpec("&Link zoom and pan", _display("link_views"), tip="Zooming or panning one slice "
                             "view zooms and pans the others alike (sync zoom)", checkable=True),
    "auto_window": ActionSpec("Auto (percentiles)", lambda w: lambda: w.controller.apply_preset("Auto"),
                              "Ctrl+Shift+W", listed="View"),
    "outline": ActionSpec("Label &outlines", _display("outline"), "Ctrl+L",
                          "Draw labels as outlines instead of filled", checkable=True, listed="View"),
    "show_labels": ActionSpec("Show &labels", _display("show_labels"), "Ctrl+Shift+L", checkable=True,
                              checked=True, listed="View"),
    "show_scribbles": ActionSpec("Show scribbles", _display("show_scribbles"), checkable=True, checked=True),
    "show_points": ActionSpec("Show points", _display("show_points"), checkable=True, checked=True),
    "show_heatmap": ActionSpec("Show heat map", _display("show_heatmap"), checkable=True, checked=True),
    "show_crosshair": ActionSpec("Show crosshair", _display("show_crosshair"), checkable=True, checked=True),
    "increase_opacity": ActionSpec("Increase label opacity", lambda w: lambda: w.view_bar.step_opacity(0.1), "]",
                                   listed="View"),
    "decrease_opacity": ActionSpec("Decrease label opacity", lambda w: lambda: w.view_bar.step_opacity(-0.1), "[",
                                   listed="View"),
    "smoothing": ActionSpec("Smooth 3D surfaces", lambda w: w.view3d.set_smoothing, checkable=True, checked=True),
    "volume": ActionSpec("Volume rendering in 3D", lambda w: w.view3d.set_volume_visible, checkable=True),
    "reset_camera": ActionSpec("Reset camera", lambda w: w.view3d.reset_camera),
    "navigate": ActionSpec("Navigate", lambda w: lambda: w.controller.set_tool(None), None,
                           "Crosshair mode: left click/drag moves the cursor (Esc)", checkable=True),
    "apply_preview": ActionSpec("&Apply preview", lambda w: w.controller.apply_preview, "Ctrl+Return",
                                "Write the previewed result into the labels (one undo step)", listed="Segment"),
    "discard_preview": ActionSpec("&Discard preview", lambda w: w.controller.clear_preview, "Ctrl+Backspace",
                                  "Drop the previewed result", listed="Segment"),
    "clear_heatmap": ActionSpec("Clear heat map", lambda w: w.controller.clear_heatmap),
    "review_masks": ActionSpec("&Review annotators' masks…", lambda w: lambda: w.docks["review"].widget().choose_masks(),
                               tip="Compare several annotators' masks of this image: outlines, disagreement, "
                                   "agreement, consensus"),
    "shortcuts": ActionSpec("&Keyboard shortcuts", lambda w: w.show_shortcuts, "F1", listed="Help"),
    "about": ActionSpec("&About segviewer", lambda w: w.show_about),
}

#: Actions that need an open image (disabled without one).
SESSION_ACTIONS = ("open_labels", "save_labels", "save_labels_as", "open_scribbles", "save_scribbles",
                   "open_points", "save_points", "screenshot", "review_masks", "export_mesh")
SESSION_ACTIONS += ("open_dicom_labels", "export_dicom_seg", "export_rtstruct")  # DICOM objects

#: Mouse and key gestures of the views, listed in Help > Keyboard shortcuts: (group, keys, text).
VIEW_SHORTCUTS = tuple(("Slice views", keys, text) for keys, text in (
    ("Left click / drag", "Move the crosshair (Navigate) or use the active tool"),
    ("Right drag", "Window (horizontal) / level (vertical), in every mode"),
    ("Right click", "The tool's alternative action (erase, negative point, close polygon); in Navigate "
                    "mode the view menu"),
    ("Ctrl+wheel, Ctrl+right drag", "Zoom"), ("Middle drag", "Pan"), ("Wheel, Up/Down", "Next / previous slice"),
    ("Shift+wheel, PageUp/PageDown", "Five slices"), ("Home", "Reset zoom and pan of the view under the mouse"),
    ("Double-click", "Maximise / restore a view"),
    ("Esc", "Cancel the tool's unfinished action; with none, Navigate mode"))) + tuple(
    ("3D view", keys, text) for keys, text in (
        ("Left drag", "Rotate"), ("Middle drag / Shift+left drag", "Pan"), ("Wheel / right drag", "Zoom"),
        ("Double-click a surface", "Move the crosshair there")))

#: The view layouts: (maximised view, "" for 2 x 2), text, shortcut.
LAYOUTS = (("", "2 × 2 layout", "Ctrl+1"), ("axial", "Axial only", "Ctrl+2"), ("sagittal", "Sagittal only", "Ctrl+3"),
           ("coronal", "Coronal only", "Ctrl+4"), ("3d", "3D only", "Ctrl+5"))

MENUS = (
    ("file", "&File", ("open_image", "open_dicom", "open_pacs", "open_campaign", ("recent", "Open &recent", ()), "-",
                       "open_labels", "open_dicom_labels", "save_labels", "save_labels_as", "-",
                       "open_scribbles", "save_scribbles", "open_points", "save_points", "-",
                       ("export", "&Export", ("screenshot", "export_mesh", "save_labels_as", "export_dicom_seg",
                                              "export_rtstruct")), "-", "quit")),
    ("edit", "&Edit", ("undo", "redo")),
    ("view", "&View", ("layouts", "reset_views", "link_views", "-",
                       ("window", "&Window / level", ("auto_window", "ct_presets")),
                       ("overlays", "&Overlays", ("show_labels", "outline", "show_scribbles", "show_points",
                                                  "show_heatmap", "show_crosshair", "increase_opacity",
                                                  "decrease_opacity")),
                       ("view3d", "&3D view", ("smoothing", "volume", "reset_camera")), "-",
                       ("panels", "&Panels", ()), ("toolbars", "&Toolbars", ()))),
    ("tools", "&Tools", ("navigate",)),
    ("segment", "&Segment", ("apply_preview", "discard_preview", "clear_heatmap", "review_masks", "-")),
    ("help", "&Help", ("shortcuts", "about")),
)


def make_action(window, text: str, slot=None, shortcut=None, tip: str | None = None,
                checkable: bool = False, listed: str | None = None) -> QAction:
    """A QAction on ``window``; with ``listed`` its shortcut appears in Help > Keyboard shortcuts."""
    action = QAction(text, window)
    if shortcut is not None:
        sequence = shortcut if isinstance(shortcut, QKeySequence) else QKeySequence(shortcut)
        action.setShortcut(sequence)
        if listed:
            window.register_shortcut(sequence.toString(QKeySequence.SequenceFormat.NativeText),
                                     text.replace("&", "").replace("…", ""), listed)
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    action.setCheckable(checkable)
    if slot is not None:
        action.triggered.connect(slot)
    return action


def create_actions(window) -> None:
    """Every action of :data:`ACTIONS` as ``window.<name>_action``, the layout actions as
    ``window.layout_actions`` and the window/level presets as ``window.preset_actions``."""
    for name, spec in ACTIONS.items():
        action = make_action(window, spec.text, spec.slot(window), spec.shortcut, spec.tip, spec.checkable,
                             spec.listed)
        action.setChecked(spec.checked)
        setattr(window, f"{name}_action", action)
    window.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    window.register_shortcut("Ctrl+Y", "Redo", "Edit")
    window.layout_actions = {}
    group = QActionGroup(window)
    for key, text, shortcut in LAYOUTS:
        action = make_action(window, text, lambda _=False, k=key: window.grid.maximise(k), shortcut,
                             checkable=True, listed="View")
        group.addAction(action)
        window.layout_actions[key] = action
    window.preset_actions = [
        make_action(window, f"CT {name.lower()} (W {width:.0f} / L {level:.0f})",
                    lambda _=False, n=name: window.controller.apply_preset(n))
        for name, (width, level) in CT_PRESETS.items()]


def create_menus(window) -> None:
    """The menu bar of :data:`MENUS`; every menu and submenu lands in ``window.menus``."""
    expand = {"layouts": lambda: list(window.layout_actions.values()), "ct_presets": lambda: window.preset_actions}

    def fill(menu, items) -> None:
        for item in items:
            if item == "-":
                menu.addSeparator()
            elif isinstance(item, tuple):
                key, title, children = item
                window.menus[key] = submenu = menu.addMenu(title)
                fill(submenu, children)
            else:
                for action in expand[item]() if item in expand else [getattr(window, f"{item}_action")]:
                    menu.addAction(action)

    bar = window.menuBar()
    for key, title, items in MENUS:
        window.menus[key] = menu = bar.addMenu(title)
        fill(menu, items)
    window.recent_menu = window.menus["recent"]
