// The "LoRA Atlas" sidebar tab. The frontend mounts a custom tab through an inline ref callback with
// no error handler and may call `render` again on any re-render; switching tabs never calls
// `destroy` (spec previews-panel.md §3). So `render` is idempotent, paints its errors into the tab,
// and nothing here relies on `destroy`.
// ComfyUI loads every .js under web/ as an extension: this module only exports.

export const TAB_ID = "lora-atlas";
export const PANEL_MARK = "data-lora-atlas-panel";

/** Replace the tab's content with a readable error (a blank tab tells the user nothing). */
export function paintError(el, err) {
  const box = document.createElement("div");
  box.className = "lora-atlas-error";
  box.style.cssText = "padding:12px;color:var(--error-text,#f66);white-space:pre-wrap;font:12px monospace";
  box.textContent = `LoRA Atlas could not start: ${err?.message ?? err}`;
  el.replaceChildren(box);
  console.error("LoRA Atlas:", err);
}

/** Mount the panel (`loadPanel()` resolves to web/panel/app.js) into `el`; errors end up in `el`. */
export function renderTab(el, host, loadPanel) {
  el.setAttribute(PANEL_MARK, "");
  el.style.height = el.style.height || "100%";
  Promise.resolve()
    .then(loadPanel)
    .then((panel) => panel.mountPanel(el, host))
    .catch((err) => paintError(el, err));
}

/** Register the tab once (false when this frontend has no sidebar API). */
export function registerTab(app, host, loadPanel) {
  const manager = app.extensionManager;
  if (typeof manager?.registerSidebarTab !== "function") {
    console.warn("LoRA Atlas: this ComfyUI frontend has no sidebar tab API; the panel is not shown");
    return false;
  }
  if (manager.getSidebarTabs?.().some((t) => t.id === TAB_ID)) return true;
  manager.registerSidebarTab({
    id: TAB_ID,
    icon: "pi pi-images",
    title: "LoRA Atlas",
    tooltip: "LoRA Atlas",
    label: "LoRA Atlas",
    type: "custom",
    render: (el) => renderTab(el, host, loadPanel),
  });
  return true;
}
