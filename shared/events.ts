import { EventsV1Api, V1MicroTime, type KubeConfig, type V1ObjectReference } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { TtlMap } from './ttl-map.js';
import { REPORTING_CONTROLLER } from './vip.js';

export type EventType = 'Normal' | 'Warning';

export interface Recorder {
  event(regarding: Regarding, type: EventType, reason: string, note: string): Promise<void>;
}

export interface Regarding {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string };
}

/** One Event per object, reason and note in this window: hooks are retried every second or so. */
const DEDUPE_MS = 5 * 60_000;

/** events.k8s.io/v1 Events from reporting controller `capi-vip-allocator`; failures never fail a hook. */
export class EventRecorder implements Recorder {
  readonly #api: EventsV1Api;
  readonly #instance: string;
  readonly #recent = new TtlMap<string, true>();
  readonly #onError: (err: unknown) => void;

  constructor(kc: KubeConfig, onError: (err: unknown) => void) {
    this.#api = kc.makeApiClient(EventsV1Api);
    this.#instance = `${REPORTING_CONTROLLER}-${hostname()}`;
    this.#onError = onError;
  }

  async event(regarding: Regarding, type: EventType, reason: string, note: string): Promise<void> {
    const key = `${regarding.metadata.uid ?? regarding.metadata.name}|${reason}|${note}`;
    if (this.#recent.get(key)) return;
    this.#recent.set(key, true, DEDUPE_MS);
    const now = Date.now();

    const namespace = regarding.metadata.namespace ?? 'default';
    const ref: V1ObjectReference = {
      apiVersion: regarding.apiVersion,
      kind: regarding.kind,
      name: regarding.metadata.name,
      namespace: regarding.metadata.namespace,
      uid: regarding.metadata.uid,
    };
    try {
      await this.#api.createNamespacedEvent({
        namespace,
        body: {
          // client-go's naming (<object>.<hex>): generateName would end in a dot, which is invalid.
          metadata: {
            name: `${regarding.metadata.name}.${now.toString(16)}${randomBytes(2).toString('hex')}`,
            namespace,
          },
          eventTime: new V1MicroTime(now),
          reportingController: REPORTING_CONTROLLER,
          reportingInstance: this.#instance,
          action: 'AllocateVIP',
          reason,
          note: note.slice(0, 1024),
          type,
          regarding: ref,
        },
      });
    } catch (err) {
      this.#recent.delete(key);
      this.#onError(err);
    }
  }
}
