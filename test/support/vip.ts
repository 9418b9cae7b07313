import { Watch, type KubernetesObject } from '@kubernetes/client-node';
import { INFRA_CLUSTER, topologyCluster, type Obj, type Stack } from './fixtures.js';
import { eventually, kube, readOrUndefined } from './kube.js';

export const VIP_ANNOTATION = 'vip.capi.gorizond.io/control-plane-vip';

export interface ClusterObj extends Obj {
  spec?: {
    controlPlaneEndpoint?: { host?: string; port?: number };
    infrastructureRef?: { name?: string };
  } & Record<string, unknown>;
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

export function readCluster(namespace: string, name: string): Promise<ClusterObj | undefined> {
  return readOrUndefined<ClusterObj>({
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { name, namespace },
  });
}

/** A Cluster without topology (CAPI never calls our hook for it), e.g. to own claims made by hand. */
export async function plainCluster(namespace: string, name: string): Promise<Obj> {
  return (await kube().objects.create({
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { name, namespace },
    spec: { infrastructureRef: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'DockerCluster', name } },
  })) as Obj;
}

/** An IPAddressClaim as the tests read it, or undefined. */
export function readClaim(
  namespace: string,
  name: string,
): Promise<
  (Obj & { spec?: { poolRef: { name: string } }; status?: { addressRef?: { name?: string } } }) | undefined
> {
  return readOrUndefined({
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: { name, namespace },
  });
}

export async function deleteCluster(namespace: string, name: string): Promise<void> {
  await kube().objects.delete({
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { name, namespace },
  });
}

/** Creates a topology Cluster, retrying while CAPI's webhook waits for the class to be reconciled. */
export async function createCluster(
  namespace: string,
  name: string,
  className: string,
  endpoint?: { host: string; port: number },
  { variables, version }: { variables?: { name: string; value: unknown }[]; version?: string } = {},
): Promise<void> {
  const cluster = topologyCluster(namespace, name, className, version);
  if (endpoint) cluster.spec = { ...cluster.spec, controlPlaneEndpoint: endpoint };
  if (variables) {
    const topology = cluster.spec?.topology as Record<string, unknown>;
    topology.variables = variables;
  }
  await eventually(`Cluster ${namespace}/${name} to be admitted`, () => kube().objects.create(cluster));
}

/** Waits until the Cluster has its InfrastructureCluster, and returns the Cluster. */
export function waitForTopology(namespace: string, name: string, timeoutMs = 60_000): Promise<ClusterObj> {
  return eventually(
    `Cluster ${namespace}/${name} to get its InfrastructureCluster`,
    async () => {
      const c = await readCluster(namespace, name);
      return c?.spec?.infrastructureRef?.name ? c : undefined;
    },
    timeoutMs,
  );
}

export function condition(cluster: ClusterObj | undefined, type: string) {
  return cluster?.status?.conditions?.find((c) => c.type === type);
}

/**
 * Records the first version of every InfrastructureCluster the API server reports in a namespace,
 * watching from before any is created: proof of what each was born with.
 */
export class FirstVersions {
  readonly first = new Map<string, Obj>();
  /** When each first version arrived (ms since epoch). */
  readonly at = new Map<string, number>();
  #abort?: AbortController;
  #stopped = false;
  #resourceVersion = '';

  /** InfrastructureClusters of the stack (default), or any resource given by apiVersion and plural. */
  static async start(
    stack: Stack,
    namespace: string,
    { apiVersion, plural } = INFRA_CLUSTER[stack],
  ): Promise<FirstVersions> {
    const recorder = new FirstVersions();
    await recorder.#watch(`/apis/${apiVersion}/namespaces/${namespace}/${plural}`);
    return recorder;
  }

  /** Watches, and resumes from the last resourceVersion seen when the connection drops (API server restarts). */
  async #watch(path: string): Promise<void> {
    const resume = (): void => {
      if (this.#stopped) return;
      setTimeout(() => void this.#watch(path).catch(resume), 500);
    };
    this.#abort = await new Watch(kube().kc).watch(
      path,
      {
        allowWatchBookmarks: false,
        ...(this.#resourceVersion ? { resourceVersion: this.#resourceVersion } : {}),
      },
      (type: string, obj: KubernetesObject) => {
        const o = obj as Obj;
        this.#resourceVersion = o.metadata.resourceVersion ?? this.#resourceVersion;
        if (type === 'ADDED' && !this.first.has(o.metadata.name)) {
          this.first.set(o.metadata.name, o);
          this.at.set(o.metadata.name, Date.now());
        }
      },
      resume,
    );
  }

  endpointOf(name: string): unknown {
    return (this.first.get(name)?.spec as { controlPlaneEndpoint?: unknown } | undefined)
      ?.controlPlaneEndpoint;
  }

  stop(): void {
    this.#stopped = true;
    this.#abort?.abort();
  }
}
