"""Portal load benchmark: seeded PostgreSQL, gunicorn, wrk over loopback.

    .venv/bin/python bench/portal_load.py          # writes bench/results/portal.md and .json
    .venv/bin/python bench/portal_load.py --before-root /tmp/copy-before-change \
        --notes bench/results/portal-notes.md        # also measures the old code, alternating
    .venv/bin/python bench/portal_load.py --render-from bench/results/portal.json \
        --notes bench/results/portal-notes.md        # rewrites the report, measures nothing

What it does, and why each step is there:

1. Creates a scratch database `pm_bench_<random>` and builds the schema with the real
   migrations (`flask db upgrade` in a subprocess), so indexes are the ones production has.
2. Seeds 1,000 workspaces with an owner and a member each, a benchmark user who is an admin
   of a handful of them (an agency), one API token, and 100,000 audit events (100 per
   workspace). The domains feature was not in place when this was written, so audit
   events stand in for the issue's "100,000 domain rows". Seeding uses COPY: seconds.
3. Runs the portal under gunicorn (sync workers) for each worker count in `--workers`,
   loads the audit log page with wrk and keeps the best worker count. Then it serves the
   portal and a bare Flask hello app (bench/hello_app.py) with that same gunicorn command
   line and measures the audit page, `/api/v1/me` and hello in turn, `--rounds` times
   (medians are reported), plus the audit page one request at a time (its service time).
   Besides wrk's figures it records the CPU time gunicorn and the PostgreSQL backends spent
   per request, which other programs on the machine disturb less than req/s.
4. Counts SQL statements and app CPU per request in-process (Flask test client), and with
   `--profile` writes cProfile output for each target under bench/.work/.
5. With `--before-root`, serves that older copy of the code next to the current one on the
   same database and measures the two in alternation, so both see the same background load.
6. Writes a Markdown report (and the raw figures as JSON next to it), then stops every
   process it started and drops the database, also when something fails or it is
   interrupted.

Only loopback addresses are used. Every wrk run lasts at most 120 s (`--duration`,
`--warmup`, `--ab-duration`), so a run ends by itself.
"""

from __future__ import annotations

import argparse
import cProfile
import http.cookiejar
import json
import os
import platform
import pstats
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"
# Flask-Login's "strong" session protection binds the session to IP + User-Agent, so the
# login and every wrk request must send the same User-Agent.
USER_AGENT = "penguinmails-bench/1"
BENCH_PASSWORD = "bench-password-2026"
SEED = 20261125

WORKSPACES = 1_000
EVENTS_PER_WORKSPACE = 100

TARGET_PAGE_SHARE = 0.50  # authenticated page ≥ 50 % of bare-Flask requests/s
TARGET_P99_MS = 50.0


class Interrupted(Exception):
    """SIGTERM/SIGINT: unwind through the `finally` blocks so cleanup runs."""


def _on_signal(signum, frame):
    raise Interrupted(f"signal {signum}")


# --- scratch database -------------------------------------------------------------------

def create_database() -> str:
    name = f"pm_bench_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                     .format(sql.Identifier(name)))


