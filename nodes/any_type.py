"""A link type that connects to any input (e.g. a LoRA name output into LoraLoader's combo)."""


class _AnyType(str):
    def __ne__(self, other):          # ComfyUI's validate_node_input accepts when `not a != b`
        return False

    __hash__ = str.__hash__


ANY = _AnyType("*")
