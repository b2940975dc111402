"""gunicorn's access log without the credentials that travel in URLs (docs/security.md).

docker/gunicorn.conf.py sets ``logger_class = "oficina_common.access_log.RedactingLogger"``: the
request line, the path, the query string and the Referer (a page opened from the approval link
names it) pass through :func:`oficina_common.security.redact` before the line is written.
"""
from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from .security import redact

_ATOMS_WITH_URLS = ("r", "U", "q", "f")


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in _ATOMS_WITH_URLS:
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        if "q" in atoms and atoms["q"]:
            atoms["q"] = redact("?" + atoms["q"])[1:]
        return atoms
