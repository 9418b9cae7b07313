import { KubeConfig } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';

type CreateDispatcher = (cluster: unknown, agentOptions: unknown) => unknown;

/**
 * client-node 2.x builds a new undici Agent for every request, so every API call opened a new TLS
 * connection (a full handshake on both sides, and a socket left open until its keep-alive ran
 * out). One dispatcher per distinct TLS identity instead: connections are reused, and a rotated
 * certificate (read again on each request) still gets a dispatcher of its own.
 */
function pooled(kc: KubeConfig): KubeConfig {
  const own = kc as unknown as { createDispatcher: CreateDispatcher };
  const create = own.createDispatcher.bind(kc);
  const dispatchers = new Map<string, unknown>();
  own.createDispatcher = (cluster, agentOptions) => {
    const options = kc.createDispatcherOptions(
      cluster as Parameters<KubeConfig['createDispatcherOptions']>[0],
      agentOptions as Parameters<KubeConfig['createDispatcherOptions']>[1],
    );
    const key = createHash('sha256').update(JSON.stringify(options)).digest('hex');
    if (!dispatchers.has(key)) dispatchers.set(key, create(cluster, agentOptions));
    return dispatchers.get(key);
  };
  return kc;
}

/** The given file, else client-node's default order (KUBECONFIG, ~/.kube/config, in-cluster). */
export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return pooled(kc);
}
