"""The data model: image, labels, scribbles, points, history and the session (no Qt)."""

from segviewer.model.geometry import Box, Geometry
from segviewer.model.history import History
from segviewer.model.image import ImageVolume
from segviewer.model.labels import LabelInfo, LabelMap, LabelTable
from segviewer.model.points import PointPrompt, PointSet
from segviewer.model.scribbles import Scribbles
from segviewer.model.session import LABELS, SCRIBBLES, Session

__all__ = ["Box", "Geometry", "History", "ImageVolume", "LabelInfo", "LabelMap", "LabelTable",
           "PointPrompt", "PointSet", "Scribbles", "Session", "LABELS", "SCRIBBLES"]
