import { readFileSync } from 'node:fs';
import { eventually } from '../../hack/fixtures/kube.js';
import https from 'node:https';
import path from 'node:path';

export const HOOKS = '/hooks.runtime.cluster.x-k8s.io/v1alpha1';
const ca = readFileSync(path.resolve('.cache/control-plane/pki/ca/tls.crt'));

export interface Answer {
  code: number;
  type: string;
  body: Record<string, unknown>;
}

/** POSTs to a hook server of ours, trusting the plane's CA; `options` override any default. */
export function callHook(
  url: string,
  body: string | Buffer,
  options: https.RequestOptions = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      { method: 'POST', ca, agent: false, headers: { 'content-type': 'application/json' }, ...options },
      (res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () =>
          resolve({
            code: res.statusCode ?? 0,
            type: String(res.headers['content-type']),
            body: JSON.parse(data) as Record<string, unknown>,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A DiscoveryRequest to a replica on this host's `port`, or to `base` (`https://host:port`). */
export const discover = (at: number | string, options: https.RequestOptions = {}): Promise<Answer> =>
  callHook(
    `${typeof at === 'number' ? `https://127.0.0.1:${at}` : at}${HOOKS}/discovery`,
    JSON.stringify({ apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'DiscoveryRequest' }),
    options,
  );

/** Waits until nothing answers hooks on the port (a stopped replica), however long stopping takes. */
export const untilNoReplicaAnswers = (port: number): Promise<true> =>
  eventually('every replica to be down', async () =>
    (await discover(port).then(
      () => false,
      () => true,
    ))
      ? true
      : undefined,
  );
