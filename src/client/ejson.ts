/**
 * TrueNAS "ejson": JSON plus four tagged forms (`truenas_api_client/ejson.py`).
 *
 * | JavaScript     | wire                                           |
 * | -------------- | ---------------------------------------------- |
 * | `Date`         | `{"$date": <ms since the epoch, UTC>}`         |
 * | `CalendarDate` | `{"$type": "date", "$value": "YYYY-MM-DD"}`    |
 * | `TimeOfDay`    | `{"$time": "HH:MM:SS"}`                        |
 * | `Set`          | `{"$set": [...]}`                              |
 *
 * Shared by the client and the server, so it has no dependencies and no Node-only imports.
 */

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME_PATTERN = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** A date without a time of day (Python's `datetime.date`). */
export class CalendarDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;

  /** @throws RangeError when the day does not exist (2023-02-29). */
  constructor(year: number, month: number, day: number) {
    const probe = new Date(0);
    probe.setUTCFullYear(year, month - 1, day); // rolls over impossible days, which the checks below catch
    if (
      !Number.isInteger(year) ||
      year < 1 ||
      year > 9999 ||
      probe.getUTCFullYear() !== year ||
      probe.getUTCMonth() !== month - 1 ||
      probe.getUTCDate() !== day
    ) {
      throw new RangeError(`Invalid calendar date ${year}-${month}-${day}`);
    }
    this.year = year;
    this.month = month;
    this.day = day;
  }

  /** Parses `YYYY-MM-DD`. @throws RangeError on any other text. */
  static parse(text: string): CalendarDate {
    const match = DATE_PATTERN.exec(text);
    if (!match) throw new RangeError(`Invalid calendar date "${text}"`);
    return new CalendarDate(Number(match[1]), Number(match[2]), Number(match[3]));
  }

  /** `YYYY-MM-DD`, the form Python's `date.isoformat()` gives. */
  toString(): string {
    return `${pad(this.year, 4)}-${pad(this.month)}-${pad(this.day)}`;
  }

  /** Plain `JSON.stringify` gives the ISO text, as it does for `Date`. */
  toJSON(): string {
    return this.toString();
  }
}

/** A time of day without a date or zone (Python's naive `datetime.time`). */
export class TimeOfDay {
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly microsecond: number;

  /** @throws RangeError when a part is out of range. */
  constructor(hour: number, minute: number, second: number, microsecond = 0) {
    const inRange = (value: number, max: number) => Number.isInteger(value) && value >= 0 && value <= max;
    const valid =
      inRange(hour, 23) && inRange(minute, 59) && inRange(second, 59) && inRange(microsecond, 999_999);
    if (!valid) {
      throw new RangeError(`Invalid time of day ${hour}:${minute}:${second}.${microsecond}`);
    }
    this.hour = hour;
    this.minute = minute;
    this.second = second;
    this.microsecond = microsecond;
  }

  /**
   * Parses `HH:MM:SS` with an optional fraction of up to six digits.
   * @throws RangeError on any other text.
   */
  static parse(text: string): TimeOfDay {
    const match = TIME_PATTERN.exec(text);
    if (!match) throw new RangeError(`Invalid time of day "${text}"`);
    const fraction = match[4] ?? '';
    const microsecond = Number(fraction.padEnd(6, '0'));
    return new TimeOfDay(Number(match[1]), Number(match[2]), Number(match[3]), microsecond);
  }

  /** `HH:MM:SS`, with `.ffffff` only when there are microseconds, as Python's `str(time)` writes it. */
  toString(): string {
    const base = `${pad(this.hour)}:${pad(this.minute)}:${pad(this.second)}`;
    return this.microsecond === 0 ? base : `${base}.${pad(this.microsecond, 6)}`;
  }

  /** Plain `JSON.stringify` gives the ISO text, as it does for `Date`. */
  toJSON(): string {
    return this.toString();
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Tries a parser; malformed tagged values stay plain objects so that validation can report them. */
function attempt<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}

/** One node, bottom-up: children are already decoded (Python's `object_hook`). */
function decodeNode(value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const { $date, $time, $set } = value;
    if (typeof $date === 'number' && Number.isFinite($date)) {
      const date = new Date($date);
      return Number.isNaN(date.getTime()) ? value : date;
    }
    if (typeof $time === 'string') return attempt(() => TimeOfDay.parse($time)) ?? value;
    if (Array.isArray($set)) return new Set($set);
  }
  if (keys.length === 2 && value.$type === 'date' && typeof value.$value === 'string') {
    const text = value.$value;
    return attempt(() => CalendarDate.parse(text)) ?? value;
  }
  return value;
}

/** Swaps rich values for their tagged forms; `this` is the holder, so `Date` is seen before its `toJSON`. */
function encodeNode(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (raw instanceof Date) {
    const ms = raw.getTime();
    if (Number.isNaN(ms)) throw new RangeError('An invalid Date cannot be encoded');
    // Whole seconds, like TrueNAS's encoder: its 25.04 decoder adds the sub-second part twice.
    return { $date: Math.floor(ms / 1000) * 1000 };
  }
  if (raw instanceof CalendarDate) return { $type: 'date', $value: raw.toString() };
  if (raw instanceof TimeOfDay) return { $time: raw.toString() };
  if (raw instanceof Set) return { $set: [...raw] };
  return value;
}

/**
 * `JSON.stringify` that writes `Date`, `CalendarDate`, `TimeOfDay` and `Set` in their ejson forms,
 * at any depth.
 * Dates are written in whole seconds, as TrueNAS does.
 *
 * @throws RangeError for an invalid `Date`; TypeError where `JSON.stringify` throws (cycles, BigInt).
 */
export function stringify(value: unknown, space?: number): string {
  return JSON.stringify(value, encodeNode, space);
}

/** `JSON.parse` that turns ejson forms into `Date`, `CalendarDate`, `TimeOfDay` and `Set`. */
export function parse(text: string): unknown {
  // Every form has a key starting with "$"; text without one (nor an escaped "$") parses as plain JSON, natively.
  if (!text.includes('"$') && !text.includes('\\u0024')) return JSON.parse(text);
  return JSON.parse(text, (_key, value: unknown) => decodeNode(value));
}

/**
 * Decodes ejson forms in a value that was already parsed as plain JSON.
 * Returns a new tree; the input is left as is.
 */
export function decode(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decode);
  if (isPlainObject(value)) {
    return decodeNode(Object.fromEntries(Object.entries(value).map(([key, child]) => [key, decode(child)])));
  }
  return value;
}
