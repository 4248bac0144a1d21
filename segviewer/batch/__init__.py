"""Batch work on many cases: the one-case tasks the commands share (:mod:`.tasks`), run on a
Dask cluster (:mod:`.cluster`) by the engine (:mod:`.engine`), resumable through per-case
records (:mod:`.records`), with progress and results (:mod:`.report`). No Qt."""