def database_url(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def app_environment(db_name: str, instance: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("FLASK_", "WERKZEUG_"))}
    env.update({
        "FLASK_APP": "app",
        "DATABASE_URL": database_url(db_name),
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": secrets.token_hex(32),
        "INSTANCE_PATH": str(instance),
        "PENGUINMAILS_ENV": "production",
        "SESSION_COOKIE_SECURE": "false",  # the benchmark speaks plain http on loopback
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def migrate(env: dict[str, str], app_root: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=app_root, env=env,
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{result.stdout}\n{result.stderr}")


# --- seeding ----------------------------------------------------------------------------

@dataclass
class Seeded:
    email: str
    workspace_slug: str
    token: str
    bench_workspaces: int
    users: int
    memberships: int
    workspaces: int
    audit_events: int
    seconds: float


AUDIT_SHAPES = [
    # (action, object_type, before, after) — stand-ins for what domain work will log.
    ("domain.created", "domain", None, lambda d: {"fqdn": d, "status": "pending"}),
    ("domain.verified", "domain", lambda d: {"status": "verifying"},
     lambda d: {"status": "verified"}),
    ("domain.tags_changed", "domain", lambda d: {"tags": "newsletters"},
     lambda d: {"tags": "newsletters, transactional"}),
    ("dkim_key.rotated", "dkim_key", lambda d: {"selector": "pm1", "state": "active"},
     lambda d: {"selector": "pm2", "state": "active"}),
    ("dns.drift_detected", "domain", lambda d: {"spf": "ok"},
     lambda d: {"spf": "missing include:_spf.penguinmails.example"}),
    ("member.added", "membership", None, lambda d: {"user": "writer@" + d, "role": "member"}),
    ("member.role_changed", "membership", lambda d: {"role": "member"},
     lambda d: {"role": "admin"}),
    ("invitation.created", "invitation", None,
     lambda d: {"email": "new@" + d, "role": "member"}),
    ("api_token.created", "api_token", None, lambda d: {"name": "CI deploys", "hint": "x9Qa"}),
    ("workspace.renamed", "workspace", lambda d: {"name": "Old name"},
     lambda d: {"name": "New name"}),
]


def seed(db_name: str, bench_workspaces: int) -> Seeded:
    from app.auth.passwords import hash_password  # the app's own hashing and token digests
    from app.core.tokens import digest, new_secret

    started = time.perf_counter()
    rng = random.Random(SEED)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    shared_hash = hash_password(BENCH_PASSWORD)  # one Argon2 hash for every seeded account
    email = "bench@penguinmails.example"
    token = new_secret("pmd")

    workspaces = [(i, f"bench-{i:04d}", f"Bench Workspace {i:04d}", now - timedelta(days=400))
                  for i in range(1, WORKSPACES + 1)]
    users, memberships = [], []
    for i in range(1, WORKSPACES + 1):
        owner, member = i, WORKSPACES + i
        users.append((owner, f"owner@ws{i:04d}.bench.example", f"Owner {i:04d}"))
        users.append((member, f"writer@ws{i:04d}.bench.example", f"Writer {i:04d}"))
        memberships.append((owner, i, "owner"))
        memberships.append((member, i, "member"))
    bench_user = 2 * WORKSPACES + 1
    users.append((bench_user, email, "Bench Agency"))
    for i in range(1, bench_workspaces + 1):
        memberships.append((bench_user, i, "admin"))

    events = []
    for ws in range(1, WORKSPACES + 1):
        actor_label = f"owner@ws{ws:04d}.bench.example"
        for n in range(EVENTS_PER_WORKSPACE):
            fqdn = f"mail{n % 40}.client{ws:04d}.example"
            action, object_type, before, after = rng.choice(AUDIT_SHAPES)
            created = now - timedelta(seconds=rng.randrange(180 * 86400))
            events.append((
                ws, ws, actor_label, action, object_type, str(rng.randrange(1, 5000)),
                f"198.51.100.{rng.randrange(1, 255)}",
                json.dumps(before(fqdn)) if before else None,
                json.dumps(after(fqdn)) if after else None,
                created,
            ))
    events.sort(key=lambda row: row[-1])  # ids grow with time, as in a live log

    with psycopg.connect(database_url(db_name)) as conn, conn.cursor() as cur:
        with cur.copy("COPY workspaces (id, slug, name, created_at) FROM STDIN") as copy:
            for row in workspaces:
                copy.write_row(row)
        with cur.copy("COPY users (id, email, name, password_hash, is_platform_admin, "
                      "is_disabled, created_at) FROM STDIN") as copy:
            for user_id, user_email, name in users:
                copy.write_row((user_id, user_email, name, shared_hash, False, False, now))
        with cur.copy("COPY memberships (user_id, workspace_id, role, created_at) "
                      "FROM STDIN") as copy:
            for user_id, workspace_id, role in memberships:
                copy.write_row((user_id, workspace_id, role, now))
        with cur.copy("COPY audit_events (workspace_id, actor_id, actor_label, action, "
                      "object_type, object_id, ip, before, after, created_at) FROM STDIN") as copy:
            for row in events:
                copy.write_row(row)
        cur.execute(
            "INSERT INTO api_tokens (workspace_id, user_id, name, token_hash, token_hint, "
            "created_at) VALUES (1, %s, 'bench', %s, %s, %s)",
            (bench_user, digest(token), token[-4:], now))
        for table in ("workspaces", "users"):
            cur.execute(sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), "
                                "(SELECT max(id) FROM {}))").format(sql.Literal(table),
                                                                    sql.Identifier(table)))
        conn.commit()
    # Statistics as autovacuum would have them on a live database.
    with psycopg.connect(database_url(db_name), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return Seeded(email=email, workspace_slug="bench-0001", token=token,
                  bench_workspaces=bench_workspaces, users=len(users),
                  memberships=len(memberships), workspaces=len(workspaces),
                  audit_events=len(events), seconds=time.perf_counter() - started)


# --- in-process measurement: SQL statements per request, optional cProfile ----------------

def in_process_report(env: dict[str, str], seeded: Seeded, cookie: str, profile: bool,
                      requests_per_target: int = 200) -> dict[str, dict]:
    """SQL statements and app CPU time per request, through Flask's test client."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        from sqlalchemy import event

        from app import create_app
        from app.extensions import db

        app = create_app()
        statements = []
        with app.app_context():
            engine = db.engine

        def count(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        client = app.test_client()
        client.set_cookie("session", cookie, domain="localhost")
        targets = {
            "audit": (f"/w/{seeded.workspace_slug}/audit/", {"User-Agent": USER_AGENT}),
            "audit_fragment": (f"/w/{seeded.workspace_slug}/audit/",
                               {"User-Agent": USER_AGENT, "HX-Request": "true",
                                "HX-Target": "audit-events"}),
            "api_me": ("/api/v1/me", {"User-Agent": USER_AGENT,
                                      "Authorization": f"Bearer {seeded.token}"}),
        }
        report = {}
        for name, (path, headers) in targets.items():
            for _ in range(20):  # warm caches: templates, compiled SQL, pool
                response = client.get(path, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"{name}: in-process request got {response.status_code}")
            statements.clear()
            profiler = cProfile.Profile() if profile else None
            started, new_cookies = time.process_time(), 0
            if profiler:
                profiler.enable()
            for _ in range(requests_per_target):
                new_cookies += "Set-Cookie" in client.get(path, headers=headers).headers
            if profiler:
                profiler.disable()
            elapsed = time.process_time() - started  # CPU, not wall: neighbours skew wall
            per_request = [s.split()[0].upper() for s in statements]
            report[name] = {
                "statements_per_request": len(statements) / requests_per_target,
                "by_kind": {kind: per_request.count(kind) / requests_per_target
                            for kind in sorted(set(per_request))},
                "cpu_ms_per_request": 1000 * elapsed / requests_per_target,
                "sets_cookie": new_cookies / requests_per_target,
            }
            if profiler:
                WORK.mkdir(exist_ok=True)
                out = WORK / f"portal-{name}.prof"
                profiler.dump_stats(out)
                print(f"\n--- cProfile {name}: {out} (top 30 by cumulative time) ---")
                pstats.Stats(str(out)).sort_stats("cumulative").print_stats(30)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        return report
    finally:
        os.environ.clear()
        os.environ.update(saved)


def in_process(app_root: Path, env: dict[str, str], seeded: Seeded, cookie: str, profile: bool,
               tmp: Path) -> dict[str, dict]:
    """`in_process_report` in a child process, so each checkout's `app` is imported fresh."""
    job, out = tmp / f"in-process-{app_root.name}.json", tmp / f"in-process-{app_root.name}.out"
    job.write_text(json.dumps({"app_root": str(app_root), "env": env, "cookie": cookie,
                               "profile": profile, "out": str(out),
                               "seeded": asdict(seeded)}))
    subprocess.run([sys.executable, __file__, "--in-process-job", str(job)], cwd=app_root,
                   check=True, timeout=600)
    return json.loads(out.read_text())


def in_process_job(job_file: Path) -> None:
    job = json.loads(job_file.read_text())
    sys.path.insert(0, job["app_root"])
    report = in_process_report(job["env"], Seeded(**job["seeded"]), job["cookie"], job["profile"])
    Path(job["out"]).write_text(json.dumps(report))


# --- gunicorn -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """One gunicorn master (own process group) serving `app_spec` from `cwd`."""

    def __init__(self, app_spec: str, cwd: Path, workers: int, env: dict[str, str], log: Path):
        self.port, self.workers = free_port(), workers
        self.command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
                        "--workers", str(workers), "--worker-class", "sync", app_spec]
        self.log = log
        self._log_file = open(log, "ab")
        self.process = subprocess.Popen(self.command, cwd=cwd, env=env, stdout=self._log_file,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log.read_text()[-3000:]}")
            try:
                fetch(self.base + path)
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # graceful: the master stops its workers
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the group this script created
                self.process.wait(timeout=10)
        self._log_file.close()


_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> list[str]:
    """/proc/<pid>/stat fields after the command name (state is [0], ppid [1])."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _cpu_ms(pid: int) -> float:
    fields = _proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) * _TICK_MS if fields else 0.0  # utime + stime


def server_cpu(server: Gunicorn, db_name: str | None) -> dict[tuple[str, int], float]:
    """CPU ms so far of the gunicorn master and workers ("app") and of the PostgreSQL
    backends serving the scratch database ("db")."""
    master = server.process.pid
    pids = [("app", master)] + [
        ("app", int(entry.name)) for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _proc_stat(int(entry.name))[1:2] == [str(master)]]
    if db_name:
        with psycopg.connect(ADMIN_DSN) as conn:
            pids += [("db", row[0]) for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (db_name,))]
    return {key: _cpu_ms(key[1]) for key in pids}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One GET without following redirects: a redirect to /login must not look like a 200."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def log_in(base: str, email: str, password: str) -> str:
    """A real sign-in through the form (CSRF token included); returns the session cookie."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    with opener.open(base + "/login", timeout=10) as response:
        page = response.read().decode()
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    if not match:
        raise RuntimeError("no CSRF token in the login form")
    form = urllib.parse.urlencode({"email": email, "password": password,
                                   "csrf_token": match.group(1)}).encode()
    with opener.open(base + "/login", data=form, timeout=30) as response:
        landed = response.url
    if "/w/" not in landed:
        raise RuntimeError(f"login did not reach a workspace (ended at {landed})")
    for cookie in jar:
        if cookie.name == "session":
            return cookie.value
    raise RuntimeError("no session cookie after login")


# --- wrk ----------------------------------------------------------------------------------

@dataclass
class WrkResult:
    target: str
    url: str
    workers: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    bytes_per_request: float
    non_2xx_3xx: int
    socket_errors: dict
    server_cpu_ms: float  # gunicorn + PostgreSQL CPU per request: robust to busy neighbours
    db_cpu_ms: float  # the PostgreSQL part of it


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_SIZES = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict:
    """The figures we report, from `wrk --latency` output."""
    latency = {pct: _ms(value) for pct, value in
               re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)\s*$", output, re.MULTILINE)}
    total = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+)(B|KB|MB|GB) read", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not (total and rps and len(latency) == 4):
        raise RuntimeError(f"could not parse wrk output:\n{output}")
    requests = int(total.group(1))
    return {
        "requests": requests,
        "seconds": _ms(total.group(2)) / 1000,
        "rps": float(rps.group(1)),
        "p50_ms": latency["50"], "p75_ms": latency["75"], "p90_ms": latency["90"],
        "p99_ms": latency["99"],
        "bytes_per_request": float(total.group(3)) * _SIZES[total.group(4)] / max(requests, 1),
        "non_2xx_3xx": int(non_ok.group(1)) if non_ok else 0,
        "socket_errors": dict(zip(("connect", "read", "write", "timeout"),
                                  map(int, errors.groups()))) if errors else {},
    }


