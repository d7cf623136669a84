"""Custom attributes and metrics a source declares (in its mapping, or in
`<landing>/<source>/_features.yml`): their shape, the rows of the declarations table, and the
SQL that reads the attributes (docs/features.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from orchestration.lib.contracts.sources import DATE, TIMESTAMP
from orchestration.lib.engines.dialect import quote_ident, quote_literal
from orchestration.lib.ingest.sql_checks import sql_errors

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
# How a parsed date / timestamp is written back as text for the contract's cast.
_ISO = {DATE: "%Y-%m-%d", TIMESTAMP: "%Y-%m-%d %H:%M:%S.%f"}


class MappingError(ValueError):
    """A mapping that cannot be used; the message names the mapping file and the column."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnMap(_Strict):
    """Where one contract column comes from, and how its text is converted.

    Exactly one of `column` (a source column, any spelling), `expr` (SQL over the source
    columns) or `value` (a constant). Then, in this order: `values` maps source values to ours
    (exact match after trimming; unmapped values pass through and meet the contract's checks),
    `format` parses dates / timestamps with strptime (a value that does not match quarantines its
    row), `scale` multiplies numbers (units: cents -> 0.01, thousands -> 1000).
    """

    column: str | None = None
    expr: str | None = None
    value: str | int | float | bool | None = None
    values: dict[str, str | int | float | bool | None] | None = None
    format: str | None = None
    scale: float | None = None

    @model_validator(mode="after")
    def _one_origin(self) -> ColumnMap:
        given = [k for k in ("column", "expr", "value") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of column, expr or value (got {', '.join(given) or 'none'})")
        if self.format is not None and "%" not in self.format:
            raise ValueError(f"format {self.format!r} has no strptime directive (e.g. %Y-%m-%d)")
        return self

    def base_sql(self) -> str:
        if self.column is not None:
            return quote_ident(self.column)
        if self.expr is not None:
            return f"(\n{self.expr}\n)"  # on lines of its own: a trailing -- comment stays inside
        return "null" if self.value is None else quote_literal(str(self.value))


# Custom features (docs/features.md): attributes are extra columns of these sources, metrics are
# measured in these sources.
ATTRIBUTE_SOURCES = ("accounts", "subscriptions")
METRIC_SOURCES = ("usage_events", "account_metrics")
ATTRIBUTE_TYPES = ("categorical", "numeric", "boolean", "date")
METRIC_AGGREGATIONS = ("sum", "avg", "latest", "change")
DEFAULT_METRIC_WINDOWS = (30, 90)
MAX_METRIC_WINDOW = 365
# A feature name: lower-case, no double underscore (it separates metric name and aggregation).
FEATURE_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
MAX_FEATURE_NAME = 48


def _check_feature_name(name: str, kind: str) -> None:
    if not FEATURE_NAME_RE.match(name) or len(name) > MAX_FEATURE_NAME:
        raise ValueError(
            f"{kind} name {name!r} must be lower-case letters, digits and single underscores, "
            f"starting with a letter, at most {MAX_FEATURE_NAME} characters"
        )


class Attribute(ColumnMap):
    """An extra column of accounts or subscriptions that becomes the feature `attr_<name>`.

    Where the value comes from is a ColumnMap (default: the column named like the attribute);
    `type` says how it is parsed and used: a value that does not parse quarantines its row."""

    type: Literal["categorical", "numeric", "boolean", "date"]
    description: str = ""

    @model_validator(mode="after")
    def _typed_conversions(self) -> Attribute:
        if self.format is not None and self.type != "date":
            raise ValueError(f"`format` applies to date attributes, not {self.type}")
        if self.scale is not None and self.type != "numeric":
            raise ValueError(f"`scale` applies to numeric attributes, not {self.type}")
        return self


class Metric(_Strict):
    """A numeric measurement per account whose features are `metric_<name>__<agg>[_<w>d]`."""

    description: str = ""
    # usage_events only: the usage feature whose quantity is measured (default: the metric name).
    # account_metrics: the metric name as written in the data (default: the metric name).
    origin: str | None = None
    windows: tuple[int, ...] = DEFAULT_METRIC_WINDOWS
    aggregations: tuple[Literal["sum", "avg", "latest", "change"], ...] = METRIC_AGGREGATIONS
    # account_metrics mapped from a WIDE file (one column per metric, e.g. a snapshot): where this
    # metric's value comes from. Each row of the file then gives one measurement per metric.
    column: str | None = None
    expr: str | None = None
    scale: float | None = None

    def wide_origin(self) -> ColumnMap | None:
        if self.column is None and self.expr is None:
            return None
        return ColumnMap(column=self.column, expr=self.expr, scale=self.scale)

    @model_validator(mode="after")
    def _check(self) -> Metric:
        if self.column is not None and self.expr is not None:
            raise ValueError("give at most one of column or expr")
        if self.scale is not None and self.column is None and self.expr is None:
            raise ValueError("`scale` needs a column or expr")
        if not self.windows:
            raise ValueError("`windows` is empty")
        for w in self.windows:
            if not 1 <= w <= MAX_METRIC_WINDOW:
                raise ValueError(f"window {w} must be between 1 and {MAX_METRIC_WINDOW} days")
        if len(set(self.windows)) != len(self.windows):
            raise ValueError("`windows` repeats a value")
        if not self.aggregations or len(set(self.aggregations)) != len(self.aggregations):
            raise ValueError("`aggregations` is empty or repeats a value")
        return self


class Declarations(_Strict):
    """Custom attributes and metrics of one source: in its mapping, or for a landing-zone source in
    `<landing>/<source>/_features.yml`."""

    attributes: dict[str, Attribute] = {}
    metrics: dict[str, Metric] = {}

    @model_validator(mode="before")
    @classmethod
    def _default_origin(cls, data: Any) -> Any:
        # An attribute without column / expr / value reads the column of its own name.
        if isinstance(data, dict) and isinstance(data.get("attributes"), dict):
            attributes = {}
            for name, spec in data["attributes"].items():
                if isinstance(spec, dict) and not any(k in spec for k in ("column", "expr", "value")):
                    spec = {**spec, "column": name}
                attributes[name] = spec
            data = {**data, "attributes": attributes}
        return data

    @model_validator(mode="after")
    def _names(self) -> Declarations:
        for name in self.attributes:
            _check_feature_name(name, "attribute")
        for name in self.metrics:
            _check_feature_name(name, "metric")
        return self

    @property
    def wide_metrics(self) -> bool:
        """Metrics read from columns of a wide file (account_metrics only)."""
        return any(m.wide_origin() is not None for m in self.metrics.values())

    def check_source(self, source: str) -> list[str]:
        errors = []
        if self.attributes and source not in ATTRIBUTE_SOURCES:
            errors.append(f"`attributes` apply to {' and '.join(ATTRIBUTE_SOURCES)}, not {source}")
        if self.metrics and source not in METRIC_SOURCES:
            errors.append(f"`metrics` apply to {' and '.join(METRIC_SOURCES)}, not {source}")
        if self.wide_metrics:
            if source != "account_metrics":
                errors.append("metrics with `column` / `expr` (a wide file) apply to account_metrics only")
            missing = [n for n, m in self.metrics.items() if m.wide_origin() is None]
            if missing:
                errors.append(
                    f"metrics {', '.join(missing)}: give `column` or `expr` for every metric of a wide "
                    "file, or for none"
                )
        return errors


def _pydantic_errors(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("str", "ColumnMap")))
        out.append(f"{loc or 'mapping'}: {err['msg'].removeprefix('Value error, ')}")
    return out


