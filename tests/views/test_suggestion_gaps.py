""""Where to scribble next" frames the peak of the uncertainty, not the whole uncertain shell
around the object, and "Go there" lands on that peak (the real method panel, pytest-qt)."""

from __future__ import annotations

import numpy as np

from segviewer.methods.deep.uncertainty import suggest_scribble

SHAPE = (40, 64, 64)  # k, j, i
PEAK = (20, 32, 54)  # on the shell, at +i


def shell_entropy() -> np.ndarray:
    """A sphere's boundary is uncertain all round (0.5); one spot on it is far more so (0.95)."""
    k, j, i = np.ogrid[:SHAPE[0], :SHAPE[1], :SHAPE[2]]
    radius = np.sqrt((k - 20.0) ** 2 + (j - 32.0) ** 2 + (i - 32.0) ** 2)
    entropy = np.where(np.abs(radius - 22) <= 2, 0.5, 0.0).astype(np.float32)
    near = np.sqrt(sum((axis - p) ** 2.0 for axis, p in zip((k, j, i), PEAK))) <= 3
    entropy[near & (entropy > 0)] = 0.95
    return entropy


def test_the_suggested_box_frames_the_peak_not_the_whole_shell():
    suggestion = suggest_scribble(shell_entropy(), roi=(slice(5, 45), slice(0, 64), slice(0, 64)))
    k, j, i = (p + o for p, o in zip(PEAK, (5, 0, 0)))
    assert suggestion["index"] == [i, j, k]
    box = suggestion["box"]
    for (lo, hi), p in zip(box, (k, j, i)):
        assert lo <= p < hi
        assert hi - lo <= 21, f"{box} spans far more than the peak (the shell is 48 voxels wide)"
    assert str(f"i={i}") in suggestion["text"]


def test_go_there_puts_the_cursor_on_the_peak(spleen_window):
    panel = spleen_window.docks["segment"].widget()
    controller = spleen_window.controller
    size = controller.session.geometry.size  # (i, j, k)
    entropy = np.zeros(size[::-1], np.float32)
    entropy[: SHAPE[0], : SHAPE[1], : SHAPE[2]] = shell_entropy()[: size[2]]
    suggestion = suggest_scribble(entropy)
    panel.deep.show_result({"suggestion": suggestion})
    assert panel.deep.suggestion_row.isVisibleTo(panel) and panel.deep.go_button.isEnabled()
    controller.set_cursor((0, 0, 0))
    panel.deep.go_button.click()
    assert controller.cursor == (PEAK[2], PEAK[1], PEAK[0])


