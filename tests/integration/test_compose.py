"""The production compose file: valid (Debian's `docker-compose config`, no engine needed), complete, and its
PostgreSQL roles really keep the application from owning or rewriting the tables."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from core.settings import Settings
from tests.fixtures.topology import Topology
from tests.fixtures.topology_env import SERVICE_DATA, service_env
from tests.services import with_database

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
# Only meaningful for `coc up`: in compose each service listens on its own fixed port (and a shared clock file is
# refused in production mode).
EMBEDDED_ONLY = {"api_host", "api_port", "prefect_port", "s3_port", "clock_file"}  # clock_file: refused in production
LONG_RUNNING = ("postgres", "seaweedfs", "prefect-server", "worker", "api")
ONE_SHOT = ("migrate", "prefect-deploy")


def _docker_compose() -> str:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("the `docker-compose` binary is missing: install Debian's package "
                    "(apt-get install docker-compose); ./scripts/test does this when run as root")
    return exe


def _config(env_file: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    # --project-directory keeps relative mounts pointing at the repository.
    return subprocess.run([_docker_compose(), "--project-directory", str(ROOT), "--env-file", str(env_file),
                           "-f", str(COMPOSE), "config"], capture_output=True, text=True, cwd=tmp_path, timeout=120)


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> dict:
    """The compose file as docker-compose resolves it with .env.example."""
    res = _config(ENV_EXAMPLE, tmp_path_factory.mktemp("compose"))
    assert res.returncode == 0, f"docker-compose config failed:\n{res.stderr}"
    return yaml.safe_load(res.stdout)


def _env_names(path: Path) -> set[str]:
    """Names in an env file, commented-out defaults included (`# COC_X=...`)."""
    return {m.group(1) for m in re.finditer(r"^#?\s*([A-Z][A-Z0-9_]*)=", path.read_text(), re.MULTILINE)}


def test_compose_file_is_valid_and_has_every_service(config):
    """Every service is there; long-running ones have health checks; images are pinned."""
    services = config["services"]
    assert set(LONG_RUNNING) | set(ONE_SHOT) <= set(services)
    for name in LONG_RUNNING:
        assert "healthcheck" in services[name], f"{name} has no health check"
    for name in ONE_SHOT:
        assert services[name].get("restart") == "no", name
    for name, svc in services.items():
        image = svc.get("image", "")
        assert image and not image.endswith(":latest") and ":" in image, f"{name}: unpinned image {image!r}"
    assert services["postgres"]["image"].startswith("postgres:16")
    # A maintained S3 store with Object Lock (MinIO's community server is archived upstream).
    assert re.fullmatch(r"chrislusf/seaweedfs:[0-9.]+", services["seaweedfs"]["image"])
    assert not [name for name in services if "minio" in name]
    assert set(config["volumes"]) >= {"pgdata", "s3data"}
    for name in ("api", "worker"):
        assert services[name]["deploy"]["replicas"] == 2, name


def test_app_containers_get_production_settings_and_no_root_secrets(config):
    """API and worker: production mode, the non-owner role, MinIO by service name; no superuser passwords."""
    for name in ("api", "worker"):
        env = config["services"][name]["environment"]
        assert env["COC_MODE"] == "production"
        assert env["COC_DATABASE_URL"].startswith("postgresql://coc_app:")
        assert env["COC_S3_ENDPOINT"] == "seaweedfs:8333"
        for secret in ("POSTGRES_PASSWORD", "COC_DB_OWNER_PASSWORD", "PREFECT_DB_PASSWORD"):
            assert secret not in env, f"{name} receives {secret}"
    prefect = config["services"]["prefect-server"]["environment"]
    assert prefect["PREFECT_SERVER_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://prefect:")
    assert prefect["PREFECT_SERVER_API_AUTH_STRING"]
    migrate = config["services"]["migrate"]["environment"]
    assert migrate["COC_MIGRATE_DATABASE_URL"].startswith("postgresql://coc_owner:")
    deps = config["services"]["api"]["depends_on"]
    assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert deps["seaweedfs"]["condition"] == "service_healthy"


def test_env_example_lists_every_setting(config):
    """.env.example names every Settings field; the API container receives every production setting."""
    names = _env_names(ENV_EXAMPLE)
    missing = sorted(f"COC_{f.upper()}" for f in Settings.model_fields if f"COC_{f.upper()}" not in names)
    assert not missing, f".env.example lacks {missing}"
    env = config["services"]["api"]["environment"]
    absent = sorted(f"COC_{f.upper()}" for f in set(Settings.model_fields) - EMBEDDED_ONLY
                    if f"COC_{f.upper()}" not in env)
    assert not absent, f"docker-compose.yml does not pass {absent} to the API"


def test_missing_secret_is_named_by_compose(tmp_path):
    """An env file without a required secret fails `config`, naming the variable."""
    lines = [ln for ln in ENV_EXAMPLE.read_text().splitlines() if not ln.startswith("COC_IDENTITY_KEY=")]
    env = tmp_path / "partial.env"
    env.write_text("\n".join(lines) + "\n")
    res = _config(env, tmp_path)
    assert res.returncode != 0
    assert "COC_IDENTITY_KEY" in res.stderr


# -- the PostgreSQL roles of the init scripts, on a real server ------------------------------------------
def _render(sql: str, variables: dict[str, str]) -> list[str]:
    """Apply psql's :"ident" / :'literal' substitution and split into statements (what psql -v -f does)."""
    def ident(m: re.Match) -> str:
        return '"' + variables[m.group(1)].replace('"', '""') + '"'

    def literal(m: re.Match) -> str:
        return "'" + variables[m.group(1)].replace("'", "''") + "'"

    body = "\n".join(ln for ln in sql.splitlines() if not ln.lstrip().startswith("--"))
    body = re.sub(r':"(\w+)"', ident, re.sub(r":'(\w+)'", literal, body))
    return [s.strip() for s in body.split(";") if s.strip()]


