"""Label surfaces with VTK and no Qt: the 3D view's live surfaces and the exported meshes.

``nets``    one ``vtkSurfaceNets3D`` pass over an edited region, split per label (3D view)
``mesh``    closed, manifold, outward-oriented surfaces per label in LPS or RAS millimetres,
            smoothed (windowed sinc) and decimated, written as STL, OBJ, PLY or VTP

This package may import VTK (import-linter forbids it Qt); the layers below it may not.
"""
