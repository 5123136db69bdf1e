"""`flask tracking ...`: certificates for a TLS terminator."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask.cli import AppGroup

from app.tracking import service

tracking_cli = AppGroup("tracking", help="Custom tracking hosts and their certificates.")


@tracking_cli.command("export-certs")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export_certs(directory: Path) -> None:
    """Write <host>.pem (chain, then private key; mode 0600) for every host serving HTTPS.

    For nginx, Caddy or HAProxy in front of the tracking hosts; run it after each renewal
    sweep (hourly). Files are replaced whole, so a reading proxy never sees half a file.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    written, failed = 0, 0
    for bundle in service.certificate_bundles():
        if bundle.pem is None:
            click.echo(f"{bundle.hostname}: not written, its key could not be read from the key "
                       f"store ({bundle.problem}); its previous file, if any, is left as it was.",
                       err=True)
            failed += 1
            continue
        target = directory / f"{bundle.hostname}.pem"
        partial = directory / f".{bundle.hostname}.pem.tmp"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(bundle.pem)
        os.replace(partial, target)
        written += 1
    click.echo(f"Wrote {written} certificate{'s' if written != 1 else ''} to {directory}.")
    if failed:
        raise SystemExit(1)
