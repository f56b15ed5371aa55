// The panel's styles, as text put into the panel's own <style> (no external assets: works
// offline and inside ComfyUI). ComfyUI's theme variables are used where present.

export const CSS = `
.lora-atlas { --la-bg: var(--comfy-menu-bg, #1f2024); --la-fg: var(--fg-color, #e6e6e6);
  --la-muted: var(--descrip-text, #9aa0a6); --la-border: var(--border-color, #3a3d44);
  --la-input: var(--comfy-input-bg, #2a2c31); --la-accent: #4f8fe6; --la-warn: #e8953a; --la-bad: #e0607e;
  display: flex; flex-direction: column; height: 100%; min-height: 0; box-sizing: border-box;
  background: var(--la-bg); color: var(--la-fg); font: 13px/1.4 system-ui, sans-serif; }
.lora-atlas [hidden] { display: none !important; }
.lora-atlas *, .lora-atlas *::before, .lora-atlas *::after { box-sizing: border-box; }
.lora-atlas h2 { font-size: 16px; margin: 4px 0 8px; } .lora-atlas h3 { font-size: 13px; margin: 14px 0 6px; }
.lora-atlas h4 { margin: 0 0 4px; font-size: 13px; display: flex; gap: 6px; align-items: center; }
.lora-atlas button, .lora-atlas a.la-btn { background: var(--la-input); color: var(--la-fg);
  border: 1px solid var(--la-border); border-radius: 4px; padding: 4px 10px; cursor: pointer; font: inherit; }
.lora-atlas button:hover { border-color: var(--la-accent); }
.lora-atlas button:focus-visible, .lora-atlas [tabindex]:focus-visible, .lora-atlas input:focus-visible,
.lora-atlas select:focus-visible, .lora-atlas textarea:focus-visible { outline: 2px solid var(--la-accent); outline-offset: 1px; }
.lora-atlas button:disabled { opacity: .5; cursor: default; }
.lora-atlas .la-primary { background: var(--la-accent); border-color: var(--la-accent); color: #fff; }
.lora-atlas input, .lora-atlas select, .lora-atlas textarea { background: var(--la-input); color: var(--la-fg);
  border: 1px solid var(--la-border); border-radius: 4px; padding: 3px 6px; font: inherit; min-width: 0; }
.lora-atlas .la-tabs { display: flex; gap: 2px; padding: 6px 8px 0; border-bottom: 1px solid var(--la-border); flex: none; }
.lora-atlas .la-tabs button { border-radius: 4px 4px 0 0; border-bottom: none; }
.lora-atlas .la-tabs button[aria-selected="true"] { background: var(--la-accent); color: #fff; border-color: var(--la-accent); }
.lora-atlas .la-view { flex: 1; min-height: 0; overflow: auto; padding: 8px; }
.lora-atlas .la-view.la-gallery-view { overflow: hidden; display: flex; flex-direction: column; }
.lora-atlas .la-gallery { display: flex; flex-direction: column; flex: 1; min-height: 0; }
.lora-atlas .la-toolbar { display: flex; flex-wrap: wrap; gap: 6px 8px; align-items: end; flex: none; }
.lora-atlas .la-toolbar .la-field:first-child { flex: 1 1 220px; }
.lora-atlas .la-field { display: flex; flex-direction: column; gap: 2px; }
.lora-atlas .la-field label { color: var(--la-muted); font-size: 11px; }
.lora-atlas .la-search { width: 100%; }
.lora-atlas .la-status { color: var(--la-muted); margin: 6px 0; min-height: 1.2em; }
.lora-atlas .la-scroller { flex: 1; min-height: 200px; overflow-y: auto; overflow-x: hidden; position: relative;
  border-top: 1px solid var(--la-border); }
.lora-atlas .la-spacer { position: relative; width: 100%; }
.lora-atlas .la-card { position: absolute; left: 4px; top: 4px; height: 224px; display: flex; flex-direction: column;
  gap: 3px; padding: 6px; border: 1px solid var(--la-border); border-radius: 6px; background: var(--la-input);
  cursor: pointer; overflow: hidden; contain: strict; }
.lora-atlas .la-card:hover, .lora-atlas .la-card:focus { border-color: var(--la-accent); }
.lora-atlas .la-placeholder { opacity: .35; }
.lora-atlas .la-thumb { height: 120px; border-radius: 4px; overflow: hidden; background: #15161a; flex: none;
  display: flex; align-items: center; justify-content: center; }
.lora-atlas .la-thumb img { width: 100%; height: 100%; object-fit: cover; }
.lora-atlas .la-thumb img.la-nsfw { filter: blur(14px); }
.lora-atlas .la-card:hover img.la-nsfw, .lora-atlas .la-card:focus img.la-nsfw { filter: none; }
.lora-atlas .la-noimg { color: var(--la-muted); font-weight: 600; letter-spacing: .05em; font-size: 12px; }
.lora-atlas .la-name { font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.lora-atlas .la-tags { display: flex; flex-wrap: wrap; gap: 3px; max-height: 40px; overflow: hidden; }
.lora-atlas .la-tag { font-size: 11px; padding: 0 5px; border-radius: 8px; background: #33363d; color: var(--la-fg); }
.lora-atlas .la-badge { font-size: 11px; padding: 0 5px; border-radius: 8px; background: #4a2f1a; color: #ffc48a; }
.lora-atlas .la-card-actions { margin-top: auto; display: flex; gap: 4px; }
.lora-atlas .la-mini { padding: 1px 6px; font-size: 11px; }
.lora-atlas .la-row { display: flex; gap: 6px; align-items: center; margin: 4px 0; flex-wrap: wrap; }
.lora-atlas .la-grid2 { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 6px 10px; margin: 8px 0; }
.lora-atlas .la-error { color: var(--la-bad); }
.lora-atlas div.la-error { border: 1px solid var(--la-bad); border-radius: 4px; padding: 6px 8px; margin: 6px 0; }
.lora-atlas .la-hint { color: var(--la-muted); }
.lora-atlas .la-detail-head { display: flex; gap: 12px; align-items: flex-start; }
.lora-atlas .la-preview { width: 160px; max-height: 200px; object-fit: contain; border-radius: 6px; }
.lora-atlas .la-meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
.lora-atlas .la-kv { display: contents; } .lora-atlas dt { color: var(--la-muted); } .lora-atlas dd { margin: 0; word-break: break-word; }
.lora-atlas .la-triggers { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; }
.lora-atlas code { background: #15161a; padding: 1px 5px; border-radius: 3px; font-size: 12px; }
.lora-atlas .la-vector { word-break: break-all; flex: 1 1 200px; }
.lora-atlas .la-warnings { color: var(--la-warn); margin: 6px 0; padding-left: 18px; }
.lora-atlas .la-form { display: grid; gap: 6px; max-width: 520px; }
.lora-atlas .la-chart-wrap { max-width: 100%; }
.lora-atlas .la-chart { display: block; background: #15161a; border-radius: 6px; }
.lora-atlas .la-chart .la-grid { stroke: #3a3d44; stroke-width: .5; }
.lora-atlas .la-chart .la-axis { fill: var(--la-muted); font-size: 8px; }
.lora-atlas .la-legend { display: flex; flex-wrap: wrap; gap: 10px; margin: 4px 0; color: var(--la-muted); font-size: 11px; }
.lora-atlas .la-legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
.lora-atlas .la-table { border-collapse: collapse; width: 100%; margin: 4px 0; }
.lora-atlas .la-table th, .lora-atlas .la-table td { border-bottom: 1px solid var(--la-border); padding: 3px 6px;
  text-align: left; word-break: break-word; }
.lora-atlas .la-num { width: 72px; }
.lora-atlas .la-plan-lora { border: 1px solid var(--la-border); border-radius: 6px; padding: 6px 8px; margin: 6px 0; }
.lora-atlas .la-list { padding-left: 18px; } .lora-atlas .la-list li { margin: 3px 0; }
.lora-atlas .la-job { border: 1px solid var(--la-border); border-radius: 6px; padding: 6px 8px; margin: 6px 0; }
.lora-atlas .la-state { font-size: 11px; padding: 0 6px; border-radius: 8px; background: #33363d; }
.lora-atlas .la-done { background: #234a2a; } .lora-atlas .la-failed { background: #5a2330; } .lora-atlas .la-running { background: #23405a; }
.lora-atlas progress { width: 140px; }
.lora-atlas .la-json { max-height: 240px; overflow: auto; background: #15161a; padding: 6px; font-size: 11px; }
.lora-atlas .la-back { margin-bottom: 6px; }
`;
