"""The ComfyUI face: graph nodes and routes. The only package that imports ComfyUI, lazily.

Nothing is registered yet; importing this stays free of ComfyUI and torch work.
"""

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