def run_wrk(args, url: str, headers: dict[str, str], seconds: int, clients: int | None) -> str:
    threads, connections = (1, clients) if clients else (args.threads, args.connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
               "--timeout", "5s", "--latency"]
    for name, value in {"User-Agent": USER_AGENT, **headers}.items():
        command += ["-H", f"{name}: {value}"]
    result = subprocess.run(command + [url], capture_output=True, text=True,
                            timeout=seconds + 30)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed: {result.stderr}")
    return result.stdout


def measure(args, target: str, server: Gunicorn, path: str, headers: dict[str, str],
            expect: bytes, db_name: str | None, clients: int | None = None,
            seconds: int | None = None, warmup: int | None = None) -> WrkResult:
    """Probe once (status and content), warm up, then the measured wrk run.

    `clients` replaces the fixed -t/-c settings with one thread and that many connections;
    `seconds` and `warmup` replace --duration and --warmup.
    """
    url = server.base + path
    status, body = fetch(url, headers)
    if status != 200 or expect not in body:
        raise RuntimeError(f"{target}: probe got {status}, not the expected page")
    run_wrk(args, url, headers, warmup or args.warmup, clients)
    cpu_before = server_cpu(server, db_name)
    figures = parse_wrk(run_wrk(args, url, headers, seconds or args.duration, clients))
    cpu_after = server_cpu(server, db_name)
    used = {"app": 0.0, "db": 0.0}
    for key, ms in cpu_after.items():
        used[key[0]] += ms - cpu_before.get(key, 0.0)
    requests = max(figures["requests"], 1)
    result = WrkResult(target=target, url=path, workers=server.workers, **figures,
                       server_cpu_ms=(used["app"] + used["db"]) / requests,
                       db_cpu_ms=used["db"] / requests)
    # wrk does not count 3xx as errors: a page that redirected to /login would be tiny.
    if result.non_2xx_3xx or result.bytes_per_request < 0.9 * len(body):
        raise RuntimeError(f"{target}: wrong responses under load ({result.non_2xx_3xx} non-2xx, "
                           f"{result.bytes_per_request:.0f} B/request vs {len(body)} B probe)")
    print(f"  {target:<8} workers={server.workers}  {result.rps:8.1f} req/s  "
          f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
          f"server CPU {result.server_cpu_ms:.2f} ms/request "
          f"(PostgreSQL {result.db_cpu_ms:.2f})", flush=True)
    return result


