// The host of `lora-atlas serve`'s page (web/index.html): events from the /ws websocket, toasts
// in the page, settings in localStorage. ComfyUI imports every .js under web/ as an extension, so
// this module acts only on the serve page (the element #lora-atlas-serve), never inside ComfyUI.

import { mountPanel } from "./panel/app.js";

function serveHost() {
  const listeners = new Map();          // event name -> Set(callback)
  let socket = null;
  const connect = () => {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    socket = new WebSocket(url);
    socket.addEventListener("message", (e) => {
      let msg;
      try { msg = JSON.parse(e.data); } catch (_) { return; }
      for (const fn of listeners.get(msg.type) || []) {
        try { fn(msg.data); } catch (err) { console.error("lora-atlas listener", err); }
      }
    });
    socket.addEventListener("close", () => setTimeout(connect, 2000));
  };
  connect();
  const toasts = document.createElement("div");
  toasts.setAttribute("role", "status");
  toasts.setAttribute("aria-live", "polite");
  toasts.style.cssText = "position:fixed;right:12px;bottom:12px;display:flex;flex-direction:column;gap:6px;z-index:10;font:13px system-ui";
  document.body.appendChild(toasts);
  return {
    kind: "serve",
    apiBase: "/lora-atlas",
    subscribe(name, callback) {
      if (!listeners.has(name)) listeners.set(name, new Set());
      listeners.get(name).add(callback);
      return () => listeners.get(name).delete(callback);
    },
    toast(level, text) {
      const colors = { success: "#234a2a", error: "#5a2330", warn: "#5a4423", info: "#23405a" };
      const el = document.createElement("div");
      el.className = "la-toast";
      el.textContent = text;
      el.style.cssText = `background:${colors[level] || colors.info};color:#fff;padding:6px 10px;border-radius:4px`;
      toasts.appendChild(el);
      setTimeout(() => el.remove(), 2500);
    },
    insertPlan: null,
    addLoraToGraph: null,
    graphLoras: null,
    getSetting(id, fallback) {
      try { const v = localStorage.getItem(id); return v === null ? fallback : JSON.parse(v); } catch (_) { return fallback; }
    },
    setSetting(id, value) {
      try { localStorage.setItem(id, JSON.stringify(value)); } catch (_) { /* private mode */ }
    },
    get socket() { return socket; },
  };
}

const target = typeof document !== "undefined" ? document.getElementById("lora-atlas-serve") : null;
if (target) {
  window.loraAtlasPanel = mountPanel(target, serveHost());
}
