"""Validation record of a written partition: the row-check rules, run again by GX.

The row checks (:func:`filinglake.ingest.row_checks.check_rows`) decide quarantine; this module is the
independent record. It turns the same :class:`~filinglake.ingest.row_checks.Rule` list into a GX 1.x suite
(one expectation per rule, ``meta["rule"]`` = rule name), runs it on the rows that were written
(clean ∪ quarantine), and compares GX's unexpected count per rule with the count the pipeline put
in the partition manifest. Any difference, or an expectation that raised, is a
:class:`ValidationMismatch`.

GX must count exactly what the row checks count, so the pandas frame handed to GX is shaped to
the row checks' semantics (see :func:`gx_frame`):

* blank strings are missing: they become nulls before ``required`` / ``matches`` / ``in_set``
  (GX's not-null expectation passes ``""``; its map expectations skip nulls, as the row checks do);
* ``matches`` runs on Arrow-backed strings, so pandas evaluates the pattern with RE2 like
  ``pyarrow.compute`` does (Python's ``re`` differs, e.g. ``\\d`` matches non-ASCII digits);
* ``date_between`` runs on a tz-aware ``datetime64[s, UTC]`` column with tz-aware bounds: the only
  vectorised comparison GX has for non-nanosecond datetimes (the default ``datetime64[ms]`` from
  Arrow takes a per-value Python path, ~50x slower; seconds never overflow, nanoseconds do);
* ``unique`` sees raw values (a blank is a value) and treats nulls as equal, like Arrow's
  ``group_by``: compound keys use ``ignore_row_if="never"``, single keys get nulls replaced by a
  sentinel because column-map expectations always skip nulls.

GX's fixed cost is paid once per process: ``great_expectations`` costs seconds to import, so it is
imported inside the functions only, on first use; the ephemeral context, its pandas data source and
batch definition are built once (:func:`gx_session`), and a suite is built once per rule list (and
frame shape) and kept in a small LRU cache. Each partition still gets its own run and record.

GX logs hundreds of INFO lines (at import, per context); they are raised to WARNING before GX is
imported, unless :func:`set_verbose` (the CLI's ``-v``) or ``FILINGLAKE_VERBOSE=1`` asks for them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from filinglake import manifests
from filinglake import storage as keys
from filinglake.errors import FilinglakeError
from filinglake.ingest.data_docs import render_data_docs
from filinglake.ingest.row_checks import Rule, rule_failures
from filinglake.ingest.row_checks import (
    _missing as missing_mask,  # the row checks' own definition of "missing"
)
from filinglake.schema import FILINGS_SCHEMA

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import great_expectations as gx
    import pandas as pd

    from filinglake.storage import Storage

RESULT_FORMAT = "BASIC"  # counts and a few example values; never materialise unexpected lists
DATA_DOCS_NAME = "data_docs.html"
#: stands in for a null key value, so GX's single-column uniqueness counts repeated nulls like group_by
NULL_KEY_SENTINEL = "\x00<null>"
#: suites kept per process (one per rule list and frame shape); a daily backfill needs one per day
SUITE_CACHE_SIZE = 64
#: third-party loggers quiet (WARNING) unless verbose; GX pins some of its module loggers to INFO itself
QUIET_LOGGERS = ("great_expectations",)
VERBOSE_VARIABLE = "FILINGLAKE_VERBOSE"


class ValidationMismatch(FilinglakeError):
    """GX's record of a partition disagrees with the row checks (or an expectation raised)."""

    def __init__(self, message: str, report: ValidationReport | None = None):
        super().__init__(message)
        self.report = report


@dataclass
class ValidationReport:
    """GX's counts for one table or partition, compared with the row checks' counts.

    ``success`` means the record agrees: every expectation ran and found exactly as many
    unexpected rows as the row checks did. ``gx_success`` is GX's own verdict, False whenever
    any row broke a rule (normal for a partition with quarantined rows).
    """

    suite: str
    success: bool
    gx_success: bool
    rows: int
    #: rule name -> {"gx_unexpected": int | None, "row_checks": int | None, "exception": str | None}
    per_rule: dict[str, dict[str, Any]]
    mismatches: list[str]
    seconds: float
    source: str | None = None
    partition: str | None = None
    key: str | None = None
    data_docs_key: str | None = None
    gx_result: dict[str, Any] | None = field(default=None, repr=False)  # GX's describe_dict()

    def to_dict(self, include_gx: bool = False) -> dict[str, Any]:
        """Plain JSON-able dict; GX's full result only with ``include_gx`` (it is the stored record,
        too big for an XCom)."""
        out = asdict(self)
        if not include_gx:
            out.pop("gx_result")
        return out

    def summary(self) -> str:
        where = f"{self.source}/{self.partition}" if self.source else self.suite
        if self.success:
            return f"{where}: GX agrees with the row checks on {len(self.per_rule)} rules, {self.rows} rows"
        return f"{where}: validation record disagrees with the row checks: {'; '.join(self.mismatches)}"

    def raise_for_mismatch(self) -> None:
        if not self.success:
            raise ValidationMismatch(self.summary(), self)


