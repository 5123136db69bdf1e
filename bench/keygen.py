"""DKIM key generation benchmark: the raw RSA-2048 ceiling, the key job on real RQ workers,
and 1,000 domains onboarded through the API.

    .venv/bin/python bench/keygen.py          # writes bench/results/keygen.md and .json
    .venv/bin/python bench/keygen.py --variant before:/tmp/copy-before-change: \
        --variant "fork:.:--worker-class fork" --variant "simple:.:--worker-class simple" \
        --notes bench/results/keygen-notes.md   # several variants, alternating
    .venv/bin/python bench/keygen.py --render-from bench/results/keygen.json \
        --notes bench/results/keygen-notes.md   # rewrites the report, measures nothing

What it does, and why each step is there:

1. Creates a scratch database `pm_bench_<random>` with the real migrations (`flask db
   upgrade`), takes a private Redis database (`--redis-url`, which must be empty; it is
   flushed at the end) and an instance folder in a temporary directory with a random
   `KEYSTORE_MASTER_KEY`: the default local key store (AES-GCM envelope encryption, one
   fsynced file per key), as production runs it without Vault.
2. Creates a user, a workspace and an API token with the real CLI (`flask users create`,
   `flask tokens create`).
3. Measures, `--rounds` times in turn so that all of them share the background load of the
   moment (medians are reported):
   * the raw ceiling: `rsa.generate_private_key(65537, 2048)` from `cryptography` in a loop,
     in 1 process and in 2 processes at once (multiprocessing);
   * the key job: 1 and 2 `python worker.py --queues keys` processes are started and left
     to register, then one key job per DkimKey row (`app.domains.tasks.generate_dkim_key`,
     enqueued as the app enqueues it) is pushed at once, and the clock stops when the last
     row is `pending` with its public key stored.
4. Runs the job in-process a few times with timers around key generation and the key store
   write, and counts its SQL statements: where a job's time goes besides the RSA maths. It
   also reads one stored key back through the key store and checks its blob holds no
   plaintext key.
5. Onboards 1,000 domains (`bench-0001.example` ...): the portal under gunicorn, 2 key
   workers, `--clients` threads POSTing `/api/v1/domains`; the clock runs from the first POST
   until all 1,000 DkimKey rows are `pending`. A raw 2-process run just before and just
   after it is the yardstick.
6. With several `--variant LABEL:ROOT:WORKER-ARGS` (a copy of the code before a change,
   or other `worker.py` arguments), repeats the key-job measurements, the breakdown and the
   onboarding for each of them on the same database, alternating their order from round to
   round. The last variant is the one the verdict is about.
7. Writes a Markdown report (and the raw figures as JSON next to it), then stops every
   process it started, drops the database and flushes the Redis database, also when
   something fails or it is interrupted.

Only loopback addresses are used; every wait is bounded.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from portal_load import (
    _TICK_MS,
    ADMIN_DSN,
    USER_AGENT,
    Gunicorn,
    _on_signal,
    _proc_stat,
    app_environment,
    create_database,
    database_url,
    drop_database,
    migrate,
)
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

REDIS_URL = "redis://127.0.0.1:6379/13"
KEY_JOB = "app.domains.tasks.generate_dkim_key"
POLLER = "keygen-bench-poller"  # application_name of the benchmark's own polling connection
BENCH_PASSWORD = "bench-password-2026"
TARGET_SHARE = 0.80  # onboarding keys/s ≥ 80 % of the raw 2-process keygen rate


# --- machine CPU accounting ---------------------------------------------------------------

def machine_busy_ms() -> float:
    """CPU time all cores spent not idle since boot (/proc/stat), in ms."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) * _TICK_MS


def process_tree_cpu_ms(pid: int) -> float:
    """CPU ms of a process and of its children it has already waited for (RQ's work horses)."""
    fields = _proc_stat(pid)
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) * _TICK_MS if fields else 0.0


def _precise_cpu_ms(pid: int) -> float:
    """CPU ms of one process to the nanosecond (/proc/<pid>/stat counts 10 ms ticks, which
    rounds a backend that lives for one job down to nothing)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


class BackendCpu:
    """CPU of the PostgreSQL backends serving one database, sampled while a measurement runs.

    A backend that starts during the run counts from zero; one that ends between two samples
    counts up to its last sample, so connections that live for a single job are undercounted.
    """

    def __init__(self, db_name: str, interval: float = 0.05):
        self.db_name, self.interval = db_name, interval
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._conn = psycopg.connect(ADMIN_DSN, autocommit=True)
        self._sample(initial=True)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self, initial: bool = False) -> None:
        for (pid,) in self._conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name "
                "<> %s", (self.db_name, POLLER)).fetchall():
            used = _precise_cpu_ms(pid)
            self.first.setdefault(pid, used if initial else 0.0)
            self.last[pid] = max(self.last.get(pid, 0.0), used)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self) -> float:
        """CPU ms used since the start."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._sample()
        self._conn.close()
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


