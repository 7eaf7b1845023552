"""Analytic tetrahedral shapes (blocks) for physics tests, benchmarks and instructors' practice scenes."""

from __future__ import annotations

import itertools

import numpy as np

from surgsim.mesh.build import build_tissue_model
from surgsim.mesh.materials import Material, material
from surgsim.mesh.model import TissueModel


def tet_block(
    size_m: tuple[float, float, float] = (0.1, 0.02, 0.02),
    divisions: tuple[int, int, int] = (10, 2, 2),
    *,
    origin_m: tuple[float, float, float] = (0.0, 0.0, 0.0),
    tissue: Material | str = "generic",
    region_name: str | None = None,
) -> TissueModel:
    """A box of ``size_m`` split into ``divisions`` cubes, each cut into six tets around its main diagonal.

    The Kuhn (Freudenthal) split is used because neighbouring cubes then share their face diagonals, so the mesh is
    conforming; nodes are numbered x fastest, then y, then z.
    """
    mat = material(tissue) if isinstance(tissue, str) else tissue
    nx, ny, nz = (int(d) for d in divisions)
    if min(nx, ny, nz) < 1:
        raise ValueError("every division count must be at least 1")
    axes = [np.linspace(o, o + s, d + 1) for o, s, d in zip(origin_m, size_m, (nx, ny, nz))]
    gz, gy, gx = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    positions = np.column_stack([gx.ravel(), gy.ravel(), gz.ravel()])

    def node(i, j, k):
        return i + (nx + 1) * (j + (ny + 1) * k)

    ii, jj, kk = np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij")
    base = np.column_stack([ii.ravel(), jj.ravel(), kk.ravel()])
    unit = np.eye(3, dtype=int)
    tets = []
    for perm in itertools.permutations(range(3)):
        corners = [np.zeros(3, dtype=int)]
        for axis in perm:
            corners.append(corners[-1] + unit[axis])
        tets.append(np.column_stack([node(*(base + c).T) for c in corners]))
    tets = np.concatenate(tets)
    name = region_name or mat.name
    return build_tissue_model(
        positions,
        tets,
        np.zeros(len(tets), dtype=np.int64),
        [name],
        [mat],
        metadata={"source": "tet_block", "size_m": list(size_m), "divisions": [nx, ny, nz]},
    )
