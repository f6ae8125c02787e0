"""Image reference parsing and normalization as docker/distribution does it (E3, S1)."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidParameter
from dockyard.images import reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("given", "name", "tag", "familiar"),
    [
        ("busybox", "docker.io/library/busybox", "latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox", "1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox", "latest", "busybox:latest"),
        ("docker.io/library/busybox:x", "docker.io/library/busybox", "x", "busybox:x"),
        ("index.docker.io/foo/bar", "docker.io/foo/bar", "latest", "foo/bar:latest"),
        ("foo/bar:t", "docker.io/foo/bar", "t", "foo/bar:t"),
        ("localhost:5000/a/b:t", "localhost:5000/a/b", "t", "localhost:5000/a/b:t"),
        ("localhost/a", "localhost/a", "latest", "localhost/a:latest"),
        (
            "example.com/a-b/c__d.e",
            "example.com/a-b/c__d.e",
            "latest",
            "example.com/a-b/c__d.e:latest",
        ),
        ("[::1]:5000/x", "[::1]:5000/x", "latest", "[::1]:5000/x:latest"),
    ],
)
def test_normalize(given: str, name: str, tag: str, familiar: str) -> None:
    """E3: "busybox" is docker.io/library/busybox:latest, shown as busybox:latest."""
    ref = reference.parse_tagged(given)
    assert ref.name == name and ref.tag == tag and ref.familiar() == familiar


def test_digest_reference() -> None:
    ref = reference.parse(f"busybox@{DIGEST}")
    assert ref.digest == DIGEST and ref.tag is None
    assert ref.with_default_tag() == ref  # digests get no default tag
    assert ref.familiar() == f"busybox@{DIGEST}"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            "Busybox",
            "invalid reference format: repository name (library/Busybox) must be lowercase",
        ),
        (
            "library/Busybox:x",
            "invalid reference format: repository name (library/Busybox) must be lowercase",
        ),
        ("busybox:", "invalid reference format"),
        ("bu sy", "invalid reference format"),
        ("busybox:-tag", "invalid reference format"),
        (
            "a" * 64,
            f"invalid repository name ({'a' * 64}), cannot specify 64-byte hexadecimal strings",
        ),
        (
            "a/" + "b" * 300,
            "invalid reference format: repository name must not be more than 255 characters",
        ),
    ],
)
def test_invalid_references_use_dockers_wording(given: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as exc:
        reference.parse(given)
    assert exc.value.message == message
    assert exc.value.status == 400


def test_repo_tag_pair() -> None:
    """The API's repo + tag query (tag, commit, import)."""
    assert str(reference.parse_repo_tag("busybox", "x")) == "docker.io/library/busybox:x"
    assert str(reference.parse_repo_tag("busybox:y", None)) == "docker.io/library/busybox:y"
    assert str(reference.parse_repo_tag("busybox", None)) == "docker.io/library/busybox:latest"
    with pytest.raises(InvalidParameter):
        reference.parse_repo_tag("busybox", "bad tag")
    with pytest.raises(InvalidParameter):
        reference.parse_repo_tag(f"busybox@{DIGEST}", None)


def test_ids_and_messages() -> None:
    full = "sha256:" + "0123456789abcdef" * 4
    assert reference.is_full_id(full) and reference.is_full_id(full[7:])
    assert reference.is_id_prefix("0123ab") and reference.is_id_prefix("sha256:0123")
    assert not reference.is_id_prefix("busybox")
    assert reference.short_id(full) == "0123456789ab"
    assert reference.familiar("docker.io/library/busybox:latest") == "busybox:latest"
    assert reference.missing_image_name("nope") == "nope:latest"
    assert reference.missing_image_name(full) == full
