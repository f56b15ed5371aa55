"""The user's folders: the SQLite store, scan, stable ids, organize, quarantine, journal and undo,
reconcile, config.yaml, index.json, roles and root confinement, plan requests and saved plans,
profiles, exports. (Demo and fixture writers live in demo/, not here.)

May import engine and the standard library; never ComfyUI or aiohttp server code.
"""