# --- report -------------------------------------------------------------------------------

def machine_facts(args) -> dict:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = found.group(1).strip() if found else cpu
    versions = {}
    for name, command in {"gunicorn": [sys.executable, "-m", "gunicorn", "--version"],
                          "wrk": ["wrk", "--version"]}.items():
        out = subprocess.run(command, capture_output=True, text=True)
        versions[name] = (out.stdout or out.stderr).splitlines()[0].strip()
    with psycopg.connect(ADMIN_DSN) as conn:
        versions["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
        "platform": platform.platform(), "loadavg_at_start": os.getloadavg(), **versions,
        "connections": args.connections,
        "wrk_settings": f"-t{args.threads} -c{args.connections} -d{args.duration}s --latency "
                        f"(after a {args.warmup}s warm-up run)",
    }


def _median(runs: list[dict], field: str) -> float:
    return statistics.median(run[field] for run in runs)


def _summary(runs: list[dict]) -> WrkResult:
    """One result whose figures are the medians of several runs of the same target."""
    first = runs[0]
    return WrkResult(**{field: statistics.median(run[field] for run in runs)
                        if isinstance(value, (int, float)) and field != "workers" else value
                        for field, value in first.items()})


def verdict(page: WrkResult, hello: WrkResult) -> tuple[bool, bool]:
    return page.rps >= TARGET_PAGE_SHARE * hello.rps, page.p99_ms < TARGET_P99_MS