# ------------------------------------------------------------------------------------------------
# Arrow -> the pandas frame GX sees
# ------------------------------------------------------------------------------------------------


def _is_text(typ: pa.DataType) -> bool:
    return pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ)


def _value_view(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Blank strings become nulls: GX then treats them as missing, like the row checks.

    Dates become UTC timestamps (numpy-backed in pandas): an Arrow-backed date column costs GX a
    per-value Python loop when it fingerprints the batch.
    """
    if pa.types.is_date(col.type):
        return _date_view(col)
    if not _is_text(col.type):
        return col
    blank = missing_mask(col)
    if not pc.any(blank).as_py():
        return col
    return pc.if_else(blank, pa.scalar(None, col.type), col)


def _key_view(col: pa.ChunkedArray, single: bool) -> pa.ChunkedArray:
    """Raw key values; for a one-column key, nulls become a sentinel so GX compares them."""
    if pa.types.is_date(col.type):
        col = _date_view(col)  # same equalities, numpy-backed (see _value_view)
    if not single or col.null_count == 0:
        return col
    text = col if _is_text(col.type) else pc.cast(col, pa.string())
    return pc.fill_null(text, NULL_KEY_SENTINEL)


def _date_view(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Dates and timestamps as timestamp[s|…, UTC]; pandas turns that into datetime64[unit, UTC]."""
    if pa.types.is_date(col.type):
        return pc.cast(col, pa.timestamp("s", tz="UTC"))
    if pa.types.is_timestamp(col.type) and col.type.tz is None:
        # (quality.rule_failures only takes date columns; here timestamps meet midnight-UTC bounds)
        return pc.cast(col, pa.timestamp(col.type.unit, tz="UTC"))
    return col  # anything else GX cannot compare with datetime bounds: it raises, we report it


def _to_series(col: pa.ChunkedArray) -> pd.Series:
    import pandas as pd

    if pa.types.is_timestamp(col.type) and col.type.tz is not None:
        return col.to_pandas()  # numpy datetime64[unit, UTC]: GX's vectorised between-path
    # Arrow-backed (zero copy); regexes then run in RE2 via pyarrow, like the row checks
    return pd.Series(pd.arrays.ArrowExtensionArray(col), copy=False)


#: how a second copy of a column is labelled in the frame (and so in GX's results and data docs)
_VIEW_LABELS = {"value": "blank=null", "date": "utc", "key": "raw", "key1": "raw,null=sentinel"}


@dataclass(frozen=True)
class _Plan:
    frame: pd.DataFrame
    columns: dict[str, list[str]]  # rule name -> frame column(s) its expectation reads


def gx_frame(table: pa.Table, rules: list[Rule]) -> _Plan:
    """The pandas frame GX validates: only the columns the rules touch, shaped per rule kind.

    A column that needs two different views (say, blank-as-null for ``required`` and raw for
    ``unique``) appears twice, the second time as ``<column>[<view>]``, e.g. ``company_name[raw]``;
    when both views hold the same values it appears once. A rule on a column the table lacks gets
    a name that is not in the frame, so GX reports the missing column as an exception (it is never
    silently skipped).
    """
    import pandas as pd

    arrays: dict[str, pa.ChunkedArray] = {}
    names_of: dict[str, list[str]] = {}  # source column -> frame columns holding a view of it
    views: dict[tuple[str, str], str] = {}
    columns: dict[str, list[str]] = {}

    def frame_column(column: str, view: str, single_key: bool = False) -> str:
        if column not in table.column_names:
            return column
        view_id = "key1" if view == "key" and single_key else view
        if (column, view_id) in views:
            return views[(column, view_id)]
        raw = table[column]
        if view == "value":
            data = _value_view(raw)
        elif view == "date":
            data = _date_view(raw)
        else:
            data = _key_view(raw, single_key)
        taken = names_of.setdefault(column, [])
        same = [n for n in taken if arrays[n].type == data.type and arrays[n].equals(data)]
        if same:
            name = same[0]  # identical values: share the column
        else:
            name = column if not taken else f"{column}[{_VIEW_LABELS[view_id]}]"
            while name in arrays or (name != column and name in table.column_names):
                name = f"{name}'"  # never shadow another column of the table
            arrays[name] = data
            taken.append(name)
        views[(column, view_id)] = name
        return name

    for rule in rules:
        if rule.kind == "unique":
            columns[rule.name] = [frame_column(c, "key", len(rule.columns) == 1) for c in rule.columns]
        elif rule.kind == "date_between":
            columns[rule.name] = [frame_column(rule.column, "date")]
        else:
            columns[rule.name] = [frame_column(rule.column, "value")]

    frame = pd.DataFrame({name: _to_series(data) for name, data in arrays.items()}, copy=False)
    return _Plan(frame=frame, columns=columns)


# ------------------------------------------------------------------------------------------------
# Rules -> suite
# ------------------------------------------------------------------------------------------------

#: RE2's (ASCII-only) meaning of the class escapes Python's ``re`` reads as Unicode classes
_RE2_CLASSES = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}


