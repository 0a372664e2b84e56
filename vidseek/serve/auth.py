"""API keys and the tenant behind each request.

Keys are random (`vsk_` + 43 url-safe characters, 256 bits), shown once and stored as SHA-256:
with that much entropy a plain hash is as good as a slow one, and it lets each request be checked
with one indexed lookup. Revoking a key takes effect on the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets

from vidseek.store.catalog import DEFAULT_TENANT, Catalog, KeyRecord

KEY_PREFIX = "vsk_"
SESSION_PREFIX = "vss_"
COOKIE = "vidseek_session"  # an opaque session id (a random token, stored hashed), never the key itself
SESSION_SECONDS = 12 * 3600  # a web login lasts a working day; `vidseek keys revoke` ends it at once


def new_key() -> str:
    """A fresh API key: `vsk_...`."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(catalog: Catalog, tenant: str, label: str | None = None) -> tuple[str, KeyRecord]:
    """Make a key for `tenant` (created if new); returns (the key, shown once, and its record)."""
    key = new_key()
    return key, catalog.add_key(tenant, hash_key(key), key[: len(KEY_PREFIX) + 6], label)


def new_session(catalog: Catalog, key: str) -> str | None:
    """A session id for a valid key (None for an invalid one): what the web page's cookie holds."""
    key_id = catalog.key_id_for(hash_key(key))
    if key_id is None:
        return None
    session = SESSION_PREFIX + secrets.token_urlsafe(32)
    catalog.add_session(hash_key(session), key_id, SESSION_SECONDS)
    return session


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost' (what single-user mode allows)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Authenticator:
    """Maps a request's key (or its absence) to a tenant name, or None when it must be refused.

    Single-user mode: while no key exists, a server bound to loopback accepts key-less requests
    from loopback clients as tenant "default". One key anywhere turns that off.
    """

    def __init__(self, catalog: Catalog, bound_to_loopback: bool, resident_token: str | None = None):
        self.catalog = catalog
        self.bound_to_loopback = bound_to_loopback
        # A resident search process's token (in server.json, private to the data dir's owner): the
        # local CLI's requests, which act as a local run would, for the default tenant.
        self.resident_token = resident_token

    def is_owner(self, key: str | None) -> bool:
        """The resident token: the local CLI of whoever owns the data dir."""
        return bool(key and self.resident_token) and hmac.compare_digest(key.encode(), self.resident_token.encode())

    def local_mode(self) -> bool:
        return self.bound_to_loopback and self.catalog.key_count() == 0

    def tenant(self, key: str | None, client_host: str | None, session: str | None = None) -> tuple[str | None, str]:
        """(tenant, why-not): tenant is None when the request is refused. A key wins over a session."""
        if self.is_owner(key):
            return DEFAULT_TENANT, ""
        if key:
            tenant = self.catalog.tenant_for_key(hash_key(key))
            return (tenant, "") if tenant else (None, "invalid API key")
        if session:
            tenant = self.catalog.tenant_for_session(hash_key(session))
            if tenant:
                return tenant, ""
            if not self.local_mode():
                return None, "the session ended (expired, logged out or its key revoked): log in again"
        if self.local_mode() and is_loopback(client_host):
            return DEFAULT_TENANT, ""
        return None, "missing API key: send 'Authorization: Bearer <key>' (make one with `vidseek keys create`)"
