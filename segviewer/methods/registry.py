"""The single list of built-in methods. The GUI method panel and the CLI both read it.

Each import below registers its method classes with :func:`segviewer.methods.base.register`.
"""

from segviewer.methods import threshold  # noqa: F401
from segviewer.methods import region_growing  # noqa: F401
from segviewer.methods import watershed  # noqa: F401
from segviewer.methods import graphcut  # noqa: F401
from segviewer.methods.deep import inference  # noqa: F401  (unet)
from segviewer.methods.deep import finetune  # noqa: F401  (finetune)