def _load_migrate_script():
    spec = importlib.util.spec_from_file_location("coc_docker_migrate", ROOT / "docker" / "migrate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_app_role_cannot_own_or_rewrite_the_ledger(pg_templates, tmp_path):
    """roles.sql + coc-schema.sql + docker/migrate.py: the app role writes rows but never the schema or ledger."""
    tag = uuid.uuid4().hex[:8]
    v = {"owner": f"coc_owner_{tag}", "owner_pw": f"o-{tag}", "app": f"coc_app_{tag}", "app_pw": f"a-{tag}",
         "prefect": f"prefect_{tag}", "prefect_pw": f"p-{tag}", "coc_db": f"coc_{tag}", "prefect_db": f"prefect_{tag}"}
    sql_dir = ROOT / "docker" / "postgres"
    admin = pg_templates.admin
    admin_url = pg_templates.admin_url

    def as_role(db: str, user: str, password: str) -> str:
        url = sa.engine.make_url(with_database(admin_url, db)).set(username=user, password=password)
        return url.render_as_string(hide_password=False)

    try:
        with admin.connect() as c:
            for stmt in _render((sql_dir / "roles.sql").read_text(), v):
                c.exec_driver_sql(stmt)
        eng = sa.create_engine(with_database(admin_url, v["coc_db"]), isolation_level="AUTOCOMMIT",
                               poolclass=sa.pool.NullPool)
        with eng.connect() as c:
            for stmt in _render((sql_dir / "coc-schema.sql").read_text(), v):
                c.exec_driver_sql(stmt)
        eng.dispose()

        owner_url = as_role(v["coc_db"], v["owner"], v["owner_pw"])
        script = _load_migrate_script()
        from core import migrate

        migrate.upgrade(owner_url)
        owner = sa.create_engine(owner_url, poolclass=sa.pool.NullPool)
        frozen = script.apply_grants(owner, v["app"])
        owner.dispose()
        assert "ledger_entry" in frozen
        assert script.bootstrap_admin(owner_url, tmp_path) is True
        assert (tmp_path / "admin-password").stat().st_mode & 0o077 == 0
        assert script.bootstrap_admin(owner_url, tmp_path) is False  # a restart changes nothing

        app = sa.create_engine(as_role(v["coc_db"], v["app"], v["app_pw"]), poolclass=sa.pool.NullPool)
        with app.connect() as c:
            priv = lambda table, p: c.execute(  # noqa: E731
                sa.text("SELECT has_table_privilege(current_user, :t, :p)"), {"t": table, "p": p}).scalar()
            assert priv("ledger_entry", "INSERT") and priv("ledger_entry", "SELECT")
            for table in frozen:
                assert not priv(table, "UPDATE") and not priv(table, "DELETE"), table
            assert priv("case_record", "UPDATE") and priv("case_record", "DELETE")
            assert not priv("alembic_version", "UPDATE")
            owner_name = c.execute(sa.text("SELECT tableowner FROM pg_tables WHERE tablename = 'ledger_entry'"))
            assert owner_name.scalar() == v["owner"]
        for forbidden in ("UPDATE ledger_entry SET seq = seq WHERE false", "DELETE FROM ledger_entry WHERE false",
                          "CREATE TABLE sneaky (x int)", "DROP TRIGGER ledger_entry_append_only ON ledger_entry",
                          "ALTER TABLE case_record ADD COLUMN sneaky int"):
            with app.connect() as c, pytest.raises(sa.exc.ProgrammingError, match="permission denied|must be owner"):
                c.exec_driver_sql(forbidden)
        app.dispose()

        # Prefect's own role owns its database. (prefect.sql's pg_trgm needs PostgreSQL's contrib files, which
        # the postgres image has and the embedded test server lacks: its statement is checked, not run.)
        prefect = sa.create_engine(as_role(v["prefect_db"], v["prefect"], v["prefect_pw"]),
                                   poolclass=sa.pool.NullPool)
        with prefect.connect() as c:
            assert c.exec_driver_sql("SELECT pg_get_userbyid(datdba) FROM pg_database "
                                     "WHERE datname = current_database()").scalar() == v["prefect"]
        prefect.dispose()
        assert _render((sql_dir / "prefect.sql").read_text(), v) == ["CREATE EXTENSION IF NOT EXISTS pg_trgm"]
    finally:
        with admin.connect() as c:
            for db in (v["coc_db"], v["prefect_db"]):
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            for role in (v["app"], v["owner"], v["prefect"]):
                c.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')


# -- the harness of the production layout without Docker (tests/fixtures/topology.py) ----------------------
def test_harness_runs_the_compose_services_with_the_compose_settings(tmp_path):
    """Same services (compose's replicas = the harness's -1, -2 parts) and, for every service, the variables
    docker-compose resolves from an .env are exactly the harness's, only the addresses moved onto this machine."""
    topo = Topology(tmp_path / "topo")
    try:
        env_file = tmp_path / "harness.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in topo.dotenv.items()))
        res = _config(env_file, tmp_path)
        assert res.returncode == 0, res.stderr
        services = yaml.safe_load(res.stdout)["services"]
        plan = topo.plan()
        assert set(plan.values()) | set(ONE_SHOT) == set(services)
        for name, svc in services.items():
            replicas = (svc.get("deploy") or {}).get("replicas", 1)
            assert list(plan.values()).count(name) == (0 if name in ONE_SHOT else replicas), name
            data_dir = getattr(topo.where, SERVICE_DATA.get(name, "apidata"))
            want = {k: topo.where.localize(str(v), data_dir=data_dir) for k, v in svc.get("environment", {}).items()}
            got = service_env(name, topo.dotenv, topo.where)
            assert got == want, name
        api = topo.env("api")
        assert api["COC_MODE"] == "production" and api["COC_DATABASE_URL"].startswith("postgresql://coc_app:")
        assert api["COC_S3_ENDPOINT"] == topo.s3_endpoint and api["COC_PREFECT_API_URL"] == topo.prefect_api_url
        assert api["PREFECT_API_AUTH_STRING"] == topo.dotenv["PREFECT_AUTH_STRING"]
        absent = sorted(f"COC_{f.upper()}" for f in set(Settings.model_fields) - EMBEDDED_ONLY
                        if f"COC_{f.upper()}" not in api)
        assert not absent, absent
    finally:
        topo.stop()


def test_prefect_yaml_deploys_every_flow_the_embedded_runner_serves():
    """The compose workers run prefect.yaml's deployments; `coc up` serves flows.serve's: the same set."""
    from flows.serve import served_flows

    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployed = {d["name"]: d["entrypoint"].rsplit(":", 1)[1] for d in doc["deployments"]}
    served = {name: flow.fn.__name__ for flow, name, _ in served_flows()}
    assert deployed == served
    assert doc["pull"][0]["prefect.deployments.steps.set_working_directory"]["directory"] == "{{ $COC_APP_DIR }}"
    assert "COC_APP_DIR=/app" in (ROOT / "docker" / "Dockerfile").read_text()
