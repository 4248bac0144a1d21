"""The campaign dock's batch: a method run on the campaign's unfinished cases by the batch
engine (a real two-worker Dask cluster) while the window stays usable; the summary in the
status bar and the outputs the command line writes."""

from __future__ import annotations

import pytest

from segviewer.app.campaign import DONE, Campaign, cases_from_source
from segviewer.views.campaign_batch import BatchChoice, CampaignBatch
from segviewer.views.campaign_dock import campaign_dock_of

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module", autouse=True)
def dask_offload_thread():
    """Start Dask's process-wide offload thread (one idle thread that every Dask client of
    the process shares, like Qt's global thread pool) before the per-test thread check
    takes its snapshot: a batch must leave no thread of its own behind, this one is Dask's."""
    from distributed.utils import _offload_executor

    _offload_executor.submit(lambda: None).result()


def test_a_method_runs_on_the_unfinished_cases_with_progress_and_a_summary(make_window, hippocampus, tmp_path,
                                                                           qtbot, monkeypatch):
    monkeypatch.setenv("SEGVIEWER_RECOVERY_DIR", str(tmp_path / "recovery"))
    _kind, cases = cases_from_source(hippocampus / "imagesTr")
    campaign = Campaign.create(tmp_path / "study", cases[:3])
    finished, *unfinished = campaign.case_ids()
    campaign.set_state(finished, "someone", DONE)
    window = make_window(load=False)
    dock = campaign_dock_of(window)
    dock.open_campaign(campaign, "ann")
    qtbot.waitUntil(lambda: dock.navigator.current is not None and window.controller.session is not None,
                    timeout=20000)
    progress = []
    window.controller.report_progress = lambda fraction, text="": progress.append((fraction, text))
    batch = CampaignBatch(dock)
    with qtbot.waitSignal(batch.done, timeout=240000) as blocker:
        assert batch.start(BatchChoice("threshold", tmp_path / "out", workers=2)) == len(unfinished)
        assert batch.jobs.busy
    result = blocker.args[0]
    assert result.counts == {"done": len(unfinished)}
    assert sorted(path.name for path in (tmp_path / "out").glob("*.nii.gz")) == [f"{c}.nii.gz" for c in unfinished]
    assert (tmp_path / "out" / "batch_results.csv").is_file()
    assert progress and progress[-1][0] == 1.0 and progress[-1][1].startswith(f"{len(unfinished)}/{len(unfinished)} cases")
    assert window.statusBar().currentMessage().startswith(f"{len(unfinished)} cases on 2 workers in ")
    dock.close_campaign()


def test_the_dock_action_asks_for_the_method_and_folder_then_runs(make_window, hippocampus, tmp_path, qtbot,
                                                                  monkeypatch):
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication, QDialogButtonBox

    from segviewer.views.campaign_batch import CampaignBatchDialog

    monkeypatch.setenv("SEGVIEWER_RECOVERY_DIR", str(tmp_path / "recovery"))
    _kind, cases = cases_from_source(hippocampus / "imagesTr")
    campaign = Campaign.create(tmp_path / "study", cases[:2])
    window = make_window(load=False)
    dock = campaign_dock_of(window)
    action = dock.actions_by_name["batch"]
    assert not action.isEnabled()  # no campaign yet
    dock.open_campaign(campaign, "ann")
    qtbot.waitUntil(lambda: dock.navigator.current is not None, timeout=20000)
    assert action.isEnabled()
    asked = []

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        asked.append(dialog)
        dialog.method.setCurrentIndex(dialog.method.findData("threshold"))
        dialog.out.setText(str(tmp_path / "out"))
        dialog.workers.setValue(1)
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)

    QTimer.singleShot(300, answer)
    action.trigger()
    assert isinstance(asked[0], CampaignBatchDialog)
    qtbot.waitUntil(lambda: (tmp_path / "out" / "batch_results.csv").is_file(), timeout=240000)
    qtbot.waitUntil(lambda: not dock.batch.jobs.busy, timeout=30000)
    assert sorted(path.name for path in (tmp_path / "out").glob("*.nii.gz")) == [f"{c}.nii.gz"
                                                                                  for c in campaign.case_ids()]
    dock.close_campaign()
