/**
 * A map whose entries expire. Reads skip an expired entry; each write drops expired entries from
 * the front (oldest first) and stops at the first live one, so with mixed TTLs a short-lived entry
 * may wait behind a longer one: the map holds at most what its longest TTL lets in.
 */
export class TtlMap<K, V> {
  readonly #entries = new Map<K, { value: V; until: number }>();

  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.until > Date.now()) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  set(key: K, value: V, ttlMs: number): void {
    const now = Date.now();
    for (const [k, { until }] of this.#entries) {
      if (until > now) break;
      this.#entries.delete(k);
    }
    // Re-inserted, so insertion order stays write order.
    this.#entries.delete(key);
    this.#entries.set(key, { value, until: now + ttlMs });
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }

  /** Entries not yet dropped (expired ones behind a live one included). */
  get size(): number {
    return this.#entries.size;
  }
}
