import type { KubernetesObject } from '@kubernetes/client-node';

/** A Kubernetes object with the fields our fixtures set; the API server validates the rest. */
export interface Obj extends KubernetesObject {
  metadata: NonNullable<KubernetesObject['metadata']> & { name: string; namespace?: string };
  spec?: Record<string, unknown>;
}

const ref = (apiVersion: string, kind: string, name: string) => ({ apiVersion, kind, name });

/**
 * A ClusterClass on CAPD and kubeadm templates (all v1beta2, the storage versions), with the
 * templates it refers to. Nothing runs the Docker or kubeadm providers here: the CAPI topology
 * controller only needs the templates to clone from.
 */
export function capdClusterClass(namespace: string, name = 'capd'): Obj[] {
  return [
    {
      apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta2',
      kind: 'DockerClusterTemplate',
      metadata: { name, namespace },
      spec: { template: { spec: {} } },
    },
    {
      apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta2',
      kind: 'DockerMachineTemplate',
      metadata: { name: `${name}-control-plane`, namespace },
      spec: { template: { spec: {} } },
    },
    {
      apiVersion: 'controlplane.cluster.x-k8s.io/v1beta2',
      kind: 'KubeadmControlPlaneTemplate',
      metadata: { name, namespace },
      spec: { template: { spec: { kubeadmConfigSpec: { format: 'cloud-config' } } } },
    },
    {
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'ClusterClass',
      metadata: { name, namespace },
      spec: {
        infrastructure: {
          templateRef: ref('infrastructure.cluster.x-k8s.io/v1beta2', 'DockerClusterTemplate', name),
        },
        controlPlane: {
          templateRef: ref('controlplane.cluster.x-k8s.io/v1beta2', 'KubeadmControlPlaneTemplate', name),
          machineInfrastructure: {
            templateRef: ref(
              'infrastructure.cluster.x-k8s.io/v1beta2',
              'DockerMachineTemplate',
              `${name}-control-plane`,
            ),
          },
        },
      },
    },
  ];
}

export function topologyCluster(
  namespace: string,
  name: string,
  className: string,
  version = 'v1.34.0',
): Obj {
  return {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { name, namespace },
    spec: { topology: { classRef: { name: className }, version, controlPlane: { replicas: 1 } } },
  };
}

export function inClusterIPPool(namespace: string, name: string, addresses: string[], prefix = 24): Obj {
  return {
    apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
    kind: 'InClusterIPPool',
    metadata: { name, namespace },
    spec: { addresses, prefix },
  };
}
