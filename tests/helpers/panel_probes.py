"""Page probes shared by the panel's browser tests and bench/bench_panel.py (JavaScript run in
the page through Playwright's `wait_for_function` / `evaluate`)."""

# true once the cards of the rows at the scroll position are painted with their LoRAs
SHOWN_AT_SCROLL = """() => {
    const el = document.querySelector('.la-scroller');
    const cols = Math.max(1, Math.floor(el.clientWidth / 168));
    const total = parseInt(document.querySelector('.la-status').textContent, 10);
    const i = Math.min(total - 1, Math.floor(el.scrollTop / 232) * cols + cols);
    const card = document.querySelector(`.la-card[data-index="${i}"]`);
    return Boolean(card && card.dataset.id);
}"""
