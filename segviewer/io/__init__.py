"""Reading and writing images, label maps, label tables, scribbles and points (no Qt)."""
