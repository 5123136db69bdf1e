"""`flask dns check`: run the validator on any domains from the command line.

Exit status: 0 when no domain has an error finding, 1 when one does, 2 for bad usage (no
domains, an unreadable --file, a bad --nameserver, or a name that is not a domain; the other
domains are still checked and printed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import click
from flask import current_app
from flask.cli import AppGroup

from app.adapters.dns import DnsConfig, parse_nameservers
from app.core.findings import ERROR
from app.core.names import DomainNameError, normalise_domain
from app.monitoring.engine import CheckTarget, check_many
from app.monitoring.validator import ValidationReport, by_severity

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2

dns_cli = AppGroup("dns", help="Check domains' DNS records.")


@dns_cli.command("check")
@click.argument("domains", nargs=-1)
@click.option("--file", "domain_file", type=click.Path(dir_okay=False),
              help="A file with one domain per line; blank lines and # comments are skipped.")
@click.option("--nameserver", "nameservers", multiple=True, metavar="HOST[:PORT]",
              help="Ask this server instead of DNS_NAMESERVERS / the system resolver.")
@click.option("--selector", "selectors", multiple=True, metavar="S",
              help="A DKIM selector to check; without one, DKIM is not checked.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--concurrency", default=50, show_default=True, type=click.IntRange(1, 1000),
              help="Domains checked at once.")
def check(domains: tuple[str, ...], domain_file: str | None, nameservers: tuple[str, ...],
          selectors: tuple[str, ...], as_json: bool, concurrency: int) -> None:
    """Check DOMAIN... (managed or not) for SPF, DKIM and DMARC problems."""
    names = [*domains, *_read_domain_file(domain_file)]
    if not names:
        raise click.UsageError("Give at least one DOMAIN or --file.")
    dns_config = _dns_config(nameservers)
    valid, rejected = _normalised(names)
    targets = (CheckTarget(index, domain, {"selectors": list(selectors)})
               for index, domain in enumerate(valid))
    finished = check_many(targets, dns_config=dns_config, concurrency=concurrency)
    reports = [report for _, report in sorted(finished, key=lambda done: done[0].key)]
    if as_json:
        click.echo(json.dumps([*(report.to_dict() for report in reports),
                               *(_rejected_dict(raw, error) for raw, error in rejected)],
                              indent=2))
    else:
        _print_table(reports, rejected, checked_dkim=bool(selectors))
    click.get_current_context().exit(_exit_code(reports, rejected))


def _read_domain_file(path: str | None) -> list[str]:
    if path is None:
        return []
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise click.BadParameter(f"cannot read {path}: {error}", param_hint="--file") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _dns_config(nameservers: tuple[str, ...]) -> DnsConfig:
    try:
        servers = [server for text in nameservers for server in parse_nameservers(text)]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--nameserver") from None
    return DnsConfig.from_settings(current_app.config, servers)


def _normalised(names: Iterable[str]) -> tuple[list[str], list[tuple[str, DomainNameError]]]:
    valid, rejected = [], []
    for raw in names:
        try:
            domain = normalise_domain(raw)
        except DomainNameError as error:
            rejected.append((raw, error))
            continue
        if domain not in valid:
            valid.append(domain)
    return valid, rejected


def _rejected_dict(raw: str, error: DomainNameError) -> dict:
    return {"domain": raw, "score": None, "findings": [],
            "error": {"code": error.code, "message": error.message}}


def _print_table(reports: list[ValidationReport], rejected: list[tuple[str, DomainNameError]],
                 *, checked_dkim: bool) -> None:
    for report in reports:
        click.echo(f"{report.domain}  score {report.health.score} ({report.health.band})")
        findings = by_severity(report.findings)
        if not findings:
            click.echo("  no findings")
        for found in findings:
            click.echo(f"  {found.severity:<8} {found.code}  {found.record_host} "
                       f"{found.record_type}")
            click.echo(f"           {found.message}")
            if found.fix:
                click.echo(f"           fix: {found.fix}")
    for raw, error in rejected:
        click.echo(f"{raw}  not checked: {error.message}", err=True)
    if not checked_dkim and reports:
        click.echo("DKIM was not checked: pass --selector S for each selector to check.",
                   err=True)


def _exit_code(reports: list[ValidationReport],
               rejected: list[tuple[str, DomainNameError]]) -> int:
    if rejected:
        return EXIT_USAGE
    if any(found.severity == ERROR for report in reports for found in report.findings):
        return EXIT_ERRORS
    return EXIT_OK
