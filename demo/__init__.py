"""Writers of realistic LoRA files that are not the user's library: the synthetic LoRA builder
(real key names and shapes, tiny rank), a plain safetensors writer, and the demo library that
`make run` / `lora-atlas demo` builds. numpy only; the tests of every layer import them."""
