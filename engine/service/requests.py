"""The engine's request handlers: one method per request kind, each checking its fields completely
before anything is expanded, journaled or queued, and each acting only on the caller's own jobs
(an admin's: every job). A handler returns its reply's fields or raises an error with its code."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .. import __version__, protocol, shotspec
from ..errors import ActAnywhereError, EngineError
from ..protocol import CANCELLED, DONE, FAILED, FINAL_STATES, QUEUED, RUNNING, ProtocolError
from .clients import Client, local_client
from .jobs import MAX_PAGE, seconds, summary
from .journal import STATES
from .sandbox import SandboxError

if TYPE_CHECKING:
    from .server import EngineServer

MAX_QUEUED = 10000  # all clients together


class Requests:
    def __init__(self, engine: "EngineServer"):
        self.engine = engine

    def answer(self, identity: bytes, user_id: Optional[str], payload: List[bytes]) -> Dict[str, Any]:
        """The reply to one request (an `error` reply for anything wrong with it)."""
        request_id = None
        try:
            if len(payload) != 1:
                raise ProtocolError(protocol.BAD_MESSAGE, "a message is one frame of JSON; got %d frames" % len(payload))
            data = protocol.decode(payload[0])
            request_id = data.get("id")
            kind = data["kind"]
            if kind not in protocol.REQUESTS:
                raise ProtocolError(protocol.BAD_REQUEST, "%r is not a request; requests: %s" % (kind, ", ".join(protocol.REQUESTS)))
            client = self._client(user_id, data)
            reply = getattr(self, "on_" + kind)(data, identity, client)
            reply.update(v=protocol.PROTOCOL_VERSION, kind=protocol.REQUESTS[kind], re=request_id)
            return reply
        except ProtocolError as error:
            return protocol.error_message(error.code, str(error), request_id)
        except SandboxError as error:
            return protocol.error_message(protocol.PATH_REFUSED, str(error), request_id)
        except EngineError as error:
            return protocol.error_message(error.code, str(error), request_id)
        except ActAnywhereError as error:
            return protocol.error_message(protocol.BAD_SPEC, str(error), request_id)
        except Exception as error:  # a bug answers this request with an error; the engine keeps serving
            self.engine.log("internal error on a request: %s: %s" % (type(error).__name__, error))
            return protocol.error_message("internal", "%s: %s" % (type(error).__name__, error), request_id)

    def _client(self, user_id: Optional[str], data: Dict[str, Any]) -> Client:
        settings = self.engine.config.engine
        allow_list = self.engine.front.allow_list
        if allow_list is None:
            return local_client(data.get("user"), settings.admin_clients)
        client = allow_list.client(user_id)
        if client is None:
            raise EngineError("this client's key is no longer on the engine's allow-list (it was removed from "
                              "%s); ask the engine's admin" % allow_list.directory, protocol.AUTH_REFUSED)
        return client

    def _job(self, data: Dict[str, Any], client: Client) -> Dict[str, Any]:
        job_id = protocol.require(data, "job_id", str)
        record = self.engine.table.get(job_id)
        if record is None:
            raise EngineError("no job %s on this engine; `actanywhere jobs` lists yours" % job_id, protocol.UNKNOWN_JOB)
        if not client.may_act_on(record):
            raise EngineError("job %s belongs to another client (%s is not its owner, nor an admin)"
                              % (job_id, client.name), protocol.NOT_YOURS)
        return record

    # -- the requests -----------------------------------------------------------------------------
    def on_hello(self, data, identity, client) -> Dict[str, Any]:
        info = self.engine.info()
        info["you"] = {"name": client.name, "admin": client.admin}
        return info

    def on_ping(self, data, identity, client) -> Dict[str, Any]:
        return {"time": time.time()}

    def on_submit(self, data, identity, client) -> Dict[str, Any]:
        engine = self.engine
        job_id = protocol.check_job_id(protocol.require(data, "job_id", str, "the client chooses it, so a resend is safe"))
        watch = _flag(data, "watch")
        priority = data.get("priority", 0)
        if not isinstance(priority, int) or isinstance(priority, bool) or not -100 <= priority <= 100:
            raise ProtocolError(protocol.BAD_REQUEST, "submit: priority must be an integer from -100 to 100")
        task_id = data.get("task_id") or ""
        if not isinstance(task_id, str) or (task_id and not protocol.JOB_ID_PATTERN.match(task_id)):
            raise ProtocolError(protocol.BAD_REQUEST, "submit: task_id must be a farm task id (letters, digits, "
                                "_ . -, at most 64 characters)")
        existing = engine.table.get(job_id)
        if existing is not None:
            if not client.may_act_on(existing):
                raise EngineError("job id %s is taken by another client's job; choose another id" % job_id,
                                  protocol.NOT_YOURS)
            self._check_same_job(existing, data, task_id)
            if watch and existing["state"] not in FINAL_STATES:
                engine.watchers.add(job_id, identity)
            return {"job_id": job_id, "duplicate": True, "job": summary(existing)}
        if engine.stopping:
            raise EngineError("the engine is shutting down and takes no new jobs; submit to another engine or retry later",
                              protocol.SHUTTING_DOWN)
        per_client = engine.config.engine.max_queued_per_client
        if engine.table.queued() >= MAX_QUEUED:
            raise EngineError("the queue holds %d jobs, its limit; retry later" % MAX_QUEUED, protocol.QUEUE_FULL)
        if engine.table.queued(client.key) >= per_client:
            raise EngineError("%s already has %d jobs queued, the limit per client (engine.max_queued_per_client); "
                              "wait for some to run, or cancel some" % (client.name, per_client), protocol.QUEUE_FULL)
        spec_data = protocol.require(data, "spec", dict, "the shot spec's data")
        try:
            spec = shotspec.from_resolved(spec_data, source="submitted spec")  # resolved where it was written
            shotspec.check_model_configured(spec, engine.config, source="submitted spec")
        except (ActAnywhereError, ValueError) as error:
            raise EngineError(str(error), protocol.BAD_SPEC)
        engine.sandbox.check_spec(spec)
        record = {
            "job_id": job_id, "shot": spec.shot, "state": QUEUED, "priority": priority,
            "owner": client.name, "owner_key": client.key,
            "submitted": time.time(), "started": None, "finished": None, "device": None,
            "spec_hash": spec.spec_hash(), "spec": spec.to_data(), "progress": None,
            "results": None, "error": None, "attempts": 0, "task_id": task_id,
        }
        engine.table.add(record)  # journal first: a job the client is told of is on disk
        if watch:
            engine.watchers.add(job_id, identity)
        engine.dispatch()
        return {"job_id": job_id, "duplicate": False, "job": summary(record)}

    def _check_same_job(self, existing: Dict[str, Any], data: Dict[str, Any], task_id: str) -> None:
        """A resend must be the same job: same spec (by its hash) and farm task. Anything else is
        another job under a taken id, refused rather than merged into the first."""
        spec_data = data.get("spec")
        try:
            spec_hash = shotspec.from_resolved(spec_data, source="submitted spec").spec_hash()
        except (ActAnywhereError, ValueError, TypeError):
            spec_hash = None
        if spec_hash != existing.get("spec_hash") or task_id != (existing.get("task_id") or ""):
            raise EngineError("job id %s was submitted before with %s; a resend must carry the same spec, so "
                              "choose a new job id for new work" % (
                                  existing["job_id"], "another spec" if spec_hash != existing.get("spec_hash")
                                  else "another task id"), protocol.JOB_ID_CONFLICT)

    def on_status(self, data, identity, client) -> Dict[str, Any]:
        watch = _flag(data, "watch")
        record = self._job(data, client)
        if watch and record["state"] not in FINAL_STATES:
            self.engine.watchers.add(record["job_id"], identity)
        return {"job": summary(record)}

    def on_jobs(self, data, identity, client) -> Dict[str, Any]:
        state = data.get("state")
        if state is not None and state not in STATES:
            raise ProtocolError(protocol.BAD_REQUEST, "jobs: state must be one of %s" % ", ".join(STATES))
        limit = data.get("limit", MAX_PAGE)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
            raise ProtocolError(protocol.BAD_REQUEST, "jobs: limit must be an integer from 1 to %d" % MAX_PAGE)
        before = data.get("before")
        if before is not None and not isinstance(before, str):
            raise ProtocolError(protocol.BAD_REQUEST, "jobs: before must be the job id from the last page's `next`")
        everyone = _flag(data, "all")
        if everyone and not client.admin:
            raise EngineError("only an admin client (engine.admin_clients) may list every client's jobs",
                              protocol.NOT_YOURS)
        return self.engine.table.page(client, state, limit, before, everyone)

    def on_cancel(self, data, identity, client) -> Dict[str, Any]:
        engine = self.engine
        record = self._job(data, client)
        if record["state"] == QUEUED:
            engine.table.change(record, state=CANCELLED, finished=time.time(), results=None,
                                error={"code": protocol.JOB_CANCELLED, "message": "cancelled before it ran"})
            engine.notify_state(record)
            engine.watchers.drop_job(record["job_id"])
        elif record["state"] == RUNNING and not record.get("cancel_requested"):
            record["cancel_requested"] = True
            worker = engine.supervisor.running(record["job_id"])
            if worker is not None:
                engine.supervisor.cancel(worker)
        return {"job": summary(record)}

    def on_result(self, data, identity, client) -> Dict[str, Any]:
        record = self._job(data, client)
        if record["state"] == DONE:
            return {"job_id": record["job_id"], "state": DONE, "results": record["results"],
                    "metadata": {"shot": record["shot"], "spec_hash": record["spec_hash"],
                                 "model": record["spec"].get("model"), "engine_version": __version__,
                                 "device": record["device"], "seconds": seconds(record)}}
        if record["state"] in (FAILED, CANCELLED):
            error = record.get("error") or {}
            raise EngineError("job %s %s: %s" % (record["job_id"], record["state"], error.get("message", "")),
                              error.get("code", protocol.JOB_FAILED))
        raise EngineError("job %s is %s; wait for it (`actanywhere status %s`)" % (record["job_id"], record["state"], record["job_id"]),
                          protocol.NOT_FINISHED)


def _flag(data: Dict[str, Any], name: str) -> bool:
    value = data.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ProtocolError(protocol.BAD_REQUEST, "%s: field %r must be true or false, got %s"
                            % (data.get("kind"), name, type(value).__name__))
    return value
