import type { KubernetesObject } from '@kubernetes/client-node';

/** A Kubernetes object with the fields our fixtures set; the API server validates the rest. */
export interface Obj extends KubernetesObject {
  metadata: NonNullable<KubernetesObject['metadata']> & { name: string; namespace?: string };
  spec?: Record<string, unknown>;
}

const ref = (apiVersion: string, kind: string, name: string) => ({ apiVersion, kind, name });

/** capd: CAPD + kubeadm; proxmox: Proxmox + RKE2 (the original users' stack); k0s: CAPD + k0smotron. */
export type Stack = 'capd' | 'proxmox' | 'k0s';

/**
 * An inline patch reading the VIP from the Cluster annotation, as the README shows: kubeadm's
 * certificate SANs. Enabled only when the annotation is there (a DNS-name endpoint set by hand has none).
 */
const VIP_ANNOTATION_EXPR =
  '(index .builtin.cluster.metadata.annotations "vip.capi.gorizond.io/control-plane-vip")';
export const CERT_SAN_PATCH = {
  name: 'vip-cert-san',
  enabledIf: `{{ if .builtin.cluster.metadata.annotations }}{{ if ${VIP_ANNOTATION_EXPR} }}true{{ end }}{{ end }}`,
  definitions: [
    {
      selector: {
        apiVersion: 'controlplane.cluster.x-k8s.io/v1beta2',
        kind: 'KubeadmControlPlaneTemplate',
        matchResources: { controlPlane: true },
      },
      jsonPatches: [
        {
          op: 'add',
          path: '/spec/template/spec/kubeadmConfigSpec/clusterConfiguration',
          valueFrom: { template: `apiServer:\n  certSANs: ["{{ ${VIP_ANNOTATION_EXPR} }}"]` },
        },
      ],
    },
  ],
};

/** The external patch entry a ClusterClass uses to call our GeneratePatches handler. */
export const VIP_PATCH = {
  name: 'vip',
  external: { generatePatchesExtension: 'vip-allocator-generate-patches.vip-allocator' },
};

/** The same entry with our DiscoverVariables handler, which publishes `vipAllocator`. */
export const VIP_PATCH_WITH_VARIABLES = {
  name: 'vip',
  external: {
    ...VIP_PATCH.external,
    discoverVariablesExtension: 'vip-allocator-discover-variables.vip-allocator',
  },
};

export interface ClassOptions {
  /** false: a class that does not use us. */
  readonly vipPatch?: boolean;
  /** List our DiscoverVariables handler beside the patch. */
  readonly discover?: boolean;
  /** capd: the README's inline certSAN patch after ours (default true); it replaces clusterConfiguration. */
  readonly certSan?: boolean;
  /** Merged into the control-plane template's `spec.template.spec`. */
  readonly controlPlane?: Record<string, unknown>;
  /** Inline variables (`spec.variables`) and patches after ours (`spec.patches`). */
  readonly variables?: Record<string, unknown>[];
  readonly patches?: Record<string, unknown>[];
}

const INFRA = 'infrastructure.cluster.x-k8s.io';

/**
 * A ClusterClass with the templates it refers to. `capd`: CAPD and kubeadm (v1beta2, the storage
 * versions). `proxmox`: Proxmox v1alpha2 and RKE2 v1beta1, the original users' stack. Nothing runs
 * those providers here: CAPI's topology controller only needs the templates to clone from.
 */
