import { describe, expect, it } from 'vitest';
import { LegacySession } from './legacy-websocket.js';
import type { OutgoingText } from './message-writer.js';
import { Notification, Session } from './session.js';

/** A session of `Kind` whose frames are kept in `sent`. */
function capturing(Kind: typeof Session): { session: Session; sent: OutgoingText[] } {
  const sent: OutgoingText[] = [];
  const session = new Kind('127.0.0.1', null, (frame) => sent.push(frame), () => undefined);
  return { session, sent };
}

const update = { msg: 'changed', collection: 'core.get_jobs', id: 7, fields: { id: 7, state: 'SUCCESS', result: { name: 'web' } } };

describe('a notification shared by many sessions', () => {
  it('is serialised once per wire form: every session of a form gets the very same bytes', () => {
    const jsonRpc = [capturing(Session), capturing(Session), capturing(Session)];
    const legacy = [capturing(LegacySession), capturing(LegacySession)];
    const notification = new Notification('collection_update', update);
    for (const { session } of [...jsonRpc, ...legacy]) session.deliver(notification);

    const [first, ...others] = jsonRpc.map(({ sent }) => sent);
    expect(first).toHaveLength(1);
    for (const sent of others) expect(sent[0]).toBe(first![0]);
    expect(JSON.parse(first![0]!.toString())).toEqual({ jsonrpc: '2.0', method: 'collection_update', params: update });

    expect(legacy[1]!.sent[0]).toBe(legacy[0]!.sent[0]);
    expect(JSON.parse(legacy[0]!.sent[0]!.toString())).toEqual(update);
  });

  it('leaves out of the legacy frame the fields of a removal, as TrueNAS does', () => {
    const { session, sent } = capturing(LegacySession);
    session.notify('collection_update', { msg: 'removed', collection: 'certificate.query', id: 3, fields: { id: 3 } });
    expect(JSON.parse(sent[0]!.toString())).toEqual({ msg: 'removed', collection: 'certificate.query', id: 3 });
  });
});