@dataclass
class Run:
    """One measurement: `keys` made by `processes` in `seconds` of wall time."""

    kind: str  # "raw", "job" or "onboard"
    code: str  # the variant's label; "" for raw runs
    processes: int
    keys: int
    seconds: float
    own_cpu_ms: float  # CPU of the measured processes (raw loops, or workers + their horses)
    machine_busy_ms: float  # every process on the machine, same interval
    db_cpu_ms: float = 0.0  # PostgreSQL backends of the scratch database (key jobs)

    @property
    def rate(self) -> float:
        return self.keys / self.seconds

    @property
    def cpu_ms_per_key(self) -> float:
        return self.own_cpu_ms / self.keys

    @property
    def db_cpu_ms_per_key(self) -> float:
        return self.db_cpu_ms / self.keys

    @property
    def other_cores(self) -> float:
        """Cores busy with anything but the measured processes and their database backends."""
        return max(0.0, (self.machine_busy_ms - self.own_cpu_ms - self.db_cpu_ms)
                   / 1000 / self.seconds)


# --- raw ceiling --------------------------------------------------------------------------

def _raw_loop(barrier, seconds: float, results) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    barrier.wait()
    started, cpu, keys = time.perf_counter(), time.process_time(), 0
    while time.perf_counter() - started < seconds:
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        keys += 1
    # The last key finishes after the deadline: its own process's rate counts it whole.
    results.put((keys, time.perf_counter() - started, time.process_time() - cpu))


def raw_keygen(processes: int, seconds: float) -> Run:
    """RSA-2048 keys/s from `cryptography` alone, in `processes` processes at once."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes + 1), context.Queue()
    children = [context.Process(target=_raw_loop, args=(barrier, seconds, results), daemon=True)
                for _ in range(processes)]
    for child in children:
        child.start()
    try:
        barrier.wait(timeout=60)
        busy, started = machine_busy_ms(), time.perf_counter()
        done = [results.get(timeout=seconds + 60) for _ in children]
        wall, busy = time.perf_counter() - started, machine_busy_ms() - busy
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
    # Each process's own keys/s, summed: no process is charged for another's last key.
    rate = sum(keys / elapsed for keys, elapsed, _ in done)
    keys = sum(keys for keys, _, _ in done)
    run = Run("raw", "", processes, keys, keys / rate, 1000 * sum(cpu for *_, cpu in done),
              busy * (keys / rate) / wall)
    print(f"  raw keygen  {processes} process(es): {run.rate:6.2f} keys/s  "
          f"{run.cpu_ms_per_key:6.1f} ms CPU/key", flush=True)
    return run


# --- RQ workers ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    """Which code runs the workers and the portal, and with which `worker.py` arguments."""

    label: str
    root: Path
    worker_args: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Variant:
        label, root, worker_args = (text.split(":", 2) + ["", ""])[:3]
        if not label.isidentifier() or not root:
            raise argparse.ArgumentTypeError(f"{text!r}: use LABEL:ROOT[:WORKER-ARGS]")
        return cls(label, Path(root).resolve(), tuple(shlex.split(worker_args)))

    def describe(self) -> str:
        here = " (this checkout)" if self.root == ROOT else ""
        return (f"`{self.label}`: code in `{self.root}`{here}, workers run as "
                f"`{' '.join(['python worker.py --queues keys', *self.worker_args])}`")


class KeyWorkers:
    """`python worker.py --queues keys` processes from `root`, each in its own process group."""

    def __init__(self, root: Path, count: int, env: dict[str, str], log: Path,
                 extra_args: tuple[str, ...] = ()):
        self.command = [sys.executable, "worker.py", "--queues", "keys", *extra_args]
        self.log = log
        self._log_file = open(log, "ab")
        self.processes = [subprocess.Popen(self.command, cwd=root, env=env, stdout=self._log_file,
                                           stderr=subprocess.STDOUT, start_new_session=True)
                          for _ in range(count)]

    def wait_ready(self, redis: Redis, timeout: float = 60) -> None:
        """Until every worker is registered and idle, i.e. waiting on the queue."""
        from rq import Worker

        deadline = time.monotonic() + timeout
        pids = {p.pid for p in self.processes}
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"a worker exited early:\n{self.log.read_text()[-3000:]}")
            idle = {w.pid for w in Worker.all(connection=redis) if w.get_state() == "idle"}
            if pids <= idle:
                return
            time.sleep(0.1)
        raise RuntimeError(f"workers not ready within {timeout}s:\n{self.log.read_text()[-3000:]}")

    def cpu_ms(self) -> float:
        return sum(process_tree_cpu_ms(p.pid) for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()  # RQ's warm shutdown: finish the current job, then exit
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the group this script created
                process.wait(timeout=10)
        self._log_file.close()


def enqueue_key_jobs(redis: Redis, key_ids: list[int], retry_intervals: list[int]) -> None:
    """One job per key, with the options `app.jobs.queues.enqueue` gives it, in one round trip."""
    from rq import Queue, Retry

    queue = Queue("keys", connection=redis)
    retry = Retry(max=len(retry_intervals), interval=retry_intervals)
    queue.enqueue_many([Queue.prepare_data(KEY_JOB, args=(key_id,), retry=retry,
                                           failure_ttl=30 * 24 * 3600) for key_id in key_ids])


def wait_for_keys(db_url: str, where: str, params: tuple, expected: int, timeout: float,
                  workers: KeyWorkers) -> float:
    """Poll until `expected` keys are stored; returns the perf_counter time it happened."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(db_url, autocommit=True, application_name=POLLER) as conn:
        query = ("SELECT count(*) FROM dkim_keys WHERE state = 'pending' AND public_key IS NOT "
                 f"NULL AND private_key_ref IS NOT NULL AND {where}")
        while time.monotonic() < deadline:
            if conn.execute(query, params).fetchone()[0] >= expected:
                return time.perf_counter()
            if any(p.poll() is not None for p in workers.processes):
                raise RuntimeError(f"a worker died:\n{workers.log.read_text()[-3000:]}")
            time.sleep(0.05)
    raise RuntimeError(f"{expected} keys not stored within {timeout:.0f}s:\n"
                       f"{workers.log.read_text()[-3000:]}")


