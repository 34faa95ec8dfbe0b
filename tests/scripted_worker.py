"""A worker process for the engine's fault tests: it speaks the real worker pipe protocol (worker.send,
worker.receive, the heartbeat thread) and obeys cancel and stop, but runs no model, so a test can
start an engine, stop (SIGSTOP) or kill its worker and see what the engine does in a second or two.

A job runs for `sampler.steps` x 0.1 s, sending a progress event each step."""
import os
import time

from actanywhere.engine.service.worker import receive, send, start_heartbeat

STEP_S = 0.1


def scripted_worker(device, config_data, connection, parent_pid, preload=True, threads=None):
    start_heartbeat(connection, float(config_data["engine"]["heartbeat_s"]))
    send(connection, "ready", device=device, pid=os.getpid())
    send(connection, "loaded", profile=config_data["models"]["default_profile"], seconds=0.0,
         native_size=[64, 64], default_steps=1)
    try:
        while True:
            message = receive(connection)
            if message.get("kind") == "stop":
                break
            if message.get("kind") == "run":
                _run(connection, message["job_id"], message["spec"])
    except (EOFError, OSError):
        pass
    os._exit(0)


def _run(connection, job_id, spec):
    steps = int(spec["sampler"]["steps"])
    for step in range(steps):
        time.sleep(STEP_S)
        while connection.poll(0):
            message = receive(connection)
            if message.get("kind") in ("cancel", "stop"):
                send(connection, "cancelled", job_id=job_id)
                return
        send(connection, "progress", job_id=job_id,
             event={"stage": "sample", "done": step + 1, "total": steps, "message": ""})
    send(connection, "done", job_id=job_id, results=[])
