"""Let ``twitter-text-parser`` 3.0 import on setuptools >= 81.

The package reads its emoji table with ``pkg_resources.resource_string``, and setuptools 81
removed ``pkg_resources``. When it is missing we register a minimal stand-in offering just
that function, backed by ``importlib.resources``; a real ``pkg_resources`` always wins.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from importlib import resources
from pathlib import Path


def _resource_string(module: str, name: str) -> bytes:
    # Like pkg_resources: a module name means "next to that module's file".
    spec = importlib.util.find_spec(module)
    if spec is not None and spec.submodule_search_locations is None and spec.origin:
        return (Path(spec.origin).parent / name).read_bytes()
    return resources.files(module).joinpath(name).read_bytes()


if importlib.util.find_spec("pkg_resources") is None:
    shim = types.ModuleType("pkg_resources")
    shim.resource_string = _resource_string  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = shim

from twitter_text import parse_tweet  # noqa: E402  (only after the stand-in is registered)

__all__ = ["parse_tweet"]
