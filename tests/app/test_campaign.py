"""Campaigns in the application tier, with no display: a campaign made from the shared
hippocampus images, worked on by three simulated annotators (the simulated user with different
seeds and stroke styles, then graph cut); states, locks, switching case, crash recovery and two
processes editing different cases of one campaign at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from segviewer.app.autosave import AutosaveWorkflow
from segviewer.app.campaign import (ACCEPTED, DONE, IN_PROGRESS, NEEDS_REVIEW, REJECTED, TODO, Campaign,
                                    CampaignError, CampaignNavigator, CaseLockedError, SourceCase,
                                    campaign_status, cases_from_source)
from segviewer.app.campaign.locks import LOCK_NAME, read_lock
from segviewer.app.documents import DocumentWorkflow, FilePorts, MemorySettings, SessionHolder
from segviewer.evaluation import metrics
from segviewer.evaluation.interactive import build_request
from segviewer.evaluation.simulate import StrokeStyle, simulate_scribbles
from segviewer.io.recovery import RecoveryStore
from segviewer.methods.registry import get_method
from segviewer.model.geometry import full_box
from segviewer.model.labels import LabelTable
from segviewer.workers.runner import CancelToken

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CASES = 4
#: The three simulated annotators: a seed and a way of drawing each.
ANNOTATORS = {"ann": (1, StrokeStyle()), "ben": (2, StrokeStyle(radius_voxels=0, coverage=0.6)),
              "cleo": (3, StrokeStyle(radius_voxels=2, coverage=0.9, background_distance_mm=4.0))}


@pytest.fixture
def campaign(hippocampus, tmp_path) -> Campaign:
    kind, cases = cases_from_source(hippocampus / "imagesTr")
    assert kind == "folder"
    table = LabelTable()
    table.add(1, "anterior")
    table.add(2, "posterior")
    return Campaign.create(tmp_path / "study", cases[:CASES], source={"kind": kind}, label_table=table)


class Window:
    """What a window gives the navigator: a session host, the file workflow, error capture."""

    def __init__(self, recovery_root: Path) -> None:
        self.errors: list[tuple[str, str]] = []
        self.host = SessionHolder()
        self.ports = FilePorts(ask_save_changes=lambda text: "cancel", choose_save_path=lambda *a: None,
                               show_error=lambda title, text: self.errors.append((title, text)))
        self.documents = DocumentWorkflow(self.host, MemorySettings(), self.ports)
        self.recovery = RecoveryStore(recovery_root)

    def navigator(self, campaign: Campaign, annotator: str, **options) -> CampaignNavigator:
        return CampaignNavigator(campaign, annotator, self.documents, recovery=self.recovery, **options)


@pytest.fixture
def window(tmp_path) -> Window:
    return Window(tmp_path / "recovery")


def reference_of(hippocampus: Path, case_id: str) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(hippocampus / "labelsTr" / f"{case_id}.nii.gz")))


def annotate(session, reference: np.ndarray, seed: int, style: StrokeStyle) -> None:
    """What a simulated annotator does: scribble, run graph cut, apply its result."""
    scribbles = simulate_scribbles(reference, session.geometry, slices=3, seed=seed, style=style)
    session.apply_layer_crop("scribbles", full_box(session.geometry.shape), scribbles, "Scribble")
    method = get_method("graphcut")
    labels = [int(v) for v in np.unique(reference) if v]
    request = build_request(method, session.image.array, session.geometry, scribbles,
                            session.labels.array, labels)
    result = method.run(request, lambda fraction, text: None, CancelToken())
    session.apply_layer_crop("labels", result.roi, result.labels, method.title, where=result.decided)


def paint(session, value: int = 1, where=(slice(5, 9), slice(10, 20), slice(10, 20))) -> None:
    array = session.labels.array.copy()
    array[where] = value
    session.apply_layer_crop("labels", full_box(session.geometry.shape), array, "Brush")


# == making a campaign ================================================================================
def test_init_references_images_and_imports_starting_masks(hippocampus, tmp_path):
    kind, cases = cases_from_source(hippocampus)  # nnU-Net raw layout: labelsTr are starting masks
    assert kind == "nnunet" and cases[0].start_labels is not None
    before = {p: p.stat().st_mtime_ns for c in cases[:2] for p in (c.image, c.start_labels)}
    campaign = Campaign.create(tmp_path / "c", cases[:2], source={"kind": kind})
    manifest = json.loads((tmp_path / "c" / "campaign.json").read_text())
    assert manifest["format"] == "segviewer-campaign" and manifest["version"] == 1
    assert not Path(manifest["cases"][0]["image"]).is_absolute()  # moves with the data
    assert campaign.cases[0].image.resolve() == cases[0].image.resolve()
    assert not list((tmp_path / "c").rglob("*_0000*")) and not list((tmp_path / "c").rglob("imagesTr"))
    stored = campaign.cases[0].start_labels
    assert stored.parent == campaign.case_folder(cases[0].id)
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(stored))),
                          reference_of(hippocampus, cases[0].id))
    assert before == {p: p.stat().st_mtime_ns for p in before}  # inputs untouched
    with pytest.raises(CampaignError, match="already a campaign"):
        Campaign.create(tmp_path / "c", cases[:2])


def test_sources_csv_datalist_and_channels(hippocampus, tmp_path):
    images = sorted((hippocampus / "imagesTr").glob("*.nii.gz"))[:3]
    table = tmp_path / "cases.csv"
    table.write_text("image,mask,comment\n" + f"{images[0]},{hippocampus / 'labelsTr' / images[0].name},check apex\n"
                     + f"{images[1]},,\n")
    kind, cases = cases_from_source(table)
    assert kind == "csv" and [c.comment for c in cases] == ["check apex", ""]
    assert cases[0].start_labels is not None and cases[1].start_labels is None
    datalist = tmp_path / "datalist.json"
    datalist.write_text(json.dumps({"training": [{"image": str(images[2]), "label": str(images[2])}],
                                    "testing": [{"image": [str(images[0]), str(images[1])]}]}))
    kind, cases = cases_from_source(datalist)
    assert kind == "datalist" and len(cases) == 2 and len(cases[1].channels) == 2
    nnunet = tmp_path / "Dataset"
    (nnunet / "imagesTr").mkdir(parents=True)
    for channel in ("0000", "0001"):
        (nnunet / "imagesTr" / f"brain_7_{channel}.nii.gz").symlink_to(images[0])
    kind, cases = cases_from_source(nnunet)
    assert kind == "nnunet" and [c.id for c in cases] == ["brain_7"] and len(cases[0].channels) == 2
    table.write_text(f"image\n{tmp_path / 'missing.nii.gz'}\n")
    with pytest.raises(CampaignError, match="do not exist"):
        cases_from_source(table)


def test_a_list_of_dicom_folders(shared_data, tmp_path):
    folders = [shared_data / "dicom" / name for name in ("mr_hippo_crop", "ct_chest_20slices")]
    if not all(f.is_dir() for f in folders):
        pytest.skip("DICOM series not in the shared data folder")
    listing = tmp_path / "series.txt"
    listing.write_text("# two series\n" + "\n".join(map(str, folders)) + "\n")
    kind, cases = cases_from_source(listing)
    assert kind == "dicom" and [c.id for c in cases] == ["mr_hippo_crop", "ct_chest_20slices"]
    (tmp_path / "study").mkdir()
    for folder in folders:
        shutil.copytree(folder, tmp_path / "study" / folder.name)
    kind, cases = cases_from_source(tmp_path / "study")  # a folder of series folders
    assert kind == "dicom" and sorted(c.id for c in cases) == ["ct_chest_20slices", "mr_hippo_crop"]
    campaign = Campaign.create(tmp_path / "c", cases)
    assert campaign.case("mr_hippo_crop").image == tmp_path / "study" / "mr_hippo_crop"


# == three annotators =================================================================================
def test_three_simulated_annotators_keep_their_own_work(campaign, hippocampus, window):
    case_id = campaign.cases[0].id
    reference = reference_of(hippocampus, case_id)
    for name, (seed, style) in ANNOTATORS.items():
        navigator = window.navigator(campaign, name)
        assert navigator.open_case(case_id)
        annotate(window.host.session, reference, seed, style)
        navigator.set_state(DONE)
        navigator.close()
    assert window.errors == []
    masks = {}
    for name, (seed, _style) in ANNOTATORS.items():
        record = campaign.record(case_id, name)
        assert record.state == DONE and record.annotator == name and record.finished
        assert record.method_runs == 1 and record.methods == ["graphcut"] and record.edits == 2
        assert record.software_version and set(record.layers) == {"labels", "scribbles"}
        masks[name] = sitk.GetArrayFromImage(sitk.ReadImage(str(campaign.layer_path(case_id, name, "labels"))))
        assert metrics.dice(masks[name] > 0, reference > 0) > 0.6
    assert not np.array_equal(masks["ann"], masks["ben"])  # different users, different masks
    status = campaign_status(campaign)
    assert [c.id for c in status.multi_rater_cases()] == [case_id]
    assert status.per_annotator()["ben"][DONE] == 1 and status.per_annotator()["ben"][TODO] == CASES - 1
    assert status.per_state()[TODO] == CASES - 1


def test_states_and_review(campaign, window):
    first, second = campaign.case_ids()[:2]
    navigator = window.navigator(campaign, "ann")
    navigator.open_case(first)
    paint(window.host.session)
    assert navigator.record.state == IN_PROGRESS  # the first edit starts the case
    navigator.set_state(NEEDS_REVIEW)
    navigator.close()
    with pytest.raises(CampaignError, match="comment"):
        campaign.set_state(first, "ann", REJECTED, by="rev")
    campaign.set_state(first, "ann", REJECTED, "anterior part missing", by="rev")
    record = campaign.record(first, "ann")
    assert record.state == REJECTED and record.history[-1] == {**record.history[-1], "by": "rev",
                                                                 "comment": "anterior part missing"}
    navigator = window.navigator(campaign, "ann")
    assert navigator.next_unfinished() == first  # a rejected case goes back to its annotator
    navigator.open_case(first)
    assert navigator.rows()[0].comment == "anterior part missing"
    paint(window.host.session, 2)
    navigator.set_state(DONE)
    assert navigator.next_unfinished() == second
    navigator.close()
    campaign.set_state(first, "ann", ACCEPTED, by="rev")
    assert [h["state"] for h in campaign.record(first, "ann").history] == [
        IN_PROGRESS, NEEDS_REVIEW, REJECTED, IN_PROGRESS, DONE, ACCEPTED]


def test_done_without_edits_keeps_the_starting_mask_as_the_annotators_labels(hippocampus, tmp_path, window):
    kind, cases = cases_from_source(hippocampus)
    campaign = Campaign.create(tmp_path / "c", cases[:1])
    navigator = window.navigator(campaign, "ann")
    navigator.open_case(cases[0].id)
    navigator.set_state(DONE)
    navigator.close()
    saved = campaign.layer_path(cases[0].id, "ann", "labels")
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(saved))), reference_of(hippocampus, cases[0].id))


# == switching case ===================================================================================
def test_switching_saves_changes_and_reopens_them(campaign, window):
    first, second = campaign.case_ids()[:2]
    navigator = window.navigator(campaign, "ann")
    navigator.open_case(first)
    session = window.host.session
    assert session.labels_path == campaign.layer_path(first, "ann", "labels")  # Save lands in the campaign
    assert [(e.value, e.name) for e in session.label_table] == [(1, "anterior"), (2, "posterior")]
    paint(session)
    painted = session.labels.array.copy()
    assert navigator.next() and navigator.current == second
    assert window.host.session is not session
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(campaign.layer_path(first, "ann", "labels")))),
                          painted)
    assert read_lock(campaign.case_folder(first)) is None  # left: unlocked
    assert read_lock(campaign.case_folder(second)).annotator == "ann"
    assert navigator.previous() and navigator.current == first
    assert np.array_equal(window.host.session.labels.array, painted)  # the annotator's own labels
    navigator.close()
    assert window.errors == []


def test_switching_writes_nothing_when_nothing_changed(campaign, window):
    first, second = campaign.case_ids()[:2]
    navigator = window.navigator(campaign, "ann")
    navigator.open_case(first)
    navigator.open_case(second)
    navigator.open_case(first)
    navigator.close()
    assert not (campaign.case_folder(first) / "annotators").exists()
    assert campaign_status(campaign).per_state()[TODO] == CASES


def test_active_time_counts_editing_not_pauses(campaign, window):
    now = [100.0]
    navigator = window.navigator(campaign, "ann", clock=lambda: now[0], idle_gap_s=60)
    navigator.open_case(campaign.case_ids()[0])
    for step, advance in enumerate((0, 10, 20, 600, 5)):  # a 10-minute pause counts nothing
        now[0] += advance
        paint(window.host.session, 1, where=(slice(step, step + 1), slice(10, 20), slice(10, 20)))
    assert navigator.record.active_seconds == pytest.approx(35)
    navigator.close()
    assert campaign.record(campaign.case_ids()[0], "ann").active_seconds == pytest.approx(35)


# == locks ============================================================================================
def test_a_case_being_edited_is_locked_for_others(campaign, tmp_path):
    first, second = campaign.case_ids()[:2]
    alice, bob = Window(tmp_path / "r1"), Window(tmp_path / "r2")
    nav_a = alice.navigator(campaign, "alice")
    asked = []
    nav_b = bob.navigator(campaign, "bob", ask_break_lock=lambda case_id, info: asked.append(info) or False)
    nav_a.open_case(first)
    info = campaign.lock_info(first)
    assert (info.annotator, info.pid) == ("alice", os.getpid()) and "alice" in info.describe()
    assert not nav_b.open_case(first) and asked[0].annotator == "alice"  # asked, said no
    assert bob.host.session is None
    assert nav_b.next_unfinished() == second  # skips the locked case
    with pytest.raises(CaseLockedError, match="alice"):
        campaign.set_state(first, "bob", DONE)
    # breaking it, after the user agreed
    nav_b.ask_break_lock = lambda case_id, info: True
    assert nav_b.open_case(first) and campaign.lock_info(first).annotator == "bob"
    paint(alice.host.session)
    nav_a.close()  # alice's save finds her lock broken: nothing lost, kept in her recovery store
    assert alice.errors and "recovery store" in alice.errors[0][1]
    assert alice.recovery.snapshot_for(alice.host.session.image) is not None
    assert campaign.record(first, "alice") is None
    nav_b.close()


def test_stale_locks_are_broken_silently(campaign, window):
    case_id = campaign.case_ids()[0]
    folder = campaign.case_folder(case_id)
    folder.mkdir(parents=True, exist_ok=True)
    stale = {"annotator": "gone", "host": "elsewhere", "pid": 1, "since": time.time() - 7200,
             "heartbeat": time.time() - 7200, "token": "x"}
    (folder / LOCK_NAME).write_text(json.dumps(stale))
    navigator = window.navigator(campaign, "ann", ask_break_lock=lambda *a: pytest.fail("asked"))
    assert navigator.open_case(case_id) and campaign.lock_info(case_id).annotator == "ann"
    navigator.close()


# == crash in the middle of a case ====================================================================
CRASHING_EDITOR = """
import os, sys
from pathlib import Path
from segviewer.app.autosave import AutosaveWorkflow
from segviewer.app.campaign import Campaign, CampaignNavigator
from segviewer.app.documents import DocumentWorkflow, FilePorts, MemorySettings, SessionHolder
from segviewer.io.recovery import RecoveryStore
from segviewer.model.geometry import full_box

