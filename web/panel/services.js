// What the views ask the server, with caches: listing pages per query, one detail per LoRA. The
// caches are dropped when the server says the library changed (library event, a job that wrote,
// our own config edit), so a view never shows what the disk no longer holds. No side effects.

import { EVENT_JOB, EVENT_LIBRARY, EVENT_PREVIEW } from "./api.js";

export const PAGE = 200;                       // listing items per request (the route allows 500)
const SERVER_FILTERS = ["q", "architecture", "adapter", "role", "ok", "sort"];
const WRITING_ACTIONS = new Set(["organize", "clean", "undo", "reconcile", "previews", "scan"]);

/** The listing filters the route cannot apply: applied here over the server-filtered items. */
export function localMatch(item, f) {
  if (f.base_model_hint && (item.base_model_hint || "") !== f.base_model_hint) return false;
  if (f.has_preview === "1" && !item.has_preview) return false;
  if (f.has_preview === "0" && item.has_preview) return false;
  if (f.quarantined === "1" && !item.quarantined) return false;
  if (f.quarantined === "0" && item.quarantined) return false;
  if (f.tag) {
    const want = f.tag.toLowerCase();
    if (!(item.tags || []).some((t) => t.toLowerCase() === want)) return false;
  }
  return true;
}

export function needsLocal(f) {
  return Boolean(f.base_model_hint || f.has_preview || f.quarantined || f.tag);
}

export class LoraService {
  constructor(api, host) {
    this.api = api;
    this.host = host;
    this.generation = 0;
    this.pages = new Map();          // key -> Map(pageIndex -> Promise<items>)
    this.totals = new Map();         // key -> total
    this.everything = new Map();     // key -> Promise<items> (when local filters apply)
    this.details = new Map();        // id -> Promise<detail>
    this.listeners = new Set();
    this.unsubscribe = [];
    if (host && host.subscribe) {
      this.unsubscribe.push(host.subscribe(EVENT_LIBRARY, () => this.invalidate()));
      this.unsubscribe.push(host.subscribe(EVENT_PREVIEW, (p) => { if (p && p.state !== "failed") this.invalidate(p.id); }));
      this.unsubscribe.push(host.subscribe(EVENT_JOB, (job) => {
        if (job && (job.state === "done" || job.state === "failed") && WRITING_ACTIONS.has(job.action)) this.invalidate();
      }));
    }
  }

  onChange(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  invalidate(id = null) {
    if (id) this.details.delete(id);
    else this.details.clear();
    this.pages.clear();
    this.totals.clear();
    this.everything.clear();
    this.generation += 1;
    for (const fn of this.listeners) fn();
  }

  close() { for (const u of this.unsubscribe) { try { if (u) u(); } catch (_) { /* host gone */ } } }

  key(filters) {
    return JSON.stringify(SERVER_FILTERS.map((k) => filters[k] || ""));
  }

  serverQuery(filters) {
    const q = {};
    for (const k of SERVER_FILTERS) if (filters[k]) q[k] = filters[k];
    return q;
  }

  /** {total, get(i) -> item|undefined, ensure(from, to) -> Promise} over the filtered listing. */
  async window(filters) {
    if (needsLocal(filters)) {
      const all = (await this.all(filters)).filter((it) => localMatch(it, filters));
      return { total: all.length, get: (i) => all[i], ensure: async () => {} };
    }
    const key = this.key(filters);
    const loaded = new Map([[0, await this.page(filters, key, 0)]]);
    const pages = this.pages.get(key);
    const self = this;
    return {
      total: this.totals.get(key) || 0,
      get(i) {
        const items = loaded.get(Math.floor(i / PAGE));
        return items ? items[i % PAGE] : undefined;
      },
      async ensure(from, to) {
        const wanted = [];
        for (let p = Math.floor(from / PAGE); p <= Math.floor(Math.max(from, to - 1) / PAGE); p++) {
          if (!loaded.has(p)) wanted.push(self.page(filters, key, p).then((items) => loaded.set(p, items)));
        }
        await Promise.all(wanted);
      },
      pages,
    };
  }

  page(filters, key, p) {
    let pages = this.pages.get(key);
    if (!pages) this.pages.set(key, (pages = new Map()));
    let hit = pages.get(p);
    if (!hit) {
      hit = this.api.listLoras({ ...this.serverQuery(filters), offset: p * PAGE, limit: PAGE }).then((doc) => {
        this.totals.set(key, doc.total);
        return doc.items;
      });
      hit.catch(() => pages.delete(p));
      pages.set(p, hit);
    }
    return hit;
  }

  /** Every item matching the server-side filters (pages of 500), for filters applied here. */
  all(filters) {
    const key = this.key(filters);
    let hit = this.everything.get(key);
    if (!hit) {
      hit = (async () => {
        const q = this.serverQuery(filters);
        const first = await this.api.listLoras({ ...q, offset: 0, limit: 500 });
        const out = first.items.slice();
        const rest = [];
        for (let off = 500; off < first.total; off += 500) rest.push(this.api.listLoras({ ...q, offset: off, limit: 500 }));
        for (const doc of await Promise.all(rest)) out.push(...doc.items);
        return out;
      })();
      hit.catch(() => this.everything.delete(key));
      this.everything.set(key, hit);
    }
    return hit;
  }

  detail(id) {
    let hit = this.details.get(id);
    if (!hit) {
      hit = this.api.getLora(id);
      hit.catch(() => this.details.delete(id));
      this.details.set(id, hit);
    }
    return hit;
  }

  async editConfig(id, fields) {
    const result = await this.api.editConfig(id, fields);
    this.invalidate(id);
    return result;
  }
}
