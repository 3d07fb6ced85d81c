"""HTTP to the server under test only: never through a proxy, never redirected off this machine.

Proxy variables (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY, .netrc) are ignored for these
requests (`trust_env = False`); package installs, which run in other processes, keep using them.
A redirect is followed only to the same host and port; any other is refused.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import requests

MAX_REDIRECTS = 5


class NotLocal(requests.RequestException):
    """A redirect pointed away from the server under test."""


def session() -> requests.Session:
    local = requests.Session()
    local.trust_env = False  # no proxies, no netrc, no CA bundle from the environment
    local.proxies = {}
    return local


def request(method: str, url: str, *, client: requests.Session | None = None, **kwargs) -> requests.Response:
    """One request to `url`; redirects are followed only within the same scheme, host and port."""
    client = client or session()
    origin = urlsplit(url)[:2]
    for _ in range(MAX_REDIRECTS + 1):
        response = client.request(method, url, allow_redirects=False, **kwargs)
        if not response.is_redirect:
            return response
        target = urljoin(url, response.headers["location"])
        if urlsplit(target)[:2] != origin:
            raise NotLocal(f"redirect from {url} to {target} refused: replay stays on the server under test")
        url = target
    raise NotLocal(f"more than {MAX_REDIRECTS} redirects from {url}")
