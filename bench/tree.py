"""Domain tree benchmark: a workspace of 1,000 domains × 50 subdomains, first paint and expansion.

    .venv/bin/python bench/tree.py                  # writes bench/results/tree.md and .json
    .venv/bin/python bench/tree.py --requests 300   # fewer requests per measurement

What it does, and why:

1. Creates a scratch database `pm_bench_tree_<random>` and builds the schema with the real
   migrations (`flask db upgrade` in a subprocess), so the indexes are production's.
2. Seeds with COPY (seconds): the benchmark workspace with 1,000 top-level domains, each
   with 50 subdomains (51,000 domains), DNS health for every domain, tags on a tenth, a
   group on a fifth; and a second workspace of 5,000 domains, so every query must scope.
3. Serves the portal in-process (Flask test client, signed in as the workspace's owner) and
   times each request inside the WSGI call, from the environ handed to Flask to the last
   byte of the body: server time, without the client's. Each measurement gets warm-up
   requests, then `--requests` timed ones; it reports p50/p90/p99/max and the SQL
   statements per request. Measured: the first paint of /w/<slug>/tree/, the expansion of
   a domain with 50 subdomains (the HTMX fragment), and, for the record, the next page of
   top-level domains, a tag filter and a search that opens paths.
4. Unless `--no-index-variants`, it measures twice: on the schema as migrated, then after
   adding the index the tree wants (`ix_domains_workspace_parent_fqdn`) unless a migration
   already made it, so the report shows what the index is worth. Unless
   `--no-reputation-diagnostic`, it then measures first paint and expansion once more with
   the reputation summaries left out, to show what they cost (a diagnostic, not a result).
5. Writes the Markdown report and the raw figures, then drops the database, also when
   something fails or it is interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/12"
PASSWORD = "bench-password-2026"
SEED = 20261126
TOP_LEVEL = 1_000
SUBDOMAINS_EACH = 50
OTHER_WORKSPACE_DOMAINS = 5_000
TARGET_P99_MS = 50.0
TREE_INDEX = "ix_domains_workspace_parent_fqdn"
DIAGNOSTIC = "Diagnostic: the same, reputation summaries left out"
TREE_INDEX_SQL = f"CREATE INDEX {TREE_INDEX} ON domains (workspace_id, parent_id, fqdn)"
STATUSES = ("verified",) * 6 + ("pending", "verifying", "failed", "suspended")
TAGS = ("newsletters", "transactional", "eu", "us", "team a")
GROUPS = ("Marketing", "Sales", "Support")


class Interrupted(BaseException):
    """SIGTERM/SIGINT: unwind through the `finally` blocks so cleanup runs (a BaseException,
    so the app's error handler, which catches Exception, cannot swallow it)."""


def _on_signal(signum, frame):
    raise Interrupted(f"signal {signum}")


def database_url(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def create_database() -> str:
    name = f"pm_bench_tree_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                     .format(sql.Identifier(name)))


def app_environment(db_name: str, instance: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("FLASK_", "WERKZEUG_"))}
    env.update({"FLASK_APP": "app", "DATABASE_URL": database_url(db_name),
                "REDIS_URL": REDIS_URL, "SECRET_KEY": secrets.token_hex(32),
                "INSTANCE_PATH": str(instance), "PENGUINMAILS_ENV": "production",
                "SESSION_COOKIE_SECURE": "false"})
    return env


def migrate(env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{result.stdout}\n{result.stderr}")


# --- seeding ----------------------------------------------------------------------------

@dataclass
class Seeded:
    slug: str
    email: str
    domains: int
    expanded_id: int  # a top-level domain with SUBDOMAINS_EACH subdomains
    seconds: float


def _band(score: int) -> str:
    return "healthy" if score >= 80 else "warning" if score >= 50 else "critical"


def seed(db_name: str) -> Seeded:
    from app.auth.passwords import hash_password

    started = time.perf_counter()
    rng = random.Random(SEED)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    email = "owner@tree.bench.example"
    domains, health, tags = [], [], []
    next_id = 1

    def add(workspace_id: int, fqdn: str, parent_id: int | None) -> int:
        nonlocal next_id
        domain_id, next_id = next_id, next_id + 1
        group = rng.choice(GROUPS) if rng.random() < 0.2 else None
        domains.append((domain_id, workspace_id, parent_id, fqdn, rng.choice(STATUSES),
                        f"pm-verify-{domain_id:032x}", "none", "pm-bounces", 5, group, now))
        score = rng.choice((100, 100, 95, 88, 72, 64, 40, 20))
        health.append((domain_id, workspace_id, score, _band(score), 0, 0, now, ""))
        if rng.random() < 0.1:
            tags.append((domain_id, rng.choice(TAGS), workspace_id))
        return domain_id

    for top in range(TOP_LEVEL):
        root = add(1, f"client{top:04d}.example", None)
        for sub in range(SUBDOMAINS_EACH):
            add(1, f"s{sub:02d}.client{top:04d}.example", root)
    for other in range(OTHER_WORKSPACE_DOMAINS):
        add(2, f"other{other:05d}.example", None)
    with psycopg.connect(database_url(db_name)) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO workspaces (id, slug, name, created_at) VALUES "
                    "(1, 'tree-bench', 'Tree Bench', %s), (2, 'elsewhere', 'Elsewhere', %s)",
                    (now, now))
        cur.execute("INSERT INTO users (id, email, name, password_hash, is_platform_admin, "
                    "is_disabled, created_at) VALUES (1, %s, 'Tree Owner', %s, false, false, %s)",
                    (email, hash_password(PASSWORD), now))
        cur.execute("INSERT INTO memberships (user_id, workspace_id, role, created_at) "
                    "VALUES (1, 1, 'owner', %s)", (now,))
        with cur.copy("COPY domains (id, workspace_id, parent_id, fqdn, status, "
                      "verification_token, dmarc_policy, return_path_label, setup_step, "
                      "group_name, created_at) FROM STDIN") as copy:
            for row in domains:
                copy.write_row(row)
        with cur.copy("COPY domain_health (domain_id, workspace_id, score, band, error_count, "
                      "warning_count, checked_at, digest) FROM STDIN") as copy:
            for row in health:
                copy.write_row(row)
        with cur.copy("COPY domain_tags (domain_id, tag, workspace_id) FROM STDIN") as copy:
            for row in tags:
                copy.write_row(row)
        for table in ("workspaces", "users", "domains"):
            cur.execute(sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), "
                                "(SELECT max(id) FROM {}))").format(sql.Literal(table),
                                                                    sql.Identifier(table)))
        conn.commit()
    with psycopg.connect(database_url(db_name), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # statistics as autovacuum would have them
    return Seeded(slug="tree-bench", email=email, domains=len(domains), expanded_id=1,
                  seconds=time.perf_counter() - started)


# --- measuring --------------------------------------------------------------------------

class ServerTimer:
    """WSGI middleware: the time from the environ handed to Flask to the last body byte."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self.last_ms = 0.0

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        body = b"".join(self.wsgi_app(environ, start_response))
        self.last_ms = (time.perf_counter() - started) * 1000
        return [body]


@dataclass
class Measurement:
    name: str
    url: str
    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statements: int  # SQL statements of one request
    bytes: int


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def measure(client, timer: ServerTimer, statements: list, name: str, url: str,
            headers: dict, requests: int, warmup: int, check: str) -> Measurement:
    for _ in range(warmup):
        client.get(url, headers=headers)
    statements.clear()
    response = client.get(url, headers=headers)
    counted = len(statements)
    body = response.get_data(as_text=True)
    if response.status_code != 200 or check not in body:
        raise RuntimeError(f"{name}: {url} answered {response.status_code} without {check!r}")
    times = []
    for _ in range(requests):
        client.get(url, headers=headers)
        times.append(timer.last_ms)
    return Measurement(name=name, url=url, requests=requests,
                       p50_ms=round(statistics.median(times), 2),
                       p90_ms=round(percentile(times, 0.90), 2),
                       p99_ms=round(percentile(times, 0.99), 2),
                       max_ms=round(max(times), 2),
                       statements=counted, bytes=len(body.encode()))


@dataclass
class Variant:
    name: str
    indexes: list[str]
    measurements: list[Measurement] = field(default_factory=list)


def run_variant(app, seeded: Seeded, name: str, requests: int, warmup: int,
                headline_only: bool = False) -> Variant:
    from sqlalchemy import event, text

    from app.extensions import db

    with app.app_context():
        indexes = list(db.session.scalars(text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'domains' ORDER BY 1")))
        db.session.remove()
        engine = db.engine
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    timer = ServerTimer(app.wsgi_app)
    app.wsgi_app = timer
    try:
        client = app.test_client()
        response = client.post("/login", data={"email": seeded.email, "password": PASSWORD})
        if response.status_code != 302:
            raise RuntimeError(f"login failed: {response.status_code}")
        base = f"/w/{seeded.slug}/tree/"
        children = f"{base}{seeded.expanded_id}/children"
        hx = {"HX-Request": "true"}
        plan = [
            ("first paint", base, {}, "client0099.example"),
            ("node expansion (50 subdomains)", children,
             {**hx, "HX-Target": f"children-{seeded.expanded_id}"}, "s49.client0000.example"),
            ("next page of top-level domains", f"{base}?page=5",
             {**hx, "HX-Target": "more-top"}, "client0400.example"),
            ("first paint, tag filter", f"{base}?tag=eu", {}, "tree-node"),
            ("first paint, search opening paths", f"{base}?q=s07.client000", {},
             "s07.client0009.example"),
        ]
        variant = Variant(name=name, indexes=indexes)
        for label, url, headers, check in plan[:2] if headline_only else plan:
            variant.measurements.append(measure(client, timer, statements, label, url, headers,
                                                requests, warmup, check))
            print(f"  {label}: {asdict(variant.measurements[-1])}", flush=True)
    finally:
        app.wsgi_app = timer.wsgi_app
        event.remove(engine, "before_cursor_execute", count)
    return variant


# --- the report -------------------------------------------------------------------------

def machine_facts() -> dict:
    with psycopg.connect(ADMIN_DSN) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor() or "unknown")
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                     .splitlines() if line.startswith("MemTotal"))
    from importlib.metadata import version
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gb": round(memory_kb / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "postgresql": server, "flask": version("flask"),
            "sqlalchemy": version("sqlalchemy"),
            "load_average": [round(load, 2) for load in os.getloadavg()]}


def render(facts: dict, seeded: Seeded, variants: list[Variant], command: str,
           requests: int, warmup: int, load_after: list[float]) -> str:
    final = [variant for variant in variants if variant.name != DIAGNOSTIC][-1]
    headline = {m.name: m for m in final.measurements}
    paint, expand = headline["first paint"], headline["node expansion (50 subdomains)"]
    verdict = all(m.p99_ms < TARGET_P99_MS for m in (paint, expand))
    lines = [
        "# Domain tree: first paint and node expansion",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC with `{command}` "
        "(generated by it, up to the hand-written notes at the end, if any).",
        "",
        f"Machine: {facts['cores']} cores ({facts['cpu']}), {facts['memory_gb']} GB RAM, "
        f"Linux {facts['kernel']}, Python {facts['python']}, PostgreSQL {facts['postgresql']}, "
        f"Flask {facts['flask']}, SQLAlchemy {facts['sqlalchemy']}; load average at start "
        f"{', '.join(map(str, facts['load_average']))}, after {', '.join(map(str, load_after))}. "
        "PostgreSQL runs on the same cores, and other programs were using them too.",
        "",
        f"Data: one workspace of {TOP_LEVEL:,} top-level domains × {SUBDOMAINS_EACH} subdomains "
        f"({TOP_LEVEL * (SUBDOMAINS_EACH + 1):,} domains), DNS health on every domain, a tag on "
        f"a tenth, a group on a fifth; a second workspace of {OTHER_WORKSPACE_DOMAINS:,} "
        f"domains beside it. Seeded with COPY in {seeded.seconds:.1f} s.",
        "",
        f"Server time: measured inside the WSGI call (Flask test client in-process, signed in "
        f"as the owner), from the request environ to the last byte of the body. {warmup} "
        f"warm-up requests, then {requests} timed ones, one at a time, per row.",
        "",
        "## Verdict",
        "",
        f"* First paint p99: **{paint.p99_ms} ms** (target < {TARGET_P99_MS:.0f} ms: "
        f"{'MET' if paint.p99_ms < TARGET_P99_MS else 'MISSED'}), p50 {paint.p50_ms} ms, "
        f"{paint.statements} SQL statements.",
        f"* Node expansion (50 subdomains) p99: **{expand.p99_ms} ms** (target < "
        f"{TARGET_P99_MS:.0f} ms: {'MET' if expand.p99_ms < TARGET_P99_MS else 'MISSED'}), "
        f"p50 {expand.p50_ms} ms, {expand.statements} SQL statements.",
        f"* Both targets {'met' if verdict else 'NOT met'} on the schema of the last variant "
        f"below ({final.name}).",
        "",
    ]
    for variant in variants:
        lines += [f"## {variant.name}", "",
                  "Indexes on `domains`: " + ", ".join(f"`{name}`" for name in variant.indexes)
                  + ".", "",
                  "| request | p50 ms | p90 ms | p99 ms | max ms | SQL statements | bytes |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for m in variant.measurements:
            lines.append(f"| {m.name} (`{m.url}`) | {m.p50_ms} | {m.p90_ms} | {m.p99_ms} | "
                         f"{m.max_ms} | {m.statements} | {m.bytes:,} |")
        lines.append("")
    lines += [
        "## What a request does",
        "",
        "* First paint: the page count of top-level domains, one page of 100 rows joined to "
        "their DNS health, their child counts in one grouped query, their tags in one query, "
        "their reputation (the reputation service's subtree queries), plus the session, user "
        "and workspace look-ups every page makes. No child row is read.",
        "* Node expansion: the same for one parent's children (50 rows); the HTMX fragment only.",
        "* The tag filter lists a top-level domain when it or a subdomain carries the tag "
        "(a recursive walk up from the matches); the search also opens the path to its first "
        "100 matches.",
        "",
        "## The index",
        "",
        f"`{TREE_INDEX_SQL}` serves both the first paint (`parent_id IS NULL`, ordered by name, "
        "within the workspace) and a node's children (`parent_id = ?`, ordered by name) "
        "straight from the index, and the page count as an index-only scan.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--no-index-variants", dest="index_variants", action="store_false",
                        help="measure the schema as migrated only")
    parser.add_argument("--no-reputation-diagnostic", dest="reputation_diagnostic",
                        action="store_false",
                        help="skip the run with the reputation summaries left out")
    parser.add_argument("--output", type=Path, default=RESULTS / "tree.md")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    command = " ".join([".venv/bin/python", "bench/tree.py", *sys.argv[1:]])
    facts = machine_facts()
    db_name = create_database()
    try:
        with tempfile.TemporaryDirectory(prefix="pm-bench-tree-") as instance:
            env = app_environment(db_name, Path(instance))
            migrate(env)
            os.environ.update(env)
            sys.path.insert(0, str(ROOT))
            from app import create_app

            seeded = seed(db_name)
            print(f"seeded {seeded.domains:,} domains in {seeded.seconds:.1f} s", flush=True)
            app = create_app({"WTF_CSRF_ENABLED": False})
            variants = []
            with psycopg.connect(database_url(db_name), autocommit=True) as conn:
                has_index = conn.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s",
                                         (TREE_INDEX,)).fetchone() is not None
            print("schema as migrated:", flush=True)
            variants.append(run_variant(app, seeded, "Schema as migrated", args.requests,
                                        args.warmup))
            if args.index_variants and not has_index:
                with psycopg.connect(database_url(db_name), autocommit=True) as conn:
                    conn.execute(TREE_INDEX_SQL)
                    conn.execute("ANALYZE domains")
                print(f"with {TREE_INDEX}:", flush=True)
                variants.append(run_variant(app, seeded, f"With {TREE_INDEX}", args.requests,
                                            args.warmup))
            if args.reputation_diagnostic:
                # What the tree costs without the reputation service's summaries: the
                # difference is theirs (see the report), not a way to meet the target.
                import app.subdomains.tree as tree_queries
                real = tree_queries.reputation_summaries
                tree_queries.reputation_summaries = lambda ids: {}
                try:
                    print("diagnostic, reputation summaries left out:", flush=True)
                    variants.append(run_variant(app, seeded, DIAGNOSTIC, args.requests,
                                                args.warmup, headline_only=True))
                finally:
                    tree_queries.reputation_summaries = real
            with app.app_context():
                from app.extensions import db
                db.engine.dispose()
        load_after = [round(load, 2) for load in os.getloadavg()]
        report = render(facts, seeded, variants, command, args.requests, args.warmup,
                        load_after)
        args.output.write_text(report + "\n")
        args.output.with_suffix(".json").write_text(json.dumps(
            {"machine": facts, "seeded": asdict(seeded), "command": command,
             "variants": [asdict(variant) for variant in variants]}, indent=2) + "\n")
        print(f"wrote {args.output}", flush=True)
    finally:
        drop_database(db_name)


if __name__ == "__main__":
    main()
