"""`NoisyLinearImputer`'s linear systems (pytorch-grad-cam's ROAD) solved for many images at once on their device,
by the conjugate gradient method (Hestenes and Stiefel 1952) in float64.

Each missing pixel's value x_i is the weighted mean of its neighbours inside the image (1/6 for the 4 nearest,
1/12 for the diagonals): S_i x_i - sum over missing neighbours w_j x_j = sum over kept neighbours w_j v_j, with S_i
the weight of the neighbours inside the image. The library hands the same system, negated, to scipy's `spsolve`.
The matrix is symmetric (the same weight joins i to j and j to i) and positive definite (diagonally dominant, and
strictly so next to every kept pixel), which is what conjugate gradients need. The product with the matrix is one
3x3 convolution, so each iteration is a few element-wise passes over a batch of systems: on a GPU, thousands of
systems' iterations cost about what one system's sparse factorisation costs on a CPU core. Iterations stop when
every system's residual is below `tolerance` times its right-hand side (2-norm), or after `max_iterations`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

TOLERANCE = 1e-8
_STENCIL = ((1 / 12, 1 / 6, 1 / 12), (1 / 6, 0.0, 1 / 6), (1 / 12, 1 / 6, 1 / 12))
_CHECK_EVERY = 16  # iterations between convergence checks (each one waits for the device)


def neighbour_sum(values: torch.Tensor) -> torch.Tensor:
    """Each pixel's weighted sum of its 8 neighbours inside the image, per channel: `values` [S, C, H, W]."""
    kernel = torch.tensor(_STENCIL, dtype=values.dtype, device=values.device).view(1, 1, 3, 3)
    return F.conv2d(values.reshape(-1, 1, *values.shape[-2:]), kernel, padding=1).reshape(values.shape)


def linear_fill(images: torch.Tensor, keep: torch.Tensor, tolerance: float = TOLERANCE,
                max_iterations: int | None = None) -> torch.Tensor:
    """`images` [S, C, H, W] with the pixels where `keep` [S, 1, H, W] is 0 replaced by the solution of their
    system (noiseless), in float64 on the images' device."""
    images, keep = images.double(), keep.double()
    missing = 1 - keep
    inside = neighbour_sum(torch.ones_like(keep[:1]))

    def apply(values: torch.Tensor) -> torch.Tensor:
        return (inside * values - neighbour_sum(values * missing)) * missing

    right = neighbour_sum(images * keep) * missing
    kept = keep.sum((2, 3), keepdim=True).clamp_min(1)
    solution = (images * keep).sum((2, 3), keepdim=True) / kept * missing  # start: the mean kept colour
    residual = right - apply(solution)
    direction = residual.clone()
    squared = (residual * residual).sum((2, 3), keepdim=True)
    goal = tolerance ** 2 * (right * right).sum((2, 3), keepdim=True)
    limit = max_iterations or 8 * sum(images.shape[-2:])
    for iteration in range(limit):
        if iteration % _CHECK_EVERY == 0 and bool((squared <= goal).all()):
            break
        product = apply(direction)
        step = squared / (direction * product).sum((2, 3), keepdim=True).clamp_min(1e-300)
        solution = solution + step * direction
        residual = residual - step * product
        previous, squared = squared, (residual * residual).sum((2, 3), keepdim=True)
        direction = residual + squared / previous.clamp_min(1e-300) * direction
    return images * keep + solution * missing
