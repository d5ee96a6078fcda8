"""Probabilistic matching with Splink: link records and thin profiles that share no identifier.

After the deterministic graph, some records still belong to nobody (a cash receipt with a name and a
postcode, a receipt whose only email was a shared household address) and some persons are thin: made
only of till identifiers (a card never used online, an email with a typo). Splink (Fellegi-Sunter)
scores pairs of *units* — a deterministic person, or an unowned record — on their personal details:
email, phone, first and last name, postcode. u probabilities come from random sampling, m
probabilities from expectation maximisation, the prior from deterministic rules; the model is saved
as JSON and can be pinned (`model_file`) so reruns and engines score identically.

Which links are accepted: a *strong* unit holds a user_id, loyalty number or an online id; a weak
one does not. Strong pairs are never compared (the deterministic graph already decided them), and
each weak unit keeps only its single most probable link above the threshold — so a chain of weak
links can never join two strong persons. Accepted links become graph edges with source
`probabilistic` and their probability, and go through merge protection like any other edge.

Comparisons use exact match, Levenshtein distance and prefixes only: functions DuckDB and Spark both
have natively, so Splink needs no extra jar on Spark.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from ibis.expr.types import Table
from pydantic import BaseModel, ConfigDict, Field

from footfall.identity.engine import bind
from footfall.identity.identifiers import RECORD_TYPE

DetailColumn = Literal["email", "phone", "first_name", "last_name", "postcode"]
DETAIL_COLUMNS: tuple[str, ...] = ("email", "phone", "first_name", "last_name", "postcode")
NOT_BOTH_STRONG = "(l.strong + r.strong) < 2"


class ComparisonSpec(BaseModel):
    """One Splink comparison: levels null → exact → Levenshtein ≤ each distance → same first n
    characters (each prefix length) → anything else."""

    model_config = ConfigDict(extra="forbid")
    column: DetailColumn
    levenshtein: list[int] = Field(default_factory=list)
    prefixes: list[int] = Field(default_factory=list)


def _default_comparisons() -> list[ComparisonSpec]:
    return [
        ComparisonSpec(column="email", levenshtein=[1, 2]),
        ComparisonSpec(column="phone", levenshtein=[1]),
        ComparisonSpec(column="first_name", levenshtein=[1, 2]),
        ComparisonSpec(column="last_name", levenshtein=[1, 2]),
        ComparisonSpec(column="postcode", prefixes=[4]),
    ]


class ProbabilisticSettings(BaseModel):
    """The Splink model as data (the `[probabilistic]` table of `identity.toml`).

    Blocking rules are Splink SQL over `l.` and `r.` columns; Footfall adds "not both strong" to each.
    """

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    threshold: float = Field(default=0.9, gt=0, lt=1)
    comparisons: list[ComparisonSpec] = Field(default_factory=_default_comparisons)
    blocking_rules: list[str] = Field(
        default_factory=lambda: [
            "l.email = r.email",
            "l.phone = r.phone",
            # A full name alone is a quadratic block (a common name recurs in proportion to the data:
            # 83M pairs at 1M receipts + 1M profiles); the postcode's first three characters keep it
            # about one pair per person.
            "l.first_name = r.first_name and l.last_name = r.last_name"
            " and substr(l.postcode, 1, 3) = substr(r.postcode, 1, 3)",
            "l.postcode = r.postcode and l.last_name = r.last_name",
            # Emails with one typo: each rule keeps a different part of the address exact, and none
            # blocks on a common prefix or a whole domain alone (those blocks grow quadratically:
            # `right(email, 12)` is all of @hotmail.com; 37.7M pairs for 25k receipts + 25k profiles).
            "substr(l.email, 1, 5) = substr(r.email, 1, 5)"
            " and right(split_part(l.email, '@', 1), 3) = right(split_part(r.email, '@', 1), 3)",
            "right(split_part(l.email, '@', 1), 6) = right(split_part(r.email, '@', 1), 6)"
            " and split_part(l.email, '@', 2) = split_part(r.email, '@', 2)",
            "split_part(l.email, '@', 1) = split_part(r.email, '@', 1)",
        ]
    )
    # Exact email or phone agreement is rare between units: the deterministic graph merged those.
    training_blocking_rules: list[str] = Field(
        default_factory=lambda: [
            "l.postcode = r.postcode",
            "l.first_name = r.first_name and l.last_name = r.last_name",
            "substr(l.email, 1, 5) = substr(r.email, 1, 5)"
            " and right(split_part(l.email, '@', 1), 3) = right(split_part(r.email, '@', 1), 3)",
        ]
    )
    prior_rules: list[str] = Field(
        default_factory=lambda: [
            "l.first_name = r.first_name and l.last_name = r.last_name and l.postcode = r.postcode",
            "substr(l.email, 1, 5) = substr(r.email, 1, 5)"
            " and right(split_part(l.email, '@', 1), 3) = right(split_part(r.email, '@', 1), 3)"
            " and levenshtein(l.email, r.email) <= 1",
        ]
    )
    prior_recall: float = Field(default=0.6, gt=0, le=1)
    u_max_pairs: float = Field(default=1e6, gt=0)
    # Each EM session scores at most about this many pairs (Splink samples records by hash to get
    # there), so training time and memory stop growing with the data once its blocks pass it.
    em_max_pairs: float = Field(default=2e6, gt=0)
    # Splink's own DuckDB (DuckDB engine): past this it spills to a temporary directory instead of
    # growing (unbounded, DuckDB takes 80% of the machine: 19.6 GiB here at 1M + 1M units).
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int | None = None  # None: DuckDB's default (all cores)
    seed: int = 42
    # Identifier types that make a unit strong (never linked to another strong unit).
    strong_types: list[str] = Field(default_factory=lambda: ["user_id", "loyalty_id", "device_id", "anonymous_id"])
    # A saved model (JSON) to score with instead of training; relative paths are in the project.
    model_file: str | None = None


def _comparison(spec: ComparisonSpec) -> Any:
    """A Splink comparison from a spec (Splink is imported lazily: it is heavy)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import ColumnExpression

    levels = [cll.NullLevel(spec.column), cll.ExactMatchLevel(spec.column)]
    levels += [cll.LevenshteinLevel(spec.column, d) for d in sorted(spec.levenshtein)]
    levels += [
        cll.ExactMatchLevel(ColumnExpression(spec.column).substr(1, n)).configure(label_for_charts=f"first {n} characters")
        for n in sorted(spec.prefixes, reverse=True)
    ]
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(comparison_levels=levels, output_column_name=spec.column)


