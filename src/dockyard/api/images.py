"""Handlers for /images/...: list, inspect, history, tag, remove, import/pull, save, load, prune."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from dockyard.api import models
from dockyard.api.body import read_body
from dockyard.api.codec import decode_filters, encode, json_response, query_bool, query_str
from dockyard.api.engine import engine
from dockyard.api.stream import body_file, write_bytes_stream
from dockyard.distribution.auth import Credentials
from dockyard.errors import DockyardError, InvalidParameter, Unsupported


def _name(request: web.Request) -> str:
    return request.match_info["name"]


async def list_(request: web.Request) -> web.StreamResponse:
    q = request.query
    filters = decode_filters(q.get("filters"))
    if q.get("filter"):  # pre-1.25 clients name the reference filter separately
        filters.setdefault("reference", []).append(q["filter"])
    result = await asyncio.to_thread(
        engine(request).images.list, query_bool(q, "all"), filters, query_bool(q, "digests")
    )
    return json_response(result)


async def inspect(request: web.Request) -> web.StreamResponse:
    return json_response(await asyncio.to_thread(engine(request).images.inspect, _name(request)))


async def history(request: web.Request) -> web.StreamResponse:
    return json_response(await asyncio.to_thread(engine(request).images.history, _name(request)))


async def tag(request: web.Request) -> web.StreamResponse:
    q = request.query
    repo = q.get("repo", "")
    if not repo:
        raise InvalidParameter("repository name must have at least one component")
    await asyncio.to_thread(engine(request).images.tag, _name(request), repo, query_str(q, "tag"))
    return web.Response(status=201)


async def remove(request: web.Request) -> web.StreamResponse:
    q = request.query
    result = await asyncio.to_thread(
        engine(request).images.remove,
        _name(request),
        query_bool(q, "force"),
        query_bool(q, "noprune"),
    )
    return json_response(result)


def _progress(*messages: dict[str, Any]) -> web.Response:
    # The whole job is done before we answer, so a failure still gets its real status; the
    # body keeps the JSON-stream shape clients parse.
    return web.Response(body=b"".join(encode(m) for m in messages), content_type="application/json")


async def create(request: web.Request) -> web.StreamResponse:
    q = request.query
    images = engine(request).images
    if q.get("fromImage"):
        creds = Credentials.from_header(request.headers.get("X-Registry-Auth"))
        stream = await asyncio.to_thread(images.pull_stream, q["fromImage"],
                                         query_str(q, "tag"), q.get("platform", ""), creds)  # fmt: skip
        return await write_bytes_stream(request, stream, "application/json")
    source = q.get("fromSrc", "")
    if source != "-":
        if source:
            raise Unsupported("importing from a URL is not supported: send the tar as the body")
        raise InvalidParameter("either fromImage or fromSrc must be given")
    src = body_file(request)
    image_id = await asyncio.to_thread(
        images.import_tar,
        src,
        query_str(q, "repo"),
        query_str(q, "tag"),
        [c for c in q.getall("changes", []) if c],
        q.get("message", ""),
    )
    return _progress({"status": image_id})


async def push(request: web.Request) -> web.StreamResponse:
    creds = Credentials.from_header(request.headers.get("X-Registry-Auth"))
    stream = await asyncio.to_thread(engine(request).images.push_stream, _name(request),
                                     query_str(request.query, "tag"), creds)  # fmt: skip
    return await write_bytes_stream(request, stream, "application/json")


async def login(request: web.Request) -> web.StreamResponse:
    """POST /auth: {"username", "password", "serveraddress"} checked against the registry."""
    body = await read_body(request, models.AuthConfig, json_only=False) or {}
    creds = Credentials.from_json(body)
    server = str(body.get("serveraddress") or "")
    status = await asyncio.to_thread(engine(request).images.login, server, creds)
    return json_response({"Status": status, "IdentityToken": ""})


async def save(request: web.Request) -> web.StreamResponse:
    names = [n for n in request.query.getall("names", []) if n]
    if "name" in request.match_info:
        names = [_name(request)]
    if not names:
        raise InvalidParameter("no image names given")
    chunks = await asyncio.to_thread(engine(request).images.save, names)
    return await write_bytes_stream(request, chunks, "application/x-tar")


async def load(request: web.Request) -> web.StreamResponse:
    src = body_file(request)
    try:
        lines = await asyncio.to_thread(engine(request).images.load, src)
    except DockyardError as e:  # dockerd answers 200 and streams the error (ImageLoadError)
        return _progress({"errorDetail": {"message": e.message}, "error": e.message})
    return _progress(*({"stream": line.rstrip("\n") + "\n"} for line in lines))


async def prune(request: web.Request) -> web.StreamResponse:
    filters = decode_filters(request.query.get("filters"))
    return json_response(await asyncio.to_thread(engine(request).images.prune, filters))


async def bootstrap(request: web.Request) -> web.StreamResponse:
    """dockyard extension: make a busybox image from the host's static busybox (no registry)."""
    images = engine(request).images
    make = getattr(images, "bootstrap_busybox", None)
    if make is None:
        raise Unsupported("this engine cannot bootstrap a busybox image")
    made = await asyncio.to_thread(make)
    if isinstance(made, dict):
        return json_response({"Id": made.get("Id"), "RepoTags": made.get("RepoTags") or []})
    details = await asyncio.to_thread(images.inspect, str(made))
    return json_response({"Id": details.get("Id", made), "RepoTags": details.get("RepoTags") or []})
