"""Deep-learning methods: U-Net inference and weakly supervised fine-tuning from scribbles.

Importing this package (and ``segviewer.methods.deep.methods``) does not import torch;
torch and MONAI are imported when a method runs, so the CLI and the GUI start fast.
"""
