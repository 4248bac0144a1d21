"""Performance figures, each beside its peer baseline measured in the same run."""
