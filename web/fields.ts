/**
 * Labelled form fields. Each field knows the API attribute it fills (`path`), so a server
 * validation error naming that attribute can be shown under it.
 */
import { h, uid } from './dom.js';

export interface Field<V = unknown> {
  /** The API attribute, e.g. `country` or `cert_extensions.KeyUsage`. */
  readonly path: string;
  readonly label: string;
  /** The wrapper; hidden fields are skipped by validation and payloads. */
  readonly el: HTMLElement;
  value(): V;
  set(value: V): void;
  /** Shows (or clears) an error under the field. */
  error(message: string | null): void;
  /** The local validation message, or null when valid. */
  check(): string | null;
  focus(): void;
  onChange(listener: (value: V) => void): void;
}

interface Common {
  path: string;
  label: string;
  hint?: string;
  required?: boolean;
  /** Extra local rule: a message when invalid. */
  validate?: (value: string) => string | null;
}

export type Option = readonly [value: string, label: string];

/** `{value: label}` choices as options, in server order. */
export function options(choices: Record<string, string>): Option[] {
  return Object.entries(choices);
}

export const NAME_RULE = (value: string) =>
  /^[A-Za-z0-9_-]+$/.test(value) ? null : 'Use letters, numbers, underscore (_) and dash (-) only.';

export const EMAIL_RULE = (value: string) => (value === '' || /^[^\s@]+@[^\s@]+$/.test(value) ? null : 'Enter an e-mail address such as pki@example.com.');

/** The label, control, hint and error slot around a control, wired for screen readers. */
function frame(control: HTMLElement, spec: Common, id: string, inline = false) {
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const hint = spec.hint ? h('p', { class: 'hint', id: hintId }, spec.hint) : null;
  const errorText = h('p', { class: 'field-error', id: errorId, hidden: true });
  control.setAttribute('aria-describedby', [hint ? hintId : '', errorId].filter(Boolean).join(' '));
  const label = h('label', { for: id }, spec.label, spec.required ? h('span', { class: 'required', 'aria-hidden': 'true' }, ' *') : null);
  const el = inline
    ? h('div', { class: 'field check' }, h('div', { class: 'check-row' }, control, label), hint, errorText)
    : h('div', { class: 'field' }, label, control, hint, errorText);
  el.dataset.path = spec.path;
  const error = (message: string | null) => {
    errorText.textContent = message ?? '';
    errorText.hidden = !message;
    el.classList.toggle('invalid', Boolean(message));
    if (message) control.setAttribute('aria-invalid', 'true');
    else control.removeAttribute('aria-invalid');
  };
  return { el, error };
}

function textCheck(spec: Common, value: string): string | null {
  if (spec.required && value.trim() === '') return `${spec.label} is required.`;
  return value === '' ? null : (spec.validate?.(value) ?? null);
}

export function input(spec: Common & { type?: string; value?: string; autocomplete?: string; placeholder?: string; min?: number; max?: number }): Field<string> {
  const id = uid();
  const control = h('input', {
    id,
    name: spec.path,
    type: spec.type ?? 'text',
    value: spec.value ?? '',
    autocomplete: spec.autocomplete ?? 'off',
    placeholder: spec.placeholder,
    required: spec.required,
    min: spec.min,
    max: spec.max,
    spellcheck: false,
  });
  const { el, error } = frame(control, spec, id);
  const numberCheck = (value: string) => {
    if (spec.type !== 'number' || value === '') return null;
    const n = Number(value);
    if (!Number.isInteger(n)) return `${spec.label} must be a whole number.`;
    if (spec.min !== undefined && n < spec.min) return `${spec.label} must be at least ${spec.min}.`;
    if (spec.max !== undefined && n > spec.max) return `${spec.label} must be at most ${spec.max}.`;
    return null;
  };
  control.addEventListener('input', () => error(null));
  return {
    path: spec.path,
    label: spec.label,
    el,
    value: () => control.value.trim(),
    set: (value) => void (control.value = value),
    error,
    check: () => textCheck(spec, control.value) ?? numberCheck(control.value.trim()),
    focus: () => control.focus(),
    onChange: (listener) => control.addEventListener('input', () => listener(control.value.trim())),
  };
}

