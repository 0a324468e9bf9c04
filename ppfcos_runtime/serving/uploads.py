"""Request bodies -> image bytes: a raw image body (Content-Type image/jpeg, image/png,
image/bmp or application/octet-stream) or multipart/form-data files; the body-size limit and
the slow-client timeout on the body (`BodyLimit`)."""
import asyncio

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from .errors import ServeError, error_body

RAW_TYPES = ("image/jpeg", "image/png", "image/bmp", "application/octet-stream")
MULTIPART = "multipart/form-data"


def media_type(request):
    """The Content-Type without parameters, lower case ('' when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def wrong_type(kind, accepted):
    return ServeError(415, "content_type", f"Content-Type {kind or '(none)'} is not accepted: "
                      f"send {accepted}")


async def form_files(request, max_files):
    """The UploadFiles of a multipart body, in order; ServeError 400 for a malformed body."""
    try:
        form = await request.form(max_files=max_files, max_fields=max_files)
    except MultiPartException as e:
        raise ServeError(400, "bad_multipart", f"the multipart body is malformed: {e.message}"
                         ) from None
    return [(name, value) for name, value in form.multi_items() if isinstance(value, UploadFile)]


async def one_image(request):
    """The image bytes of a /predict request: the raw body, or the multipart field 'image'
    (else its only file)."""
    kind = media_type(request)
    if kind in RAW_TYPES:
        return await request.body()
    if kind != MULTIPART:
        raise wrong_type(kind, f"the image as the body ({', '.join(RAW_TYPES)}) or as the "
                         f"multipart/form-data file 'image'")
    files = await form_files(request, max_files=1)
    named = [f for name, f in files if name == "image"] or [f for _, f in files]
    if len(named) != 1:
        raise ServeError(400, "no_image", "send one multipart file, named 'image'")
    return await named[0].read()


async def many_images(request, max_images):
    """[(name, bytes)] of a /predict/batch request: its multipart files, in order."""
    kind = media_type(request)
    if kind != MULTIPART:
        raise wrong_type(kind, "multipart/form-data with one file field per image")
    files = await form_files(request, max_files=max_images)
    if not files:
        raise ServeError(400, "no_image", "the multipart body has no file: send one file "
                         "field (e.g. 'images') per image")
    return [(upload.filename or f"image {i}", await upload.read())
            for i, (_, upload) in enumerate(files)]


class BodyLimit:
    """ASGI middleware: refuse a body over ``max_bytes`` (413, from Content-Length before it
    is read, or once the bytes received pass it) and one not received within ``timeout``
    seconds of the request's start (408). ``errors``: the errors metric (a Counter by
    reason) counting the refusals answered here."""

    def __init__(self, app, max_bytes, timeout, errors):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.errors = errors

    def too_large(self):
        return ServeError(413, "body_too_large", f"the request body is over the server's "
                          f"limit of {self.max_bytes} bytes (--max_body_mb)")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.max_bytes:
            error = (self.too_large() if length.isdigit() else
                     ServeError(400, "bad_length", "Content-Length must be a number of bytes"))
            self.errors.labels(error.reason).inc()
            return await send_error(send, error)
        deadline = asyncio.get_running_loop().time() + self.timeout
        received, complete = 0, False

        async def limited_receive():
            nonlocal received, complete
            if complete:              # after the body: waiting for a disconnect, untimed
                return await receive()
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(receive(), max(remaining, 0.001))
            except asyncio.TimeoutError:
                raise ServeError(408, "timeout", f"the request body did not arrive within "
                                 f"{self.timeout:g} s (--client_timeout)") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > self.max_bytes:
                    raise self.too_large()
            return message

        await self.app(scope, limited_receive, send)


async def send_error(send, error):
    """Answer a ServeError directly on an ASGI ``send`` (outside the routes)."""
    body = error_body(error.reason, error.message)
    await send({"type": "http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
