"""Where a clinic's alert webhook may point: an https URL whose host has only public addresses.

Clinic admins set the URL (Django admin) and the server then POSTs to it, so without limits the
field would let them make the server reach what only it can reach: its database, a service on
localhost, the cloud's metadata at 169.254.169.254 (server-side request forgery). So the URL
must be https; every address its host resolves to must be public; the connection goes to the
address that was checked (a name that resolves elsewhere a moment later gains nothing);
redirects are not followed and proxies from the environment are not used.

``ALERT_WEBHOOK_ALLOW_PRIVATE`` (on when ``DEBUG`` is, off in production) lifts the address rule
and allows plain http to loopback: for local development and the tests' webhook receiver.
"""

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection


class WebhookRefused(Exception):
    """The webhook URL or the address it leads to is not one the server may call."""


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone ("%eth0") is not the address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip


def _is_public(address: str) -> bool:
    # is_global leaves out private, loopback, link-local (cloud metadata), shared and reserved ranges.
    ip = _ip(address)
    return ip.is_global and not ip.is_multicast


def checked_addresses(host: str, port: int) -> list[str]:
    """The addresses of ``host``; refused unless every one is public (or private ones are allowed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookRefused("the host name does not resolve") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not settings.ALERT_WEBHOOK_ALLOW_PRIVATE and not all(_is_public(a) for a in addresses):
        raise WebhookRefused("the host has an address that is not public")
    return addresses


def check_webhook_url(url: str) -> None:
    """Refuse a URL the server may not post alerts to (raises ``WebhookRefused`` saying why)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookRefused("the URL must be https://host/path")
    if parts.scheme == "http" and not settings.ALERT_WEBHOOK_ALLOW_PRIVATE:
        raise WebhookRefused("the URL must be https")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookRefused("the port is not valid") from exc
    addresses = checked_addresses(parts.hostname, port)
    if parts.scheme == "http" and not all(_ip(a).is_loopback for a in addresses):
        raise WebhookRefused("the URL must be https (plain http only to this machine)")


def validate_webhook_url(url: str) -> None:
    """Django validation of ``Clinic.webhook_url`` when it is saved (the admin form)."""
    if not url:
        return
    try:
        check_webhook_url(url)
    except WebhookRefused as exc:
        raise ValidationError(f"This webhook cannot be used: {exc}.") from exc


def _connect_checked(conn: HTTPConnection) -> socket.socket:
    """urllib3's ``_new_conn``, connecting to the checked address rather than resolving again.

    TLS still checks the certificate against the host name, which urllib3 keeps in ``conn.host``.
    """
    # _dns_host is the name as given (urllib3 resolves it here, and nowhere else).
    address = checked_addresses(conn._dns_host, conn.port)[0]
    try:
        return urllib3_connection.create_connection(
            (address, conn.port), conn.timeout, source_address=conn.source_address, socket_options=conn.socket_options
        )
    except TimeoutError as exc:
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out.") from exc
    except OSError as exc:
        raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc


class _CheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect_checked(self)


class _CheckedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _connect_checked(self)


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _CheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}


def post_to_webhook(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> requests.Response:
    """POST to a clinic's webhook under the rules above; raises ``WebhookRefused`` or requests' errors."""
    check_webhook_url(url)
    with requests.Session() as session:
        session.trust_env = False  # an HTTP(S)_PROXY would connect for us, past the address check
        session.mount("http://", _CheckedAdapter())
        session.mount("https://", _CheckedAdapter())
        return session.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