def write_report(path: Path, facts: dict, seeded: Seeded, sweep: list[WrkResult],
                 final_runs: dict[str, list[dict]], serial: WrkResult,
                 statements: dict[str, dict],
                 before_after: dict | None, notes: str | None) -> None:
    final = {key: _summary(runs) for key, runs in final_runs.items()}
    rounds = len(final_runs["hello"])
    hello = final["hello"]
    args_connections = facts["connections"]
    gunicorn_line = (f"`python -m gunicorn --bind 127.0.0.1:<port> --workers "
                     f"{hello.workers} --worker-class sync <app>`")
    labels = {"audit": f"Audit log page `GET /w/{seeded.workspace_slug}/audit/` (signed in)",
              "audit_fragment": "Audit log fragment (same URL, `HX-Target: audit-events`)",
              "api_me": "`GET /api/v1/me` (bearer token)",
              "hello": "Bare Flask hello (`bench/hello_app.py`)"}
    throughput_ok, p99_ok = verdict(final["audit"], hello)
    lines = [
        "# Portal load benchmark",
        "",
        f"Run on {facts['date']} by `bench/portal_load.py`, which writes this file "
        "(the analysis section is included from a notes file given with `--notes`).",
        "",
        "## Results",
        "",
        f"Medians of {rounds} rounds; in each round the three targets were measured one after "
        "the other, so that they share the background load of the moment.",
        "",
        "| target | req/s (range) | p50 | p99 | % of hello | server CPU per request (of "
        "which PostgreSQL) | CPU vs hello |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key in ("audit", "api_me", "hello"):
        r, rps = final[key], [run["rps"] for run in final_runs[key]]
        lines.append(f"| {labels[key]} | {r.rps:,.0f} ({min(rps):,.0f}–{max(rps):,.0f}) | "
                     f"{r.p50_ms:.2f} ms | {r.p99_ms:.2f} ms | "
                     f"{100 * r.rps / hello.rps:.0f} % | {r.server_cpu_ms:.2f} ms "
                     f"({r.db_cpu_ms:.2f} ms) | {r.server_cpu_ms / hello.server_cpu_ms:.1f}× |")
    cpu_share = hello.server_cpu_ms / final["audit"].server_cpu_ms
    lines += [
        "",
        "*server CPU per request* is the CPU time the gunicorn master and workers and the "
        "PostgreSQL backends of the scratch database used during the measured run, divided by "
        "the requests served. Other programs competing for the cores disturb it less than "
        "req/s, though not entirely (on a busy 2-core machine with shared execution units the "
        "same code has shown up to twice the CPU per request).",
        "",
        f"**Verdict** (targets: the authenticated page at ≥ {TARGET_PAGE_SHARE:.0%} of the "
        f"bare-Flask throughput, p99 < {TARGET_P99_MS:.0f} ms):",
        "",
        f"* throughput: {100 * final['audit'].rps / hello.rps:.0f} % of hello — "
        f"**{'met' if throughput_ok else 'missed'}**",
        f"* p99: {final['audit'].p99_ms:.2f} ms — **{'met' if p99_ok else 'missed'}**",
        f"* CPU bound: the page costs {1 / cpu_share:.1f}× the server CPU of a hello "
        f"request, so with the cores saturated it can reach at most about {cpu_share:.0%} of "
        "hello's throughput, whatever the load from other programs.",
        f"* Without queueing (wrk -t1 -c1, one request at a time) the page answers in "
        f"p50 {serial.p50_ms:.2f} ms, p99 {serial.p99_ms:.2f} ms ({serial.rps:,.0f} req/s): "
        f"that is its service time. At -c{args_connections} the other requests wait for a "
        "free worker, so the p99 above is mostly queueing.",
        "",
    ]
    if before_after:
        runs = before_after["runs"]
        lines += [
            "## Before and after the app changes",
            "",
            f"The code before the changes (`{before_after['before_root']}`) and after them "
            "were served side by side on the same database with the same gunicorn settings and "
            f"measured in alternation, {before_after['rounds']} rounds of "
            f"{before_after['seconds']} s per target and side, so that both see the same "
            "background load. Medians of the rounds:",
            "",
            "| target | req/s before → after | p99 before → after | server CPU per request "
            "before → after | SQL statements per request before → after |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for key in ("audit", "audit_fragment", "api_me"):
            old_st = before_after["statements"][key]["statements_per_request"]
            st = f"{old_st:g} → {statements[key]['statements_per_request']:g}"
            if key not in runs:
                lines.append(f"| {labels[key]} | — | — | — | {st} |")
                continue
            old, new = runs[key]["before"], runs[key]["after"]
            lines.append(
                f"| {labels[key]} | {_median(old, 'rps'):,.0f} → {_median(new, 'rps'):,.0f} | "
                f"{_median(old, 'p99_ms'):.0f} → {_median(new, 'p99_ms'):.0f} ms | "
                f"{_median(old, 'server_cpu_ms'):.2f} → {_median(new, 'server_cpu_ms'):.2f} ms "
                f"| {st} |")
        cookies = before_after["statements"]["audit"]["sets_cookie"]
        lines += ["", f"Responses to the audit page carrying a `Set-Cookie`: {cookies:.0%} before,"
                  f" {statements['audit']['sets_cookie']:.0%} after.", ""]
    if notes:
        lines += ["## Analysis and changes", "", notes.strip(), ""]
    lines += [
        "## Worker sweep (audit log page)",
        "",
        "The worker count with the highest audit-page throughput is used for all three targets.",
        "",
        "| sync workers | req/s | p50 | p99 | server CPU per request |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sweep:
        lines.append(f"| {r.workers} | {r.rps:,.0f} | {r.p50_ms:.2f} ms | {r.p99_ms:.2f} ms | "
                     f"{r.server_cpu_ms:.2f} ms |")
    lines += [
        "",
        "## Work per request (in-process, Flask test client, no network)",
        "",
        "| target | SQL statements | of which | responses with Set-Cookie | app CPU/request |",
        "| --- | ---: | --- | ---: | ---: |",
    ]
    for key, info in statements.items():
        kinds = ", ".join(f"{kind} {count:g}" for kind, count in info["by_kind"].items())
        lines.append(f"| {labels[key]} | {info['statements_per_request']:g} | {kinds} | "
                     f"{info['sets_cookie']:.0%} | {info['cpu_ms_per_request']:.2f} ms |")
    lines += [
        "",
        "Statements are counted over 200 requests after a warm-up, so a write done once a "
        "minute shows as a fraction. Besides these, every request spends one round trip on "
        "the pool's pre-ping and one on BEGIN, and one on ROLLBACK/COMMIT at the end.",
        "",
        "## Data",
        "",
        f"* Scratch PostgreSQL database built by the migrations, seeded with COPY in "
        f"{seeded.seconds:.1f} s, then `VACUUM ANALYZE`; dropped at the end of the run.",
        f"* {seeded.workspaces:,} workspaces, {seeded.users:,} users, "
        f"{seeded.memberships:,} memberships (an owner and a member in every workspace; the "
        f"benchmark user is an admin of {seeded.bench_workspaces} workspaces, so the workspace "
        "switcher lists that many), one API token.",
        f"* **{seeded.audit_events:,} audit events ({EVENTS_PER_WORKSPACE} per workspace) stand "
        "in for the issue's 100,000 domain rows**: the benchmark predates the domains feature. "
        "Once domains have landed, seed domain rows and add the domains list page as a "
        "target.",
        "* The audit page shows 50 events per page with before/after values, the filter form "
        "(distinct actions) and the event count.",
        "",
        "## Machine and settings",
        "",
        f"* {facts['nproc']} cores ({facts['cpu']}), {facts['platform']}",
        f"* Python {facts['python']}, {facts['gunicorn']}, PostgreSQL {facts['postgresql']}, "
        f"{facts['wrk']}",
        f"* gunicorn: {gunicorn_line}; the portal as `wsgi:app` from the repo root with "
        "PENGUINMAILS_ENV=production (SESSION_COOKIE_SECURE=false for plain http), hello as "
        "`hello_app:app` from bench/. No access log.",
        f"* wrk: {facts['wrk_settings']}, over loopback. The session cookie comes from a "
        "real `POST /login` (CSRF token from the form) and is passed with `-H \"Cookie: "
        "session=…\"`, with the same User-Agent as the login (strong session protection).",
        "* wrk, gunicorn and PostgreSQL share the same cores, so absolute figures are "
        "lower than on a dedicated server; ratios to hello measured in the same round are "
        "the more comparable numbers. "
        "Load average (1, 5, 15 min) when the run started: "
        f"{', '.join(f'{x:.2f}' for x in facts['loadavg_at_start'])}; when it ended: "
        f"{', '.join(f'{x:.2f}' for x in facts['loadavg_at_end'])}.",
        "* Each response is checked: a probe before the run must return 200 and the expected "
        "content, and wrk's bytes per request must match the probe (a redirect to /login would "
        "be counted as success by wrk otherwise).",
        "",
    ]
    path.write_text("\n".join(lines))


# --- main ---------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="2,3,4",
                        help="sync worker counts to try on the audit page (default 2,3,4)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load first")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of the three final measurements; medians are reported")
    parser.add_argument("--bench-workspaces", type=int, default=10,
                        help="how many workspaces the benchmark user administers")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "portal.md")
    parser.add_argument("--app-root", type=Path, default=ROOT,
                        help="checkout whose wsgi.py and migrations are benchmarked (default: "
                             "this one)")
    parser.add_argument("--before-root", type=Path,
                        help="a copy of the code before a change: it is served next to "
                             "--app-root on the same database (so it must work on that schema) "
                             "and both are measured in alternation")
    parser.add_argument("--ab-rounds", type=int, default=3,
                        help="alternating before/after rounds per target (default 3)")
    parser.add_argument("--ab-duration", type=int, default=5,
                        help="seconds per measured run in the before/after rounds (default 5)")
    parser.add_argument("--notes", type=Path,
                        help="Markdown to include as the report's analysis section")
    parser.add_argument("--render-from", type=Path, metavar="JSON",
                        help="only rewrite --out from a run's JSON (with --notes); measures "
                             "nothing")
    parser.add_argument("--profile", action="store_true",
                        help="also write cProfile output per target under bench/.work/")
    parser.add_argument("--in-process-job", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def render(raw: dict, args: argparse.Namespace) -> None:
    """The Markdown report from a run's raw figures (as saved in the JSON next to it)."""
    notes = args.notes.read_text() if args.notes else None
    write_report(args.out, raw["facts"], Seeded(token="", **raw["seeded"]),
                 [WrkResult(**r) for r in raw["sweep"]],
                 raw["final_runs"],
                 WrkResult(**raw["serial"]), raw["statements"], raw.get("before_after"), notes)


def main() -> int:
    args = parse_args()
    if args.in_process_job:
        in_process_job(args.in_process_job)
        return 0
    if args.render_from:
        render(json.loads(args.render_from.read_text()), args)
        print(f"wrote {args.out}")
        return 0
    for seconds in (args.duration, args.warmup, args.ab_duration):
        if not 1 <= seconds <= 120:
            raise SystemExit("--duration, --warmup and --ab-duration must be 1-120 seconds")
    if not (1 <= args.ab_rounds <= 10 and 1 <= args.rounds <= 10):
        raise SystemExit("--rounds and --ab-rounds must be 1-10")
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    app_root = args.app_root.resolve()
    before_root = args.before_root.resolve() if args.before_root else None
    sys.path.insert(0, str(app_root))  # seeding uses that checkout's password and token code
    facts = machine_facts(args)
    worker_counts = [int(n) for n in args.workers.split(",")]
    db_name = None
    servers: list[Gunicorn] = []
    with tempfile.TemporaryDirectory(prefix="pm-bench-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            db_name = create_database()
            env = app_environment(db_name, tmp / "instance")
            print(f"database {db_name}: migrating…", flush=True)
            migrate(env, app_root)
            seeded = seed(db_name, args.bench_workspaces)
            print(f"seeded {seeded.audit_events:,} audit events, {seeded.workspaces:,} "
                  f"workspaces in {seeded.seconds:.1f}s", flush=True)
            audit = (f"/w/{seeded.workspace_slug}/audit/", b"Audit log")
            api_me = ("/api/v1/me", seeded.workspace_slug.encode())
            api_headers = {"Authorization": f"Bearer {seeded.token}"}

            def serve(root: Path, workers: int, log: str) -> Gunicorn:
                server = Gunicorn("wsgi:app", root, workers, env, tmp / log)
                servers.append(server)
                server.wait_ready("/login")
                return server

            sweep, cookie = [], None
            for workers in worker_counts:
                server = serve(app_root, workers, "portal.log")
                cookie = cookie or log_in(server.base, seeded.email, BENCH_PASSWORD)
                sweep.append(measure(args, "audit", server, audit[0],
                                     {"Cookie": f"session={cookie}"}, audit[1], db_name))
                server.stop()
            best = max(sweep, key=lambda r: r.rps).workers
            page_headers = {"Cookie": f"session={cookie}"}
            print(f"best worker count for the portal: {best}", flush=True)

            # The portal and hello are served side by side (an idle sync worker costs
            # nothing) and measured in turn, round after round.
            server = serve(app_root, best, "portal.log")
            hello = Gunicorn("hello_app:app", BENCH, best, env, tmp / "hello.log")
            servers.append(hello)
            hello.wait_ready("/")
            final_runs = {"audit": [], "api_me": [], "hello": []}
            for _ in range(args.rounds):
                final_runs["audit"].append(asdict(measure(
                    args, "audit", server, audit[0], page_headers, audit[1], db_name)))
                final_runs["api_me"].append(asdict(measure(
                    args, "api_me", server, api_me[0], api_headers, api_me[1], db_name)))
                final_runs["hello"].append(asdict(measure(
                    args, "hello", hello, "/", {}, b"hello", None)))
            # One request at a time: the service time, without queueing behind the others.
            serial = measure(args, "audit_c1", server, audit[0], page_headers, audit[1],
                             db_name, clients=1)
            server.stop()
            hello.stop()

            before_after = None
            if before_root:
                print(f"before/after: {before_root} against {app_root}, alternating", flush=True)
                sides = {"before": serve(before_root, best, "before.log"),
                         "after": serve(app_root, best, "portal.log")}
                runs = {"audit": {"before": [], "after": []},
                        "api_me": {"before": [], "after": []}}
                for round_number in range(args.ab_rounds):
                    order = ["before", "after"][::1 if round_number % 2 == 0 else -1]
                    for target, (path, expect), headers in (("audit", audit, page_headers),
                                                            ("api_me", api_me, api_headers)):
                        for side in order:
                            print(f"  [{side}]", end="", flush=True)
                            runs[target][side].append(asdict(measure(
                                args, target, sides[side], path, headers, expect, db_name,
                                seconds=args.ab_duration, warmup=1)))
                for server in sides.values():
                    server.stop()
                before_after = {"before_root": str(before_root), "rounds": args.ab_rounds,
                                "seconds": args.ab_duration, "runs": runs}

            print("counting SQL statements per request in-process…", flush=True)
            statements = in_process(app_root, env, seeded, cookie, args.profile, tmp)
            if before_after:
                before_after["statements"] = in_process(before_root, env, seeded, cookie,
                                                        False, tmp)

            facts["loadavg_at_end"] = os.getloadavg()
            facts["app_root"] = str(app_root)
            raw = {"facts": facts, "seeded": {k: v for k, v in asdict(seeded).items()
                                              if k != "token"},
                   "sweep": [asdict(r) for r in sweep],
                   "final_runs": final_runs,
                   "serial": asdict(serial),
                   "statements": statements,
                   "before_after": before_after}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")
            render(raw, args)
            page_ok, p99_ok = verdict(_summary(final_runs["audit"]),
                                      _summary(final_runs["hello"]))
            print(f"wrote {args.out}; targets: throughput {'met' if page_ok else 'MISSED'}, "
                  f"p99 {'met' if p99_ok else 'MISSED'}")
            return 0
        except BaseException:
            for log in Path(tmp).glob("*.log"):
                print(f"--- tail of {log.name} ---\n{log.read_text()[-2000:]}", file=sys.stderr)
            raise
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # finish cleaning up first
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            for server in servers:
                try:
                    server.stop()
                except Exception as exc:  # keep going: the database must still be dropped
                    print(f"could not stop gunicorn {server.process.pid}: {exc}", file=sys.stderr)
            if db_name:
                drop_database(db_name)
                print(f"dropped database {db_name}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
