"""Recipes: small YAML files that map onto a config dataclass, with ``key=value`` overrides on the command line."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def _coerce(value: str, annotation: Any) -> Any:
    """Turn a command-line string into the type a dataclass field expects (via YAML for lists/numbers/bools)."""
    parsed = yaml.safe_load(value)
    if annotation in (str, "str") or (isinstance(annotation, str) and annotation.startswith("str")):
        return value
    if annotation in (float, "float") and isinstance(parsed, str):
        try:  # YAML 1.1 reads "1e-12" (no dot) as text; a float field takes it as the number it is
            return float(value)
        except ValueError:
            return parsed
    return parsed


def load_recipe(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Build ``cls`` from a YAML recipe plus ``key=value`` overrides; unknown keys are an error naming the allowed ones.

    Nested dataclass fields are addressed as ``outer.inner=value``.
    """
    data: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a recipe must be a YAML mapping of field: value")
        data.update(loaded)
    hints = typing.get_type_hints(cls)
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override '{item}' must look like key=value")
        key, value = item.split("=", 1)
        head, _, rest = key.partition(".")
        if head not in hints:
            raise ValueError(f"unknown setting '{head}'; allowed: {', '.join(sorted(hints))}")
        if rest:
            data.setdefault(head, {})[rest] = yaml.safe_load(value)
        else:
            data[key] = _coerce(value, hints[key])
    unknown = set(data) - set(hints)
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; allowed: {', '.join(sorted(hints))}")
    kwargs = {}
    for k, v in data.items():
        sub = hints[k]
        if dataclasses.is_dataclass(sub) and isinstance(v, dict):
            v = sub.from_dict(v) if hasattr(sub, "from_dict") else sub(**v)
        kwargs[k] = v
    return cls(**kwargs)


def recipe_to_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as a plain dict (for logging next to a run)."""
    return dataclasses.asdict(cfg)