export function clusterClass(
  stack: Stack,
  namespace: string,
  name: string,
  options: ClassOptions = {},
): Obj[] {
  const ours = options.vipPatch === false ? [] : [options.discover ? VIP_PATCH_WITH_VARIABLES : VIP_PATCH];
  const withCertSan =
    stack === 'capd' && options.vipPatch !== false && options.certSan !== false ? [CERT_SAN_PATCH] : [];
  const all = [...ours, ...withCertSan, ...(options.patches ?? [])];
  // CAPI's schema wants at least one entry when a list is present.
  const patches = all.length ? all : undefined;
  const variables = options.variables?.length ? options.variables : undefined;
  const cp = options.controlPlane ?? {};
  const template = (apiVersion: string, kind: string, templateName: string, spec: object): Obj => ({
    apiVersion,
    kind,
    metadata: { name: templateName, namespace },
    spec: { template: { spec } },
  });
  const refTo = (t: Obj) => ({ templateRef: ref(t.apiVersion ?? '', t.kind ?? '', t.metadata.name) });
  const withClass = (infra: Obj, controlPlane: Obj, machine?: Obj): Obj[] => [
    infra,
    ...(machine ? [machine] : []),
    controlPlane,
    {
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'ClusterClass',
      metadata: { name, namespace },
      spec: {
        infrastructure: refTo(infra),
        controlPlane: {
          ...refTo(controlPlane),
          ...(machine ? { machineInfrastructure: refTo(machine) } : {}),
        },
        variables,
        patches,
      },
    },
  ];
  const dockerCluster = template(`${INFRA}/v1beta2`, 'DockerClusterTemplate', name, {});
  const CP = 'controlplane.cluster.x-k8s.io';
  switch (stack) {
    case 'proxmox':
      return withClass(
        template(`${INFRA}/v1alpha2`, 'ProxmoxClusterTemplate', name, {
          dnsServers: ['10.0.0.53'],
          // Node addresses; the control-plane VIP comes from our pool, not from here.
          ipv4Config: { addresses: ['10.90.0.10-10.90.0.50'], prefix: 24, gateway: '10.90.0.1' },
        }),
        template(`${CP}/v1beta1`, 'RKE2ControlPlaneTemplate', name, {
          // RKE2 then registers against Cluster.spec.controlPlaneEndpoint: no patch needed for it.
          registrationMethod: 'control-plane-endpoint',
          rolloutStrategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } },
          ...cp,
        }),
      );
    case 'k0s':
      return withClass(
        dockerCluster,
        template(`${CP}/v1beta2`, 'K0sControlPlaneTemplate', name, {
          k0sConfigSpec: { args: ['--enable-worker'] },
          ...cp,
        }),
      );
    case 'capd':
      return withClass(
        dockerCluster,
        template(`${CP}/v1beta2`, 'KubeadmControlPlaneTemplate', name, {
          kubeadmConfigSpec: { format: 'cloud-config' },
          ...cp,
        }),
        template(`${INFRA}/v1beta2`, 'DockerMachineTemplate', `${name}-control-plane`, {}),
      );
  }
}

/** The InfrastructureCluster kind and its apiVersion for a stack. */
export const INFRA_CLUSTER: Record<Stack, { apiVersion: string; kind: string; plural: string }> = {
  capd: { apiVersion: `${INFRA}/v1beta2`, kind: 'DockerCluster', plural: 'dockerclusters' },
  proxmox: { apiVersion: `${INFRA}/v1alpha2`, kind: 'ProxmoxCluster', plural: 'proxmoxclusters' },
  k0s: { apiVersion: `${INFRA}/v1beta2`, kind: 'DockerCluster', plural: 'dockerclusters' },
};

/** The control-plane object CAPI creates from each stack's template. */
export const CONTROL_PLANE: Record<Stack, { apiVersion: string; kind: string; plural: string }> = {
  capd: {
    apiVersion: 'controlplane.cluster.x-k8s.io/v1beta2',
    kind: 'KubeadmControlPlane',
    plural: 'kubeadmcontrolplanes',
  },
  proxmox: {
    apiVersion: 'controlplane.cluster.x-k8s.io/v1beta1',
    kind: 'RKE2ControlPlane',
    plural: 'rke2controlplanes',
  },
  k0s: {
    apiVersion: 'controlplane.cluster.x-k8s.io/v1beta2',
    kind: 'K0sControlPlane',
    plural: 'k0scontrolplanes',
  },
};

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

export function inClusterIPPool(
  namespace: string,
  name: string,
  addresses: string[],
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): Obj {
  return {
    apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
    kind: 'InClusterIPPool',
    metadata: { name, namespace, ...metadata },
    spec: { addresses, prefix: 24 },
  };
}

/** Labels that select a pool for a class's control-plane VIPs. */
export const vipLabels = (className: string): Record<string, string> => ({
  'vip.capi.gorizond.io/cluster-class': className,
  'vip.capi.gorizond.io/role': 'control-plane',
});
