"""The service the crash harness kills: the production records, consultation and campaign routes
over the store named by ``MEDVOICE_DATABASE_URL`` / ``MEDVOICE_KEY_FILE``, served by uvicorn.

``python -m evals.reliability.crash_service --port P``

It is ``agent.app``'s data half: the same ``open_store`` (migrate, seed), the same router
factories, the same uvicorn, without the voice models (nor pipecat's import), whose ~10 s load per restart would make 100
kills take an hour and which write through the same store methods as the FHIR routes.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from agent.campaign_api import build_campaign_router
from agent.config import Settings
from agent.records_api import build_records_router


def build_app(settings: Settings) -> FastAPI:
    """The records, consultation and campaign routes over the settings' store, plus ``/healthz``."""
    from backends import open_store

    store = open_store(database_url=settings.database_url, key_file=settings.key_file)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    app = FastAPI(title="medvoice records (crash harness)", lifespan=lifespan)
    app.include_router(build_records_router(store))
    app.include_router(build_campaign_router(store))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m evals.reliability.crash_service")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(build_app(Settings()), host="127.0.0.1", port=args.port, log_level="warning", log_config=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
