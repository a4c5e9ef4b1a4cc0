import { describe, expect, it } from 'vitest';
import { CalendarDate, TimeOfDay, decode, parse, stringify } from './ejson.js';

describe('stringify', () => {
  it('writes a Date as $date milliseconds in whole seconds', () => {
    expect(stringify(new Date(Date.UTC(2024, 6, 3, 16, 22, 6)))).toBe('{"$date":1720023726000}');
    expect(stringify(new Date(1500))).toBe('{"$date":1000}');
    expect(stringify(new Date(-1500))).toBe('{"$date":-2000}');
  });

  it('writes a CalendarDate as $type date', () => {
    expect(stringify(new CalendarDate(2024, 7, 3))).toBe('{"$type":"date","$value":"2024-07-03"}');
  });

  it('writes a TimeOfDay as $time', () => {
    expect(stringify(new TimeOfDay(16, 22, 6))).toBe('{"$time":"16:22:06"}');
    expect(stringify(new TimeOfDay(1, 2, 3, 500_000))).toBe('{"$time":"01:02:03.500000"}');
  });

  it('writes a Set as $set', () => {
    expect(stringify(new Set(['a', 4]))).toBe('{"$set":["a",4]}');
  });

  it('encodes nested values inside objects, arrays and sets', () => {
    const value = {
      job: { time_started: new Date(2000), tags: new Set([new Date(3000)]) },
      list: [new TimeOfDay(0, 0, 1)],
    };
    expect(JSON.parse(stringify(value))).toStrictEqual({
      job: { time_started: { $date: 2000 }, tags: { $set: [{ $date: 3000 }] } },
      list: [{ $time: '00:00:01' }],
    });
  });

  it('leaves plain JSON as JSON.stringify writes it', () => {
    const value = { a: [1, 'two', null, true], b: { c: undefined, d: 1.5 } };
    expect(stringify(value)).toBe(JSON.stringify(value));
  });

  it('indents when asked', () => {
    expect(stringify({ a: 1 }, 2)).toBe('{\n  "a": 1\n}');
  });

  it('rejects an invalid Date', () => {
    expect(() => stringify({ when: new Date(Number.NaN) })).toThrow(RangeError);
  });
});

describe('parse', () => {
  it('reads $date as a Date with millisecond precision', () => {
    expect(parse('{"$date":1500}')).toStrictEqual(new Date(1500));
    expect(parse('{"$date":2000}')).toStrictEqual(new Date('1970-01-01T00:00:02.000Z'));
  });

  it('reads $type date as a CalendarDate', () => {
    expect(parse('{"$type":"date","$value":"2024-07-03"}')).toStrictEqual(new CalendarDate(2024, 7, 3));
  });

  it('reads $time as a TimeOfDay, with or without a fraction', () => {
    expect(parse('{"$time":"16:22:06"}')).toStrictEqual(new TimeOfDay(16, 22, 6));
    expect(parse('{"$time":"16:22:06.5"}')).toStrictEqual(new TimeOfDay(16, 22, 6, 500_000));
  });

  it('reads $set as a Set', () => {
    expect(parse('{"$set":[1,2,3,"a"]}')).toStrictEqual(new Set([1, 2, 3, 'a']));
  });

  it('decodes nested forms bottom-up', () => {
    const value = parse(
      '{"fields":{"time_started":{"$date":1000},"s":{"$set":[{"$date":2000}]}},"n":[{"$time":"00:00:00"}]}',
    );
    expect(value).toStrictEqual({
      fields: { time_started: new Date(1000), s: new Set([new Date(2000)]) },
      n: [new TimeOfDay(0, 0, 0)],
    });
  });

  it('keeps objects whose keys only resemble a form', () => {
    for (const text of [
      '{"$date":1000,"other":1}',
      '{"$type":"date","$value":"2024-07-03","x":1}',
      '{"$type":"datetime","$value":"2024-07-03"}',
      '{"$set":"not a list"}',
      '{"$date":"1000"}',
    ]) {
      expect(parse(text)).toStrictEqual(JSON.parse(text));
    }
  });

  it('keeps malformed tagged values as plain objects', () => {
    for (const text of [
      '{"$type":"date","$value":"2023-02-29"}',
      '{"$type":"date","$value":"2024-7-3"}',
      '{"$time":"24:00:00"}',
      '{"$time":"16:22"}',
      '{"$time":"16:22:06+00:00"}',
      '{"$date":1e300}',
    ]) {
      expect(parse(text)).toStrictEqual(JSON.parse(text));
    }
  });

  it('reads forms whose "$" is written escaped, as JSON.parse with them decoded', () => {
    expect(parse('{"\\u0024date": 1500}')).toEqual(new Date(1500));
    expect(parse('[{"\\u0024set": [1]}]')).toEqual([new Set([1])]);
  });

  it('reads plain JSON as JSON.parse does', () => {
    const text = '{"a":[1,"two",null,true],"b":{"c":{}}}';
    expect(parse(text)).toStrictEqual(JSON.parse(text));
  });
});

