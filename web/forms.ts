/** Form plumbing: submitting with errors placed on fields, one-page form panels, and the step-by-step wizard. */
import { append, h, uid, type Child } from './dom.js';
import { alreadyShown, button, panel, toast, type Surface } from './dialogs.js';
import { describe, placeProblems, validationProblems, withLabels, type Problem } from './errors.js';
import { checkFields, isShown, type Field } from './fields.js';
import { humanize } from './format.js';

/** A region above a form's buttons for problems no field claims. */
function alertBox(): HTMLElement {
  return h('div', { class: 'alert error', role: 'alert', hidden: true });
}

function showAlert(alert: HTMLElement, lines: readonly string[]): void {
  alert.replaceChildren(...lines.map((line) => h('p', null, line)));
  alert.hidden = lines.length === 0;
}

/**
 * A problem no shown field took, named as the form names it: the label of the field whose path ends
 * the attribute (a hidden one too, such as another provider's), else its last part in words
 * (`…attributes.api_token` → "API token"), never the schema's path.
 */
function problemText([attribute, message]: Problem, fields: readonly Field<unknown>[]): string {
  if (!attribute) return withLabels(message, fields);
  const segments = attribute.split('.').filter((segment) => !/^\d+$/.test(segment));
  for (let start = 0; start < segments.length; start++) {
    const suffix = segments.slice(start).join('.');
    const field = fields.find((candidate) => candidate.path === suffix);
    if (field) return `${field.label}: ${withLabels(message, fields)}`;
  }
  return `${humanize(segments.at(-1) ?? attribute)}: ${withLabels(message, fields)}`;
}

/** How an attempt ended: saved, stopped by a field (focused), or failed with no field to show it on. */
export type Outcome = 'done' | 'field' | 'failed';

/**
 * Runs `action` after the local checks pass. A validation error from the server lands on the fields
 * it names (the first focused); anything else goes to `alert`. `onPlaced` learns which fields got
 * errors (a wizard uses it to show their step). On 'failed' (a job that failed or was aborted, a
 * validation error no field claims) the caller puts focus back on its primary button, which `busy`
 * has disabled meanwhile: the job dialog that closed could not return focus to it.
 */
export async function attempt(
  fields: readonly Field<unknown>[],
  alert: HTMLElement,
  action: () => Promise<unknown>,
  onPlaced: (fields: Field<unknown>[]) => void = (placed) => placed[0]?.focus(),
): Promise<Outcome> {
  showAlert(alert, []);
  for (const field of fields) field.error(null);
  if (!checkFields(fields)) return 'field';
  try {
    await action();
    return 'done';
  } catch (error) {
    const problems = validationProblems(error);
    if (problems) {
      const { placed, rest } = placeProblems(problems, fields);
      showAlert(alert, rest.map((problem) => problemText(problem, fields)));
      onPlaced(placed);
      if (placed.length > 0) return 'field';
    } else if (!alreadyShown(error)) {
      showAlert(alert, [describe(error)]);
    }
    return 'failed';
  }
}

/** Sets a button busy while `work` runs, so a double click sends nothing twice; resolves with what `work` did (undefined when already busy). */
export async function busy<T>(control: HTMLButtonElement, work: () => Promise<T>): Promise<T | undefined> {
  if (control.disabled) return undefined;
  control.disabled = true;
  control.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    control.disabled = false;
    control.removeAttribute('aria-busy');
  }
}

/** A one-page form in a side panel: fields, Cancel and a submit button. */
export function formPanel(spec: {
  title: string;
  subtitle?: string;
  fields: readonly Field<unknown>[];
  content: Child;
  submitLabel: string;
  submit: () => Promise<unknown>;
  done: string;
  extraButtons?: Child;
}): Surface {
  const surface = panel(spec.title, { subtitle: spec.subtitle });
  const alert = alertBox();
  // The button sits in the footer, outside the form, and submits it through its `form` attribute.
  const form = h('form', { class: 'form', noValidate: true, id: uid('form') }, spec.content, alert);
  const save = h('button', { type: 'submit', class: 'button primary' }, spec.submitLabel);
  save.setAttribute('form', form.id);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void busy(save, async () => {
      const outcome = await attempt(spec.fields, alert, spec.submit);
      if (outcome === 'done') {
        surface.close();
        toast(spec.done);
      }
      return outcome;
    }).then((outcome) => outcome === 'failed' && save.focus());
  });
  surface.body.append(form);
  append(surface.footer, spec.extraButtons, h('span', { class: 'spacer' }), button('Cancel', () => surface.close()), save);
  spec.fields.find((field) => !field.el.hidden)?.focus();
  return surface;
}

/** One step of a wizard. Its body is built once, so values survive Back and Next. */
export interface Step {
  title: string;
  body: HTMLElement;
  fields: Field<unknown>[];
  /** Label/value lines for the Confirm Options summary. */
  summary(): Array<readonly [string, Child]>;
  payload(): Record<string, unknown>;
  /**
   * Work the server does before the wizard moves on (the import preview): false keeps the wizard
   * on this step, with the errors shown on its fields.
   */
  advance?(): Promise<boolean>;
}

