"""The 3D view: label surfaces, the three slice planes and an orientation marker (VTK).

Surfaces
--------
Each label's surface is built with ``vtkSurfaceNets3D`` (in the Qt-free
:mod:`segviewer.surfaces.nets`) on a crop around that label (its bounding box plus one voxel),
in physical space: the crop is a ``vtkImageData`` with the image spacing, and the actor's
user matrix applies the direction cosines and origin, so the scene is in ITK's LPS
millimetres for any (oblique, flipped) geometry.

After an edit only the labels found in the changed box (or whose previous extent touches it)
are rebuilt, after a short debounce, on a background thread (VTK's filters release the GIL);
the GUI thread only swaps the finished polydata into the actors. The worker reads the live
label array (a read-only view, never written): an edit made during a build triggers another
build, which replaces any surface that raced with it.

Without OpenGL (no display, a software-only Qt platform, or ``SEGVIEWER_NO_GL=1``) the pane
shows a message and everything else works; ``segviewer screenshot`` can still render the scene
with an off-screen VTK window (``render_image``).

Each pass of ``vtkSurfaceNets3D`` extracts all affected labels at once (one scan of the
region, as the bare filter does) and the output is split per label by its boundary-label
pairs; vertex normals are computed with NumPy, and each label's box for later edits comes from
its mesh, so no extra scan of the volume is needed.

Camera: anterior view (patient facing the viewer, superior up, patient's right on screen
left, as in the coronal slice view); drag rotates, wheel zooms, middle-drag pans (VTK's
trackball camera), "Reset camera" returns to the anterior view. Double-clicking a surface
moves the linked cursor to it.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QStackedLayout, QVBoxLayout, QWidget

from segviewer.app.display import slice_orientations
from segviewer.model.geometry import Box, full_box, union_box
from segviewer.surfaces.nets import rebuild_surfaces, world_matrix
from segviewer.surfaces.vtk_images import vtk_image
from segviewer.views import background
from segviewer.views.controller import ViewerController

log = logging.getLogger(__name__)

#: Side of the orientation cube's corner viewport, in points.
MARKER_PIXELS = 90
#: A render slower than this (software OpenGL) makes the view throttle its renders.
SLOW_RENDER_S = 0.016
#: With slow OpenGL, the 3D view renders when a slice-view drag pauses this long (ms).
DRAG_PAUSE_MS = 150
#: The volume rendering draws at most this many voxels (a larger image is shrunk by block
#: averaging on a worker), so the texture upload at its first render stays short.
VOLUME_MAX_VOXELS = 256 ** 3
#: Delay between the last edit and the surface rebuild.
REBUILD_DEBOUNCE_MS = 150
PLANE_COLOURS = {"axial": (0.85, 0.33, 0.31), "sagittal": (0.90, 0.76, 0.16), "coronal": (0.36, 0.72, 0.36)}
BACKGROUND_TOP = (0.16, 0.18, 0.22)
BACKGROUND_BOTTOM = (0.03, 0.03, 0.05)


#: The OpenGL renderer found by :func:`opengl_status` ("" until it ran).
OPENGL_RENDERER = ""
_SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swiftshader", "software rasterizer")


def software_opengl() -> bool:
    """True when OpenGL is a CPU rasterizer (Mesa llvmpipe, e.g. under Xvfb or in a VM)."""
    return any(name in OPENGL_RENDERER.lower() for name in _SOFTWARE_RENDERERS)


# == OpenGL detection ===========================================================================
def opengl_status() -> tuple[bool, str]:
    """(available, reason): whether an interactive VTK view can be created here.

    Checked with Qt alone (a 3.2 core context on an off-screen surface), which fails cleanly,
    instead of letting VTK abort the process on a missing context.
    """
    if os.environ.get("SEGVIEWER_NO_GL"):
        return False, "disabled (SEGVIEWER_NO_GL is set)"
    from PySide6.QtGui import QGuiApplication, QOffscreenSurface, QOpenGLContext, QSurfaceFormat

    platform = QGuiApplication.platformName()
    if platform in ("offscreen", "minimal", "vnc"):
        return False, f"the Qt platform '{platform}' has no OpenGL windows"
    surface_format = QSurfaceFormat()
    surface_format.setVersion(3, 2)
    surface_format.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    context = QOpenGLContext()
    context.setFormat(surface_format)
    if not context.create():
        return False, "no OpenGL context could be created"
    surface = QOffscreenSurface()
    surface.setFormat(context.format())
    surface.create()
    if not context.makeCurrent(surface):
        return False, "the OpenGL context could not be made current"
    version = context.format().version()
    global OPENGL_RENDERER
    try:
        OPENGL_RENDERER = str(context.functions().glGetString(0x1F01) or "")  # GL_RENDERER
    except Exception:  # noqa: BLE001 - only used to pick rendering quality
        OPENGL_RENDERER = ""
    context.doneCurrent()
    surface.destroy()
    if version < (3, 2):
        return False, f"OpenGL {version[0]}.{version[1]} found; the 3D view needs 3.2 or newer"
    return True, ""


# == the scene ========================================================================================
class Scene3D:
    """Renderers and actors, independent of the window that shows them."""

    def __init__(self) -> None:
        import vtkmodules.util.numpy_support  # noqa: F401 - imported here, not first on the worker
        import vtkmodules.vtkFiltersCore  # noqa: F401 - (an import there would hold the GIL)
        import vtkmodules.vtkImagingCore  # noqa: F401 - (nor prepare_volume's shrink)
        import vtkmodules.vtkInteractionStyle  # noqa: F401
        import vtkmodules.vtkRenderingOpenGL2  # noqa: F401
        import vtkmodules.vtkRenderingVolumeOpenGL2  # noqa: F401
        from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor
        from vtkmodules.vtkRenderingCore import vtkRenderer

        self.renderer = vtkRenderer()
        self.renderer.SetBackground(*BACKGROUND_BOTTOM)
        self.renderer.SetBackground2(*BACKGROUND_TOP)
        self.renderer.GradientBackgroundOn()
        self.renderer.SetLayer(0)
        # Orientation marker: its own renderer in a corner, camera synced with the main one.
        self.marker_renderer = vtkRenderer()
        self.marker_renderer.SetViewport(0.0, 0.0, 0.2, 0.2)
        self.marker_renderer.SetLayer(1)
        self.marker_renderer.InteractiveOff()
        cube = vtkAnnotatedCubeActor()
        for face, text in (("XPlus", "L"), ("XMinus", "R"), ("YPlus", "P"), ("YMinus", "A"),
                           ("ZPlus", "S"), ("ZMinus", "I")):
            getattr(cube, f"Set{face}FaceText")(text)
        cube.SetFaceTextScale(0.55)
        cube.GetCubeProperty().SetColor(0.35, 0.38, 0.45)
        cube.GetTextEdgesProperty().SetColor(0.9, 0.9, 0.9)
        cube.GetTextEdgesProperty().SetLineWidth(1)
        for axis, colour in (("X", (0.95, 0.45, 0.4)), ("Y", (0.5, 0.85, 0.5)), ("Z", (0.5, 0.65, 1.0))):
            getattr(cube, f"Get{axis}PlusFaceProperty")().SetColor(*colour)
            getattr(cube, f"Get{axis}MinusFaceProperty")().SetColor(*colour)
        self.marker_renderer.AddActor(cube)
        self.renderer.AddObserver("StartEvent", self._sync_marker)
        self.label_actors: dict[int, object] = {}
        self.label_boxes: dict[int, Box] = {}
        self.plane_actors: dict[str, object] = {}
        self.volume = None
        self.geometry = None

    def attach(self, render_window) -> None:
        render_window.SetNumberOfLayers(2)
        render_window.AddRenderer(self.renderer)
        render_window.AddRenderer(self.marker_renderer)

    def _sync_marker(self, *_args) -> None:
        window = self.renderer.GetRenderWindow()
        if window is not None:  # a fixed size in pixels, whatever the pane's size
            width, height = window.GetSize()
            if width > 0 and height > 0:
                side = MARKER_PIXELS * window.GetDPI() / 72.0
                self.marker_renderer.SetViewport(0.0, 0.0, min(side / width, 0.5), min(side / height, 0.5))
        camera = self.renderer.GetActiveCamera()
        marker = self.marker_renderer.GetActiveCamera()
        direction = np.array(camera.GetDirectionOfProjection())
        marker.SetFocalPoint(0, 0, 0)
        marker.SetPosition(*(-direction * 3.2))
        marker.SetViewUp(*camera.GetViewUp())
        marker.SetParallelProjection(False)
        self.marker_renderer.ResetCameraClippingRange()

    # -- content --------------------------------------------------------------------------
    def clear(self) -> None:
        for actor in self.label_actors.values():
            self.renderer.RemoveActor(actor)
        for actor in self.plane_actors.values():
            self.renderer.RemoveActor(actor)
        if self.volume is not None:
            self.renderer.RemoveVolume(self.volume)
        self.label_actors.clear()
        self.label_boxes.clear()
        self.plane_actors.clear()
        self.volume = None
        self.geometry = None

    def set_geometry(self, geometry) -> None:
        self.clear()
        self.geometry = geometry

    def _matrix(self):
        from vtkmodules.vtkCommonMath import vtkMatrix4x4

        matrix = vtkMatrix4x4()
        values = world_matrix(self.geometry)
        for r in range(4):
            for c in range(4):
                matrix.SetElement(r, c, float(values[r, c]))
        return matrix

    def swap_surfaces(self, results: dict[int, tuple], table) -> None:
        """GUI thread: put new polydata into the actors (create/remove actors as needed)."""
        from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

        for value, (polydata, box) in results.items():
            actor = self.label_actors.get(value)
            if polydata is None or polydata.GetNumberOfPoints() == 0:
                if actor is not None:
                    self.renderer.RemoveActor(actor)
                    del self.label_actors[value]
                self.label_boxes.pop(value, None)
                continue
            if actor is None:
                mapper = vtkPolyDataMapper()
                mapper.ScalarVisibilityOff()
                actor = vtkActor()
                actor.SetMapper(mapper)
                actor.SetUserMatrix(self._matrix())
                prop = actor.GetProperty()
                prop.SetInterpolationToGouraud()
                prop.SetSpecular(0.25)
                prop.SetSpecularPower(20)
                prop.SetDiffuse(0.85)
                prop.SetAmbient(0.12)
                self.renderer.AddActor(actor)
                self.label_actors[value] = actor
            actor.GetMapper().SetInputData(polydata)
            self.label_boxes[value] = box
        self.apply_table(table)

    def apply_table(self, table) -> None:
        for value, actor in self.label_actors.items():
            entry = table.get(value)
            colour = table.colour_of(value)
            actor.GetProperty().SetColor(*(c / 255.0 for c in colour))
            actor.GetProperty().SetOpacity(entry.opacity if entry else 1.0)
            actor.SetVisibility(bool(entry.visible) if entry else True)

    def set_planes(self, cursor, visible: bool = True) -> None:
        """Outline of each slice view's plane through the cursor."""
        from vtkmodules.vtkCommonCore import vtkPoints
        from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
        from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

        geometry = self.geometry
        for name, orientation in slice_orientations(geometry).items():
            corners = []
            n_axis = orientation.normal_index_axis
            a, b = [axis for axis in range(3) if axis != n_axis]
            for u, v in ((0, 0), (1, 0), (1, 1), (0, 1)):
                index = [0.0, 0.0, 0.0]
                index[n_axis] = float(cursor[n_axis])
                index[a] = -0.5 if u == 0 else geometry.size[a] - 0.5
                index[b] = -0.5 if v == 0 else geometry.size[b] - 0.5
                corners.append(geometry.index_to_physical(index))
            actor = self.plane_actors.get(name)
            if actor is None:
                actor = vtkActor()
                mapper = vtkPolyDataMapper()
                actor.SetMapper(mapper)
                actor.GetProperty().SetColor(*PLANE_COLOURS[name])
                actor.GetProperty().SetLineWidth(2.0)
                actor.GetProperty().LightingOff()
                self.renderer.AddActor(actor)
                self.plane_actors[name] = actor
            points = vtkPoints()
            for corner in corners:
                points.InsertNextPoint(*corner)
            lines = vtkCellArray()
            lines.InsertNextCell(5)
            for index in (0, 1, 2, 3, 0):
                lines.InsertCellPoint(index)
            polydata = vtkPolyData()
            polydata.SetPoints(points)
            polydata.SetLines(lines)
            actor.GetMapper().SetInputData(polydata)
            actor.SetVisibility(visible)

    def hide_volume(self) -> None:
        if self.volume is not None:
            self.renderer.RemoveVolume(self.volume)
            self.volume = None

    def show_volume(self, data, window: tuple[float, float] | None) -> None:
        """GUI thread: volume-render ``data`` (from :func:`prepare_volume`, built on a worker)."""
        from vtkmodules.vtkRenderingCore import vtkVolume, vtkVolumeProperty
        from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkSmartVolumeMapper

        self.hide_volume()
        mapper = vtkSmartVolumeMapper()
        mapper.SetInputData(data)
        volume = vtkVolume()
        volume.SetMapper(mapper)
        volume.SetUserMatrix(self._matrix())
        prop = vtkVolumeProperty()
        prop.ShadeOff()
        prop.SetInterpolationTypeToLinear()
        volume.SetProperty(prop)
        self.renderer.AddVolume(volume)
        self.volume = volume
        self.set_volume_window(window or data.GetScalarRange())

    def set_volume_window(self, window: tuple[float, float]) -> None:
        """Map the window (low, high) of the image to the volume's colour and opacity."""
        from vtkmodules.vtkCommonDataModel import vtkPiecewiseFunction
        from vtkmodules.vtkRenderingCore import vtkColorTransferFunction

        if self.volume is None:
            return
        low, high = window
        colours = vtkColorTransferFunction()
        colours.AddRGBPoint(low, 0.0, 0.0, 0.0)
        colours.AddRGBPoint(high, 1.0, 0.95, 0.9)
        opacity = vtkPiecewiseFunction()
        opacity.AddPoint(low, 0.0)
        opacity.AddPoint(high, 0.12)
        prop = self.volume.GetProperty()
        prop.SetColor(colours)
        prop.SetScalarOpacity(opacity)

    def reset_camera(self) -> None:
        """Anterior view of the whole volume."""
        if self.geometry is None:
            return
        low, high = self.geometry.physical_bounds()
        centre = (low + high) / 2.0
        radius = float(np.linalg.norm(high - low)) / 2.0
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(*centre)
        camera.SetPosition(*(centre + np.array([0.0, -1.0, 0.0]) * radius * 3.4))
        camera.SetViewUp(0.0, 0.0, 1.0)
        camera.SetViewAngle(30.0)
        self.renderer.ResetCameraClippingRange()