def failed_jobs(redis: Redis) -> int:
    from rq import Queue

    return Queue("keys", connection=redis).failed_job_registry.count


def create_key_rows(db_url: str, workspace_id: int, tag: str, count: int) -> list[int]:
    """Domains with one `generating` key each, as `add_domain` leaves them before the job."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO domains (workspace_id, fqdn, status, verification_token, dmarc_policy, "
            "return_path_label, setup_step, created_at) "
            "SELECT %s, %s || '-' || g || '.example', 'pending', "
            "'pm-verify-' || md5(g::text), 'none', 'pm-bounces', 2, now() "
            "FROM generate_series(1, %s) AS g", (workspace_id, tag, count))
        ids = [row[0] for row in conn.execute(
            "INSERT INTO dkim_keys (workspace_id, domain_id, selector, algorithm, state, "
            "created_at) SELECT workspace_id, id, 'pm1', 'rsa-2048', 'generating', now() "
            "FROM domains WHERE workspace_id = %s AND fqdn LIKE %s ORDER BY id RETURNING id",
            (workspace_id, f"{tag}-%"))]
        conn.commit()
    return sorted(ids)


def job_rate(ctx: Context, variant: Variant, workers: int, keys: int, tag: str) -> Run:
    """Steady-state rate of the key job on `workers` already-running worker processes."""
    code = variant.label
    key_ids = create_key_rows(ctx.db_url, ctx.workspace_id, tag, keys)
    pool = KeyWorkers(variant.root, workers, ctx.env, ctx.tmp / f"workers-{code}.log",
                      variant.worker_args)
    ctx.cleanup.callback(pool.stop)
    try:
        pool.wait_ready(ctx.redis)
        database = BackendCpu(ctx.db_name)
        cpu, busy, started = pool.cpu_ms(), machine_busy_ms(), time.perf_counter()
        enqueue_key_jobs(ctx.redis, key_ids, ctx.retry_intervals)
        finished = wait_for_keys(ctx.db_url, "id = ANY(%s)", (key_ids,), keys,
                                 timeout=60 + 2 * keys, workers=pool)
        run = Run("job", code, workers, keys, finished - started, pool.cpu_ms() - cpu,
                  machine_busy_ms() - busy, database.stop())
    finally:
        pool.stop()
    if failed := failed_jobs(ctx.redis):
        raise RuntimeError(f"{failed} key jobs failed; see {pool.log}")
    print(f"  key job [{code}] {workers} worker(s): {run.rate:6.2f} keys/s  "
          f"{run.cpu_ms_per_key:6.1f} ms CPU/key (workers and horses) + "
          f"{run.db_cpu_ms_per_key:.1f} ms PostgreSQL", flush=True)
    return run


# --- onboarding through the API -----------------------------------------------------------

def cli(root: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "flask", *args], cwd=root, env=env,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args[:2])} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def bench_account(root: Path, env: dict[str, str], db_url: str, slug: str) -> tuple[int, str]:
    """A workspace with its owner and an API token, made by the CLI; returns (id, token)."""
    email = f"{slug}@penguinmails.example"
    cli(root, env, "users", "create", "--email", email, "--password", BENCH_PASSWORD,
        "--workspace", slug)
    token = cli(root, env, "tokens", "create", "--email", email, "--workspace", slug,
                "--name", "keygen bench").strip().splitlines()[-1]
    with psycopg.connect(db_url) as conn:
        workspace_id = conn.execute("SELECT id FROM workspaces WHERE slug = %s",
                                    (slug,)).fetchone()[0]
    return workspace_id, token


def post_domain(base: str, token: str, name: str) -> tuple[int, float]:
    request = urllib.request.Request(
        base + "/api/v1/domains", data=json.dumps({"name": name}).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "User-Agent": USER_AGENT})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        error.read()
        status = error.code
    return status, time.perf_counter() - started


def onboard(ctx: Context, variant: Variant, domains: int) -> dict:
    """POST `domains` domains with `--clients` threads while 2 key workers drain the queue."""
    code, root = variant.label, variant.root
    workspace_id, token = bench_account(root, ctx.env, ctx.db_url, f"onboard-{code}")
    server = Gunicorn("wsgi:app", root, ctx.args.web_workers, ctx.env, ctx.tmp / f"web-{code}.log")
    ctx.cleanup.callback(server.stop)
    pool = KeyWorkers(root, 2, ctx.env, ctx.tmp / f"onboard-workers-{code}.log",
                      variant.worker_args)
    ctx.cleanup.callback(pool.stop)
    try:
        server.wait_ready("/login")
        pool.wait_ready(ctx.redis)
        names = [f"bench-{i:04d}.example" for i in range(1, domains + 1)]
        web_pids = [server.process.pid] + [
            int(entry.name) for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and _proc_stat(int(entry.name))[1:2] == [str(server.process.pid)]]
        web_cpu = sum(process_tree_cpu_ms(pid) for pid in web_pids)
        database = BackendCpu(ctx.db_name)
        worker_cpu, busy = pool.cpu_ms(), machine_busy_ms()
        client_cpu = time.process_time()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=ctx.args.clients) as clients:
            answers = list(clients.map(lambda name: post_domain(server.base, token, name), names))
        api_done = time.perf_counter()
        client_cpu = time.process_time() - client_cpu
        finished = wait_for_keys(ctx.db_url, "workspace_id = %s", (workspace_id,), domains,
                                 timeout=120 + domains, workers=pool)
        web_cpu = sum(process_tree_cpu_ms(pid) for pid in web_pids) - web_cpu
        worker_cpu, busy = pool.cpu_ms() - worker_cpu, machine_busy_ms() - busy
        db_cpu = database.stop()
    finally:
        pool.stop()
        server.stop()
    statuses = [status for status, _ in answers]
    if statuses.count(201) != domains:
        raise RuntimeError(f"{domains - statuses.count(201)} POSTs failed: "
                           f"{sorted(set(statuses))}; see {server.log}")
    if failed := failed_jobs(ctx.redis):
        raise RuntimeError(f"{failed} key jobs failed; see {pool.log}")
    latencies = sorted(seconds for _, seconds in answers)
    result = {
        "code": code, "domains": domains, "clients": ctx.args.clients,
        "web_workers": ctx.args.web_workers,
        "api_seconds": api_done - started, "wall_seconds": finished - started,
        "api_p50_ms": 1000 * latencies[len(latencies) // 2],
        "api_p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1],
        "web_cpu_ms": web_cpu, "worker_cpu_ms": worker_cpu, "client_cpu_ms": 1000 * client_cpu,
        "db_cpu_ms": db_cpu,
        "machine_busy_ms": busy,
    }
    print(f"  onboarding [{code}]: {domains} POSTs in {result['api_seconds']:.1f}s "
          f"({domains / result['api_seconds']:.1f} req/s), all keys after "
          f"{result['wall_seconds']:.1f}s ({domains / result['wall_seconds']:.2f} keys/s)",
          flush=True)
    return result


# --- in-process breakdown of one job ------------------------------------------------------

def breakdown_report(env: dict[str, str], key_ids: list[int]) -> dict:
    """Time inside the job function: RSA maths, key store write, and the rest (DB, ORM)."""
    os.environ.update(env)
    from cryptography.hazmat.primitives import serialization
    from sqlalchemy import event, select

    from app import create_app
    from app.core import dkim
    from app.domains import tasks
    from app.domains.models import DkimKey
    from app.extensions import db, keystore

    app = create_app()
    spent = {"keygen": 0.0, "store": 0.0}

    def timed(name, func):
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started
        return run

    dkim.generate_key = timed("keygen", dkim.generate_key)
    statements = []
    with app.app_context():
        store = keystore()
        store.put = timed("store", store.put)
        event.listen(db.engine, "before_cursor_execute",
                     lambda conn, cursor, statement, *rest: statements.append(statement))
        tasks.generate_dkim_key(key_ids[0])  # warm: connection pool, compiled SQL
        statements.clear()
        spent.update(keygen=0.0, store=0.0)
        started, cpu = time.perf_counter(), time.process_time()
        for key_id in key_ids[1:]:
            tasks.generate_dkim_key(key_id)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu

        # Keys stay encrypted: the blob holds no PEM, and the store gives the key back whole.
        job_statements = list(statements)
        key = db.session.scalar(select(DkimKey).where(DkimKey.id == key_ids[-1]))
        blob = Path(env["INSTANCE_PATH"], "keystore",
                    key.private_key_ref.replace(":", "-", 1) + ".json").read_text()
        pem = store.get(key.private_key_ref)
        private = serialization.load_pem_private_key(pem, None)
        public = base64.b64encode(private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
        checks = {"blob_has_plaintext": any(line in blob for line in pem.decode().splitlines()),
                  "blob_fields": sorted(json.loads(blob)),
                  "round_trip_matches_row": public == key.public_key}
        db.session.remove()
    jobs = len(key_ids) - 1
    kinds = [statement.split()[0].upper() for statement in job_statements]
    return {"jobs": jobs, "wall_ms": 1000 * wall / jobs, "cpu_ms": 1000 * cpu / jobs,
            "keygen_ms": 1000 * spent["keygen"] / jobs, "store_ms": 1000 * spent["store"] / jobs,
            "statements": len(job_statements) / jobs,
            "by_kind": {kind: kinds.count(kind) / jobs for kind in sorted(set(kinds))},
            **checks}


def breakdown(ctx: Context, variant: Variant, jobs: int) -> dict:
    """`breakdown_report` in a child process, so each checkout's `app` is imported fresh."""
    code, root = variant.label, variant.root
    key_ids = create_key_rows(ctx.db_url, ctx.workspace_id, f"inproc-{code}", jobs + 1)
    job_file, out = ctx.tmp / f"breakdown-{code}.json", ctx.tmp / f"breakdown-{code}.out"
    job_file.write_text(json.dumps({"app_root": str(root), "env": ctx.env, "key_ids": key_ids,
                                    "out": str(out)}))
    subprocess.run([sys.executable, __file__, "--breakdown-job", str(job_file)], cwd=root,
                   check=True, timeout=600)
    report = json.loads(out.read_text())
    print(f"  in-process [{code}]: {report['wall_ms']:.1f} ms/job, of which keygen "
          f"{report['keygen_ms']:.1f}, key store {report['store_ms']:.1f}; "
          f"{report['statements']:g} SQL statements", flush=True)
    return report


