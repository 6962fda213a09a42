"""`python -m sidecar.serve`: the sidecar on CAREBASE_SIDECAR_HOST:CAREBASE_SIDECAR_PORT."""

from __future__ import annotations

import uvicorn

from sidecar.app import create_app
from sidecar.observability import configure_logging
from sidecar.settings import get_settings


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_config=None,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
