"""Image references as docker/distribution parses them (S1, E3).

"busybox" normalizes to repository "docker.io/library/busybox" with tag "latest"; the familiar form
that users see ("busybox:latest") drops the default domain and the "library/" prefix again. Error
texts copy distribution's, because the docker CLI and docker-py show them verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.errors import InvalidParameter

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = _ALNUM + r"(?:" + _SEPARATOR + _ALNUM + r")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = (
    r"(?:" + _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*|" + _IPV6 + r")(?::[0-9]+)?"
)
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = r"(?:" + _DOMAIN + r"/)?" + _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"

_REFERENCE_RE = re.compile(r"^(" + _NAME + r")(?::(" + _TAG + r"))?(?:@(" + _DIGEST + r"))?$")
_TAG_RE = re.compile(r"^" + _TAG + r"$")
_IDENTIFIER_RE = re.compile(r"^[a-f0-9]{64}$")
_DIGEST_RE = re.compile(r"^" + _DIGEST + r"$")
_ID_PREFIX_RE = re.compile(r"^(?:sha256:)?[a-f0-9]{1,64}$")


@dataclass(frozen=True)
class Reference:
    """A normalized reference. `domain`/`path` make the repository; `tag` and `digest` are optional."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Fully qualified repository: "docker.io/library/busybox"."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """What the docker CLI shows as REPOSITORY: "busybox", "localhost:5000/a/b"."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        if self.path.startswith(OFFICIAL_PREFIX) and self.path.count("/") == 1:
            return self.path[len(OFFICIAL_PREFIX) :]
        return self.path

    def __str__(self) -> str:
        return self.name + self._suffix()

    def familiar(self) -> str:
        """ "busybox:latest", "busybox@sha256:..", as docker prints references."""
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        out = ""
        if self.tag is not None:
            out += ":" + self.tag
        if self.digest is not None:
            out += "@" + self.digest
        return out

    def with_default_tag(self) -> Reference:
        """distribution's TagNameOnly: a bare name gets ":latest"; digests stay as they are."""
        if self.tag is None and self.digest is None:
            return Reference(self.domain, self.path, DEFAULT_TAG, None)
        return self

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)


def _split_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    first = name[:i] if i >= 0 else ""
    if i == -1 or (
        not any(ch in first for ch in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[i + 1 :]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def _parse_exact(s: str) -> Reference:
    """distribution's Parse: the full grammar, with its error texts."""
    m = _REFERENCE_RE.match(s)
    if m is None:
        if not s:
            raise InvalidParameter(
                "invalid reference format: repository name must have at least one component"
            )
        if _REFERENCE_RE.match(s.lower()):
            raise InvalidParameter("invalid reference format: repository name must be lowercase")
        raise InvalidParameter("invalid reference format")
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    if len(name) > NAME_TOTAL_MAX:
        raise InvalidParameter(
            f"invalid reference format: repository name must not be more than {NAME_TOTAL_MAX} characters"
        )
    domain, _, path = name.partition("/")
    return Reference(domain, path, tag, digest)


def parse(s: str) -> Reference:
    """ParseNormalizedNamed: "busybox" -> docker.io/library/busybox (no tag added)."""
    if _IDENTIFIER_RE.match(s):
        raise InvalidParameter(
            f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_domain(s)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidParameter(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    return _parse_exact(domain + "/" + remainder)


def parse_tagged(s: str) -> Reference:
    """parse() plus the default tag: what tag/import/load store."""
    return parse(s).with_default_tag()


def parse_repo_tag(repo: str, tag: str | None) -> Reference:
    """The API's `repo` + `tag` query pair (POST /images/{name}/tag, commit, import)."""
    ref = parse(repo)
    if ref.digest is not None:
        raise InvalidParameter("refusing to create a tag with a digest reference")
    if tag:
        if ref.tag is not None:
            raise InvalidParameter("invalid reference format")
        if not _TAG_RE.match(tag):
            raise InvalidParameter(f'invalid tag format: "{tag}"' if tag else "invalid tag format")
        ref = ref.with_tag(tag)
    return ref.with_default_tag()


def is_digest(s: str) -> bool:
    return bool(_DIGEST_RE.match(s))


def is_full_id(s: str) -> bool:
    """A 64-hex id, bare or with "sha256:"."""
    return bool(_IDENTIFIER_RE.match(s.removeprefix("sha256:")))


def is_id_prefix(s: str) -> bool:
    """Could name an image by (a prefix of) its id: hex, optionally after "sha256:"."""
    return bool(_ID_PREFIX_RE.match(s))


def short_id(image_id: str) -> str:
    """The 12-character id docker prints in messages and tables."""
    return image_id.removeprefix("sha256:")[:12]


def familiar(ref: str) -> str:
    """The familiar string of a stored fully-qualified reference ("docker.io/library/a:b" -> "a:b")."""
    try:
        return parse(ref).familiar()
    except InvalidParameter:
        return ref


def missing_image_name(ref: str) -> str:
    """How "No such image: ..." names what the user asked for (busybox -> busybox:latest)."""
    if is_digest(ref) or is_full_id(ref):
        return ref
    try:
        return parse(ref).with_default_tag().familiar()
    except InvalidParameter:
        return ref
