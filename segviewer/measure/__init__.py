"""Measurements in millimetres, no Qt and no VTK: what follows a segmentation (volumetry,
follow-up, planning).

``instruments``  ruler (two points, also on different slices), angle, ellipse/sphere region
                 with its intensity statistics
``structures``   minimum distance between two labels (and where), RECIST-style longest axial
                 diameter with its perpendicular short axis, local thickness of a label
``records``      the case's list of measurements: JSON in mm beside the case, CSV export

Points are physical LPS millimetres (as ``Geometry.index_to_physical`` gives), so a
measurement does not depend on which view or slice it was made in.
"""