/** Deep merge of step payloads (cert_extensions comes from one step, the rest from others). */
function merge(target: Record<string, unknown>, source: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(source)) {
    const current = target[key];
    const bothObjects = [current, value].every((v) => typeof v === 'object' && v !== null && !Array.isArray(v));
    target[key] = bothObjects ? merge({ ...(current as Record<string, unknown>) }, value as Record<string, unknown>) : value;
  }
  return target;
}

/**
 * The Add wizards: numbered steps, Next checks the step, Back keeps everything, a Confirm Options
 * step summarises, Save sends the merged payload. `steps()` is asked again on every move, so a
 * choice on one step (the type) can change the steps that follow.
 */
export function wizard(spec: { title: string; steps: () => Step[]; save: (payload: Record<string, unknown>) => Promise<unknown>; done: string }): void {
  const surface = panel(spec.title, { wide: true });
  surface.dialog.classList.add('wizard');
  const stepper = h('ol', { class: 'stepper' });
  const stage = h('div', { class: 'stage' });
  const alert = alertBox();
  const back = button('Back', () => ((alert.hidden = true), go(index - 1)));
  const next = button('Next', () => {
    const step = spec.steps()[index];
    alert.hidden = true;
    if (!step || !checkFields(step.fields)) return;
    if (!step.advance) return go(index + 1);
    void busy(next, () => advanceFrom(step)).then((ok) => ok && go(index + 1));
  }, 'primary');
  const save = button('Save', () => void busy(save, submit).then((outcome) => outcome === 'failed' && save.focus()), 'primary');
  surface.body.append(stepper, stage, alert);
  surface.footer.append(button('Cancel', () => surface.close()), h('span', { class: 'spacer' }), back, next, save);
  // Enter in a text box moves on, as in a one-page form (the names box uses Enter itself).
  stage.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.defaultPrevented || !(event.target instanceof HTMLInputElement)) return;
    event.preventDefault();
    (next.hidden ? save : next).click();
  });
  const titleId = uid('step');
  let index = 0;
  /** The furthest step reached, so that after going back (to fix a server error) one click returns. */
  let furthest = 0;

  /** Runs a step's server-side check; a failure no field claims is shown above the buttons. */
  async function advanceFrom(step: Step): Promise<boolean> {
    try {
      return (await step.advance?.()) ?? true;
    } catch (error) {
      showAlert(alert, [describe(error)]);
      return false;
    }
  }

  /** Moves to step `to`, checking every step on the way forward and stopping at the first invalid one. */
  async function jump(to: number): Promise<void> {
    const steps = spec.steps();
    for (let i = index; i < to; i++) {
      const step = steps[i]!;
      if (step.fields.filter(isShown).some((field) => field.check())) {
        go(i, false);
        checkFields(step.fields);
        return;
      }
      if (!(await advanceFrom(step))) return go(i, false);
    }
    go(to);
  }

  const confirmation = () =>
    h(
      'section',
      { class: 'step', 'aria-labelledby': titleId },
      h('h3', { id: titleId }, 'Confirm Options'),
      h('p', { class: 'hint' }, 'Check these settings, then save.'),
      spec.steps().map((step) =>
        h('div', { class: 'summary' }, h('h4', null, step.title), h('dl', null, step.summary().map(([label, value]) => [h('dt', null, label), h('dd', null, value)]))),
      ),
    );

  function go(to: number, focus = true): void {
    const steps = spec.steps();
    index = Math.max(0, Math.min(to, steps.length));
    furthest = Math.min(Math.max(furthest, index), steps.length);
    const titles = [...steps.map((step) => step.title), 'Confirm Options'];
    stepper.replaceChildren(
      ...titles.map((title, i) =>
        h(
          'li',
          { class: i === index ? 'current' : i <= furthest ? 'done' : '', 'aria-current': i === index ? 'step' : null },
          i !== index && i <= furthest
            ? h('button', { type: 'button', class: 'link', onclick: () => (i < index ? go(i) : void jump(i)) }, h('span', { class: 'num' }, String(i + 1)), title)
            : [h('span', { class: 'num' }, String(i + 1)), title],
        ),
      ),
    );
    const step = steps[index];
    if (step) {
      step.body.setAttribute('aria-labelledby', titleId);
      step.body.querySelector('h3')?.setAttribute('id', titleId);
    }
    stage.replaceChildren(step ? step.body : confirmation());
    back.hidden = index === 0;
    next.hidden = !step;
    save.hidden = Boolean(step);
    if (!focus) return;
    const first = step?.fields.find((field) => !field.el.hidden);
    if (first) first.focus();
    else (step ? next : save).focus();
  }

  async function submit(): Promise<Outcome> {
    const steps = spec.steps();
    const payload = steps.reduce<Record<string, unknown>>((all, step) => merge(all, step.payload()), {});
    const showFirst = (placed: Field<unknown>[]) => {
      const owner = steps.findIndex((step) => placed[0] && step.fields.includes(placed[0]));
      if (owner < 0) return; // nothing placed: the alert on this step says why
      go(owner, false);
      placed[0]!.focus();
    };
    const outcome = await attempt(steps.flatMap((step) => step.fields), alert, () => spec.save(payload), showFirst);
    if (outcome === 'done') {
      surface.close();
      toast(spec.done);
    }
    return outcome;
  }

  go(0);
}

/** A step section with its heading. */
export function stepBody(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'step' }, h('h3', null, title), children);
}