def _column_sql(target: str, spec: ColumnMap, col_type: str | None) -> tuple[str, str | None]:
    """(text expression for the column, violation expression or None)."""
    text = f"nullif(trim(cast({spec.base_sql()} as varchar)), '')"
    if spec.values:
        whens = " ".join(
            f"when {quote_literal(str(k))} then {'null' if v is None else quote_literal(str(v))}"
            for k, v in spec.values.items()
        )
        text = f"(case {text} {whens} else {text} end)"
    violation = None
    if spec.format is not None:
        fmt = quote_literal(spec.format)
        parsed = f"try_strptime({text}, {fmt})"
        iso = quote_literal(_ISO.get(col_type or TIMESTAMP, _ISO[TIMESTAMP]))
        violation = (
            f"case when {text} is not null and {parsed} is null then "
            f"{{'column': {quote_literal(target)}, 'reason': 'value ' || {text} || ' does not match format ' || "
            f"{fmt}}} end"
        )
        text = f"strftime({parsed}, {iso})"
    if spec.scale is not None:
        number = f"try_cast({text} as double)"
        text = f"(case when {number} is null then {text} else cast({number} * {spec.scale!r} as varchar) end)"
    return text, violation


LANDING_DECLARATIONS = "_features.yml"


def landing_declarations(landing_dir: Path | str, source: str) -> Declarations | None:
    """`<landing>/<source>/_features.yml`: custom attributes / metrics of a source read from the
    landing zone (no mapping). None when there is no such file."""
    path = Path(landing_dir) / source / LANDING_DECLARATIONS
    if not path.is_file():
        return None
    where = f"feature declarations {path}"
    try:
        data = yaml.safe_load(path.read_text()) or {}
        decls = Declarations.model_validate(data)
    except yaml.YAMLError as exc:
        raise MappingError(f"{where}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        raise MappingError(f"{where}: " + "; ".join(_pydantic_errors(exc))) from None
    errors = sql_errors(decls) + decls.check_source(source)
    if errors:
        raise MappingError(f"{where}: " + "; ".join(errors))
    return decls


DECLARATION_COLUMNS = (
    "source", "kind", "name", "feature_type", "description", "origin", "windows", "aggregations", "declared_in",
)  # fmt: skip


def declaration_rows(source: str, decls: Declarations | None, declared_in: str) -> list[tuple]:
    """Rows of raw._feature_declarations for one source (what the dbt models pivot into columns)."""
    if decls is None:
        return []
    rows = [
        (source, "attribute", name, a.type, a.description, None, None, None, declared_in)
        for name, a in decls.attributes.items()
    ]
    rows += [
        (
            source,
            "metric",
            name,
            "numeric",
            m.description,
            m.origin or name,
            ",".join(str(w) for w in m.windows),
            ",".join(m.aggregations),
            declared_in,
        )
        for name, m in decls.metrics.items()
    ]
    return rows


_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


def attribute_select(decls: Declarations, relation: str) -> str:
    """A SELECT over `relation` (the user's columns plus `__row_number`) giving `__row_number`,
    `__attr_<name>` (the value as canonical text: numbers as doubles, booleans true/false, dates
    ISO) and `__attr_violations` (values that do not parse as their declared type)."""
    cols, checks = [], []
    for name, spec in decls.attributes.items():
        text, violation = _column_sql(f"attributes.{name}", spec, DATE if spec.type == "date" else None)
        if violation:
            checks.append(violation)
        if spec.type == "numeric":
            value = f"cast(try_cast({text} as double) as varchar)"
        elif spec.type == "boolean":
            trues = ", ".join(quote_literal(v) for v in _TRUE)
            falses = ", ".join(quote_literal(v) for v in _FALSE)
            value = f"(case when lower({text}) in ({trues}) then 'true' when lower({text}) in ({falses}) then 'false' end)"
        elif spec.type == "date" and spec.format is None:
            value = (
                f"strftime(coalesce(try_cast({text} as date), cast(try_cast({text} as timestamp) as date)), "
                "'%Y-%m-%d')"
            )
        else:
            value = text
        if value != text:
            checks.append(
                f"case when {text} is not null and {value} is null then "
                f"{{'column': {quote_literal('attributes.' + name)}, 'reason': 'cannot parse ' || {text} || "
                f"' as {spec.type}'}} end"
            )
        cols.append(f"{value} as {quote_ident('__attr_' + name)}")
    viol = f"list_filter([{', '.join(checks)}], lambda x: x is not null)" if checks else "[]"
    return f"select __row_number, {', '.join(cols)}, {viol} as __attr_violations from {relation}"