/** A text area for PEM text, with a button that reads a file into it. */
export function textarea(spec: Common & { rows?: number; placeholder?: string; file?: boolean }): Field<string> {
  const id = uid();
  const control = h('textarea', { id, name: spec.path, rows: spec.rows ?? 6, required: spec.required, placeholder: spec.placeholder, spellcheck: false, class: 'mono' });
  const { el, error } = frame(control, spec, id);
  if (spec.file) {
    const picker = h('input', {
      type: 'file',
      class: 'visually-hidden',
      tabIndex: -1,
      accept: '.pem,.crt,.cer,.key,.csr,.txt',
      onchange: async () => {
        const file = picker.files?.[0];
        if (file) control.value = await file.text();
        error(null);
      },
    });
    el.append(h('div', { class: 'field-tools' }, h('button', { type: 'button', class: 'link', onclick: () => picker.click() }, `Load ${spec.label.toLowerCase()} from a file…`), picker));
  }
  control.addEventListener('input', () => error(null));
  return {
    path: spec.path,
    label: spec.label,
    el,
    value: () => control.value.trim(),
    set: (value) => void (control.value = value),
    error,
    check: () => textCheck(spec, control.value),
    focus: () => control.focus(),
    onChange: (listener) => control.addEventListener('input', () => listener(control.value.trim())),
  };
}

export function select(spec: Common & { options: readonly Option[]; value?: string; placeholder?: string }): Field<string> & { setOptions(options: readonly Option[]): void } {
  const id = uid();
  const control = h('select', { id, name: spec.path, required: spec.required });
  const setOptions = (list: readonly Option[]) => {
    const current = control.value;
    control.replaceChildren(
      ...(spec.placeholder !== undefined ? [h('option', { value: '' }, spec.placeholder)] : []),
      ...list.map(([value, label]) => h('option', { value }, label)),
    );
    if (list.some(([value]) => value === current)) control.value = current;
  };
  setOptions(spec.options);
  if (spec.value !== undefined) control.value = spec.value;
  const { el, error } = frame(control, spec, id);
  const changes = changeListeners(control, () => control.value, error);
  return {
    path: spec.path,
    label: spec.label,
    el,
    value: () => control.value,
    set: (value) => {
      control.value = value;
      changes.notify();
    },
    error,
    check: () => (spec.required && control.value === '' ? `Choose ${spec.label.toLowerCase()}.` : null),
    focus: () => control.focus(),
    onChange: changes.add,
    setOptions,
  };
}

export function checkbox(spec: Omit<Common, 'validate'> & { value?: boolean; mustBeChecked?: string }): Field<boolean> {
  const id = uid();
  const control = h('input', { id, name: spec.path, type: 'checkbox', checked: spec.value ?? false });
  const { el, error } = frame(control, spec, id, true);
  const changes = changeListeners(control, () => control.checked, error);
  return {
    path: spec.path,
    label: spec.label,
    el,
    value: () => control.checked,
    set: (value) => {
      control.checked = value;
      changes.notify();
    },
    error,
    check: () => (spec.mustBeChecked && !control.checked ? spec.mustBeChecked : null),
    focus: () => control.focus(),
    onChange: changes.add,
  };
}

/** Several checkboxes in a fieldset; the value is the list of checked option values. */
export function checks(spec: Omit<Common, 'validate'> & { options: readonly Option[]; value?: readonly string[]; columns?: boolean }): Field<string[]> {
  const errorId = uid('e');
  const errorText = h('p', { class: 'field-error', id: errorId, hidden: true });
  const boxes = spec.options.map(([value, label]) => {
    const id = uid();
    const box = h('input', { id, type: 'checkbox', value, checked: spec.value?.includes(value) ?? false, 'aria-describedby': errorId });
    return { box, row: h('div', { class: 'check-row' }, box, h('label', { for: id }, label)) };
  });
  const el = h(
    'fieldset',
    { class: `field checks${spec.columns ? ' columns' : ''}` },
    h('legend', null, spec.label, spec.required ? h('span', { class: 'required', 'aria-hidden': 'true' }, ' *') : null),
    spec.hint ? h('p', { class: 'hint' }, spec.hint) : null,
    h('div', { class: 'check-list' }, boxes.map(({ row }) => row)),
    errorText,
  );
  el.dataset.path = spec.path;
  const error = (message: string | null) => {
    errorText.textContent = message ?? '';
    errorText.hidden = !message;
    el.classList.toggle('invalid', Boolean(message));
  };
  const value = () => boxes.filter(({ box }) => box.checked).map(({ box }) => box.value);
  for (const { box } of boxes) box.addEventListener('change', () => error(null));
  return {
    path: spec.path,
    label: spec.label,
    el,
    value,
    set: (values) => boxes.forEach(({ box }) => (box.checked = values.includes(box.value))),
    error,
    check: () => (spec.required && value().length === 0 ? `Choose at least one ${spec.label.toLowerCase()}.` : null),
    focus: () => boxes[0]?.box.focus(),
    onChange: (listener) => boxes.forEach(({ box }) => box.addEventListener('change', () => listener(value()))),
  };
}

/**
 * A list of names typed one by one: Enter, comma or leaving the box adds what was typed (TrueNAS's
 * chips lose text that was not confirmed with Enter). With `validateEach`, an entry that fails
 * stays in the box with its error, so nothing typed is lost or split silently.
 */
