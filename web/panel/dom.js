// Small DOM helpers shared by the panel's views. No side effects at import.

/** h("div", {class: "x", onclick: fn, "aria-label": "..."}, child, "text", [more]) -> Element */
export function h(tag, attrs = null, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

/** Replace `el`'s children with `children` (null and false skipped, arrays flattened, as h). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) {
    if (c === null || c === undefined) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Copy `text` to the clipboard; falls back to a hidden textarea (no clipboard permission, http). */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (_) { /* fall back below */ }
  const area = h("textarea", { style: "position:fixed;left:-9999px;top:0", "aria-hidden": "true" });
  area.value = text;
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
  area.remove();
  return ok;
}

/** A button that copies `getText()` and says so; the text copied last is kept on the button. */
export function copyButton(label, getText, host, ariaLabel = null) {
  const button = h("button", { type: "button", class: "la-copy", "aria-label": ariaLabel || label });
  button.textContent = label;
  button.addEventListener("click", async () => {
    const text = getText();
    button.dataset.copied = text;
    const ok = await copyText(text);
    if (host && host.toast) host.toast(ok ? "success" : "warn", ok ? "Copied" : "Copy failed: select the text");
    button.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => { button.textContent = label; }, 1200);
  });
  return button;
}

export function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toFixed(digits).replace(/\.?0+$/, "") || "0";
}

export function errorBox(message) {
  return h("div", { class: "la-error", role: "alert" }, String(message));
}

export function field(labelText, control, hint = null) {
  const id = control.id || `la-f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", { class: "la-field" }, h("label", { for: id }, labelText), control,
    hint ? h("small", { class: "la-hint" }, hint) : null);
}

export function select(options, value, attrs = {}) {
  const el = h("select", attrs);
  for (const opt of options) {
    const [v, label] = Array.isArray(opt) ? opt : [opt, opt];
    el.appendChild(h("option", { value: v, selected: v === value }, label));
  }
  el.value = value ?? "";
  return el;
}