def gx_regex(pattern: str) -> str:
    """``pattern`` with ``\\d``, ``\\w``, ``\\s`` (and negations) spelled as RE2's ASCII classes.

    pandas runs a regex in RE2 (like the row checks) unless the pattern holds ``\\d``/``\\w``
    and the data is non-ASCII, or holds ``\\s`` at all: then it switches to Python's ``re``,
    where ``\\d`` also matches ``２`` and ``\\s`` also matches ``\\u3000``. Spelling the classes
    out keeps pandas on RE2, so GX and the row checks agree on Chinese text too. A negated class
    escape inside ``[...]`` cannot be spelled out and is left as written.
    """
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            escape = pattern[i + 1]
            body = _RE2_CLASSES.get(escape.lower())
            if body is None or (in_class and escape.isupper()):
                out.append(pattern[i : i + 2])
            elif in_class:
                out.append(body)
            else:
                out.append(f"[{body}]" if escape.islower() else f"[^{body}]")
            i += 2
            continue
        out.append(ch)
        i += 1
        if ch == "[" and not in_class:
            in_class = True
            for literal in ("^", "]"):  # "[^" and a leading "]" do not close the class
                if pattern.startswith(literal, i):
                    out.append(literal)
                    i += 1
        elif ch == "]" and in_class:
            in_class = False
    return "".join(out)


def _midnight_utc(day: date | None) -> datetime | None:
    if day is None:
        return None
    if isinstance(day, datetime):
        return day if day.tzinfo else day.replace(tzinfo=UTC)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _expectation(rule: Rule, frame_columns: list[str] | None = None) -> Any:
    import great_expectations.expectations as gxe

    cols = frame_columns or list(rule.columns)
    meta = {
        "rule": rule.name,
        "kind": rule.kind,
        "columns": list(rule.columns),
        "description": rule.description,
    }
    if rule.pattern is not None:
        meta["pattern"] = rule.pattern  # as declared; the expectation's regex is its RE2-faithful spelling
    if rule.kind == "required":
        return gxe.ExpectColumnValuesToNotBeNull(column=cols[0], meta=meta)
    if rule.kind == "matches":
        return gxe.ExpectColumnValuesToMatchRegex(
            column=cols[0], regex=gx_regex(rule.pattern or ""), meta=meta
        )
    if rule.kind == "in_set":
        return gxe.ExpectColumnValuesToBeInSet(column=cols[0], value_set=list(rule.values or ()), meta=meta)
    if rule.kind == "date_between":
        return gxe.ExpectColumnValuesToBeBetween(
            column=cols[0],
            min_value=_midnight_utc(rule.min_date),
            max_value=_midnight_utc(rule.max_date),
            meta=meta,
        )
    if rule.kind == "unique":
        if len(cols) == 1:
            return gxe.ExpectColumnValuesToBeUnique(column=cols[0], meta=meta)
        # "never": rows with missing key parts still count, as in the row checks' group_by
        return gxe.ExpectCompoundColumnsToBeUnique(column_list=cols, ignore_row_if="never", meta=meta)
    raise ValueError(f"rule {rule.name!r}: unknown kind {rule.kind!r}")