def _not_both_strong(rule: str) -> str:
    """A blocking rule restricted to pairs Footfall may link (at least one side weak)."""
    return f"({rule}) and {NOT_BOTH_STRONG}"


def splink_settings(settings: ProbabilisticSettings) -> Any:
    """Splink's SettingsCreator for the configured comparisons and blocking rules."""
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[_comparison(spec) for spec in settings.comparisons],
        blocking_rules_to_generate_predictions=[_not_both_strong(rule) for rule in settings.blocking_rules],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
        additional_columns_to_retain=["strong"],  # predictions say which side is weak: no extra query
    )


def matching_units(details: Table, owners: Table, strong_components: Table) -> Table:
    """One row per unit to match: a person (its component) or an unowned record (`record:<message_id>`).

    details: record_details(); owners: message_id, owner; strong_components: component.
    Each detail of a person is the value its records carry most often (ties: the smallest), found
    in one pass: details are unpivoted to (unit, column, value), counted, ranked and pivoted back.
    """
    owned = owners.select(owned_id=owners.message_id, owner=owners.owner)
    joined = details.left_join(owned, details.message_id == owned.owned_id)
    unit = ibis.coalesce(joined.owner, ibis.literal(f"{RECORD_TYPE}:").concat(joined.message_id))
    long = ibis.union(
        *(joined.filter(joined[c].notnull()).select(unique_id=unit, column=ibis.literal(c), value=joined[c]) for c in DETAIL_COLUMNS),
        distinct=False,
    )
    counted = long.group_by(["unique_id", "column", "value"]).aggregate(n=long.count())
    ranked = counted.mutate(order=ibis.row_number().over(group_by=["unique_id", "column"], order_by=[ibis.desc("n"), "value"]))
    best = ranked.filter(ranked.order == 0)
    units = best.group_by("unique_id").aggregate(
        **{c: best.value.max(where=best.column == c) for c in DETAIL_COLUMNS}
    )
    strong = strong_components.select(strong_id=strong_components.component, is_strong=ibis.literal(1))
    units = units.left_join(strong, units.unique_id == strong.strong_id)
    return units.select("unique_id", *DETAIL_COLUMNS, strong=ibis.coalesce(units.is_strong, 0))


MIN_TRAINING_UNITS = 50  # below this, EM has too few pairs to estimate anything (pin a model instead)
_EMPTY_LINKS = pa.table({"left": pa.array([], pa.string()), "right": pa.array([], pa.string()),
                         "probability": pa.array([], pa.float64())})


@dataclass
class Matches:
    """Accepted probabilistic links and the model that scored them (or why matching was skipped)."""

    links: pa.Table  # left, right, probability (left < right)
    model: dict[str, Any]
    units: int
    scored_pairs: int
    skipped: str | None = None


