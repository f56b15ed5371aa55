"""Why a file could not be inspected, one class per cause.

    InspectError                 a file is not a usable LoRA; `code` is a short stable slug
    ├── UnreadableFile           vanished, permission denied, not a regular file, I/O  (unreadable)
    │   └── BadFileName          a name that is not valid UTF-8: no tool can name it    (bad_name)
    ├── PickleContainer          .ckpt/.pt/.bin and friends; never unpickled            (pickle)
    ├── HeaderError              the safetensors container itself is malformed
    │   ├── EmptyFile                                                                   (empty)
    │   ├── TruncatedFile        shorter than its header or tensors say                 (truncated)
    │   ├── HeaderTooLarge       header length over the 100 MB limit                    (header_too_large)
    │   ├── InvalidHeader        not JSON, not an object, wrong field types             (invalid_header)
    │   ├── UnknownDtype                                                                (unknown_dtype)
    │   └── BadOffsets           offsets out of range, overlapping, size mismatch       (bad_offsets)
    ├── NotALora                 a readable file that is something else                 (not_a_lora)
    │   ├── FullCheckpoint                                                              (checkpoint)
    │   └── TextualInversion                                                            (embedding)
    └── AnalysisError            tensors that cannot be measured                        (bad_tensor)
        ├── ShapeMismatch        factors that do not fit their adapter, or a zero dim   (bad_shapes)
        ├── NonFinite            NaN or Inf values                                      (non_finite)
        └── UnsupportedDtype     a dtype the maths cannot read                          (unsupported_dtype)

Every message is one line that says what is wrong and, where there is one, what to do.
"""

from __future__ import annotations


class InspectError(Exception):
    code = "invalid"

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class UnreadableFile(InspectError):
    code = "unreadable"


class BadFileName(UnreadableFile):
    code = "bad_name"


class PickleContainer(InspectError):
    code = "pickle"


class HeaderError(InspectError):
    code = "invalid_header"


class EmptyFile(HeaderError):
    code = "empty"


class TruncatedFile(HeaderError):
    code = "truncated"


class HeaderTooLarge(HeaderError):
    code = "header_too_large"


class InvalidHeader(HeaderError):
    code = "invalid_header"


class UnknownDtype(HeaderError):
    code = "unknown_dtype"


class BadOffsets(HeaderError):
    code = "bad_offsets"


class NotALora(InspectError):
    code = "not_a_lora"


class FullCheckpoint(NotALora):
    code = "checkpoint"


class TextualInversion(NotALora):
    code = "embedding"


class AnalysisError(InspectError):
    code = "bad_tensor"


class ShapeMismatch(AnalysisError):
    code = "bad_shapes"


class NonFinite(AnalysisError):
    code = "non_finite"


class UnsupportedDtype(AnalysisError):
    code = "unsupported_dtype"


class PlanError(ValueError):
    """A request the planner refuses; `problems` lists every reason (one line each). Defined here
    (not in engine.planner) so the HTTP face can name it without importing the planner."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))