def prepare_volume(array: np.ndarray, spacing):
    """Worker thread: ``array`` (k, j, i) as the ``vtkImageData`` the volume mapper draws, in
    scaled index space like the surfaces. 64-bit scalars are cast to float32 (a GPU texture
    takes none: VTK would convert them on the GUI thread at the first render), an image over
    :data:`VOLUME_MAX_VOXELS` is shrunk by block averaging (VTK releases the GIL while it
    shrinks; its ``GetScalarRange`` would not, and the mapper does not need it)."""
    from vtkmodules.vtkCommonDataModel import vtkImageData
    from vtkmodules.vtkImagingCore import vtkImageShrink3D

    if array.dtype.itemsize == 8:
        array = array.astype(np.float32)
    data = vtk_image(array, spacing)
    factor = int(np.ceil((array.size / VOLUME_MAX_VOXELS) ** (1.0 / 3.0)))
    if factor > 1:
        shrink = vtkImageShrink3D()
        shrink.SetInputData(data)
        shrink.SetShrinkFactors(factor, factor, factor)
        shrink.AveragingOn()
        shrink.Update()
        data = vtkImageData()
        data.ShallowCopy(shrink.GetOutput())
        # A block's mean lies at the block's centre, not at its first voxel.
        data.SetOrigin(*((factor - 1) / 2.0 * float(s) for s in spacing))
    return data


