/**
 * The dashboard's filter: whitespace-separated terms that must all match, each a case-insensitive
 * substring of a row's names, or a token picking certificates by expiry (`expires:30`, `is:expired`) or revocation (`is:revoked`).
 */
import { SOON_DAYS, type CertEntry } from './format.js';

/** The tokens the summary buttons set. */
export const EXPIRING = `expires:${SOON_DAYS}`;
export const EXPIRED = 'is:expired';
export const REVOKED = 'is:revoked';

/** What a row offers the filter: the texts it is found by, and its dates when it has some. */
export interface Searchable {
  text: Array<string | null | undefined>;
  entry?: CertEntry;
}

/** Past its end (revoked ones read "Revoked" instead, so they are not counted here). */
export const isExpired = (entry: CertEntry) => !entry.revoked && (entry.expired === true || (entry.days_left ?? 0) < 0);

/** Still valid, and ends within `days` days. */
export const expiresWithin = (entry: CertEntry, days: number) =>
  !entry.revoked && !isExpired(entry) && entry.days_left !== null && entry.days_left !== undefined && entry.days_left <= days;

/** The test a query stands for, or null when it is empty (no filtering). */
export function compile(query: string): ((row: Searchable) => boolean) | null {
  const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (terms.length === 0) return null;
  const tests = terms.map((term): ((row: Searchable, text: string) => boolean) => {
    const days = /^expires:(\d+)$/.exec(term)?.[1];
    if (days) return ({ entry }) => Boolean(entry && expiresWithin(entry, Number(days)));
    if (term === EXPIRED) return ({ entry }) => Boolean(entry && isExpired(entry));
    if (term === REVOKED) return ({ entry }) => Boolean(entry?.revoked);
    return (_, text) => text.includes(term);
  });
  return (row) => {
    // One field per line, so a term does not match across two of them.
    const text = row.text.filter(Boolean).join('\n').toLowerCase();
    return tests.every((test) => test(row, text));
  };
}

/** The address's parameter the filter is kept in (`/?q=fleet`), so a reload or a shared link shows the same rows. */
const PARAM = 'q';

/** The filter the address asks for, or '' when none. */
export function filterFromUrl(): string {
  return new URLSearchParams(location.search).get(PARAM) ?? '';
}

/** Keeps the filter in the address, replacing the current history entry (no reload, no entry per keystroke). */
export function filterToUrl(query: string): void {
  const url = new URL(location.href);
  if (query.trim()) url.searchParams.set(PARAM, query);
  else url.searchParams.delete(PARAM);
  if (url.href !== location.href) history.replaceState(history.state, '', url);
}