root, case_id, recovery = sys.argv[1:4]
host = SessionHolder()
store = RecoveryStore(recovery)
autosave = AutosaveWorkflow(host, store, ask_restore=lambda snapshot: "later")
set_session = host.set_session
host.set_session = lambda session: (set_session(session), autosave.session_changed(session))
documents = DocumentWorkflow(host, MemorySettings(), FilePorts(lambda t: "cancel", lambda *a: None, print))
navigator = CampaignNavigator(Campaign.open(root), "ann", documents, recovery=store)
navigator.open_case(case_id)
session = host.session
array = session.labels.array.copy()
array[5:9, 10:20, 10:20] = 2
session.apply_layer_crop("labels", full_box(session.geometry.shape), array, "Brush")
autosave.tick(now=10 ** 9)  # the minute's autosave
autosave.autosaver.wait()
os._exit(9)  # the crash: nothing saved, the lock left behind
"""


def test_crash_mid_case_restores_the_autosave_into_the_campaign(campaign, window, tmp_path):
    case_id = campaign.case_ids()[1]
    script = tmp_path / "crash.py"
    script.write_text(CRASHING_EDITOR)
    recovery = tmp_path / "recovery"
    done = subprocess.run([sys.executable, str(script), str(campaign.root), case_id, str(recovery)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    assert campaign.lock_info(case_id).annotator == "ann"  # left behind by the dead process
    assert campaign.record(case_id, "ann") is None
    host, answers = window.host, []
    autosave = AutosaveWorkflow(host, window.recovery, ask_restore=lambda s: answers.append(s) or "restore")
    set_session = host.set_session
    host.set_session = lambda session: (set_session(session), autosave.session_changed(session))
    navigator = window.navigator(campaign, "ann", ask_break_lock=lambda *a: pytest.fail("asked"))
    assert navigator.open_case(case_id)  # the dead process's lock is stale
    assert answers and np.count_nonzero(host.session.labels.array == 2) == 4 * 10 * 10
    navigator.next()
    saved = sitk.GetArrayFromImage(sitk.ReadImage(str(campaign.layer_path(case_id, "ann", "labels"))))
    assert np.count_nonzero(saved == 2) == 400
    assert campaign.record(case_id, "ann").state == IN_PROGRESS
    navigator.close()
    autosave.shutdown()


# == two processes, one campaign ======================================================================
TWO_EDITORS = """
import sys
from segviewer.app.campaign import Campaign, CampaignNavigator, DONE
from segviewer.app.documents import DocumentWorkflow, FilePorts, MemorySettings, SessionHolder
from segviewer.io.recovery import RecoveryStore
from segviewer.model.geometry import full_box

