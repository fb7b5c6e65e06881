"""What the outbox needs from the orchestrator (the `Waker` Protocol) and its Prefect adapter (`PrefectWaker`,
over Prefect's HTTP API; `waker_for(settings)` builds the configured one)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal, Protocol

from core.clock import as_utc
from core.reconcile import RunInfo

if TYPE_CHECKING:
    from core.settings import Settings

PATHWAY_DEPLOYMENT = "survivor-pathway/survivor-pathway"


RunStatus = Literal["waiting", "active", "finished"]


class Waker(Protocol):
    """What the outbox needs from the orchestrator (Prefect in production; anything in a test)."""

    def start_pathway(self, case_id: str, *, idempotency_key: str) -> str:
        """Create a pathway run for the case (idempotent on the key); return its run id."""
        ...

    def run_info(self, flow_run_id: str) -> RunInfo | None:
        """The run's state and since when; None when the orchestrator does not know the run."""
        ...

    def case_runs(self, case_id: str, *, limit: int = 20) -> list[RunInfo]:
        """The case's pathway runs, newest first."""
        ...

    def retire(self, flow_run_id: str, reason: str) -> None:
        """Mark a stuck (dead but not final) run Crashed, so that nothing picks it up again."""
        ...

    def resume(self, flow_run_id: str, run_input: dict[str, str]) -> bool:
        """Resume a suspended run; False when the orchestrator refused (e.g. already resumed)."""
        ...


QUICK_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4)  # seconds between quick retries of a 503 (see PrefectWaker)