export function chips(spec: Common & { placeholder?: string; validateEach?: (value: string) => string | null; emptyMessage?: string }): Field<string[]> {
  const id = uid();
  let values: string[] = [];
  let problem: string | null = null;
  const list = h('ul', { class: 'chips' });
  const control = h('input', { id, type: 'text', autocomplete: 'off', spellcheck: false, placeholder: spec.placeholder });
  const { el, error } = frame(h('div', { class: 'chip-box' }, list, control), spec, id);
  control.setAttribute('aria-describedby', `${id}-hint ${id}-error`);
  const render = () =>
    list.replaceChildren(
      ...values.map((value, index) =>
        h(
          'li',
          null,
          h('span', null, value),
          h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove ${value}`, onclick: () => ((values = values.filter((_, i) => i !== index)), render()) }, '×'),
        ),
      ),
    );
  const commit = () => {
    // Commas separate entries; without a rule, spaces do too (the old behaviour for free text).
    const typed = control.value.split(spec.validateEach ? /\s*[,\n]\s*/ : /[\s,]+/).map((value) => value.trim()).filter(Boolean);
    if (typed.length === 0) return;
    const bad = spec.validateEach ? typed.filter((value) => spec.validateEach!(value)) : [];
    const good = typed.filter((value) => !bad.includes(value));
    values = [...values, ...good.filter((value) => !values.includes(value))];
    control.value = bad.join(', ');
    problem = bad.length ? spec.validateEach!(bad[0]!) : null;
    error(problem ? `${problem}.` : null);
    render();
  };
  control.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ',') {
      event.preventDefault();
      commit();
    } else if (event.key === 'Backspace' && control.value === '' && values.length > 0) {
      values = values.slice(0, -1);
      render();
    }
  });
  control.addEventListener('input', () => {
    if (problem) (problem = null), error(null);
  });
  control.addEventListener('blur', commit);
  return {
    path: spec.path,
    label: spec.label,
    el,
    value: () => {
      commit();
      return values;
    },
    set: (next) => ((values = [...next]), render()),
    error,
    check: () => {
      commit();
      if (problem) return `${problem}.`;
      return spec.required && values.length === 0 ? (spec.emptyMessage ?? `Add at least one ${spec.label.toLowerCase()}.`) : null;
    },
    focus: () => control.focus(),
    onChange: () => undefined,
  };
}

/** A block that takes the errors of an attribute with no control of its own (e.g. `dns_mapping`). */
export function errorSlot(path: string, label: string, el: HTMLElement): Field<null> {
  const text = h('p', { class: 'field-error', role: 'alert', hidden: true });
  el.append(text);
  return {
    path,
    label,
    el,
    value: () => null,
    set: () => undefined,
    error: (message) => {
      text.textContent = message ?? '';
      text.hidden = !message;
    },
    check: () => null,
    focus: () => el.querySelector<HTMLElement>('select, input, button')?.focus(),
    onChange: () => undefined,
  };
}

/** Shows a field only while `when()` holds, re-evaluated when any trigger changes. */
export function showWhen(target: { el: HTMLElement } | HTMLElement, when: () => boolean, ...triggers: Array<{ onChange(listener: () => void): void }>): void {
  const el = target instanceof HTMLElement ? target : target.el;
  const update = () => void (el.hidden = !when());
  for (const trigger of triggers) trigger.onChange(update);
  update();
}

/** Whether a field is on screen (not inside anything hidden). */
export function isShown(field: Field<unknown>): boolean {
  for (let node: HTMLElement | null = field.el; node; node = node.parentElement) if (node.hidden) return false;
  return true;
}

/**
 * Checks the shown fields, marks the invalid ones, focuses the first; true when all are valid.
 */
export function checkFields(fields: readonly Field<unknown>[]): boolean {
  let first: Field<unknown> | undefined;
  for (const field of fields) {
    if (!isShown(field)) continue;
    const message = field.check();
    field.error(message);
    if (message) first ??= field;
  }
  first?.focus();
  return !first;
}

/** Fields that hold text: their value, or undefined when empty (so it is left out of payloads). */
export function optional(field: Field<string>): string | undefined {
  return isShown(field) && field.value() !== '' ? field.value() : undefined;
}

/** Listeners told of every change, by the user (which also clears the field's error) or by `set`. */
function changeListeners<T>(control: HTMLElement, read: () => T, error: (message: string | null) => void) {
  const listeners: Array<(value: T) => void> = [];
  const notify = () => {
    for (const listener of listeners) listener(read());
  };
  control.addEventListener('change', () => {
    error(null);
    notify();
  });
  return { notify, add: (listener: (value: T) => void) => void listeners.push(listener) };
}
