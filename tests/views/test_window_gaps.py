"""The first-start window at 1400 x 900 (pytest-qt): it keeps that size, and each dock tab group
has ONE tab bar (a stale copy of the Tool options / Segment bar was drawn over the docks)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QTabBar

pytestmark = pytest.mark.gui


def bars_drawn(window) -> list[list[str]]:
    """The tab titles of each tab bar that shows inside the window."""
    bars = []
    for bar in window.findChildren(QTabBar):
        corner = bar.mapTo(window, bar.rect().topLeft())
        inside = window.rect().intersects(bar.rect().translated(corner))
        if bar.isVisible() and bar.count() and inside:
            bars.append([bar.tabText(i) for i in range(bar.count())])
    return bars


def test_multi_label_case_at_1400_by_900_has_each_tab_bar_once(make_window, hippocampus):
    case = "hippocampus_001.nii.gz"
    window = make_window(hippocampus / "imagesTr" / case, hippocampus / "labelsTr" / case, size=(1400, 900))
    assert len(window.controller.session.label_table) >= 2  # a multi-label case
    assert window.size().toTuple() == (1400, 900), "the docks stretched the window past the size asked for"
    bars = bars_drawn(window)
    with_tool_options = [titles for titles in bars if "Tool options" in titles]
    assert len(with_tool_options) == 1, bars
    assert with_tool_options[0][:2] == ["Tool options", "Segment"]
    assert sum("Statistics" in titles for titles in bars) == 1, bars


def test_screenshot_command_writes_the_size_asked_for(hippocampus, tmp_path):
    from segviewer.views.screenshot import take_screenshot

    case = "hippocampus_001.nii.gz"
    output = tmp_path / "shot.png"
    take_screenshot(hippocampus / "imagesTr" / case, output, hippocampus / "labelsTr" / case)
    image = QImage(str(output))
    assert (image.width(), image.height()) == (1400, 900)
