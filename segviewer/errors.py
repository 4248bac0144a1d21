"""Errors a user can cause and can fix; the CLI and GUI show their message, never a traceback."""


class SegviewerError(Exception):
    """Base class for user-facing errors (bad file, mismatched geometry, ...)."""


class ImageReadError(SegviewerError):
    """A file or folder could not be read as an image."""


class GeometryMismatchError(SegviewerError):
    """A label map or scribble file does not fit the image it is loaded onto."""


class LabelValueError(SegviewerError):
    """A label file holds values that are not labels (fractions, negative, 4D ...)."""


class TooLargeError(SegviewerError):
    """An image would not fit in memory; refused before allocating."""
