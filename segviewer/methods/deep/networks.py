"""Small networks of our own (the model card may name any class here).

* :class:`OnlineNet` — a light fully convolutional network trained from scratch on one image
  from the user's scribbles, in the spirit of ECONet (Asad et al. 2022): a few 3D
  convolutions with growing dilation (a ~15-voxel in-plane receptive field) followed by
  1×1×1 layers; it predicts every voxel of a region in one pass.
* :class:`IntensityAdapter` and :class:`AdaptedNetwork` — a per-image input adapter in front
  of a pretrained network: a learned monotone-or-not point-wise intensity map (a tiny MLP
  with an identity skip) applied after dividing out a smooth multiplicative bias field (a
  low-order polynomial in the voxel position). Both start as the identity, so fine-tuning
  begins exactly at the pretrained prediction. It is what lets a few scribbles undo contrast
  inversion or a strong bias field without retraining the whole network.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


class OnlineNet(nn.Module):
    def __init__(self, in_channels: int = 1, out_channels: int = 2, features: int = 16,
                 hidden: int = 32, kernel_k: int = 3, dilations: tuple = (1, 2, 4)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for d in dilations:
            layers += [nn.Conv3d(channels, features, (kernel_k, 3, 3), padding=(kernel_k // 2, d, d),
                                 dilation=(1, d, d)), nn.LeakyReLU(0.1, inplace=True)]
            channels = features
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Conv3d(features + in_channels, hidden, 1), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv3d(hidden, out_channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.features(x), x], dim=1))


def _monomials(degree: int) -> list[tuple[int, int, int]]:
    return [p for p in itertools.product(range(degree + 1), repeat=3) if 0 < sum(p) <= degree]


class IntensityAdapter(nn.Module):
    """``x -> scale * ((x - x0) / exp(bias(r)) + x0) -> y + mlp(y)``; identity at initialisation.

    ``x0`` (a buffer) is where raw intensity 0 lies after normalisation: a bias field
    multiplies raw intensities, so it is divided out around that level.
    """

    def __init__(self, hidden: int = 16, bias_degree: int = 3) -> None:
        super().__init__()
        self.bias_degree = int(bias_degree)
        self.powers = _monomials(self.bias_degree)
        self.bias_coefficients = nn.Parameter(torch.zeros(len(self.powers)))
        self.mlp = nn.Sequential(nn.Conv3d(1, hidden, 1), nn.Tanh(), nn.Conv3d(hidden, 1, 1))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)
        self.scale = nn.Parameter(torch.ones(1))
        self.register_buffer("zero_level", torch.zeros(1))
        self._basis_cache: tuple | None = None

    def _basis(self, shape, device, dtype) -> torch.Tensor:
        key = (tuple(shape), str(device), dtype)
        if self._basis_cache is None or self._basis_cache[0] != key:
            axes = [torch.linspace(-1, 1, n, device=device, dtype=dtype) for n in shape]
            zz, yy, xx = torch.meshgrid(*axes, indexing="ij")
            basis = torch.stack([zz ** a * yy ** b * xx ** c for a, b, c in self.powers]) if self.powers else \
                torch.zeros((0, *shape), device=device, dtype=dtype)
            self._basis_cache = (key, basis)
        return self._basis_cache[1]

    def bias_field(self, shape, device, dtype) -> torch.Tensor:
        if not self.powers:
            return torch.zeros(shape, device=device, dtype=dtype)
        basis = self._basis(shape, device, dtype)
        return torch.einsum("p,pzyx->zyx", self.bias_coefficients.to(dtype), basis)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        field = self.bias_field(x.shape[2:], x.device, x.dtype)
        x = ((x - self.zero_level) * torch.exp(-field)[None, None] + self.zero_level) * self.scale
        return x + self.mlp(x)

    def reset_bias(self) -> None:
        with torch.no_grad():
            self.bias_coefficients.zero_()


class AdaptedNetwork(nn.Module):
    """A network with an :class:`IntensityAdapter` in front (what fine-tuning saves)."""

    def __init__(self, base: dict, adapter: dict | None = None) -> None:
        super().__init__()
        from segviewer.methods.deep.card import network_class

        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in base.get("kwargs", {}).items()}
        self.base_spec = base
        self.adapter = IntensityAdapter(**(adapter or {}))
        self.base = network_class(base)(**kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(self.adapter(x))
