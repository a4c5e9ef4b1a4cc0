/**
 * The last `limit` results of a pure function, by key; the oldest goes first. Results are shared
 * between callers, so they are never changed once made.
 */
export class Recent<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly limit: number) {}

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  set(key: K, value: V): V {
    if (this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, value);
    return value;
  }

  /** The result kept for `key`, or `make`'s, kept. */
  getOrMake(key: K, make: () => V): V {
    const known = this.entries.get(key);
    return known !== undefined ? known : this.set(key, make());
  }
}