describe('decode', () => {
  it('decodes a tree parsed as plain JSON without changing it', () => {
    const tree = JSON.parse('{"when":{"$date":1000},"list":[{"$set":[1]}]}') as unknown;
    const copy = structuredClone(tree);
    expect(decode(tree)).toStrictEqual({ when: new Date(1000), list: [new Set([1])] });
    expect(tree).toStrictEqual(copy);
  });

  it('passes through scalars and values already decoded', () => {
    const date = new Date(5000);
    expect(decode(date)).toBe(date);
    expect(decode('x')).toBe('x');
    expect(decode(null)).toBeNull();
  });
});

describe('round trip', () => {
  it('returns an equal value for each supported type', () => {
    const values: unknown[] = [
      new Date(Date.UTC(2024, 6, 3, 16, 22, 6)),
      new CalendarDate(2024, 7, 3),
      new CalendarDate(1, 1, 1),
      new TimeOfDay(23, 59, 59, 999_999),
      new Set([1, 'a', null]),
      { nested: [new Set([new CalendarDate(2000, 2, 29)])] },
    ];
    for (const value of values) expect(parse(stringify(value))).toStrictEqual(value);
  });

  it('truncates a Date to whole seconds', () => {
    expect(parse(stringify(new Date(1_720_023_726_789)))).toStrictEqual(new Date(1_720_023_726_000));
  });
});

describe('CalendarDate', () => {
  it('accepts 29 February only in leap years', () => {
    expect(new CalendarDate(2000, 2, 29).toString()).toBe('2000-02-29');
    expect(() => new CalendarDate(1900, 2, 29)).toThrow(RangeError);
    expect(() => new CalendarDate(4, 2, 29)).not.toThrow();
    expect(() => new CalendarDate(1, 2, 29)).toThrow(RangeError);
  });

  it('rejects out-of-range parts', () => {
    expect(() => new CalendarDate(2024, 13, 1)).toThrow(RangeError);
    expect(() => new CalendarDate(2024, 1, 0)).toThrow(RangeError);
    expect(() => new CalendarDate(0, 1, 1)).toThrow(RangeError);
    expect(() => new CalendarDate(2024, 1.5, 1)).toThrow(RangeError);
  });

  it('pads small years to four digits', () => {
    expect(new CalendarDate(33, 1, 2).toString()).toBe('0033-01-02');
    expect(CalendarDate.parse('0033-01-02')).toStrictEqual(new CalendarDate(33, 1, 2));
  });

  it('serialises to its ISO text with plain JSON.stringify', () => {
    expect(JSON.stringify({ d: new CalendarDate(2024, 7, 3) })).toBe('{"d":"2024-07-03"}');
  });
});

describe('TimeOfDay', () => {
  it('rejects out-of-range parts', () => {
    expect(() => new TimeOfDay(24, 0, 0)).toThrow(RangeError);
    expect(() => new TimeOfDay(0, 60, 0)).toThrow(RangeError);
    expect(() => new TimeOfDay(0, 0, 60)).toThrow(RangeError);
    expect(() => new TimeOfDay(0, 0, 0, 1_000_000)).toThrow(RangeError);
  });

  it('serialises to its ISO text with plain JSON.stringify', () => {
    expect(JSON.stringify([new TimeOfDay(7, 5, 0)])).toBe('["07:05:00"]');
  });
});