# == the widget =======================================================================================
class View3D(QWidget):
    """The 3D pane: an interactive VTK widget, or a message where OpenGL is unavailable."""

    maximise_requested = Signal(str)
    surfaces_updated = Signal()  # after new polydata was swapped in (tests, benchmarks)
    volume_shown = Signal()  # after a prepared volume rendering was swapped in

    def __init__(self, controller: ViewerController, parent: QWidget | None = None,
                 mode: str | None = None) -> None:
        """``mode``: "interactive" (VTK widget), "offscreen" (rendered to a picture, for
        screenshots without a display), "off" (message only) or "auto" (default, or the
        ``SEGVIEWER_3D`` environment variable): interactive when OpenGL works, else off."""
        super().__init__(parent)
        from segviewer.views.slice_view import ViewHeader

        self.controller = controller
        self.key = "3d"
        self.smoothing = True
        self.show_volume = False
        self.show_planes = True
        self.header = ViewHeader("3d", "3D")
        self.header.maximise_clicked.connect(lambda: self.maximise_requested.emit(self.key))
        self.header.reset_button.setToolTip("Reset camera (anterior view)")
        self.header.reset_clicked.connect(self.reset_camera)
        self.stack = QStackedLayout()
        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #aab0ba; background: #101216; padding: 20px;")
        self.stack.addWidget(self.message)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addLayout(self.stack, 1)
        self.setMinimumSize(120, 120)

        self.scene: Scene3D | None = None
        self.vtk_widget = None
        self.render_window = None
        self._offscreen_window = None
        mode = mode or os.environ.get("SEGVIEWER_3D", "auto")
        self.unavailable_reason = ""
        if mode == "auto":
            available, self.unavailable_reason = opengl_status()
            mode = "interactive" if available else "off"
        if mode == "interactive":
            try:
                self._create_interactive()
            except Exception as error:  # no usable GL after all: keep the app running
                log.exception("3D view could not start")
                mode, self.unavailable_reason = "off", f"VTK could not start ({error})"
        elif mode == "offscreen":
            self.scene = Scene3D()
            self.message.setStyleSheet("background: #101216;")
        self.mode = mode
        if mode == "off":
            self.message.setText(f"3D view unavailable: {self.unavailable_reason or 'disabled'}.\n\n"
                                 "Slice views, tools and segmentation work normally.")
            self.stack.setCurrentWidget(self.message)

        self._pending: Box | None = None
        self._volume_job: object | None = None  # the volume being prepared (newest request)
        self._pending_only: set[int] = set()
        self._building = False
        self._rebuild_timer = background.single_shot_timer(self, REBUILD_DEBOUNCE_MS, self._start_rebuild)
        self._render_timer = background.single_shot_timer(self, 0, self.render)
        self.last_build_seconds = 0.0
        self.build_count = 0
        self._closed = False
        self._last_render_seconds = 0.0
        self._last_render_end = 0.0

        c = controller
        c.session_changed.connect(self._on_session)
        c.labels_changed.connect(self._on_labels_changed)
        c.cursor_changed.connect(self._on_cursor)
        c.label_table_changed.connect(self._on_table)
        c.display_changed.connect(self._on_display)
        c.window_level_changed.connect(self._on_window)
        self._on_session(c.session)

    # -- setup ---------------------------------------------------------------------------------
    def _create_interactive(self) -> None:
        import vtkmodules.qt

        vtkmodules.qt.PyQtImpl = "PySide6"
        from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
        from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera

        self.scene = Scene3D()
        self.vtk_widget = QVTKRenderWindowInteractor(self)
        self.render_window = self.vtk_widget.GetRenderWindow()
        if software_opengl():
            # Multisampling costs ~5x per frame on a CPU rasterizer: smooth interaction first.
            self.render_window.SetMultiSamples(0)
        self.scene.attach(self.render_window)
        interactor = self.render_window.GetInteractor()
        interactor.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        interactor.AddObserver("LeftButtonPressEvent", self._on_vtk_press, 1.0)
        self.stack.addWidget(self.vtk_widget)
        self.stack.setCurrentWidget(self.vtk_widget)
        self.vtk_widget.Initialize()

    def _on_vtk_press(self, interactor, _event) -> None:
        # A double-click on a surface moves the linked cursor there (ITK-SNAP's 3D crosshair).
        if interactor.GetRepeatCount() > 0:
            x, y = interactor.GetEventPosition()
            self.pick(x, y)

    def pick(self, x: int, y: int):
        """Set the cursor to the label surface under display pixel (x, y) (VTK's origin is
        bottom-left). Returns the voxel (i, j, k), or None when nothing is there."""
        session = self.controller.session
        if self.scene is None or session is None or not self.scene.label_actors:
            return None
        from vtkmodules.vtkRenderingCore import vtkCellPicker

        picker = vtkCellPicker()
        picker.SetTolerance(0.0005)
        picker.PickFromListOn()
        for actor in self.scene.label_actors.values():
            if actor.GetVisibility():
                picker.AddPickList(actor)
        if not picker.Pick(x, y, 0, self.scene.renderer):
            return None
        point = np.asarray(picker.GetPickPosition())
        # Step half a voxel into the surface so the cursor lands on a labelled voxel.
        normal = np.asarray(picker.GetPickNormal())
        camera = np.asarray(self.scene.renderer.GetActiveCamera().GetDirectionOfProjection())
        inward = camera if normal @ camera <= 0 else -camera
        voxel = session.geometry.physical_to_voxel(point + inward * 0.5 * min(session.geometry.spacing))
        if voxel is None:
            voxel = session.geometry.physical_to_voxel(point)
        if voxel is not None:
            self.controller.set_cursor(voxel)
        return voxel

    def close_vtk(self) -> None:
        """Release the VTK window (call before the widget is destroyed; tests, shutdown)."""
        self._rebuild_timer.stop()
        self._render_timer.stop()
        self._closed = True
        if self.vtk_widget is not None:
            widget, self.vtk_widget, self.render_window = self.vtk_widget, None, None
            # No paint may reach the widget after Finalize(): it would render into a
            # released context (a crash under Xvfb).
            widget.hide()
            widget.setUpdatesEnabled(False)
            self.stack.removeWidget(widget)
            self.stack.setCurrentWidget(self.message)
            widget.Finalize()
            widget.deleteLater()
        if self._offscreen_window is not None:
            self._offscreen_window.Finalize()
            self._offscreen_window = None

    def closeEvent(self, event) -> None:
        self.close_vtk()
        super().closeEvent(event)

    # -- controller events ----------------------------------------------------------------------
    def _on_session(self, session) -> None:
        self._pending = None
        self._volume_job = None  # a volume of the previous image is not shown
        if self.scene is None:
            return
        scene = self.scene
        if session is None:
            scene.clear()
            self.request_render()
            return
        scene.set_geometry(session.geometry)
        scene.set_planes(session.cursor, self.show_planes)
        if self.show_volume:
            self._prepare_volume()
        scene.reset_camera()
        self.schedule_rebuild(full_box(session.geometry.shape), immediate=True)
        self.request_render()

    def _on_labels_changed(self, box: Box) -> None:
        self.schedule_rebuild(box)

    def _on_cursor(self, cursor) -> None:
        if self.scene is not None and self.scene.geometry is not None:
            self.scene.set_planes(cursor, self.show_planes)
            self.request_render()

    def _on_table(self) -> None:
        session = self.controller.session
        if self.scene is not None and session is not None:
            self.scene.apply_table(session.label_table)
            # A label may have been added or recoloured only: no rebuild needed.
            self.request_render()

    def _on_display(self) -> None:
        if self.scene is not None and self.scene.geometry is not None:
            show = self.controller.display.show_crosshair and self.show_planes
            for actor in self.scene.plane_actors.values():
                actor.SetVisibility(show)
            self.request_render()

    def _on_window(self, low: float, high: float) -> None:
        if self.scene is not None and self.scene.volume is not None:
            self.scene.set_volume_window((low, high))
            self.request_render()

    # -- surfaces ----------------------------------------------------------------------------
    def schedule_rebuild(self, box: Box, immediate: bool = False, labels: set[int] | None = None) -> None:
        """Rebuild the surfaces touched by ``box`` after the debounce delay."""
        if self.scene is None:
            return
        self._pending = union_box(self._pending, tuple(slice(int(s.start), int(s.stop)) for s in box))
        if labels:
            self._pending_only |= labels
        if immediate:
            self._rebuild_timer.start(0)
        else:
            self._rebuild_timer.start()

    def rebuild_all(self) -> None:
        session = self.controller.session
        if session is not None and self.scene is not None:
            self.schedule_rebuild(full_box(session.geometry.shape), immediate=True,
                                  labels=set(self.scene.label_boxes))

    def _start_rebuild(self) -> None:
        session = self.controller.session
        if session is None or self._pending is None or self.scene is None:
            return
        if self._building:  # one build at a time; the next one starts when it finishes
            return
        dirty, self._pending = self._pending, None
        only, self._pending_only = self._pending_only, set()
        labels = session.labels.array
        known = dict(self.scene.label_boxes)
        spacing = session.geometry.spacing
        smoothing = self.smoothing
        self._building = True
        started = time.perf_counter()
        generation = id(session)
        candidates = set(session.label_table.values) | set(known)

        def work():
            return rebuild_surfaces(labels, dirty, known, spacing, smoothing, only, candidates)

        def done(results) -> None:
            self._building = False
            if self._closed:
                return
            self.last_build_seconds = time.perf_counter() - started
            current = self.controller.session
            if current is not None and id(current) == generation and self.scene is not None:
                self.scene.swap_surfaces(results, current.label_table)
                self.build_count += 1
                self.request_render()
                self.surfaces_updated.emit()
            if self._pending is not None:
                self._rebuild_timer.start(0)

        def failed(error, text) -> None:
            self._building = False
            log.error("surface rebuild failed:\n%s", text)
            self.controller.message.emit(f"3D surfaces could not be built: {error}")

        background.run_in_thread(work, done, failed, name="segviewer-surfaces")

    @property
    def busy(self) -> bool:
        """True while a rebuild is pending or running."""
        return self._building or self._pending is not None

    # -- options ---------------------------------------------------------------------------------
    def set_smoothing(self, on: bool) -> None:
        if on != self.smoothing:
            self.smoothing = on
            self.rebuild_all()

    def set_volume_visible(self, on: bool) -> None:
        self.show_volume = on
        if self.scene is None:
            return
        if on:
            self._prepare_volume()
        else:
            self._volume_job = None  # a volume still being prepared is dropped
            self.scene.hide_volume()
            self.request_render()

    def _prepare_volume(self) -> None:
        """Build the volume's data on a worker; the GUI thread only swaps it in."""
        session = self.controller.session
        if session is None:
            return
        self._volume_job = job = object()
        array, spacing = session.image.array, session.geometry.spacing

        def done(data) -> None:
            if self._closed or job is not self._volume_job or self.scene is None:
                return  # switched off, a newer request, or another image meanwhile
            self._volume_job = None
            self.scene.show_volume(data, self.controller.window)
            self.request_render()
            self.volume_shown.emit()

        def failed(error, text) -> None:
            log.error("volume rendering could not be prepared:\n%s", text)
            self.controller.message.emit(f"Volume rendering could not be prepared: {error}")

        background.run_in_thread(lambda: prepare_volume(array, spacing), done, failed, name="segviewer-volume")

    def set_planes_visible(self, on: bool) -> None:
        self.show_planes = on
        self._on_display()

    def reset_camera(self) -> None:
        if self.scene is not None:
            self.scene.reset_camera()
            self.request_render()

    # -- rendering ---------------------------------------------------------------------------------
    def request_render(self) -> None:
        """Render soon. Requests coalesce; with slow (software) OpenGL the 3D view renders at
        most about a third of the time, so dragging the crosshair stays smooth in the slice
        views while the 3D view follows at a lower rate (the last state always renders)."""
        if self.scene is None:
            return
        slow = self._last_render_seconds > SLOW_RENDER_S
        if slow and self.controller.dragging:
            # While the user drags in a slice view, a slow 3D frame would stall every few
            # mouse moves: render once the drag pauses instead.
            self._render_timer.start(DRAG_PAUSE_MS)
            return
        if self._render_timer.isActive():
            return
        delay = 0.0
        if slow:
            since = time.perf_counter() - self._last_render_end
            delay = max(0.0, 2.0 * self._last_render_seconds - since)
        self._render_timer.start(int(delay * 1000))

    def render(self) -> None:
        if self.render_window is not None and self.isVisible():
            started = time.perf_counter()
            self.render_window.Render()
            self._last_render_end = time.perf_counter()
            self._last_render_seconds = self._last_render_end - started
        elif self.mode == "offscreen" and self.isVisible():
            image = self.render_image(self.message.size())
            if image is not None:
                from PySide6.QtGui import QPixmap

                self.message.setPixmap(QPixmap.fromImage(image))

    def render_image(self, size: QSize | None = None) -> QImage | None:
        """The current 3D picture as a QImage (for screenshots); None when it cannot render.

        Reads the interactive window's pixels, or renders the scene in an off-screen VTK
        window of ``size`` when there is no interactive widget.
        """
        from vtkmodules.util.numpy_support import vtk_to_numpy
        from vtkmodules.vtkRenderingCore import vtkWindowToImageFilter

        if self.render_window is not None:
            window = self.render_window
            window.Render()
        else:
            if self.scene is None:
                return None
            window = self._offscreen(size or self.stack.currentWidget().size())
            if window is None:
                return None
            window.Render()
        grabber = vtkWindowToImageFilter()
        grabber.SetInput(window)
        grabber.SetInputBufferTypeToRGB()
        grabber.ReadFrontBufferOff()
        grabber.Update()
        output = grabber.GetOutput()
        width, height, _ = output.GetDimensions()
        pixels = vtk_to_numpy(output.GetPointData().GetScalars()).reshape(height, width, 3)
        pixels = np.ascontiguousarray(pixels[::-1])
        image = QImage(pixels.data, width, height, width * 3, QImage.Format.Format_RGB888)
        return image.copy()

    def _offscreen(self, size: QSize):
        if self._offscreen_window is None:
            try:
                from vtkmodules.vtkRenderingCore import vtkRenderWindow

                window = vtkRenderWindow()
                window.SetOffScreenRendering(1)
                self.scene.attach(window)
                self._offscreen_window = window
            except Exception:
                log.exception("off-screen 3D rendering is unavailable")
                return None
        self._offscreen_window.SetSize(max(size.width(), 64), max(size.height(), 64))
        return self._offscreen_window
