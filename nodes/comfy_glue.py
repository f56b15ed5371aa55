"""Where the pack meets ComfyUI: the LoRA roots from `folder_paths` (extra_model_paths.yaml
included), events through `PromptServer.instance.send_sync`, the LoRA list refresh, and server/'s
routes attached to PromptServer's table. ComfyUI modules are looked up lazily; outside ComfyUI
(tests, nodes run without a server) a context is installed with `set_context`, or built from
LORA_ATLAS_ROOTS.
"""

from __future__ import annotations

import os
import sys

_context = None


def prompt_server():
    """ComfyUI's PromptServer instance when running inside ComfyUI, else None (imports nothing)."""
    server = sys.modules.get("server")
    ps = getattr(getattr(server, "PromptServer", None), "instance", None)
    return ps if ps is not None and "folder_paths" in sys.modules else None


def lora_roots() -> list:
    import folder_paths
    return folder_paths.get_folder_paths("loras")


def refresh_lora_list() -> None:
    """Make ComfyUI list the LoRAs again after files moved (its cache keys on folder mtimes only)."""
    folder_paths = sys.modules.get("folder_paths")
    if folder_paths is not None:
        folder_paths.filename_list_cache.pop("loras", None)


def set_context(context) -> None:
    global _context
    _context = context


def get_context():
    """The one server Context of this process, built on first use (never at import)."""
    global _context
    if _context is None:
        from ..server.context import Context
        from ..server.state import LibraryState
        ps = prompt_server()
        if ps is not None:
            state = LibraryState(lora_roots, send=ps.send_sync, on_files_changed=refresh_lora_list,
                                 roots_source="folder_paths (models/loras and extra_model_paths.yaml)")
            from .inprocess import local_client
            state.preview_client = local_client       # a previews job without --server renders here
        else:
            state = LibraryState([r for r in os.environ.get("LORA_ATLAS_ROOTS", "").split(os.pathsep) if r])
        _context = Context(state)
    return _context


def get_state():
    return get_context().state


def lora_names() -> list:
    """ComfyUI's LoRA names (relative paths) or, outside ComfyUI, the listing's."""
    if "folder_paths" in sys.modules:
        return sys.modules["folder_paths"].get_filename_list("loras")
    return [it["lora_name"] for it in get_state().items()]


def lora_path(name: str) -> str:
    """The full path of a LoRA name (ComfyUI's resolution inside ComfyUI, confined otherwise)."""
    if not isinstance(name, str) or not name or name == "None":
        raise ValueError("no LoRA selected")
    fp = sys.modules.get("folder_paths")
    if fp is not None:
        path = fp.get_full_path("loras", name)
        if path is None:
            raise ValueError(f"LoRA {name!r} not found in ComfyUI's loras folders")
        return path
    from ..library.errors import LibraryError
    from ..library.roots import confine
    try:
        return confine(get_state().roots(), name.replace(os.sep, "/"))[2]
    except LibraryError as exc:
        raise ValueError(str(exc)) from None


def request_policy():
    """server.http.RequestPolicy of the pack's routes inside ComfyUI, from ComfyUI's own flags.

    ComfyUI's origin middleware refuses a foreign Origin only when the Host resolves to loopback
    (0.33 also refuses `Sec-Fetch-Site: cross-site`; 0.3.64 does not), is replaced by a CORS
    middleware under `--enable-cors-header`, and never checks Host nor Content-Type. The pack's
    routes are never weaker: Origin, Sec-Fetch-Site and the JSON-only rule apply always (only the
    `--enable-cors-header` origin, or any under "*", is let through, as ComfyUI lets it through),
    and the Host check follows `--listen`: on when ComfyUI listens on loopback only (another Host
    is then DNS rebinding), off when the user chose to listen on another address. A reverse proxy
    in front of a loopback ComfyUI names its host in LORA_ATLAS_ALLOWED_HOSTS (comma-separated)."""
    from ..server.http import RequestPolicy, is_loopback_name
    args = getattr(sys.modules.get("comfy.cli_args"), "args", None)
    listen = getattr(args, "listen", None) or "127.0.0.1"
    loopback = all(is_loopback_name(a.strip().strip("[]")) for a in str(listen).split(",") if a.strip())
    hosts = tuple(h.strip().lower() for h in os.environ.get("LORA_ATLAS_ALLOWED_HOSTS", "").split(",") if h.strip())
    return RequestPolicy(loopback_host=loopback, allowed_origin=getattr(args, "enable_cors_header", None),
                         allowed_hosts=hosts)


def register_routes() -> bool:
    """Attach server/'s routes to ComfyUI's server when running inside it."""
    ps = prompt_server()
    if ps is None:
        return False
    from ..server.routes import add_routes
    add_routes(ps.routes, get_context, policy=request_policy())
    return True
