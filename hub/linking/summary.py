"""How a linking run is shown to people: by the command line and the demo."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from hub.context import Hub
from hub.linking.quality import Measured, PairScores, measure
from hub.linking.run import LINK_AT, REVIEW_FROM, LinkReport, link

STAGES = ("load keys", "deterministic", "decrypt", "train", "score", "cluster", "write")


def report_table(report: LinkReport) -> Table:
    """Counts by method and the model's own estimate of its quality."""
    table = Table("", "count", title=f"Linking run {report.run_id} ({report.mode})", show_header=False)
    rows = (
        ("records", report.records),
        ("records compared this run", report.records_in_play),
        ("persons", report.persons),
        ("households", report.households),
        ("joined by the same valid citizen ID (deterministic)", report.deterministic_joins),
        (f"joined by the model at p >= {LINK_AT} (probabilistic)", report.probabilistic_joins),
        ("joined by a person's decision (review)", report.decided_joins),
        (f"pairs for review (p {REVIEW_FROM}-{LINK_AT}, ID conflicts, refused joins), open", report.review_open),
        ("  of which new this run", report.review_new),
        ("person ids changed / household ids changed", f"{report.person_ids_changed} / {report.household_ids_changed}"),
        ("ids retired (redirected to the id that absorbed them)", report.ids_retired),
        ("estimated precision of probabilistic joins", f"{report.estimated_precision:.4f}"),
    )
    for name, value in rows:
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    if report.records_without_candidate_keys:
        table.add_row("[yellow]records ingested before linking existed: no ID variants until their source "
                      "delivers them again[/]",
                      f"{report.records_without_candidate_keys:,}")
    return table


def _scores(name: str, s: PairScores) -> tuple[str, ...]:
    return (name, f"{s.precision:.4f}", f"{s.recall:.4f}", f"{s.f1:.4f}", f"{s.false_positive:,}",
            f"{s.false_negative:,}")


def measured_table(measured: Measured) -> Table:
    """Pairwise precision and recall against a labelled truth."""
    table = Table("pairs of records", "precision", "recall", "F1", "false links", "missed links",
                  title="Measured against the truth file")
    table.add_row(*_scores("same person", measured.persons))
    table.add_row(*_scores("same person, a record without valid ID", measured.persons_without_id))
    table.add_row(*_scores("same household", measured.households))
    return table


def link_and_show(hub: Hub, console: Console, *, actor: str, full: bool = False,
                  truth: Path | None = None) -> LinkReport:
    """Run :func:`hub.linking.run.link` with a progress bar, print its counts and, given a labelled
    ``truth`` file, the measured quality."""
    from hub.cli import progress_bar

    with progress_bar(console) as progress:
        task = progress.add_task("linking", total=len(STAGES))
        report = link(hub, actor=actor, full=full,
                      progress=lambda stage: progress.update(task, advance=1, description=f"linking: {stage}"))
        progress.update(task, completed=len(STAGES))
    console.print(report_table(report))
    if truth is not None:
        with hub.engine.connect() as conn:
            console.print(measured_table(measure(conn, truth)))
    return report