def build_suite(
    rules: list[Rule], name: str, frame_columns: Mapping[str, list[str]] | None = None
) -> gx.ExpectationSuite:
    """One GX expectation per rule, in rule order, each with ``meta["rule"]`` = the rule name.

    ``frame_columns`` (rule name -> column names, from :func:`gx_frame`) points expectations at
    the shaped copies of their columns; without it they read the rules' own columns.
    """
    import great_expectations as gx

    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"suite {name!r}: rule names must be unique, got {names}")
    suite = gx.ExpectationSuite(name=name)
    for rule in rules:
        suite.add_expectation(_expectation(rule, (frame_columns or {}).get(rule.name)))
    return suite


# ------------------------------------------------------------------------------------------------
# Third-party log lines: quiet unless verbose
# ------------------------------------------------------------------------------------------------

_verbose: bool | None = None  # None: follow FILINGLAKE_VERBOSE


def set_verbose(verbose: bool | None) -> None:
    """Show (True) or hide (False) GX's INFO log lines; None goes back to ``FILINGLAKE_VERBOSE``.

    The CLI's ``-v`` calls ``set_verbose(True)``; Airflow workers set ``FILINGLAKE_VERBOSE=1``.
    """
    global _verbose
    _verbose = verbose
    quiet_third_party_logs()


