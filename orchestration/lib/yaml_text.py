"""Reading a configuration file's YAML text into its top-level mapping, with errors that name the file."""

from __future__ import annotations

from typing import Any

import yaml


def load_yaml_mapping(
    text: str, where: str, error: type[Exception], *, what: str = "a mapping"
) -> dict[str, Any]:
    """The top-level mapping of `text`; `error("<where>: ...")` when it is not valid YAML or not a mapping."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"{where}: expected {what} at the top level")
    return data
