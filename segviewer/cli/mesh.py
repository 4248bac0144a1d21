"""``segviewer mesh LABELS -o OUT.{stl,obj,ply,vtp} [--labels 1,2] [--smooth N] [--decimate F]
[--world lps|ras]``: closed, manifold, outward-oriented surfaces of labels in millimetres."""

from __future__ import annotations

import argparse
import sys

from segviewer.cli.arguments import _output_with_suffixes, fraction, input_path, int_in, label_list
from segviewer.io.atomic import input_guard
from segviewer.io.labels import read_label_map
from segviewer.surfaces.mesh import MESH_SUFFIXES, WORLDS, MeshSettings, label_surfaces, write_mesh

NAME = "mesh"
HELP = ("write label surfaces as a mesh (STL, OBJ, PLY, VTP) for simulation, printing or planning: "
        "one closed, manifold surface per label in LPS or RAS millimetres")


#: A mesh file to write: ``.stl``, ``.obj``, ``.ply`` or ``.vtp``.
mesh_output = _output_with_suffixes(MESH_SUFFIXES, "a mesh")


def reduction(text: str) -> float:
    """The fraction of triangles decimation removes: 0 up to (not including) 1."""
    value = fraction(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{text!r} would remove every triangle; give a fraction below 1, e.g. 0.5")
    return value


def add_arguments(parser) -> None:
    parser.add_argument("labels_file", metavar="LABELS", type=input_path, help="label map")
    parser.add_argument("-o", "--output", required=True, type=mesh_output,
                        help="mesh file to write: " + ", ".join(MESH_SUFFIXES))
    parser.add_argument("--labels", type=label_list, help="labels to mesh, e.g. 1,2 (default: every label present)")
    parser.add_argument("--smooth", type=int_in(0, 500), default=MeshSettings.smoothing_iterations, metavar="N",
                        help="windowed-sinc smoothing iterations, volume-preserving "
                             f"(0: the voxel surface as contoured; default {MeshSettings.smoothing_iterations})")
    parser.add_argument("--decimate", type=reduction, default=0.0, metavar="F",
                        help="fraction of the triangles to remove, e.g. 0.5 (default 0: none)")
    parser.add_argument("--world", choices=WORLDS, default="lps",
                        help="coordinate system of the points: lps (ITK, DICOM; default) or ras (Slicer, "
                             "most CAD tools); stated in the file where the format allows")


def run(args) -> int:
    protected = input_guard(labels=args.labels_file)
    protected.check(args.output, "the mesh")  # before the work, not after it
    label_map, message = read_label_map(args.labels_file)
    if message:
        print(f"segviewer: note: {message}", file=sys.stderr)
    settings = MeshSettings(args.smooth, args.decimate, args.world)
    surfaces = label_surfaces(label_map.array, label_map.geometry, args.labels, settings)
    write_mesh(args.output, surfaces, args.world, guard=protected)
    print(f"wrote {args.output} ({args.world.upper()} mm)")
    for surface in surfaces:
        name = label_map.table.name_of(surface.value)
        print(f"  label {surface.value} ({name}): {surface.triangle_count} triangles, encloses "
              f"{surface.enclosed_volume_mm3() / 1000:.3f} mL (voxels: {surface.voxel_volume_mm3 / 1000:.3f} mL)")
    return 0
