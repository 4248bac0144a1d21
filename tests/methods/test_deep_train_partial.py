"""The trainer's partial loss for scribble-only cases (nnU-Net's ignore label): unmarked voxels
take no part in it, and on a full mask it is MONAI's Dice + cross-entropy."""

from __future__ import annotations

import torch
from monai.losses import DiceCELoss

from segviewer.methods.deep.train import partial_dice_ce

IGNORE = 3


def test_unmarked_voxels_get_no_gradient_and_a_full_mask_is_plain_dice_ce():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, 6, generator=generator, requires_grad=True)
    full = torch.randint(0, 3, (2, 1, 4, 5, 6), generator=generator)
    loss = partial_dice_ce(IGNORE, 3)
    assert torch.allclose(loss(logits, full), DiceCELoss(to_onehot_y=True, softmax=True, batch=True)(logits, full),
                          atol=1e-5)
    scribbles = full.clone()
    scribbles[:, :, 1:] = IGNORE  # only the first slice is marked
    loss(logits, scribbles).backward()
    assert logits.grad[:, :, 1:].abs().max() == 0 and logits.grad[:, :, 0].abs().max() > 0
    changed = logits.detach().clone()
    changed[:, :, 1:] += 5.0  # what the network says where nobody marked anything does not matter
    assert torch.allclose(loss(changed, scribbles), loss(logits.detach(), scribbles))
