"""URLs that carry credentials: reading them strictly, splitting failover lists, showing them redacted.

The management URL (``http://user:password@host:15672``) and the Celery broker URL
(``amqp://user:password@host:5672/vhost``) both hold a password. Three rules keep it safe:

* **Strict reading.** A user name or password holding ``/``, ``?`` or ``#`` unencoded ends
  the URL's authority early, and the rest of the password is then read as a port, a path
  or a fragment. Such a URL is refused with an error that names the fix (percent-encode
  it) and repeats no part of the URL, since any part of it may be password. The tell-tale
  is an ``@`` after the authority, or a port that is not a number. Percent-encoded user
  names and passwords are decoded, as kombu does for AMQP URLs.
* **Failover lists.** kombu takes several broker URLs separated by ``;``; a ``,`` followed
  by another URL is read the same way. Every URL in the list is redacted, not just the first.
* **Fail closed.** Where a URL cannot be read, it is shown as ``(unparseable URL)``, never
  as its text.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, unquote, urlsplit

UNPARSEABLE = "(unparseable URL)"
MASK = "***"
ENCODE_HINT = (
    "if the user name or password holds a reserved character, percent-encode it "
    "(e.g. '#' as %23, '/' as %2F, '?' as %3F, '@' as %40, '%' as %25)"
)
# ';' always separates kombu's failover URLs; ',' does when another URL follows it.
_SEPARATOR = re.compile(r"(;|,(?=\s*[A-Za-z][A-Za-z0-9+.\-]*://))")


class UrlError(ValueError):
    """A URL that cannot be read safely. The message never contains any part of the URL."""


def _strict(url: str) -> SplitResult:
    """urlsplit, refusing what a password with an unencoded reserved character turns into."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise UrlError(f"cannot be read as a URL; {ENCODE_HINT}") from None
    if not parts.scheme or not url.lstrip().lower().startswith(parts.scheme + "://"):
        raise UrlError("is not a URL (scheme://host...)")
    if "@" in parts.path or "@" in parts.query or "@" in parts.fragment:
        # The '@' that ends the user info lies past the authority: a '/', '?' or '#' in
        # the password (or user name) cut the authority short.
        raise UrlError(f"has an '@' after the host name; {ENCODE_HINT}")
    return parts


def parse_url(url: str) -> SplitResult:
    """One URL, strictly read (see the module doc); raises UrlError."""
    return _strict(url.strip())


def credentials(parts: SplitResult) -> tuple[str | None, str | None]:
    """(user, password) of a parsed URL, percent-decoded; None where absent."""
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return user, password


def split_urls(text: str) -> list[str]:
    """The URLs of a failover list (one URL gives a list of one); empty entries dropped."""
    return [part.strip() for part in _SEPARATOR.split(text)[::2] if part.strip()]


def check_url_list(text: str) -> list[str]:
    """Each URL of a failover list, all strictly read; raises UrlError naming which one failed.

    An entry without a scheme is a host of kombu's shared-scheme form (``amqp://u:p@h1;h2``)
    and may carry no credentials of its own.
    """
    urls = split_urls(text)
    if not urls:
        raise UrlError("is empty")
    for index, url in enumerate(urls, start=1):
        where = f"URL {index} of {len(urls)} " if len(urls) > 1 else ""
        if "://" not in url:
            if "@" in url:
                raise UrlError(f"{where}has user info but no scheme; {ENCODE_HINT}")
            continue
        try:
            _strict(url)
        except UrlError as exc:
            raise UrlError(f"{where}{exc}") from None
    return urls


def passwords_in(text: str) -> set[str]:
    """Every password in a URL or failover list, as written and percent-decoded, for scrubbing."""
    found: set[str] = set()
    for url in split_urls(text):
        try:
            password = urlsplit(url).password
        except ValueError:
            continue
        if password:
            found |= {password, unquote(password)}
    return found


def scrub(text: str, secrets: set[str]) -> str:
    """Text with each secret replaced by ***, longest first (one may contain another)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _redact_one(url: str) -> str:
    if "://" not in url:
        if "@" in url:
            raise UrlError("user info without a scheme")
        return url  # a bare host of a shared-scheme failover list
    parts = _strict(url)
    if parts.password is None:
        return url
    host_part = parts.netloc.rsplit("@", 1)[1]
    return SplitResult(parts.scheme, f"{parts.username or ''}:{MASK}@{host_part}", parts.path, parts.query, "").geturl()


def redact_url(text: str) -> str:
    """The URL, or each URL of a failover list, with its password replaced by ***.

    Anything that cannot be read strictly is shown as ``(unparseable URL)`` instead: a
    password with an unencoded reserved character would otherwise show in part.
    """
    pieces = _SEPARATOR.split(text)
    try:
        for index in range(0, len(pieces), 2):
            if pieces[index].strip():
                pieces[index] = pieces[index].replace(pieces[index].strip(), _redact_one(pieces[index].strip()))
    except UrlError:
        return UNPARSEABLE
    return "".join(pieces)
