"""Where the shipped data lives: schemas/ and templates/, installed as meshform.schemas/.templates."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any


@cache
def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(files("meshform.schemas").joinpath(name).read_text("utf-8"))
    return loaded


def template(name: str) -> str:
    return files("meshform.templates").joinpath(name).read_text("utf-8")
