/** Section 3 of the bench: the hook server under load, from a load generator in its own process. */
import { execa } from 'execa';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { GeneratePatchesRequest } from '../../shared/kube/types.js';
import { PKI_DIR, PORTS, ROOT } from '../control-plane/paths.js';
import { log } from './common.js';

export const HOOK_CALLS = 4_000;
export const CONCURRENCY = [1, 8, 64];

/** A GeneratePatches request like CAPI's for a class with an infra cluster, a control plane and two MachineDeployments. */
function realisticRequest(): GeneratePatchesRequest {
  const holder = (kind: string, name: string, fieldPath: string) => ({
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind,
    namespace: 'ns',
    name,
    fieldPath,
  });
  const template = (apiVersion: string, kind: string, spec: Record<string, unknown>) => ({
    apiVersion,
    kind,
    spec: { template: { spec } },
  });
  const builtin = {
    cluster: {
      name: 'c1',
      namespace: 'ns',
      uid: '6b0c9a8e-0000-4000-8000-000000000001',
      metadata: {
        labels: { env: 'prod' },
        annotations: {
          'vip.capi.gorizond.io/control-plane-vip': '10.0.0.10',
          'vip.capi.gorizond.io/control-plane-port': '6443',
        },
      },
      topology: { version: 'v1.34.0', classRef: { name: 'proxmox', namespace: 'ns' } },
      network: { pods: ['192.168.0.0/16'], services: ['10.96.0.0/12'] },
    },
  };
  const md = (n: number) => [
    {
      uid: `md${n}-infra`,
      holderReference: holder('MachineDeployment', `c1-md${n}`, 'spec.template.spec.infrastructureRef'),
      object: template('infrastructure.cluster.x-k8s.io/v1alpha2', 'ProxmoxMachineTemplate', {
        sourceNode: 'pve1',
        templateID: 100,
        numCores: 4,
        memoryMiB: 8192,
        disks: { bootVolume: { disk: 'scsi0', sizeGb: 40 } },
        network: { default: { bridge: 'vmbr0' } },
      }),
      variables: [{ name: 'builtin', value: { machineDeployment: { name: `md${n}`, replicas: 3 } } }],
    },
    {
      uid: `md${n}-bootstrap`,
      holderReference: holder('MachineDeployment', `c1-md${n}`, 'spec.template.spec.bootstrap.configRef'),
      object: template('bootstrap.cluster.x-k8s.io/v1beta1', 'RKE2ConfigTemplate', {
        agentConfig: { kubelet: { extraArgs: ['max-pods=110'] } },
      }),
    },
  ];
  return {
    apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
    kind: 'GeneratePatchesRequest',
    variables: [{ name: 'builtin', value: builtin }],
    items: [
      {
        uid: 'infra',
        holderReference: holder('Cluster', 'c1', 'spec.infrastructureRef'),
        object: template('infrastructure.cluster.x-k8s.io/v1alpha2', 'ProxmoxClusterTemplate', {
          dnsServers: ['10.0.0.53'],
          ipv4Config: { addresses: ['10.0.1.10-10.0.1.50'], prefix: 24, gateway: '10.0.1.1' },
        }),
      },
      {
        uid: 'cp',
        holderReference: holder('Cluster', 'c1', 'spec.controlPlaneRef'),
        object: template('controlplane.cluster.x-k8s.io/v1beta1', 'RKE2ControlPlaneTemplate', {
          registrationMethod: 'control-plane-endpoint',
          rolloutStrategy: { type: 'RollingUpdate' },
          serverConfig: { cni: 'calico', etcd: { backupConfig: { scheduleCron: '0 */6 * * *' } } },
        }),
      },
      {
        uid: 'cp-machines',
        holderReference: holder('RKE2ControlPlane', 'c1', 'spec.machineTemplate.infrastructureRef'),
        object: template('infrastructure.cluster.x-k8s.io/v1alpha2', 'ProxmoxMachineTemplate', {
          sourceNode: 'pve1',
          templateID: 100,
          numCores: 2,
          memoryMiB: 4096,
        }),
      },
      ...md(1),
      ...md(2),
    ],
  };
}

export interface Load {
  concurrency: number;
  p50: number;
  p99: number;
  perSecond: number;
}

/** `HOOK_CALLS` POSTs of `body` at a fixed concurrency, from a load generator in its own process (hack/load.ts). */
async function load(hookPath: string, body: string, concurrency: number): Promise<Load> {
  const file = path.join(ROOT, '.cache/bench-body.json');
  await writeFile(file, body);
  const url = `https://127.0.0.1:${PORTS.extension}/hooks.runtime.cluster.x-k8s.io/v1alpha1/${hookPath}`;
  const { stdout } = await execa(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(ROOT, 'hack/load.ts'),
      url,
      file,
      String(concurrency),
      String(HOOK_CALLS),
      path.join(PKI_DIR, 'ca/tls.crt'),
    ],
    { cwd: ROOT },
  );
  return { concurrency, ...(JSON.parse(stdout) as Omit<Load, 'concurrency'>) };
}

/**
 * 3. GeneratePatches with a realistic request, and BeforeClusterCreate's fast path, at each
 * concurrency of CONCURRENCY.
 */
export async function hookLoad(): Promise<{ generatePatches: Load[]; beforeClusterCreate: Load[] }> {
  const gp = JSON.stringify(realisticRequest());
  const fast = JSON.stringify({
    apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
    kind: 'BeforeClusterCreateRequest',
    cluster: {
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: {
        name: 'c1',
        namespace: 'ns',
        // CAPI always sends the uid: the hook remembers by it that no ingress claim waits.
        uid: '6b0c9a8e-0000-4000-8000-0000000000fa',
        annotations: { 'vip.capi.gorizond.io/control-plane-vip': '10.0.0.10' },
      },
      spec: {
        controlPlaneEndpoint: { host: '10.0.0.10', port: 6443 },
        topology: { classRef: { name: 'x' }, version: 'v1.34.0' },
      },
    },
  });
  const gpLoad: Load[] = [];
  const bccLoad: Load[] = [];
  for (const c of CONCURRENCY) {
    gpLoad.push(await load('generatepatches/vip-allocator-generate-patches', gp, c));
    bccLoad.push(await load('beforeclustercreate/vip-allocator-before-cluster-create', fast, c));
    log(`  concurrency ${c}: GeneratePatches p99 ${gpLoad.at(-1)?.p99.toFixed(2)} ms`);
  }
  return { generatePatches: gpLoad, beforeClusterCreate: bccLoad };
}