def splink_duckdb_connection(settings: ProbabilisticSettings, spill_dir: Path) -> Any:
    """An in-memory DuckDB connection for Splink, bounded by `duckdb_memory_limit`.

    An in-memory DuckDB has no temporary directory, so without one it cannot spill and a large
    blocking join or EM session simply grows; `spill_dir` gives it one.
    """
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
    con.execute(f"SET temp_directory = '{str(spill_dir).replace(chr(39), chr(39) * 2)}'")
    con.execute("SET preserve_insertion_order = false")  # lets large results stream and spill
    if settings.duckdb_threads:
        con.execute(f"SET threads = {int(settings.duckdb_threads)}")
    return con


class _DuckDBSplink:
    """Splink on its own in-memory DuckDB (memory-limited, spilling into the project directory): the
    units travel as Arrow (they are one row per person)."""

    dialect = "duckdb"

    def __init__(self, warehouse: Any, settings: ProbabilisticSettings) -> None:
        from splink import DuckDBAPI

        self._spill = tempfile.TemporaryDirectory(prefix=".splink-spill-", dir=warehouse.project.root)
        self._con = splink_duckdb_connection(settings, Path(self._spill.name))
        self.api = DuckDBAPI(self._con)

    def register(self, units: Table) -> Any:
        return self.api.register(units.to_pyarrow(), table_name=f"footfall_units_{uuid.uuid4().hex[:12]}")

    def close(self) -> None:
        self._con.close()
        self._spill.cleanup()


class _SparkSplink:
    """Splink on the warehouse's SparkSession: the units stay a Spark DataFrame."""

    dialect = "spark"

    def __init__(self, warehouse: Any, settings: ProbabilisticSettings) -> None:
        from splink import SparkAPI

        self.con = warehouse.con
        # "persist" needs no checkpoint directory; the comparisons need no jar (see the module docstring).
        self.api = SparkAPI(spark_session=warehouse.con._session, break_lineage_method="persist",
                            register_udfs_automatically=False)

    def register(self, units: Table) -> Any:
        frame = self.con._session.sql(self.con.compile(units))
        return self.api.register(frame, table_name=f"footfall_units_{uuid.uuid4().hex[:12]}")

    def close(self) -> None:
        pass  # the session is the warehouse's


# Which Splink backend serves each engine (the engine itself is chosen by the warehouse).
SPLINK_BACKENDS = {"duckdb": _DuckDBSplink, "spark": _SparkSplink}


def portable_model(saved: dict[str, Any], settings: ProbabilisticSettings, dialect: str, origin: Path) -> dict[str, Any]:
    """A saved model's trained parameters on comparisons written for `dialect`.

    Splink saves each level's SQL in the dialect it was trained on (DuckDB quotes identifiers with
    double quotes, which Spark reads as string literals), so the comparisons are rebuilt from the
    settings for this engine and only the parameters (m, u per level; the prior) are carried over.
    """
    from footfall.errors import SettingsError

    fresh = splink_settings(settings).create_settings_dict(dialect)
    trained = {c["output_column_name"]: c["comparison_levels"] for c in saved.get("comparisons", [])}
    for comparison in fresh["comparisons"]:
        levels = trained.get(comparison["output_column_name"])
        if levels is None or len(levels) != len(comparison["comparison_levels"]):
            raise SettingsError(
                f"{origin}: the saved model's {comparison['output_column_name']!r} comparison does not match the "
                "configured comparisons; retrain (remove probabilistic.model_file) or restore the settings it was trained with"
            )
        for level, old in zip(comparison["comparison_levels"], levels):
            for parameter in ("m_probability", "u_probability"):
                if parameter in old:
                    level[parameter] = old[parameter]
    fresh["probability_two_random_records_match"] = saved.get("probability_two_random_records_match")
    return fresh


def _train(linker: Any, settings: ProbabilisticSettings) -> dict[str, float]:
    """Prior from deterministic rules, u by random sampling, m by EM over each training blocking rule.

    Returns the seconds of each phase (prior, u, one EM entry per training rule)."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal started
        now = time.perf_counter()
        seconds[phase] = now - started
        started = now

    prior_rules = [_not_both_strong(rule) for rule in settings.prior_rules]
    linker.training.estimate_probability_two_random_records_match(prior_rules, recall=settings.prior_recall)
    lap("prior")
    linker.training.estimate_u_using_random_sampling(max_pairs=settings.u_max_pairs, seed=settings.seed)
    lap("u")
    for index, rule in enumerate(settings.training_blocking_rules, 1):
        linker.training.estimate_parameters_using_expectation_maximisation(_not_both_strong(rule), max_pairs=settings.em_max_pairs)
        lap(f"em{index}")
    return seconds


def _best_link_per_weak_unit(pairs: pa.Table) -> pa.Table:
    """Each weak unit's single most probable partner (ties: the smallest id), as left < right edges."""
    best: dict[str, tuple[float, str]] = {}
    columns = ("unique_id_l", "unique_id_r", "strong_l", "strong_r", "match_probability")
    for a, b, strong_a, strong_b, p in zip(*(pairs[c].to_pylist() for c in columns)):
        for unit, other, strong in ((a, b, strong_a), (b, a, strong_b)):
            if strong:
                continue
            current = best.get(unit)
            if current is None or p > current[0] or (p == current[0] and other < current[1]):
                best[unit] = (p, other)
    edges = {(min(u, o), max(u, o)): p for u, (p, o) in best.items()}
    ordered = sorted(edges.items())
    return pa.table(
        {
            "left": pa.array([k[0] for k, _ in ordered], pa.string()),
            "right": pa.array([k[1] for k, _ in ordered], pa.string()),
            "probability": pa.array([p for _, p in ordered], pa.float64()),
        }
    )


