/**
 * The alerts indicator in the top bar: a bell with the count of alerts not dismissed, coloured by
 * the most severe of them, opening the list with Dismiss and Restore. Kept current by the
 * `alert.list` event; any change reloads the list, which is short.
 */
import type { Connection } from './connection.js';
import { button, modal, toast, type Surface } from './dialogs.js';
import { fill, h, icon } from './dom.js';
import { describe } from './errors.js';
import { dateTime } from './format.js';

/** TrueNAS's levels, least severe first. */
const LEVELS = ['INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY'] as const;

export interface Alert {
  uuid: string;
  klass: string;
  level: string;
  formatted: string | null;
  text: string;
  dismissed: boolean;
  /** The client library turns the wire's `{"$date": ms}` into a Date. */
  datetime: Date | { $date: number } | string | number;
}

const severity = (level: string) => LEVELS.indexOf(level as (typeof LEVELS)[number]);

/** The colour a level reads in: informational, warning or danger. */
export function levelTone(level: string): 'info' | 'warn' | 'bad' {
  const rank = severity(level);
  return rank >= severity('ERROR') ? 'bad' : rank >= severity('WARNING') ? 'warn' : 'info';
}

const millis = (value: Alert['datetime']) => (value instanceof Date ? value.getTime() : typeof value === 'object' && value !== null ? value.$date : new Date(value).getTime());
const since = (value: Alert['datetime']) => dateTime(millis(value));

/** "Warning", "Critical". */
const levelLabel = (level: string) => level.charAt(0) + level.slice(1).toLowerCase();

/** Most severe first, then the newest. */
function bySeverity(a: Alert, b: Alert): number {
  return severity(b.level) - severity(a.level) || (millis(b.datetime) || 0) - (millis(a.datetime) || 0);
}

/** The bell for the top bar, or null when the user may not read alerts. */
export function alertsIndicator(conn: Connection): HTMLElement | null {
  if (!conn.can('ALERT_LIST_READ')) return null;
  const canWrite = conn.can('ALERT_LIST_WRITE');
  let alerts: Alert[] = [];
  let loadError: string | null = null;
  let open: { surface: Surface; list: HTMLElement } | null = null;

  const badge = h('span', { class: 'bell-count', 'aria-hidden': 'true' });
  const bell = h('button', { type: 'button', class: 'bell', 'aria-haspopup': 'dialog', onclick: () => openList() }, icon('bell'), badge);

  const drawBell = () => {
    const active = alerts.filter((alert) => !alert.dismissed);
    const worst = active.reduce<string | null>((top, alert) => (top === null || severity(alert.level) > severity(top) ? alert.level : top), null);
    bell.className = `bell ${worst ? levelTone(worst) : 'none'}`;
    badge.textContent = active.length ? String(active.length) : '';
    badge.hidden = active.length === 0;
    const label = active.length === 0 ? 'Alerts: none' : `Alerts: ${active.length}, the most severe ${levelLabel(worst!)}`;
    bell.setAttribute('aria-label', label);
    bell.title = label;
    bell.dataset.count = String(active.length);
  };

  const setDismissed = async (alert: Alert, dismissed: boolean) => {
    try {
      await conn.call(dismissed ? 'alert.dismiss' : 'alert.restore', alert.uuid);
      await load();
    } catch (error) {
      toast(`Cannot ${dismissed ? 'dismiss' : 'restore'} the alert: ${describe(error)}`);
    }
  };

  const item = (alert: Alert) =>
    h(
      'li',
      { class: `alert-item ${alert.dismissed ? 'dismissed' : ''}`, 'data-uuid': alert.uuid, 'data-klass': alert.klass },
      h('span', { class: `pill ${alert.dismissed ? 'muted' : levelTone(alert.level)}` }, levelLabel(alert.level)),
      h('div', { class: 'alert-text' }, h('p', null, alert.formatted ?? alert.text), h('p', { class: 'hint' }, `Since ${since(alert.datetime)}`)),
      canWrite
        ? h(
            'button',
            { type: 'button', class: 'button secondary small', 'data-key': `alert:${alert.uuid}`, onclick: () => void setDismissed(alert, !alert.dismissed) },
            alert.dismissed ? 'Restore' : 'Dismiss',
          )
        : null,
    );

  const drawList = () => {
    if (!open) return;
    const { list } = open;
    // Keep focus on the same alert's button across a redraw (it moves between the two lists).
    const focusedKey = list.contains(document.activeElement) ? (document.activeElement as HTMLElement).dataset.key : undefined;
    const sorted = [...alerts].sort(bySeverity);
    const active = sorted.filter((alert) => !alert.dismissed);
    const dismissed = sorted.filter((alert) => alert.dismissed);
    fill(
      list,
      loadError ? h('div', { class: 'alert error', role: 'alert' }, `Cannot retrieve the alerts: ${loadError}`) : null,
      active.length === 0 && !loadError ? h('p', { class: 'empty' }, 'No alerts. Everything is in order.') : null,
      active.length ? h('ul', { class: 'alert-list', 'aria-label': 'Active alerts' }, active.map(item)) : null,
      dismissed.length
        ? h('section', { class: 'dismissed-alerts', 'aria-label': 'Dismissed alerts' }, h('h3', null, 'Dismissed'), h('ul', { class: 'alert-list' }, dismissed.map(item)))
        : null,
    );
    if (focusedKey) {
      const target = list.querySelector<HTMLElement>(`[data-key="${CSS.escape(focusedKey)}"]`) ?? list.querySelector<HTMLElement>('button');
      (target ?? open.surface.dialog.querySelector<HTMLElement>('.surface-footer button'))?.focus();
    }
  };

  const load = async () => {
    try {
      alerts = await conn.call<Alert[]>('alert.list');
      loadError = null;
    } catch (error) {
      loadError = describe(error);
    }
    drawBell();
    drawList();
  };

  // A burst of events (a check raising several) costs one reload.
  let pending: number | undefined;
  const loadSoon = () => {
    window.clearTimeout(pending);
    pending = window.setTimeout(() => void load(), 100);
  };

  function openList(): void {
    const surface = modal('Alerts', { subtitle: 'Most severe first. They clear themselves when the condition ends.' });
    surface.dialog.classList.add('alerts-dialog');
    const list = h('div', { class: 'alerts-body' });
    surface.body.append(list);
    surface.footer.append(button('Close', () => surface.close(), 'primary'));
    open = { surface, list };
    void surface.closed.then(() => (open = null));
    drawList();
    void load();
  }

  drawBell();
  void load();
  conn.subscribe('alert.list', loadSoon).catch(() => undefined);
  conn.onState((state) => {
    if (state === 'online' && bell.isConnected) void load(); // events may have been missed while away
  });
  return bell;
}
