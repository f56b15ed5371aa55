"""Pure knowledge and maths about LoRA files: reading, classification, block taxonomy.

Nothing here writes files, touches SQLite or imports ComfyUI.
"""
