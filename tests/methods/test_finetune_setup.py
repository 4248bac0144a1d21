"""Fine-tuning's set-up is a frozen dataclass (no dict of keys mutated along the way), and
a request with nothing marked gets one "needs scribbles" error."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from segviewer.methods.base import CancelToken, MethodInputError, MethodRequest, TrainableMethod, no_progress
from segviewer.methods.deep.finetune import FinetuneMethod, FinetuneParameters, TuningSetup
from segviewer.model.geometry import Geometry, full_box


def blob_request(blob, **params) -> MethodRequest:
    image, scribbles, _, spacing = blob
    return MethodRequest(image=image, geometry=Geometry(image.shape[::-1], spacing[::-1], (0.0, 0.0, 0.0)),
                         roi=full_box(image.shape), params=FinetuneParameters(model="scratch", **params),
                         scribbles=scribbles, unannotated=255, label_values=[1])


def test_the_setup_is_a_frozen_record_of_the_request(blob):
    request = blob_request(blob, steps=6)
    setup = FinetuneMethod()._prepare(request, request.params, "cpu")
    assert isinstance(setup, TuningSetup) and setup.from_scratch and setup.request is request
    with pytest.raises(dataclasses.FrozenInstanceError):
        setup.target = None
    scribbled = setup.scribbled
    assert len(scribbled) == int((blob[1] != 255).sum()) and setup.scribbled is scribbled  # computed once


def test_self_training_leaves_the_setup_as_it_was(blob):
    request = blob_request(blob, steps=6, refresh_every=100)
    method = FinetuneMethod()
    setup = method._prepare(request, request.params, "cpu")
    target = setup.target.clone()
    state = method._state_for(setup)
    method._self_train(state, setup, no_progress, CancelToken(), 2, (0.0, 1.0))
    assert state.steps_done == 2 and setup.target.equal(target)


@pytest.mark.parametrize("scribbles", [None, np.full((4, 5, 6), 255, np.uint8)], ids=["none", "all unannotated"])
def test_nothing_marked_is_one_error(scribbles):
    image = np.zeros((4, 5, 6), np.float32)
    request = MethodRequest(image=image, geometry=Geometry((6, 5, 4), (1, 1, 1), (0, 0, 0)), roi=full_box(image.shape),
                            params=FinetuneParameters(model="scratch"), scribbles=scribbles, unannotated=255)
    with pytest.raises(MethodInputError, match=r"^fine-tuning needs scribbles \(or clicks\) on the image$"):
        FinetuneMethod().run(request, no_progress, CancelToken())


def test_fine_tuning_declares_reset_and_save_model():
    method = FinetuneMethod()
    assert isinstance(method, TrainableMethod)
    method.state = object()
    method.reset()
    assert method.state is None
