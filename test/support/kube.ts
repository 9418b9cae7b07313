import {
  CoreV1Api,
  EventsV1Api,
  KubeConfig,
  KubernetesObjectApi,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';

/** Clients for the cluster globalSetup brought up (KUBECONFIG). */
export function kube(): { kc: KubeConfig; objects: KubernetesObjectApi; core: CoreV1Api } {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return { kc, objects: KubernetesObjectApi.makeApiClient(kc), core: kc.makeApiClient(CoreV1Api) };
}

/** A fresh namespace per suite, deleted (by the namespace controller) when the suite ends. */
export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kube().core.createNamespace({ body: { metadata: { name } } });
  return name;
}

export async function deleteNamespace(name: string): Promise<void> {
  await kube()
    .core.deleteNamespace({ name })
    .catch(() => undefined);
}

/** Polls `fn` until it returns a value other than undefined, or fails with its last error. */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs}ms waiting for ${what}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Reads an object, or undefined when it does not exist. */
export async function readOrUndefined<T extends KubernetesObject>(obj: T): Promise<T | undefined> {
  try {
    return (await kube().objects.read(obj as T & { metadata: { name: string } })) as T;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

/** events.k8s.io/v1 Events in a namespace, as `kubectl events` shows them. */
export async function events(namespace: string) {
  return (await kube().kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace })).items;
}
