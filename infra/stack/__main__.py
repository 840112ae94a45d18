"""``python -m infra.stack``: the whole platform on this machine, offline. Ctrl-C stops everything."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType

from infra.stack.services import all_services
from infra.stack.settings import StackSettings
from infra.stack.supervisor import StartupError, Supervisor


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.stack", description=__doc__)
    parser.add_argument("--no-web", action="store_true", help="do not serve the web app")
    parser.add_argument("--no-worker", action="store_true", help="do not start the agent worker")
    parser.add_argument("--quiet", action="store_true", help="only status lines, no service logs")
    args = parser.parse_args()
    overrides = {}
    if args.no_web:
        overrides["with_web"] = False
    if args.no_worker:
        overrides["with_worker"] = False
    settings = StackSettings(**overrides)  # type: ignore[arg-type]
    sup = Supervisor(quiet=args.quiet)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a shell that starts us in the background leaves SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    status: list[str] = []
    try:
        for svc in all_services(settings):
            sup.say(f"▶ starting {svc.name} …")
            t0 = time.monotonic()
            sup.start(svc, settings.startup_timeout_s, progress=sup.say)
            line = f"✔ {svc.name:<9} ready in {time.monotonic() - t0:5.1f}s"
            status.append(line)
            sup.say(line)
        sup.say("")
        sup.say("Local stack is up (offline providers):")
        sup.say(f"  SFU (LiveKit protocol)  {settings.livekit_url}")
        sup.say(f"  functions API           {settings.functions_url}")
        sup.say(f"  local AWS (moto)        {settings.aws_url}")
        oidc = next((svc for svc in sup.services if svc.name == "oidc"), None)
        if oidc is not None:
            sup.say(f"  operator sign-in (OIDC) http://{settings.host}:{settings.oidc_port}")
            sup.say(f"    user operator@voicecall.local  password {oidc.env['LOCAL_OIDC_OPERATOR_PASSWORD']}")
        if settings.with_worker:
            sup.say(f"  model server (OpenAI)   {settings.model_server_url}")
        if settings.with_web:
            sup.say(f"\n  Open {settings.web_url} in a browser and press Join.\n")
        sup.say("Press Ctrl-C to stop everything.")
        while True:
            time.sleep(1)
            dead = sup.first_exited()
            if dead is not None:
                sup.say(f"✖ {dead.name} exited (code {dead.proc.returncode if dead.proc else '?'}); stopping")
                return 1
    except StartupError as exc:
        sup.say(f"✖ {exc}")
        return 1
    except KeyboardInterrupt:
        sup.say("\nstopping …")
        return 0
    finally:
        sup.stop()
        sup.say("all services stopped")


if __name__ == "__main__":
    sys.exit(main())
