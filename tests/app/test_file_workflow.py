"""The file workflow of the application tier, driven with no display and no Qt (the
import-linter contract of tests/test_layering.py keeps Qt out of segviewer.app): open an image,
open labels onto it, switch image with unsaved work, save, refuse to save over an input,
autosave and restore, recent files."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.app.autosave import AutosaveWorkflow
from segviewer.app.documents import (CANCEL, DISCARD, MAX_RECENT, SAVE, DocumentWorkflow, FilePorts,
                                     MemorySettings, RecentFiles, SessionHolder)
from segviewer.app.files import read_labels
from segviewer.errors import SegviewerError
from segviewer.io.recovery import RecoveryStore
from segviewer.model.session import LABELS

SHAPE = (6, 20, 24)  # slices, rows, columns


def write_volume(path, array, spacing=(0.8, 0.8, 2.0)):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture
def image_files(tmp_path):
    """Two CT-like images and a label map for the first."""
    rng = np.random.default_rng(3)
    first = write_volume(tmp_path / "first_ct.nii.gz", rng.integers(-200, 300, SHAPE).astype(np.int16))
    second = write_volume(tmp_path / "second_ct.nii.gz", rng.integers(-200, 300, SHAPE).astype(np.int16))
    labels = np.zeros(SHAPE, np.uint8)
    labels[2:4, 5:10, 6:12] = 1
    label_file = write_volume(tmp_path / "first_labels.nii.gz", labels)
    return first, second, label_file


class UserInterface:
    """Plain-function ports that record what the user was shown and answer questions."""

    def __init__(self, answer=CANCEL, save_path=None) -> None:
        self.answer = answer
        self.save_path = save_path
        self.questions: list[str] = []
        self.errors: list[tuple[str, str]] = []
        self.messages: list[str] = []
        self.loaded = []
        self.queued = []  # background work, run when the test says so

    def ports(self, deferred: bool = False) -> FilePorts:
        def ask(text):
            self.questions.append(text)
            return self.answer

        def later(function, done, failed, name):
            self.queued.append((function, done, failed))

        ports = FilePorts(ask_save_changes=ask, choose_save_path=lambda title, suggestion, kind: self.save_path,
                          show_error=lambda title, text: self.errors.append((title, text)),
                          show_message=lambda text, msec: self.messages.append(text),
                          session_loaded=self.loaded.append)
        if deferred:
            ports.run_in_background = later
        return ports

    def run_queued(self) -> None:
        while self.queued:
            function, done, failed = self.queued.pop(0)
            try:
                value = function()
            except Exception as error:  # noqa: BLE001 - as the window's worker reports it
                failed(error, "")
            else:
                done(value)


def make_workflow(ui: UserInterface, settings=None, deferred=False):
    host = SessionHolder()
    return host, DocumentWorkflow(host, settings or MemorySettings(), ui.ports(deferred))


def paint(session, value=2):
    box = (slice(1, 2), slice(0, 4), slice(0, 4))
    session.apply_layer_crop(LABELS, box, np.full((1, 4, 4), value, np.uint8), "paint")


def test_open_an_image_then_labels_onto_it_as_one_undo_step(image_files):
    first, _, label_file = image_files
    ui = UserInterface()
    host, workflow = make_workflow(ui)
    workflow.load(first)
    session = host.session
    assert session.image.name == "first_ct.nii.gz" and ui.loaded == [session]
    assert ui.messages[-1] == "Opened first_ct.nii.gz"
    assert session.labels.present_values() == []
    workflow.load_layer(LABELS, label_file)
    assert session.labels.present_values() == [1]
    assert session.labels_path == label_file and not session.is_dirty
    session.undo()
    assert session.labels.present_values() == []
    assert not ui.errors


def test_an_image_that_cannot_be_read_is_one_message_and_the_session_stays(image_files, tmp_path):
    first, _, _ = image_files
    ui = UserInterface()
    host, workflow = make_workflow(ui)
    workflow.load(first)
    session = host.session
    broken = tmp_path / "broken.nii.gz"
    broken.write_text("not an image")
    workflow.load(broken)
    assert ui.errors[0][0] == "Could not open the image" and "broken.nii.gz" in ui.errors[0][1]
    assert host.session is session and not workflow.loading
    with pytest.raises(SegviewerError):
        workflow.load(broken, block=True)


def test_a_newer_open_supersedes_an_older_one(image_files, tmp_path):
    first, second, _ = image_files
    ui = UserInterface()
    host, workflow = make_workflow(ui, deferred=True)
    workflow.load(tmp_path / "missing.nii.gz")
    workflow.load(second)
    ui.run_queued()  # the first open fails after the second was asked for
    assert host.session.image.name == "second_ct.nii.gz"
    assert not ui.errors


def test_loading_labels_with_no_image_is_refused():
    ui = UserInterface()
    host, workflow = make_workflow(ui)
    workflow.load_layer(LABELS, "anything.nii.gz")
    assert ui.errors == [("No image", "Open an image before loading labels, scribbles or points.")]


def switch_with_unsaved_labels(image_files, answer):
    """Open the first image with its labels, paint, then ask to open the second image."""
    first, second, label_file = image_files
    ui = UserInterface(answer=answer)
    host, workflow = make_workflow(ui)
    workflow.load(first, label_file)
    session = host.session
    paint(session, 3)
    edited = session.labels.array.copy()
    before = label_file.read_bytes()
    workflow.open_image(second)
    return ui, host, session, edited, before


def test_switching_image_with_unsaved_work_cancel_keeps_everything(image_files):
    ui, host, session, _, before = switch_with_unsaved_labels(image_files, CANCEL)
    assert host.session is session and session.is_dirty
    assert ui.questions == ["Unsaved labels. Save before you open another image?"]
    assert image_files[2].read_bytes() == before


def test_switching_image_with_unsaved_work_discard_opens_without_writing(image_files):
    _, host, _, _, before = switch_with_unsaved_labels(image_files, DISCARD)
    assert host.session.image.name == "second_ct.nii.gz"
    assert image_files[2].read_bytes() == before


def test_switching_image_with_unsaved_work_save_writes_then_opens(image_files):
    _, host, session, edited, _ = switch_with_unsaved_labels(image_files, SAVE)
    assert host.session.image.name == "second_ct.nii.gz"
    saved, _ = read_labels(image_files[2], session.geometry)
    np.testing.assert_array_equal(saved.array, edited)


def test_save_as_writes_the_labels_and_a_cancelled_dialog_writes_nothing(image_files, tmp_path):
    first, _, _ = image_files
    ui = UserInterface(save_path=None)
    host, workflow = make_workflow(ui)
    workflow.load(first)
    session = host.session
    paint(session, 4)
    assert not workflow.save_labels()  # no file yet: asks for a name; the user cancels
    assert session.is_dirty and not (tmp_path / "first_ct_labels.nii.gz").exists()
    ui.save_path = tmp_path / "out.nii.gz"
    assert workflow.save_labels()
    assert not session.is_dirty and session.labels_path == ui.save_path
    saved, _ = read_labels(ui.save_path, session.geometry)
    np.testing.assert_array_equal(saved.array, session.labels.array)
    assert ui.messages[-1] == f"Saved labels to {ui.save_path}"


def test_saving_over_an_input_is_refused_and_the_file_is_unchanged(image_files, tmp_path):
    first, _, label_file = image_files
    ui = UserInterface()
    host, workflow = make_workflow(ui)
    strokes = tmp_path / "strokes_scribbles.nii.gz"
    workflow.load(first, label_file)
    session = host.session
    paint(session)
    workflow.save_layer("scribbles", strokes)  # the scribbles now come from this file
    image_before, strokes_before = first.read_bytes(), strokes.read_bytes()
    assert not workflow.save_layer(LABELS, first)
    assert ui.errors[-1] == ("Not saved", "Refusing to overwrite the source image; choose another name.")
    assert not workflow.save_layer(LABELS, strokes)  # another layer's file
    assert ui.errors[-1][0] == "Could not save labels"
    assert first.read_bytes() == image_before and strokes.read_bytes() == strokes_before
    assert session.is_dirty


def test_an_edit_during_a_background_save_stays_unsaved(image_files, tmp_path):
    first, _, _ = image_files
    ui = UserInterface()
    host, workflow = make_workflow(ui, deferred=True)
    workflow.load(first)
    ui.run_queued()
    session = host.session
    paint(session, 3)
    workflow.note_edit(LABELS)
    target = tmp_path / "async.nii.gz"
    assert workflow.save_layer(LABELS, target, block=False)
    paint(session, 4)  # an edit while the file is being written
    workflow.note_edit(LABELS)
    ui.run_queued()
    saved, _ = read_labels(target, session.geometry)
    assert (saved.array == 3).any() and not (saved.array == 4).any()
    assert session.labels_path == target and session.is_dirty


def test_recent_files_newest_first_without_repeats_and_capped():
    settings = MemorySettings()
    changes = []
    recent = RecentFiles(settings, on_change=lambda: changes.append(1))
    for index in range(MAX_RECENT + 2):
        recent.add(f"/data/image_{index}.nii.gz")
    recent.add("/data/image_5.nii.gz")
    paths = recent.paths()
    assert paths[0] == "/data/image_5.nii.gz" and len(paths) == MAX_RECENT
    assert paths.count("/data/image_5.nii.gz") == 1 and "/data/image_0.nii.gz" not in paths
    settings.setValue(RecentFiles.KEY, "/data/only.nii.gz")  # how QSettings returns one entry
    assert recent.paths() == ["/data/only.nii.gz"]
    recent.clear()
    assert recent.paths() == [] and len(changes) == MAX_RECENT + 4


def test_opening_records_the_image_in_recent_files_and_the_folder(image_files):
    first, second, _ = image_files
    ui = UserInterface()
    settings = MemorySettings()
    host, workflow = make_workflow(ui, settings)
    workflow.load(first)
    workflow.load(second)
    assert workflow.recent.paths() == [str(second), str(first)]
    assert workflow.last_folder() == str(first.parent)


def test_autosave_then_restore_after_a_crash(image_files, tmp_path):
    first, _, label_file = image_files
    store = RecoveryStore(tmp_path / "recovery")
    ui = UserInterface()
    host, workflow = make_workflow(ui)
    autosave = AutosaveWorkflow(host, store, ask_restore=lambda snapshot: "later")
    workflow.load(first, label_file)
    autosave.session_changed(host.session)
    paint(host.session, 5)
    edited = host.session.labels.array.copy()
    saver = autosave.autosaver
    autosave.tick(now=saver._last_save + 61)  # a minute of editing later
    saver.wait()
    assert saver.last_error is None and store.snapshot_for(host.session.image) is not None
    # "crash": a new viewer on the same image finds the snapshot and restores it
    answers = []
    second_host, second_workflow = make_workflow(UserInterface())
    second_autosave = AutosaveWorkflow(second_host, RecoveryStore(tmp_path / "recovery"),
                                       ask_restore=lambda snapshot: answers.append(snapshot) or "restore")
    second_workflow.load(first, label_file)
    second_autosave.session_changed(second_host.session)
    restored = second_host.session
    assert len(answers) == 1
    np.testing.assert_array_equal(restored.labels.array, edited)
    assert restored.is_dirty
    # saving the labels leaves nothing to recover
    assert second_workflow.save_labels()
    assert store.snapshot_for(restored.image) is None


def test_leaving_an_image_autosaves_its_unsaved_work(image_files, tmp_path):
    first, second, _ = image_files
    store = RecoveryStore(tmp_path / "recovery")
    host, workflow = make_workflow(UserInterface(answer=DISCARD))
    autosave = AutosaveWorkflow(host, store, ask_restore=lambda snapshot: "later")
    workflow.load(first)
    autosave.session_changed(host.session)
    paint(host.session, 6)
    image = host.session.image
    workflow.open_image(second)
    autosave.session_changed(host.session)
    snapshot = store.snapshot_for(image)
    assert snapshot is not None and (store.load_labels(snapshot).array == 6).any()
