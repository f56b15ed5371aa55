"""The ComfyUI client interface previews are rendered through, and its first transport: a remote
ComfyUI over HTTP (stdlib urllib only; never ComfyUI or the HTTP server layer).

    client.queue(prompt) -> prompt_id            POST /prompt with this client's client_id
    client.wait(prompt_id, timeout, progress)    polls GET /history/{id}; -> {node_id: ui output}
    client.image(ref) -> bytes                   GET /view?filename=&subfolder=&type=
    client.object_info() -> dict                 GET /object_info (cached per client)
    client.lora_names() -> list                  the LoRAs the server lists (LoraLoader's choices)
    client.model_lists() -> dict                 {"checkpoints", "diffusion_models", "text_encoders", "vae"}

Every failure is a ComfyError naming the server: `kind` is "unreachable", "refused" (the server
would not take the prompt: a model or node it lacks), "render" (it failed while running),
"interrupted" (stopped on the server), "timeout", "cancelled" (the run was cancelled before it ran)
or "bad_answer". Answers are bounded (MAX_JSON, MAX_IMAGE), so a wrong URL cannot fill memory.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from ..errors import LibraryError

MAX_JSON = 64 << 20            # /object_info of a server with many nodes is a few MB
MAX_IMAGE = 256 << 20
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REQUEST_TIMEOUT = 60.0
POLL_SECONDS = 0.25

# Where each kind of model is listed in /object_info: (node, input).
MODEL_INPUTS = {
    "checkpoints": ("CheckpointLoaderSimple", "ckpt_name"),
    "diffusion_models": ("UNETLoader", "unet_name"),
    "text_encoders": ("CLIPLoader", "clip_name"),
    "vae": ("VAELoader", "vae_name"),
    "loras": ("LoraLoader", "lora_name"),
}


class ComfyError(LibraryError):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class ComfyClient:
    """The interface every transport implements (HTTP now; in-process and local headless later)."""

    name = "comfyui"

    def queue(self, prompt: dict) -> str:
        raise NotImplementedError

    def wait(self, prompt_id: str, timeout: float, progress=None) -> dict:
        raise NotImplementedError

    def image(self, ref: dict) -> bytes:
        raise NotImplementedError

    def object_info(self) -> dict:
        raise NotImplementedError

    def lora_names(self) -> list:
        return self.model_lists()["loras"]

    def model_lists(self) -> dict:
        """{kind: [names]} for every kind of MODEL_INPUTS, from object_info (empty when absent)."""
        info = self.object_info()
        return {kind: choices(info, node, name) for kind, (node, name) in MODEL_INPUTS.items()}


def choices(object_info: dict, node: str, name: str) -> list:
    """The choices `node`'s input `name` offers: `[[...], {...}]` (0.3.x) or `["COMBO", {"options"}]`."""
    spec = (object_info.get(node) or {}).get("input") or {}
    declared = (spec.get("required") or {}).get(name) or (spec.get("optional") or {}).get(name)
    if not declared:
        return []
    if isinstance(declared[0], list):
        return [c for c in declared[0] if isinstance(c, str)]
    if declared[0] == "COMBO" and len(declared) > 1 and isinstance(declared[1], dict):
        return [c for c in declared[1].get("options") or [] if isinstance(c, str)]
    return []


