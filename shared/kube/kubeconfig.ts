import { KubeConfig } from '@kubernetes/client-node';

/** The given file, else client-node's default order (KUBECONFIG, ~/.kube/config, in-cluster). */
export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}
