import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/** One message to send: its text, the UTF-8 bytes of a shared notification, its text in fragments, or fragments as they are written. */
export type OutgoingText = string | Buffer | readonly string[] | AsyncIterable<string | Buffer>;

/** Past this many bytes waiting to go out, a streamed message waits for them before its next fragment. */
const HIGH_WATER_BYTES = 1024 * 1024;

const isStream = (text: OutgoingText): text is AsyncIterable<string | Buffer> => typeof text === 'object' && Symbol.asyncIterator in text;

/**
 * Sends one connection's messages in order. While a streamed message is being written, the
 * messages sent meanwhile wait (frames of two messages may not interleave), and each of its
 * fragments waits for the socket to drain, so that however long the message, about
 * HIGH_WATER_BYTES of it are held at a time.
 */
export class MessageWriter {
  /** Messages waiting for a streamed one to end; null when none is being written. */
  private waiting: OutgoingText[] | null = null;
  /** Whether the socket is corked until the end of this turn. */
  private holding = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly onStreamFailed: (error: unknown) => void,
  ) {}

  write(text: OutgoingText): void {
    if (this.waiting) this.waiting.push(text);
    else if (isStream(text)) {
      this.waiting = [];
      void this.writeInTurn(text);
    } else this.writeWhole(text);
  }

  private async writeInTurn(first: AsyncIterable<string | Buffer>): Promise<void> {
    for (let next: OutgoingText | undefined = first; next !== undefined; next = this.waiting!.shift()) {
      if (isStream(next)) await this.writeStream(next);
      else this.writeWhole(next);
    }
    this.waiting = null;
  }

  private writeWhole(text: Exclude<OutgoingText, AsyncIterable<string | Buffer>>): void {
    if (!this.isOpen()) return;
    this.holdUntilNextTurn();
    // Text frames, whether the JSON comes as a string or as the bytes of a shared notification.
    if (typeof text === 'string' || Buffer.isBuffer(text)) this.ws.send(text, { binary: false });
    // One message in frames, sent back to back so that nothing comes between them.
    else text.forEach((fragment, i) => this.ws.send(fragment, { binary: false, fin: i === text.length - 1 }));
  }

  private async writeStream(fragments: AsyncIterable<string | Buffer>): Promise<void> {
    try {
      // Each fragment is sent once the next one exists, so that the last goes out as the final frame.
      let held: string | Buffer | null = null;
      for await (const fragment of fragments) {
        if (!this.isOpen()) return;
        if (held !== null) await this.sendFragment(held);
        held = fragment;
      }
      if (held !== null && this.isOpen()) this.ws.send(held, { binary: false, fin: true });
    } catch (error) {
      // Part of the message may be out: the connection cannot carry another one.
      this.onStreamFailed(error);
      this.ws.close(1011, 'Internal error');
    }
  }

  private sendFragment(fragment: string | Buffer): Promise<void> | void {
    if (this.ws.bufferedAmount < HIGH_WATER_BYTES) return this.ws.send(fragment, { binary: false, fin: false });
    return new Promise((resolve) => this.ws.send(fragment, { binary: false, fin: false }, () => resolve()));
  }

  /**
   * Holds what is sent until this turn of the event loop ends, so that the messages of one turn (a
   * reply and the events that go with it) leave in one write rather than in a system call each.
   */
  private holdUntilNextTurn(): void {
    if (this.holding) return;
    // ws keeps its socket to itself; without one there is nothing to hold.
    const socket = (this.ws as unknown as { _socket?: Socket | null })._socket;
    if (!socket) return;
    this.holding = true;
    socket.cork();
    setImmediate(() => {
      this.holding = false;
      socket.uncork();
    });
  }

  private isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }
}