def breakdown_job(job_file: Path) -> None:
    job = json.loads(job_file.read_text())
    sys.path.insert(0, job["app_root"])
    Path(job["out"]).write_text(json.dumps(breakdown_report(job["env"], job["key_ids"])))


# --- report -------------------------------------------------------------------------------

def machine_facts(redis_url: str) -> dict:
    import cryptography
    import rq
    from cryptography.hazmat.backends.openssl.backend import backend

    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    with psycopg.connect(ADMIN_DSN) as conn:
        postgresql = conn.execute("SHOW server_version").fetchone()[0]
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": os.cpu_count(), "cpu": cpu, "platform": platform.platform(),
            "python": platform.python_version(), "cryptography": cryptography.__version__,
            "openssl": backend.openssl_version_text(), "rq": rq.__version__,
            "postgresql": postgresql, "redis": Redis.from_url(redis_url).info()["redis_version"],
            "loadavg_at_start": os.getloadavg()}


def _runs(raw: dict, kind: str, code: str, processes: int) -> list[Run]:
    return [Run(**r) for r in raw["runs"]
            if (r["kind"], r["code"], r["processes"]) == (kind, code, processes)]


def _median(runs: list[Run], field: str) -> float:
    return statistics.median(getattr(run, field) for run in runs)


def own_cpu_ms(onboarding: dict) -> float:
    """All the CPU onboarding cost: web, key workers, PostgreSQL and the HTTP clients."""
    return sum(onboarding[part] for part in ("web_cpu_ms", "worker_cpu_ms", "db_cpu_ms",
                                              "client_cpu_ms"))


