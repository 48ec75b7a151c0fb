"""load_pretrained: fill a torch model with the tensors timmd serves for it."""

import dataclasses
from typing import Any, Dict, List

from ._client import connect


@dataclasses.dataclass
class LoadResult:
    """Outcome of load_pretrained.

    ``load_result`` is what ``model.load_state_dict`` returned (its own ``missing_keys`` and
    ``unexpected_keys``). The other fields come from the daemon's ``open`` answer.
    """

    load_result: Any
    strict: bool  # the value passed to load_state_dict
    missing_keys: List[str]  # manifest keys the daemon did not serve
    unexpected_keys: List[str]  # served keys the manifest does not list
    notes: List[str]  # one line per adaptation the daemon made
    info: Dict[str, Any]  # the whole answer, without the tensor table


def model_manifest(model):
    """Build the ``manifest`` filter field from ``model.state_dict()``, in its key order.

    Adds ``num_prefix_tokens`` and ``grid_size`` when the model has them (timm's ViTs have
    ``model.num_prefix_tokens`` and ``model.patch_embed.grid_size``).
    """
    tensors = []
    for name, tensor in model.state_dict().items():
        tensors.append({
            "name": name,
            "shape": list(tensor.shape),
            "dtype": str(tensor.dtype).removeprefix("torch."),
        })
    manifest = {"tensors": tensors}

    num_prefix_tokens = getattr(model, "num_prefix_tokens", None)
    if isinstance(num_prefix_tokens, int) and not isinstance(num_prefix_tokens, bool):
        manifest["num_prefix_tokens"] = num_prefix_tokens
    grid_size = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    if isinstance(grid_size, (tuple, list)) and all(isinstance(n, int) for n in grid_size):
        manifest["grid_size"] = list(grid_size)
    return manifest


def load_pretrained(model, name, revision=None, strict=None, *, client=None, progress=None, **filter):
    """Open ``name`` for ``model`` and copy its tensors in with ``model.load_state_dict``.

    The manifest is built from the model unless ``filter`` gives one (``manifest=None`` sends
    none), so the daemon adapts the classifier, first conv and position embeddings to it.
    ``strict`` defaults to the answer's ``strict``. That stays true when the daemon serves keys
    the model lacks, so load_state_dict then raises, as timm's own loading would.

    ``client`` reuses a connection, else one is made with connect() and closed. Raises
    TimmdError, e.g. ``invalid_request`` with ``details["mismatched"]`` when the checkpoint
    cannot meet the model's shapes.
    """
    if "manifest" not in filter:
        filter["manifest"] = model_manifest(model)
    own_client = client is None
    if own_client:
        client = connect()
    try:
        with client.open(name, revision, progress, **filter) as checkpoint:
            state_dict = checkpoint.state_dict("torch")
            use_strict = bool(checkpoint.info.get("strict", True)) if strict is None else strict
            load_result = model.load_state_dict(state_dict, strict=use_strict)
            # Dropping the views before the checkpoint closes lets it unmap the blob now.
            del state_dict
            info = checkpoint.info
    finally:
        if own_client:
            client.close()

    return LoadResult(
        load_result=load_result,
        strict=use_strict,
        missing_keys=list(info.get("missing_keys", [])),
        unexpected_keys=list(info.get("unexpected_keys", [])),
        notes=list(info.get("notes", [])),
        info=info,
    )

