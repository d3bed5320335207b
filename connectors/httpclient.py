"""httpx clients for the connectors, sharing one TLS context per process.

``httpx.Client()`` builds a fresh ``ssl.SSLContext`` and loads the whole CA bundle into it
every time: about 21 CPU-ms on this machine, paid by every delivery run (one connector per
run), even for plain-HTTP receivers. The trust settings are the process's (httpx's own:
``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, else certifi's bundle) and do not change
while it runs, so the context is built once, on first use, and shared by every client.
"""

from __future__ import annotations

import threading

import httpx

_lock = threading.Lock()
_context = None


def tls_context():
    """The process's verifying TLS context (built on first use)."""
    global _context
    if _context is None:
        with _lock:
            if _context is None:
                _context = httpx.create_ssl_context()
    return _context


def http_client(**kwargs) -> httpx.Client:
    """An ``httpx.Client`` with ``kwargs``, verifying TLS with the shared context."""
    kwargs.setdefault("verify", tls_context())
    return httpx.Client(**kwargs)
