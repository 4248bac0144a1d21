"""``--trust-model``: the command-line consent to run a model that carries code.

Shared by every command that loads a model (segment, finetune, bench interactive). Giving
the flag records the model's SHA-256 in the user's trust store (:mod:`segviewer.io.trust`),
says so in one line on stderr, and from then on that exact content runs without the flag.
"""

from __future__ import annotations

import sys

HELP = ("trust the model's code (a TorchScript file or MONAI bundle runs code): remember its SHA-256 "
        "so it runs, now and later; a changed file must be trusted again")


def add_trust_argument(parser) -> None:
    parser.add_argument("--trust-model", action="store_true", help=HELP)


def trust_if_asked(args, params) -> None:
    """With ``--trust-model``, trust the model of ``params`` (if it has one that runs code)."""
    model = getattr(params, "model", None)
    if not getattr(args, "trust_model", False) or model is None:
        return
    from segviewer.methods.deep.finetune import SCRATCH
    from segviewer.methods.deep.models import trust_model

    if str(model).strip().lower() == SCRATCH:  # trained here from scratch: no file to trust
        return
    record = trust_model(model)
    if record is not None:
        print(f"segviewer: trusted {record.path} ({record.kind}, SHA-256 {record.digest}); "
              "it runs without --trust-model from now on", file=sys.stderr)