def match_units(warehouse: Any, units: Table, settings: ProbabilisticSettings, model_path: Path | None) -> Matches:
    """Score unit pairs with Splink and keep each weak unit's best link above the threshold.

    model_path: where the trained model is written (None: not written). With `settings.model_file`
    the saved model scores directly and no training runs.
    """
    counts = units.aggregate(total=units.count(), weak=(units.strong == 0).cast("int64").sum()).to_pyarrow().to_pylist()[0]
    total, weak = int(counts["total"] or 0), int(counts["weak"] or 0)
    if weak == 0:
        return Matches(_EMPTY_LINKS, {}, total, 0, "every unit holds a strong identifier: nothing to link")
    if not settings.model_file and total < MIN_TRAINING_UNITS:
        return Matches(_EMPTY_LINKS, {}, total, 0, f"{total} units are too few to train a model (at least "
                       f"{MIN_TRAINING_UNITS}); set probabilistic.model_file to score with a saved model")
    logging.getLogger("splink").setLevel(logging.ERROR)
    backend = SPLINK_BACKENDS[warehouse.engine](warehouse, settings)
    try:
        return _score(warehouse, backend, units, settings, model_path, total)
    finally:
        backend.close()


def _score(warehouse: Any, backend: Any, units: Table, settings: ProbabilisticSettings, model_path: Path | None,
           total: int) -> Matches:
    """Train (or load) the model on `backend` and predict: the body of `match_units`."""
    from splink import Linker
    from splink.internals.exceptions import SplinkException

    frame = backend.register(units)
    if settings.model_file:
        model_file = Path(settings.model_file)
        if not model_file.is_absolute():
            model_file = warehouse.project.root / model_file
        saved = json.loads(model_file.read_text(encoding="utf-8"))
        linker = Linker(frame, portable_model(saved, settings, backend.dialect, model_file), log_level=None)
    else:
        linker = Linker(frame, splink_settings(settings), log_level=None)
        try:
            _train(linker, settings)
        except (SplinkException, ValueError) as exc:  # degenerate data: EM finds no pairs, the prior no matches
            return Matches(_EMPTY_LINKS, {}, total, 0, f"training failed: {str(exc).splitlines()[0]}")
    predictions = linker.inference.predict(threshold_match_probability=settings.threshold).as_pyarrow_table()
    predictions = predictions.select(["unique_id_l", "unique_id_r", "strong_l", "strong_r", "match_probability"])
    model = linker.misc.save_model_to_json()
    if model_path is not None:
        model_path.parent.mkdir(parents=True, exist_ok=True)
        model_path.write_text(json.dumps(model, indent=2), encoding="utf-8")
    return Matches(_best_link_per_weak_unit(predictions), model, total, predictions.num_rows)


def probabilistic_edges(warehouse: Any, matches: Matches, run_at: Any) -> Table:
    """Accepted links as identity edges: source `probabilistic`, their probability, inferred at `run_at`."""
    links = matches.links
    n = links.num_rows
    ts = pa.array([run_at] * n, pa.timestamp("us", tz="UTC"))
    message_ids = [
        key.partition(":")[2] if key.startswith(f"{RECORD_TYPE}:") else None
        for key in pc.if_else(pc.starts_with(links["left"], f"{RECORD_TYPE}:"), links["left"], links["right"]).to_pylist()
    ]
    table = pa.table(
        {
            "left": links["left"],
            "right": links["right"],
            "source": pa.array(["probabilistic"] * n, pa.string()),
            "message_id": pa.array(message_ids, pa.string()),
            "first_seen": ts,
            "last_seen": ts,
            "records": pa.array([1] * n, pa.int64()),
            "probability": links["probability"],
        }
    )
    return bind(warehouse, "_identity_probabilistic_links", table)