root, annotator, value, recovery, *cases = sys.argv[1:]
host = SessionHolder()
errors = []
documents = DocumentWorkflow(host, MemorySettings(), FilePorts(lambda t: "cancel", lambda *a: None,
                                                               lambda title, text: errors.append(text)))
navigator = CampaignNavigator(Campaign.open(root), annotator, documents, recovery=RecoveryStore(recovery))
for round_ in range(3):
    for case_id in cases:
        assert navigator.open_case(case_id), case_id
        session = host.session
        array = session.labels.array.copy()
        array[round_ * 3: round_ * 3 + 2, 5:25, 5:25] = int(value)
        session.apply_layer_crop("labels", full_box(session.geometry.shape), array, "Brush")
        if round_ == 2:
            navigator.set_state(DONE)
navigator.close()
assert not errors, errors
"""


def test_two_processes_edit_different_cases_at_once(campaign, tmp_path):
    script = tmp_path / "editor.py"
    script.write_text(TWO_EDITORS)
    ids = campaign.case_ids()
    jobs = {"ann": ("1", ids[0::2]), "ben": ("2", ids[1::2])}
    running = [subprocess.Popen([sys.executable, str(script), str(campaign.root), name, value,
                                 str(tmp_path / f"recovery-{name}"), *cases], cwd=PROJECT_ROOT,
                                stderr=subprocess.PIPE, text=True)
               for name, (value, cases) in jobs.items()]
    for process in running:
        assert process.wait(timeout=300) == 0, process.stderr.read()
    for name, (value, cases) in jobs.items():
        for case_id in cases:
            record = campaign.record(case_id, name)
            assert record.state == DONE and record.edits == 3 and record.saves == 3
            saved = sitk.GetArrayFromImage(sitk.ReadImage(str(campaign.layer_path(case_id, name, "labels"))))
            assert all(np.all(saved[r * 3: r * 3 + 2, 5:25, 5:25] == int(value)) for r in range(3))
            assert campaign.lock_info(case_id) is None
    status = campaign_status(Campaign.open(campaign.root))
    assert status.finished_cases == CASES and sorted(status.annotators) == ["ann", "ben"]


def test_an_image_opened_outside_the_campaign(campaign, window, hippocampus):
    first, second = campaign.case_ids()[:2]
    navigator = window.navigator(campaign, "ann")
    navigator.open_case(first)
    paint(window.host.session)
    other = sorted((hippocampus / "imagesTr").glob("*.nii.gz"))[-1]
    window.documents.load(other, block=True)  # File > Open: the case is saved and let go
    navigator.session_replaced(window.host.session)
    assert navigator.current is None and campaign.lock_info(first) is None
    assert campaign.record(first, "ann").edits == 1
    paint(window.host.session)  # unsaved work on that other image: the user is asked first
    asked = []
    window.ports.ask_save_changes = lambda text: asked.append(text) or "cancel"
    assert not navigator.open_case(second) and asked and campaign.lock_info(second) is None
    window.ports.ask_save_changes = lambda text: "discard"
    assert navigator.open_case(second) and navigator.current == second
    navigator.close()


def test_a_case_that_cannot_be_read_leaves_the_previous_one_saved(hippocampus, tmp_path, window):
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not an image")
    image = sorted((hippocampus / "imagesTr").glob("*.nii.gz"))[0]
    campaign = Campaign.create(tmp_path / "c", [SourceCase("good", image, (image,)),
                                                SourceCase("broken", broken, (broken,))])
    navigator = window.navigator(campaign, "ann")
    navigator.open_case("good")
    session = window.host.session
    paint(session)
    assert navigator.open_case("broken")  # read in the background: it fails there
    assert window.errors and window.errors[0][0] == "Could not open the image"
    assert window.host.session is session and navigator.current is None
    assert campaign.record("good", "ann").edits == 1 and campaign.lock_info("good") is None
    assert campaign.lock_info("broken") is None
    paint(session, 2)  # still shown, still editable; the case was saved as it was
    saved = sitk.GetArrayFromImage(sitk.ReadImage(str(campaign.layer_path("good", "ann", "labels"))))
    assert np.count_nonzero(saved == 1) == 400 and not np.any(saved == 2)
    navigator.close()
