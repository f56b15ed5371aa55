// Gallery cards dropped on ComfyUI's canvas. ComfyUI's own document `drop` handler returns early
// when the event's default is prevented, else it tries to load the drop as a workflow file; so
// ours listens in the capture phase, takes only drags carrying LORA_MIME and stops them there.
// ComfyUI loads every .js under web/ as an extension: this module only exports.

import { LORA_MIME, parseDragPayload } from "./graph_plan.js";

const carriesLora = (e) => Array.from(e.dataTransfer?.types ?? []).includes(LORA_MIME);

/**
 * Listen on `doc` for cards dropped outside the panel (`insidePanel(target)` says which targets are
 * the panel's own) and call `onDrop(payload, clientX, clientY)`; its errors go to `onError`.
 * Returns a function that removes the listeners.
 */
export function installCanvasDrop(doc, { onDrop, onError, insidePanel }) {
  const over = (e) => {
    if (!carriesLora(e) || insidePanel(e.target)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
  };
  const drop = (e) => {
    if (!carriesLora(e) || insidePanel(e.target)) return;
    e.preventDefault();
    e.stopPropagation();
    const payload = parseDragPayload(e.dataTransfer.getData(LORA_MIME));
    if (!payload) return onError(new Error("the dropped card carries no LoRA"));
    Promise.resolve().then(() => onDrop(payload, e.clientX, e.clientY)).catch(onError);
  };
  doc.addEventListener("dragover", over, true);
  doc.addEventListener("drop", drop, true);
  return () => {
    doc.removeEventListener("dragover", over, true);
    doc.removeEventListener("drop", drop, true);
  };
}
