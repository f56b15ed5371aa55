"""A minimal websocket client (RFC 6455, stdlib only) for ComfyUI's `/ws?clientId=...` event stream.

The library layer may not import aiohttp (tests/test_layers.py), and a render only needs to *read*
JSON text messages and answer pings, so this is the small part of the protocol that does that:
the opening handshake, reading (possibly fragmented) frames, masked pong and close frames.
Binary frames (ComfyUI's latent previews) are skipped; frames are bounded (MAX_FRAME) so a wrong
server cannot fill memory.

    ws = WebSocket.connect("http://127.0.0.1:8188/ws?clientId=abc", timeout=5)
    text = ws.receive()      # the next text message, None when the server closed the stream
    ws.close()
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import struct
import urllib.parse

MAX_FRAME = 32 << 20
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketError(OSError):
    """The handshake was refused or the stream is not a websocket."""


class WebSocket:
    def __init__(self, sock):
        self.sock = sock
        self._buffer = b""

    @classmethod
    def connect(cls, url: str, timeout: float = 10.0) -> "WebSocket":
        """Open `url` (http(s):// or ws(s)://); raises OSError when the server is not reachable."""
        parts = urllib.parse.urlsplit(url)
        secure = parts.scheme in ("https", "wss")
        host, port = parts.hostname, parts.port or (443 if secure else 80)
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            if secure:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            key = base64.b64encode(os.urandom(16)).decode()
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                         .encode("ascii"))
            ws = cls(sock)
            head = ws._read_until(b"\r\n\r\n", 16 << 10).decode("latin-1")
            status = head.split("\r\n", 1)[0]
            expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in head.split("\r\n")[1:] if line)}
            if " 101" not in status or headers.get("sec-websocket-accept") != expected:
                raise WebSocketError(f"{url} refused the websocket ({status})")
            return ws
        except BaseException:
            sock.close()
            raise

    def settimeout(self, seconds) -> None:
        self.sock.settimeout(seconds)

    def receive(self) -> str | None:
        """The next text message (pings answered, binary skipped); None once the server closed."""
        parts, opcode = [], None
        while True:
            fin, op, payload = self._frame()
            if op == OP_CLOSE:
                self._send(OP_CLOSE, payload[:2])
                return None
            if op == OP_PING:
                self._send(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op != OP_CONT:
                opcode, parts = op, []
            parts.append(payload)
            if sum(len(p) for p in parts) > MAX_FRAME:
                raise WebSocketError(f"a websocket message is larger than {MAX_FRAME >> 20} MB")
            if fin:
                if opcode == OP_TEXT:
                    return b"".join(parts).decode("utf-8", "replace")
                parts, opcode = [], None             # a binary message (latent preview): skipped

    def close(self) -> None:
        try:
            self._send(OP_CLOSE, struct.pack(">H", 1000))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    # --- frames -------------------------------------------------------------------------------

    def _frame(self) -> tuple:
        b0, b1 = self._read(2)
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack(">H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", self._read(8))[0]
        if length > MAX_FRAME:
            raise WebSocketError(f"a websocket frame of {length} bytes is larger than {MAX_FRAME >> 20} MB")
        mask = self._read(4) if b1 & 0x80 else None
        payload = self._read(length)
        if mask:
            payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
        self.sock.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))

    def _read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buffer)))
            if not chunk:
                raise ConnectionResetError("the server closed the websocket connection")
            self._buffer += chunk
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def _read_until(self, marker: bytes, limit: int) -> bytes:
        while marker not in self._buffer:
            if len(self._buffer) > limit:
                raise WebSocketError("the websocket handshake answer is too long")
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionResetError("the server closed the connection during the websocket handshake")
            self._buffer += chunk
        head, _, self._buffer = self._buffer.partition(marker)
        return head
