/**
 * After a create, the new row is highlighted and scrolled into view. The row may be drawn before
 * the call returns (its event came first) or after (the event comes later): the spotlight is kept
 * for a while and applied to whichever drawing shows the row.
 */

/** How long the new row stays highlighted, and how long a row not yet drawn is waited for. */
const HOLD_MS = 10_000;

let current: { id: number; cards: readonly string[]; until: number; scrolled: boolean } | null = null;

/** The cards a created entry may appear in, by the kind of create. */
export const CARDS = { certificate: ['certificates', 'csrs'], certificateauthority: ['cas'] } as const;

/** Marks the entry with `id` as just created; `result` is what the create returned (an entry with an id). */
export function spotlight(kind: keyof typeof CARDS, result: unknown): void {
  const id = typeof result === 'object' && result !== null ? Number((result as { id?: unknown }).id) : NaN;
  if (!Number.isFinite(id)) return;
  current = { id, cards: CARDS[kind], until: Date.now() + HOLD_MS, scrolled: false };
  // Drawn already but past a card's cap: the card draws again, showing it.
  if (!applySpotlight(document)) for (const listener of redraws) listener(CARDS[kind]);
}

const redraws = new Set<(cards: readonly string[]) => void>();

/** Asks for the cards to be drawn again when the new row is not on screen. */
export function onSpotlight(listener: (cards: readonly string[]) => void): void {
  redraws.add(listener);
}

/** Whether the row with `id` in `card` is the one just created (a card shows it even past its cap). */
export function spotlit(card: string, id: number): boolean {
  return current !== null && current.id === id && current.cards.includes(card) && Date.now() <= current.until;
}

/** Highlights the spotlit row if `root` (a card just drawn, or the document) shows it; false when it does not. */
export function applySpotlight(root: ParentNode): boolean {
  if (!current) return false;
  if (Date.now() > current.until) {
    current = null;
    return false;
  }
  const spot = current;
  for (const card of spot.cards) {
    const row = root.querySelector<HTMLElement>(`[data-card="${card}"] tr[data-id="${spot.id}"]`) ?? (root instanceof HTMLElement && root.dataset.card === card ? root.querySelector<HTMLElement>(`tr[data-id="${spot.id}"]`) : null);
    if (!row) continue;
    row.classList.add('spotlight');
    if (!spot.scrolled) {
      spot.scrolled = true;
      scrollWhenSettled(row, spot.until);
    }
    window.setTimeout(() => row.classList.remove('spotlight'), Math.max(0, spot.until - Date.now()));
    return true;
  }
  return false;
}

/**
 * Scrolls once no dialog is open: closing the form or job dialog gives focus back to its opener,
 * which scrolls the opener into view and would undo a scroll made earlier.
 */
function scrollWhenSettled(row: HTMLElement, until: number): void {
  if (document.querySelector('dialog[open]') && Date.now() < until) return void window.setTimeout(() => scrollWhenSettled(row, until), 50);
  // The row may have been drawn again meanwhile: scroll to the one on screen.
  const current = row.isConnected ? row : document.querySelector<HTMLElement>(`tr.spotlight[data-id="${row.dataset.id}"]`);
  if (!current) return;
  // Focus moves to the new row too: left on the opener (a CA's Sign button), a redraw of that card
  // would put it back and scroll there.
  current.querySelector<HTMLElement>('button')?.focus({ preventScroll: true });
  current.scrollIntoView({ block: 'center' });
}
