import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';

export interface KeyPair {
  key: Buffer;
  cert: Buffer;
}

export function readKeyPair(certDir: string): KeyPair {
  return {
    cert: readFileSync(path.join(certDir, 'tls.crt')),
    key: readFileSync(path.join(certDir, 'tls.key')),
  };
}

const fingerprint = (pair: KeyPair): string =>
  createHash('sha256').update(pair.cert).update(pair.key).digest('hex');

/**
 * Polls the certificate folder and hands a new pair to `apply` once it reads and validates.
 * Polling, not fs.watch: cert-manager's Secret volume swaps a `..data` symlink, which watchers miss.
 * A bad pair is reported and the old one kept.
 */
export function watchKeyPair(
  certDir: string,
  initial: KeyPair,
  apply: (pair: KeyPair) => void,
  onError: (err: unknown) => void,
  intervalMs = 10_000,
): () => void {
  let current = fingerprint(initial);
  let lastError = '';
  const timer = setInterval(() => {
    try {
      const pair = readKeyPair(certDir);
      const next = fingerprint(pair);
      if (next === current) return;
      tls.createSecureContext({ ...pair, minVersion: 'TLSv1.2' });
      apply(pair);
      current = next;
      lastError = '';
    } catch (err) {
      // Once per distinct problem, not on every poll.
      const message = err instanceof Error ? err.message : String(err);
      if (message !== lastError) onError(err);
      lastError = message;
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