def verdict(onboarding: dict) -> tuple[float, bool]:
    """End-to-end keys/s against the mean of the raw 2-process runs just before and after."""
    share = (onboarding["domains"] / onboarding["wall_seconds"]
             / statistics.mean(onboarding["yardstick"]))
    return share, share >= TARGET_SHARE


def write_report(path: Path, raw: dict, notes: str | None) -> None:
    facts, args, variants = raw["facts"], raw["settings"], raw["variants"]
    labels = [v["label"] for v in variants]
    raw1, raw2 = _runs(raw, "raw", "", 1), _runs(raw, "raw", "", 2)
    onboardings = {o["code"]: o for o in raw["onboarding"]}
    breakdowns = raw["breakdown"]
    raw_cpu = _median(raw1 + raw2, "cpu_ms_per_key")
    final = labels[-1]

    def row(label: str, runs: list[Run], per: int, ceiling: list[Run]) -> str:
        rates = [r.rate for r in runs]
        share = _median(runs, "rate") / _median(ceiling, "rate")
        database = _median(runs, "db_cpu_ms_per_key")
        cpu = f"{_median(runs, 'cpu_ms_per_key'):.1f}" + (f" + {database:.1f}" if database else "")
        return (f"| {label} | {statistics.median(rates):.2f} ({min(rates):.2f}–{max(rates):.2f}) "
                f"| {statistics.median(rates) / per:.2f} | {share:.0%} | {cpu} ms | "
                f"{_median(runs, 'other_cores'):.2f} |")

    lines = [
        "# DKIM key generation benchmark",
        "",
        f"Run on {facts['date']} by `bench/keygen.py` (the whole file is generated by it).",
        "",
        "Variants measured (the verdict is about the last one):",
        "",
        *(f"* {v['description']}" for v in variants),
        "",
        "## Key generation rate",
        "",
        f"Medians of {len(raw1)} rounds; in each round every measurement ran once, one after "
        "the other (variants in alternating order), so that they share the background load of "
        "the moment. Keys are RSA-2048.",
        "",
        "| measurement | keys/s (range) | keys/s per process | % of raw, same process count "
        "| CPU per key | other cores busy |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        row("Raw `rsa.generate_private_key(65537, 2048)`, 1 process", raw1, 1, raw1),
        row("Raw, 2 processes in parallel (the machine's ceiling)", raw2, 2, raw2),
    ]
    for label in labels:
        for workers, ceiling in ((1, raw1), (2, raw2)):
            lines.append(row(f"Key job, {workers} RQ worker{'s' if workers > 1 else ''} "
                             f"[`{label}`]", _runs(raw, "job", label, workers), workers, ceiling))
    lines += [
        "",
        "*CPU per key* is the CPU time of the measured processes per key: the raw loops, or the "
        "RQ worker processes together with the work horses they fork, + the PostgreSQL "
        "backends of the scratch database (sampled every 0.05 s: a connection that lives for "
        "one job is partly missed). Redis's share is not in it. *Other cores busy* is how many "
        "cores everything else on the machine kept busy meanwhile (from /proc/stat): Redis, "
        "and other programs. It is there to judge how disturbed a figure is: the raw and job "
        "rates are only comparable when it is about the same, while CPU per key is much less "
        "sensitive to it.",
        "",
    ]
    if onboardings:
        shown = [label for label in labels if label in onboardings]
        domains = onboardings[shown[-1]]["domains"]

        def others(o: dict) -> float:
            return max(0.0, (o["machine_busy_ms"] - own_cpu_ms(o)) / 1000 / o["wall_seconds"])

        onboarding_rows = [
            ("domains POSTed (all answered 201)", lambda o: f"{o['domains']:,}"),
            ("API: time for all POSTs", lambda o: f"{o['api_seconds']:.1f} s"),
            ("**API request rate**", lambda o: f"**{o['domains'] / o['api_seconds']:.1f} req/s**"),
            ("API latency p50 / p99",
             lambda o: f"{o['api_p50_ms']:.0f} / {o['api_p99_ms']:.0f} ms"),
            (f"**wall time, first POST → all {domains:,} keys pending**",
             lambda o: f"**{o['wall_seconds']:.1f} s**"),
            ("**keys/s end to end**", lambda o: f"**{o['domains'] / o['wall_seconds']:.2f}**"),
            ("raw 2-process keygen just before / after",
             lambda o: " / ".join(f"{y:.2f}" for y in o["yardstick"]) + " keys/s"),
            ("**end to end ÷ raw 2-process rate**", lambda o: f"**{verdict(o)[0]:.0%}**"),
            ("CPU per domain: web (gunicorn) / key workers / PostgreSQL / HTTP clients",
             lambda o: " / ".join(f"{o[part] / o['domains']:.1f}" for part in (
                 "web_cpu_ms", "worker_cpu_ms", "db_cpu_ms", "client_cpu_ms")) + " ms"),
            ("**CPU per domain, all of it**",
             lambda o: f"**{own_cpu_ms(o) / o['domains']:.1f} ms**"),
            (f"CPU-bound share: raw CPU per key ({raw_cpu:.1f} ms) ÷ CPU per domain",
             lambda o: f"{raw_cpu / (own_cpu_ms(o) / o['domains']):.0%}"),
            ("other cores busy (Redis, other programs)", lambda o: f"{others(o):.2f}"),
        ]
        lines += [
            f"## Onboarding {domains:,} domains through the API, 2 key workers",
            "",
            "| | " + " | ".join(f"`{label}`" for label in shown) + " |",
            "| --- |" + " ---: |" * len(shown),
            *(f"| {name} | " + " | ".join(cell(onboardings[label]) for label in shown) + " |"
              for name, cell in onboarding_rows),
            "",
        ]
        if final in onboardings:
            share, met = verdict(onboardings[final])
            lines += [
                f"**Verdict** for `{final}` (target: onboarding keys/s ≥ {TARGET_SHARE:.0%} of "
                f"the raw 2-process keygen rate measured in the same run): {share:.0%} — "
                f"**{'met' if met else 'missed'}**.",
                "",
            ]
        lines += [
            "The web server, the HTTP clients, PostgreSQL and the two key workers share the two "
            "cores, so the CPU the POSTs cost is taken from key generation while they last; the "
            "raw yardstick has both cores to itself. *CPU-bound share* is the share a machine "
            "with two cores of its own would reach if all of this work were packed onto them: "
            "it does not depend on what else runs on the machine, the measured share does "
            "(a run that starts more processes than the raw yardstick gets a larger slice of "
            "cores that other programs also want).",
            "",
        ]

    def brow(name: str, cell) -> str:
        return f"| {name} | " + " | ".join(cell(label) for label in labels) + " |"

    def rest(label: str) -> float:
        b = breakdowns[label]
        return b["wall_ms"] - b["keygen_ms"] - b["store_ms"]

    lines += [
        "## Where a key job's time goes",
        "",
        f"The job function run in-process {breakdowns[final]['jobs']} times in a row (after "
        "one warm-up job), with timers around key generation and the key store write; "
        "\"worker, per key\" is the 1-worker RQ measurement above (1 ÷ keys/s): what the "
        "worker spends around the job besides it.",
        "",
        "| ms per key | " + " | ".join(f"`{label}`" for label in labels) + " |",
        "| --- |" + " ---: |" * len(labels),
        brow("RSA-2048 generation (`dkim.generate_key`)",
             lambda c: f"{breakdowns[c]['keygen_ms']:.1f}"),
        brow("key store write (`LocalKeyStore.put`: AES-GCM envelope, file and folder fsync)",
             lambda c: f"{breakdowns[c]['store_ms']:.1f}"),
        brow("the rest of the job (app context, session, queries, commit)",
             lambda c: f"{rest(c):.1f}"),
        brow("**the job in-process**", lambda c: f"**{breakdowns[c]['wall_ms']:.1f}**"),
        brow("**worker, per key (1 worker)**",
             lambda c: f"**{1000 / _median(_runs(raw, 'job', c, 1), 'rate'):.1f}**"),
        brow("raw keygen per key (1 process)", lambda c: f"{1000 / _median(raw1, 'rate'):.1f}"),
        brow("SQL statements per job",
             lambda c: f"{breakdowns[c]['statements']:g} (" + ", ".join(
                 f"{kind} {count:g}" for kind, count in breakdowns[c]["by_kind"].items()) + ")"),
        "",
        "Key storage, checked on a key the job stored: the blob's fields are "
        f"{', '.join(f'`{f}`' for f in breakdowns[final]['blob_fields'])}; none of the "
        "private key's PEM lines appear in it "
        f"({'FAILED' if breakdowns[final]['blob_has_plaintext'] else 'ok'}); the key read "
        "back through the key store has the public key stored in the row "
        f"({'ok' if breakdowns[final]['round_trip_matches_row'] else 'FAILED'}).",
        "",
    ]
    if notes:
        lines += ["## Analysis and changes", "", notes.strip(), ""]
    lines += [
        "## Machine and settings",
        "",
        f"* {facts['nproc']} cores ({facts['cpu']}), {facts['platform']}",
        f"* Python {facts['python']}, cryptography {facts['cryptography']} "
        f"({facts['openssl']}), RQ {facts['rq']}, PostgreSQL {facts['postgresql']}, "
        f"Redis {facts['redis']}",
        f"* Raw runs: {args['raw_seconds']:g} s each, `multiprocessing` (spawn); the processes "
        "start together at a barrier; a process's rate is its keys ÷ the time to its last key, "
        "and the rates of the processes are summed.",
        f"* Key job runs: {args['keys_per_worker']} keys per worker; the workers are started "
        "and registered before the jobs are enqueued (one pipeline, with the retry and failure "
        "TTL `app.jobs.queues.enqueue` gives them), so their start-up is not timed; the clock "
        "stops when the database shows every key `pending` with its public key and key store "
        "reference (polled every 50 ms).",
        f"* Onboarding: gunicorn `--workers {args['web_workers']} --worker-class sync wsgi:app` "
        f"with PENGUINMAILS_ENV=production, {args['clients']} client threads (urllib, one "
        "connection per request) POSTing `{\"name\": \"bench-NNNN.example\"}` with a bearer "
        "token from `flask tokens create`; 2 key workers of the variant, started beforehand.",
        "* Scratch PostgreSQL database from the migrations, dropped at the end; Redis "
        f"`{args['redis_url']}` (checked empty first, flushed at the end); the local key store "
        "(random `KEYSTORE_MASTER_KEY`) in a temporary instance folder on the same ext4 disk "
        "as the repo, removed at the end.",
        "* Load average (1, 5, 15 min) when the run started: "
        f"{', '.join(f'{x:.2f}' for x in facts['loadavg_at_start'])}; when it ended: "
        f"{', '.join(f'{x:.2f}' for x in facts['loadavg_at_end'])}. Other programs share "
        "these two cores: compare figures from the same run, and read them with the *other "
        "cores busy* column.",
        "",
    ]
    path.write_text("\n".join(lines))


