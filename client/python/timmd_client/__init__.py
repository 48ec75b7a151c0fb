"""Python client of timmd: open model weights served over its Unix socket as zero-copy views.

    import timmd_client
    with timmd_client.connect() as client:
        with client.open("timm/test_vit.r160_in1k", num_classes=10) as checkpoint:
            weights = checkpoint.numpy("patch_embed.proj.weight")

The protocol needs only the standard library; numpy and torch are imported when first used.
"""

from ._checkpoint import Checkpoint, TensorInfo
from ._client import FILTER_KEYS, Client, connect
from ._connection import CLIENT_NAME, PROTOCOL_VERSION, SYSTEM_SOCKET, user_socket_path
from ._errors import TimmdError
from ._pretrained import LoadResult, load_pretrained, model_manifest

__version__ = "0.1.0"

__all__ = [
    "CLIENT_NAME",
    "FILTER_KEYS",
    "PROTOCOL_VERSION",
    "SYSTEM_SOCKET",
    "Checkpoint",
    "Client",
    "LoadResult",
    "TensorInfo",
    "TimmdError",
    "connect",
    "load_pretrained",
    "model_manifest",
    "user_socket_path",
]