def is_verbose() -> bool:
    """The explicit :func:`set_verbose` switch, else ``FILINGLAKE_VERBOSE`` (1/true/yes/on)."""
    if _verbose is not None:
        return _verbose
    return os.environ.get(VERBOSE_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


def quiet_third_party_logs() -> None:
    """Raise :data:`QUIET_LOGGERS` and every descendant that set its own level to WARNING (or, when
    verbose, let them inherit the root's level again). Cheap: runs before each validation."""
    level = logging.NOTSET if is_verbose() else logging.WARNING
    prefixes = tuple(f"{name}." for name in QUIET_LOGGERS)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(level)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.startswith(prefixes) and logger.level != logging.NOTSET:
            logger.setLevel(level)


# ------------------------------------------------------------------------------------------------
# One GX session per process
# ------------------------------------------------------------------------------------------------


@dataclass
class GxSession:
    """This process's ephemeral GX context, its one batch definition and the suites built so far."""

    context: Any
    batch_definition: Any
    suites: OrderedDict[tuple[Any, ...], Any] = field(default_factory=OrderedDict)

    def suite_for(self, rules: list[Rule], frame_columns: Mapping[str, list[str]]) -> gx.ExpectationSuite:
        """The suite for these rules reading these frame columns: built on first use, then cached."""
        key = (tuple(rules), tuple((name, tuple(cols)) for name, cols in sorted(frame_columns.items())))
        suite = self.suites.get(key)
        if suite is None:
            digest = hashlib.sha256(repr(key).encode()).hexdigest()[:12]
            suite = build_suite(rules, f"filinglake.rules.{digest}", frame_columns)
            self.suites[key] = suite
            while len(self.suites) > SUITE_CACHE_SIZE:
                self.suites.popitem(last=False)
        else:
            self.suites.move_to_end(key)
        return suite


_session: GxSession | None = None
_session_lock = threading.Lock()


def gx_session() -> GxSession:
    """The process's GX session, built on first call (imports GX, with its loggers quieted first)."""
    global _session
    with _session_lock:
        if _session is None:
            quiet_third_party_logs()  # before the import: GX logs ~200 INFO lines while importing
            with warnings.catch_warnings():
                if not is_verbose():  # GX's own modules import the deprecated sre_constants/sre_parse
                    warnings.simplefilter("ignore", DeprecationWarning)
                import great_expectations as gx
                from great_expectations.data_context.types.base import ProgressBarsConfig

            quiet_third_party_logs()  # again: GX pins some of its module loggers to INFO at import
            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars on stderr
            batch_definition = (
                context.data_sources.add_pandas(name="filinglake")
                .add_dataframe_asset(name="rows")
                .add_batch_definition_whole_dataframe(name="whole")
            )
            _session = GxSession(context=context, batch_definition=batch_definition)
        return _session


# ------------------------------------------------------------------------------------------------
# Run and compare
# ------------------------------------------------------------------------------------------------


def _exception_message(info: Any) -> str | None:
    """GX 1.x puts either one {raised_exception, exception_message} dict or one per metric here."""
    if not info:
        return None
    if "raised_exception" in info:
        if not info.get("raised_exception"):
            return None
        return " ".join(str(info.get("exception_message") or "raised (no message)").split())  # one line
    messages = [_exception_message(v) for v in info.values() if isinstance(v, Mapping)]
    found = [m for m in messages if m]
    return "; ".join(dict.fromkeys(found)) or None


@contextmanager
def _without_batch_fingerprint() -> Iterator[None]:
    """Skip GX's md5-of-the-whole-frame batch marker while validating.

    The fingerprint hashes every value of every column: ~0.2 s of ~0.5 s on 200k SEC rows, and
    the record identifies its input by storage keys anyway. GX computes it only for frames smaller
    than ``HASH_THRESHOLD`` bytes; a threshold of 0 turns it off. If a GX release drops the
    constant, validation still works and just computes the fingerprint.
    """
    from great_expectations.execution_engine import pandas_execution_engine as engine

    if not hasattr(engine, "HASH_THRESHOLD"):
        yield
        return
    saved = engine.HASH_THRESHOLD
    engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = saved


def run_suite(table: pa.Table, rules: list[Rule], suite_name: str) -> tuple[dict[str, dict[str, Any]], Any]:
    """Run the rules as a GX suite on ``table``: ({rule: {gx_unexpected, exception}}, GX result).

    ``suite_name`` names the run in the result (``result.suite_name``); the suite itself is shared
    by every table validated with the same rules in this process.
    """
    plan = gx_frame(table, rules)
    session = gx_session()
    quiet_third_party_logs()  # cheap, and robust to a logging set-up that ran after the import
    suite = session.suite_for(rules, plan.columns)
    with warnings.catch_warnings(), _without_batch_fingerprint():
        # pandas' str.contains warns for every pattern with a group, e.g. "(/|$)"; we want booleans
        warnings.filterwarnings("ignore", "This pattern is interpreted as a regular expression")
        batch = session.batch_definition.get_batch(batch_parameters={"dataframe": plan.frame})
        result = batch.validate(suite, result_format=RESULT_FORMAT)
    result.suite_name = suite_name
    outcome: dict[str, dict[str, Any]] = {}
    for item in result.results:
        rule_name = (item.expectation_config.meta or {}).get("rule")
        exception = _exception_message(item.exception_info)
        unexpected = (item.result or {}).get("unexpected_count")
        if exception is None and unexpected is None and not item.success:
            exception = "GX returned no unexpected_count"
        outcome[rule_name] = {
            "gx_unexpected": None if unexpected is None else int(unexpected),
            "exception": exception,
        }
    return outcome, result


def row_check_counts(table: pa.Table, rules: list[Rule]) -> dict[str, int]:
    """Per-rule failure counts as the row checks compute them."""
    return {rule.name: int(pc.sum(rule_failures(table, rule)).as_py() or 0) for rule in rules}


def compare(
    rules: list[Rule], gx_outcome: Mapping[str, Mapping[str, Any]], expected: Mapping[str, int | None]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Join GX's outcome with the row checks' counts; list every disagreement as one short phrase."""
    per_rule: dict[str, dict[str, Any]] = {}
    mismatches: list[str] = []
    for rule in rules:
        got = gx_outcome.get(rule.name, {"gx_unexpected": None, "exception": "no GX result for this rule"})
        want = expected.get(rule.name)
        per_rule[rule.name] = {
            "gx_unexpected": got["gx_unexpected"],
            "row_checks": want,
            "exception": got["exception"],
        }
        if got["exception"]:
            mismatches.append(f"{rule.name}: GX raised ({got['exception']}), row checks {want}")
        elif rule.name not in expected:
            mismatches.append(f"{rule.name}: not in the row-check counts, GX {got['gx_unexpected']}")
        elif got["gx_unexpected"] != want:
            mismatches.append(f"{rule.name}: GX {got['gx_unexpected']} vs row checks {want}")
    for name in expected:
        if name not in per_rule:
            mismatches.append(
                f"{name}: counted by the row checks ({expected[name]}) but not a rule of the suite"
            )
    return per_rule, mismatches


def _describe(result: Any, rules: list[Rule]) -> dict[str, Any]:
    """GX's ``describe_dict()`` in rule order, with each expectation's rule name and exception.

    ``describe_dict`` drops both ``meta`` and ``exception_info`` (the record needs them) and lists
    expectations grouped by column, not in suite order.
    """
    described = result.describe_dict()
    entries = described.get("expectations", [])
    for entry, item in zip(entries, result.results, strict=False):
        entry["rule"] = (item.expectation_config.meta or {}).get("rule")
        entry["exception"] = _exception_message(item.exception_info)
    order = {rule.name: i for i, rule in enumerate(rules)}
    entries.sort(key=lambda entry: order.get(entry["rule"], len(order)))
    return described


def validate_table(
    table: pa.Table,
    rules: list[Rule],
    suite_name: str,
    expected_failures: Mapping[str, int] | None = None,
) -> ValidationReport:
    """Run the GX suite on ``table`` and compare with ``expected_failures`` (rule name -> count).

    Without ``expected_failures`` the row checks run on the same table
    (:func:`filinglake.ingest.row_checks.rule_failures`): the report then says whether both executors agree
    rule by rule. Never raises for a disagreement: see :meth:`ValidationReport.raise_for_mismatch`.
    """
    started = time.perf_counter()
    if expected_failures is None:
        expected: dict[str, int | None] = dict(row_check_counts(table, rules))
    else:
        expected = dict(expected_failures)
    outcome, result = run_suite(table, rules, suite_name)
    per_rule, mismatches = compare(rules, outcome, expected)
    return ValidationReport(
        suite=suite_name,
        success=not mismatches,
        gx_success=bool(result.success),
        rows=table.num_rows,
        per_rule=per_rule,
        mismatches=mismatches,
        seconds=round(time.perf_counter() - started, 4),
        gx_result=_describe(result, rules),
    )


# ------------------------------------------------------------------------------------------------
# A written partition
# ------------------------------------------------------------------------------------------------


def data_docs_key(source: str, partition: str) -> str:
    """The single-page Data Docs HTML, beside the report JSON."""
    return f"{keys.partition_prefix(keys.VALIDATION_LAYER, source, partition)}/{DATA_DOCS_NAME}"


def _read_layer(storage: Storage, manifest: dict, layer: manifests.Layer) -> pa.Table:
    """The committed rows of one layer, in FILINGS_SCHEMA (drops failed_checks)."""
    try:
        table = manifests.read_layer(storage, manifest, layer)
    except manifests.MissingDataFile as exc:
        raise ValidationMismatch(f"{layer} rows missing: {exc}") from None
    return table.select(FILINGS_SCHEMA.names).cast(FILINGS_SCHEMA)


def validate_partition(storage: Storage, source: str, partition: str, rules: list[Rule]) -> ValidationReport:
    """Validate the written rows of one partition against its manifest; store the record.

    Reads clean + quarantine (without ``failed_checks``), runs GX on their union, compares each
    rule's unexpected count with ``manifest["failures"]`` and the row counts with
    ``rows_written`` / ``quarantined``. Writes the report JSON at :func:`storage.validation_key`
    and the data-docs page (:mod:`filinglake.ingest.data_docs`) at :func:`data_docs_key`, logs one
    line with the verdict, then raises :class:`ValidationMismatch` if
    anything disagreed or an expectation raised.
    """
    manifest_at = keys.manifest_key(source, partition)
    manifest = manifests.read_manifest(storage, source, partition)
    if manifest is None:
        raise ValidationMismatch(
            f"{source}/{partition}: no manifest at {manifest_at}: nothing was written to validate"
        )
    clean = _read_layer(storage, manifest, "clean")
    quarantine = _read_layer(storage, manifest, "quarantine")
    rows = pa.concat_tables([clean, quarantine])

    suite_name = f"{keys.safe_name(source)}.{keys.safe_name(partition)}"
    report = validate_table(rows, rules, suite_name, manifest.get("failures") or {})
    for what, table, claimed in (
        ("rows_written", clean, manifest.get("rows_written")),
        ("quarantined", quarantine, manifest.get("quarantined")),
    ):
        if claimed != table.num_rows:
            report.mismatches.append(f"{what}: {table.num_rows} rows stored vs manifest {claimed}")
    listed = manifest.get("rules")
    if listed is not None and list(listed) != [r.name for r in rules]:
        report.mismatches.append(f"rules: manifest lists {list(listed)}, suite has {[r.name for r in rules]}")
    report.success = not report.mismatches
    report.source, report.partition = source, partition
    report.key = keys.validation_key(source, partition)
    report.data_docs_key = data_docs_key(source, partition)

    page = render_data_docs(report, quarantine).encode("utf-8")
    storage.put_bytes(report.data_docs_key, page, content_type="text/html; charset=utf-8")
    record = report.to_dict(include_gx=True)
    record["validated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    record["manifest_key"] = manifest_at
    storage.put_json(report.key, record)
    log.info("validated %s (GX %.2f s); validation record %s", report.summary(), report.seconds, report.key)
    report.raise_for_mismatch()
    return report
