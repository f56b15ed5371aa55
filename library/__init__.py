"""The user's folders: demo and fixture files for now; the store, scan and organize come next.

May import engine and the standard library; never ComfyUI or aiohttp server code.
"""