# --- main ---------------------------------------------------------------------------------

@dataclass
class Context:
    args: argparse.Namespace
    tmp: Path
    env: dict[str, str]
    db_name: str
    db_url: str
    redis: Redis
    workspace_id: int
    retry_intervals: list[int]
    cleanup: ExitStack  # stops what a measurement started, also when the run fails


def drop_database_loudly(name: str) -> None:
    drop_database(name)
    print(f"dropped database {name}", flush=True)


def flush_redis(redis: Redis, url: str) -> None:
    redis.flushdb()
    print(f"flushed {url}", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of the raw and key-job measurements (default 3)")
    parser.add_argument("--raw-seconds", type=float, default=10,
                        help="seconds per raw keygen measurement (default 10)")
    parser.add_argument("--keys-per-worker", type=int, default=150,
                        help="key jobs per worker in a key-job measurement (default 150)")
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4, help="HTTP client threads (default 4)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--breakdown-jobs", type=int, default=30,
                        help="in-process key jobs timed for the breakdown (default 30)")
    parser.add_argument("--redis-url", default=REDIS_URL,
                        help=f"a Redis database of its own, empty (default {REDIS_URL})")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "keygen.md")
    parser.add_argument("--variant", type=Variant.parse, action="append", default=[],
                        dest="variants", metavar="LABEL:ROOT[:WORKER-ARGS]",
                        help="code and worker.py arguments to measure (repeatable; the last "
                             "one gets the verdict); default: this checkout as it is")
    parser.add_argument("--onboard", metavar="LABELS",
                        help="comma-separated variant labels to onboard 1,000 domains with "
                             "(default: every variant)")
    parser.add_argument("--notes", type=Path, help="Markdown for the analysis section")
    parser.add_argument("--render-from", type=Path, metavar="JSON",
                        help="only rewrite --out from a run's JSON (with --notes)")
    parser.add_argument("--breakdown-job", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.breakdown_job:
        breakdown_job(args.breakdown_job)
        return 0
    notes = args.notes.read_text() if args.notes else None
    if args.render_from:
        write_report(args.out, json.loads(args.render_from.read_text()), notes)
        print(f"wrote {args.out}")
        return 0
    if not (1 <= args.rounds <= 10 and 1 <= args.raw_seconds <= 120
            and 10 <= args.keys_per_worker <= 2000 and 10 <= args.domains <= 9999):
        raise SystemExit("--rounds 1-10, --raw-seconds 1-120, --keys-per-worker 10-2000, "
                         "--domains 10-9999")
    if not args.redis_url.startswith(("redis://127.0.0.1", "redis://localhost")):
        raise SystemExit("--redis-url must be a loopback Redis")
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    variants = args.variants or [Variant("current", ROOT)]
    if len({v.label for v in variants}) != len(variants):
        raise SystemExit("--variant labels must differ")
    onboarded = [v for v in variants if args.onboard is None or v.label in args.onboard.split(",")]
    redis = Redis.from_url(args.redis_url, socket_timeout=10)
    if redis.dbsize():
        raise SystemExit(f"{args.redis_url} is not empty: it may be someone else's; pick "
                         "another database with --redis-url")
    facts = machine_facts(args.redis_url)
    with tempfile.TemporaryDirectory(prefix="pm-keygen-") as tmp_name, ExitStack() as cleanup:
        tmp = Path(tmp_name)
        # Undone in reverse order: processes first, then the database, then Redis.
        cleanup.callback(flush_redis, redis, args.redis_url)
        try:
            db_name = create_database()
            cleanup.callback(drop_database_loudly, db_name)
            env = app_environment(db_name, tmp / "instance")
            retry_intervals = [10, 60, 300]
            env.update({"REDIS_URL": args.redis_url,
                        "KEYSTORE_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
                        "JOB_RETRY_INTERVALS": ",".join(map(str, retry_intervals))})
            db_url = database_url(db_name)
            print(f"database {db_name}: migrating…", flush=True)
            migrate(env, ROOT)
            workspace_id, _ = bench_account(ROOT, env, db_url, "keygen")
            ctx = Context(args, tmp, env, db_name, db_url, redis, workspace_id, retry_intervals,
                          cleanup)

            runs: list[Run] = []
            for round_number in range(args.rounds):
                print(f"round {round_number + 1}/{args.rounds}", flush=True)
                runs += [raw_keygen(1, args.raw_seconds), raw_keygen(2, args.raw_seconds)]
                order = variants[::1 if round_number % 2 == 0 else -1]
                for workers in (1, 2):
                    for variant in order:
                        runs.append(job_rate(ctx, variant, workers,
                                             workers * args.keys_per_worker,
                                             f"jobs-{variant.label}-r{round_number}-w{workers}"))

            print("in-process breakdown…", flush=True)
            breakdowns = {v.label: breakdown(ctx, v, args.breakdown_jobs) for v in variants}

            print("onboarding through the API…", flush=True)
            onboarding = []
            for variant in onboarded:
                # The raw runs around it are its yardstick, not more rounds of the table.
                before = raw_keygen(2, args.raw_seconds)
                result = onboard(ctx, variant, args.domains)
                after = raw_keygen(2, args.raw_seconds)
                result["yardstick"] = [before.rate, after.rate]
                onboarding.append(result)

            facts["loadavg_at_end"] = os.getloadavg()
            raw = {"facts": facts,
                   "settings": {"raw_seconds": args.raw_seconds,
                                "keys_per_worker": args.keys_per_worker,
                                "clients": args.clients, "web_workers": args.web_workers,
                                "redis_url": args.redis_url},
                   "variants": [{"label": v.label, "root": str(v.root),
                                 "worker_args": list(v.worker_args),
                                 "description": v.describe()} for v in variants],
                   "runs": [asdict(r) for r in runs],
                   "breakdown": breakdowns, "onboarding": onboarding}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")
            write_report(args.out, raw, notes)
            if onboarding:
                share, met = verdict(onboarding[-1])
                print(f"wrote {args.out}; onboarding [{onboarding[-1]['code']}] at {share:.0%} "
                      f"of the raw 2-process rate: target {'met' if met else 'MISSED'}")
            return 0
        except BaseException:
            for log in tmp.glob("*.log"):
                print(f"--- tail of {log.name} ---\n{log.read_text()[-2000:]}", file=sys.stderr)
            raise
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the clean-up below finish
            signal.signal(signal.SIGTERM, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