class PrefectWaker:
    """Waker backed by a Prefect server's API (synchronous client; safe in any thread)."""

    def __init__(self, api_url: str | None = None, *, auth_string: str | None = None,
                 deployment: str = PATHWAY_DEPLOYMENT) -> None:
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL

        self.api_url = api_url or PREFECT_API_URL.value()
        self.auth_string = auth_string or PREFECT_API_AUTH_STRING.value()
        self.deployment = deployment
        self._deployment_id = None

    def _client(self):
        from prefect.client.orchestration import SyncPrefectClient

        if not self.api_url:
            raise RuntimeError("no Prefect API URL: set COC_PREFECT_API_URL")
        return SyncPrefectClient(self.api_url, auth_string=self.auth_string, httpx_settings={"timeout": 10.0})

    def start_pathway(self, case_id: str, *, idempotency_key: str) -> str:
        """Create a run of the pathway deployment named after the case (opaque id only)."""
        with self._client() as client:
            if self._deployment_id is None:
                self._deployment_id = client.read_deployment_by_name(self.deployment).id
            run = client.create_flow_run_from_deployment(
                self._deployment_id, parameters={"case_id": case_id}, name=case_id, idempotency_key=idempotency_key
            )
        if run.name != case_id:  # Prefect returned another case's run for this key: never act on it
            raise RuntimeError(f"idempotency key {idempotency_key!r} belongs to another run")
        return str(run.id)

    def run_info(self, flow_run_id: str) -> RunInfo | None:
        """The run's state type and since when (None when Prefect does not know the run)."""
        from uuid import UUID

        from prefect.exceptions import ObjectNotFound

        with self._client() as client:
            try:
                return _run_info(client.read_flow_run(UUID(flow_run_id)))
            except ObjectNotFound:
                return None

    def case_runs(self, case_id: str, *, limit: int = 20) -> list[RunInfo]:
        """The case's pathway runs, newest first."""
        return self.runs_of_cases([case_id]).get(case_id, [])[:limit]

    def runs_of_cases(self, case_ids: list[str], *, per_query: int = 50) -> dict[str, list[RunInfo]]:
        """Every pathway run of the given cases (runs are named by the case id), newest first per case."""
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterName,
            FlowRunFilter,
            FlowRunFilterName,
        )

        _, dep_name = self.deployment.split("/", 1)
        found: dict[str, list[tuple[Any, RunInfo]]] = {}
        with self._client() as client:
            for i in range(0, len(case_ids), per_query):
                names = case_ids[i:i + per_query]
                offset = 0
                while True:
                    runs = client.read_flow_runs(
                        flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names)),
                        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[dep_name])),
                        limit=200, offset=offset)
                    for run in runs:
                        found.setdefault(run.name, []).append((run.created, _run_info(run)))
                    if len(runs) < 200:
                        break
                    offset += len(runs)
        return {case: [info for _, info in sorted(pairs, key=lambda p: (p[0] is not None, p[0]), reverse=True)]
                for case, pairs in found.items()}

    def retire(self, flow_run_id: str, reason: str) -> None:
        """Force the run Crashed (it is stuck: nothing runs it); a runner then never picks it up again."""
        from uuid import UUID

        from prefect.states import Crashed

        with self._client() as client:
            client.set_flow_run_state(UUID(flow_run_id), Crashed(message=reason), force=True)

    def run_status(self, flow_run_id: str) -> RunStatus:
        """Map the run's Prefect state onto waiting / active / finished."""
        from uuid import UUID

        from prefect.exceptions import ObjectNotFound

        with self._client() as client:
            try:
                run = client.read_flow_run(UUID(flow_run_id))
            except ObjectNotFound:
                return "finished"
        state = run.state
        if state is None:
            return "active"
        if state.is_paused():
            return "waiting"
        return "finished" if state.is_final() else "active"

    def resume(self, flow_run_id: str, run_input: dict[str, str]) -> bool:
        """Resume the run with `run_input`; a refusal (already resumed, not paused) returns False."""
        from uuid import UUID

        from prefect.client.schemas import OrchestrationResult

        run_id = UUID(flow_run_id)
        answer = self._post_retrying_503(f"flow_runs/{run_id}/resume", {"run_input": run_input})
        if answer is not None:
            result = OrchestrationResult.model_validate(answer)
        else:  # anything but success or 503: Prefect's own client (CSRF, its retries, its errors)
            with self._client() as client:
                result = client.resume_flow_run(run_id, run_input=run_input)
        return str(result.status.value).upper() == "ACCEPT"

    def _post_retrying_503(self, path: str, body: dict[str, Any]) -> Any | None:
        """POST to the Prefect API, retrying HTTP 503 after 0.05, 0.1, 0.2, 0.4 s; the JSON answer, or None.

        Why: a Prefect server on SQLite answers 503 when a write meets another write ("database is locked"),
        and Prefect's client sleeps 2 s before each retry whatever its retry setting: that was the slowest part
        of a consent-to-handoff. Only calls that are safe to repeat come here: a 503 means the server's
        transaction rolled back, and a repeated resume of a run already resumed is refused, not applied twice.
        None (any other status, a transport error, 503 after the last quick retry) means: make the call
        through Prefect's client instead.
        """
        import base64

        import httpx
        from prefect.client.constants import SERVER_API_VERSION

        if not self.api_url:
            raise RuntimeError("no Prefect API URL: set COC_PREFECT_API_URL")
        headers = {"X-PREFECT-API-VERSION": SERVER_API_VERSION}
        if self.auth_string:  # as Prefect's client sends it
            headers["Authorization"] = "Basic " + base64.b64encode(self.auth_string.encode()).decode()
        with httpx.Client(base_url=self.api_url.rstrip("/") + "/", headers=headers, timeout=10.0) as http:
            for delay in (*QUICK_RETRY_DELAYS, None):
                try:
                    response = http.post(path, json=body)
                except httpx.TransportError:
                    return None
                if response.status_code != 503:
                    return response.json() if response.is_success else None
                if delay is None:
                    return None
                time.sleep(delay)
        return None

    def case_has_active_run(self, case_id: str) -> bool:
        """True when a non-final run of the pathway named after the case exists."""
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterName,
            FlowRunFilter,
            FlowRunFilterName,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType

        active = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED,
                  StateType.CANCELLING]
        flow_name, dep_name = self.deployment.split("/", 1)
        with self._client() as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[case_id]),
                                              state=FlowRunFilterState(type=FlowRunFilterStateType(any_=active))),
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[dep_name])),
                limit=1,
            )
        return bool(runs)


def _run_info(run: Any) -> RunInfo:
    """A Prefect flow run as the reconciler's RunInfo."""

    state = run.state
    since = as_utc(state.timestamp) if state is not None and state.timestamp else None
    return RunInfo(id=str(run.id), state=str(state.type.value) if state is not None else "SCHEDULED", since=since,
                   created=as_utc(run.created) if run.created else None)


def waker_for(settings: Settings) -> PrefectWaker:
    """The Prefect waker configured by COC_PREFECT_API_URL (and PREFECT_API_AUTH_STRING if set)."""
    return PrefectWaker(settings.prefect_api_url)