class HttpComfyClient(ComfyClient):
    """A ComfyUI reached over HTTP at `base_url` (http://host:port)."""

    def __init__(self, base_url: str, *, request_timeout: float = REQUEST_TIMEOUT):
        url = base_url.strip().rstrip("/")
        if "://" not in url:
            url = "http://" + url
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ComfyError("unreachable", f"'{base_url}' is not a ComfyUI server URL (http://host:port)")
        self.base_url = url
        self.name = url
        self.client_id = uuid.uuid4().hex
        self.request_timeout = request_timeout
        self._object_info = None

    # --- HTTP ---------------------------------------------------------------------------------

    def _request(self, path: str, doc=None, limit: int = MAX_JSON) -> tuple:
        data = None if doc is None else json.dumps(doc).encode("utf-8")
        req = urllib.request.Request(self.base_url + path, data=data, method="GET" if data is None else "POST",
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=self.request_timeout) as r:
                return r.status, _bounded(r, limit, self.base_url + path)
        except urllib.error.HTTPError as e:
            try:
                body = _bounded(e, MAX_JSON, self.base_url + path)
            except ComfyError:
                body = b""
            return e.code, body
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise ComfyError("unreachable", f"ComfyUI at {self.base_url} is unreachable ({reason}); "
                                            "is it running, and is --server its address?") from None

    def _json(self, path: str, doc=None):
        status, body = self._request(path, doc)
        try:
            answer = json.loads(body) if body else None
        except ValueError:
            answer = None
        if status != 200 and not (path == "/prompt" and status == 400):
            raise ComfyError("bad_answer", f"ComfyUI at {self.base_url} answered {status} to {path}: "
                                           f"{body[:300].decode('utf-8', 'replace')}")
        if answer is None and status == 200:
            raise ComfyError("bad_answer", f"{self.base_url}{path} did not answer JSON; is it a ComfyUI server?")
        return status, answer

    # --- the interface ------------------------------------------------------------------------

    def object_info(self) -> dict:
        if self._object_info is None:
            _, info = self._json("/object_info")
            if not isinstance(info, dict):
                raise ComfyError("bad_answer", f"{self.base_url}/object_info is not a JSON object")
            self._object_info = info
        return self._object_info

    def queue(self, prompt: dict) -> str:
        status, answer = self._json("/prompt", {"prompt": prompt, "client_id": self.client_id,
                                                "extra_data": {"preview_method": "none"}})
        if status != 200 or not isinstance(answer, dict) or not answer.get("prompt_id"):
            raise ComfyError("refused", f"ComfyUI at {self.base_url} refused the prompt: {refusal(answer)}")
        return str(answer["prompt_id"])

    def wait(self, prompt_id: str, timeout: float, progress=None) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            outputs = self.finished(prompt_id)
            if outputs is not None:
                return outputs
            if time.monotonic() > deadline:
                raise ComfyError("timeout", f"ComfyUI at {self.base_url} did not finish prompt {prompt_id} in "
                                            f"{timeout:g} s (still queued or running there)")
            if progress:
                progress(prompt_id)
            time.sleep(POLL_SECONDS)

    def finished(self, prompt_id: str):
        """The outputs of `prompt_id` once it ended (GET /history/{id}), None while it has not;
        ComfyError("render") when it failed or was interrupted."""
        _, history = self._json(f"/history/{urllib.parse.quote(prompt_id, safe='')}")
        entry = history.get(prompt_id) if isinstance(history, dict) else None
        status = (entry or {}).get("status") or {}
        if entry is None or not (status.get("completed") or status.get("status_str") in ("success", "error")):
            return None
        if status.get("status_str") == "error":
            if any(m and m[0] == "execution_interrupted" for m in status.get("messages") or []):
                raise ComfyError("interrupted", f"ComfyUI at {self.base_url} interrupted the render (its Cancel "
                                                "button, /interrupt, or a cancelled LoRA Atlas run)")
            raise ComfyError("render", f"ComfyUI at {self.base_url} failed the render: {execution_error(status)}")
        return entry.get("outputs") or {}

    def image(self, ref: dict) -> bytes:
        query = urllib.parse.urlencode({"filename": ref.get("filename", ""), "subfolder": ref.get("subfolder", ""),
                                        "type": ref.get("type", "output")})
        status, body = self._request("/view?" + query, limit=MAX_IMAGE)
        if status != 200:
            raise ComfyError("bad_answer", f"ComfyUI at {self.base_url} answered {status} for the image "
                                           f"{ref.get('subfolder', '')}/{ref.get('filename', '')}")
        return body


def _bounded(response, limit: int, where: str) -> bytes:
    body = response.read(limit + 1)
    if len(body) > limit:
        raise ComfyError("bad_answer", f"{where}: the answer is larger than {limit >> 20} MB; is it a ComfyUI server?")
    return body


def refusal(answer) -> str:
    """One line from a POST /prompt refusal: its error and every node error."""
    if not isinstance(answer, dict):
        return "no readable answer"
    parts = []
    error = answer.get("error")
    if isinstance(error, dict):
        parts.append(str(error.get("message") or error.get("type") or error)
                     + (f" ({error['details']})" if error.get("details") else ""))
    elif error:
        parts.append(str(error))
    for node_id, node in sorted((answer.get("node_errors") or {}).items()):
        for err in (node or {}).get("errors") or []:
            parts.append(f"node {node_id} ({node.get('class_type')}): {err.get('message')}: {err.get('details')}")
    return "; ".join(parts)[:2000] or "no reason given"


def execution_error(status: dict) -> str:
    for event, data in status.get("messages") or []:
        if event == "execution_error" and isinstance(data, dict):
            return f"{data.get('node_type')}: {data.get('exception_type')}: {data.get('exception_message')}"[:2000]
    return "the server reported an error without details"


def saved_images(outputs: dict) -> list:
    """The image references of a /history entry's outputs, in node order."""
    out = []
    for node_id in sorted(outputs, key=lambda k: (len(k), k)):
        for image in (outputs[node_id] or {}).get("images") or []:
            if isinstance(image, dict) and image.get("filename"):
                out.append(image)
    return out


def first_png(client, outputs: dict, what: str) -> bytes:
    """The first image a finished prompt saved, as PNG bytes; ComfyError naming `what` (which
    render, on which server) when it saved none or sent something else."""
    images = saved_images(outputs)
    if not images:
        raise ComfyError("render", f"{what} finished but saved no image")
    data = client.image(images[0])
    if not data.startswith(PNG_MAGIC):
        raise ComfyError("bad_answer", f"{what} sent an image that is not a PNG")
    return data
