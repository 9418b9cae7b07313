import { loadAllYaml, type V1Deployment } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PINS, type CapiRelease } from '../versions.js';
import { binaryPath } from './build.js';
import { BUNDLE, HOST, KUBECONFIG, PLANE_DIR, PORTS, ROOT } from './paths.js';
import { apiserverNodeArgs, controllerManagerNodeControllers } from './node.js';
import type { Pki } from './pki.js';
import type { Component } from './processes.js';

const hostPort = (port: number): string => `${HOST}:${port}`;

export const ETCD_DATA_DIR = path.join(PLANE_DIR, 'etcd');

export function etcd(): Component {
  return {
    name: 'etcd',
    binary: binaryPath(PINS.etcd, 'etcd'),
    args: [
      '--name=capi-vip-allocator-local',
      `--data-dir=${ETCD_DATA_DIR}`,
      `--listen-client-urls=http://${hostPort(PORTS.etcdClient)}`,
      `--advertise-client-urls=http://${hostPort(PORTS.etcdClient)}`,
      `--listen-peer-urls=http://${hostPort(PORTS.etcdPeer)}`,
      `--initial-advertise-peer-urls=http://${hostPort(PORTS.etcdPeer)}`,
      `--initial-cluster=capi-vip-allocator-local=http://${hostPort(PORTS.etcdPeer)}`,
      // A throwaway test store: durability is not worth the fsync latency.
      '--unsafe-no-fsync=true',
      '--quota-backend-bytes=2147483648',
    ],
    probe: { url: `http://${hostPort(PORTS.etcdClient)}/health` },
    readySeconds: 30,
  };
}

/** `node`: the plane has a node (`up --node`), whose Pods reach the API server and get tokens. */
export function kubeApiserver(pki: Pki, node = false): Component {
  return {
    name: 'kube-apiserver',
    binary: binaryPath(PINS.kubernetes, 'kube-apiserver'),
    args: [
      `--etcd-servers=http://${hostPort(PORTS.etcdClient)}`,
      `--cert-dir=${path.join(PLANE_DIR, 'apiserver')}`,
      `--tls-cert-file=${pki.apiserver.cert}`,
      `--tls-private-key-file=${pki.apiserver.key}`,
      `--client-ca-file=${pki.ca.cert}`,
      `--secure-port=${PORTS.apiserver}`,
      ...(node
        ? apiserverNodeArgs(pki)
        : [
            `--bind-address=${HOST}`,
            // The apiserver must not discover an address: the default route is not the plane's.
            `--advertise-address=${HOST}`,
            '--service-cluster-ip-range=10.0.0.0/24',
            // No Pods without a node: no service-account tokens to mount.
            '--disable-admission-plugins=ServiceAccount',
          ]),
      '--allow-privileged=true',
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      // `npm run bench` (CONTROL_PLANE_AUDIT=1) tells each component's requests apart by every
      // request's metadata; tests do not pay for writing it.
      ...(process.env.CONTROL_PLANE_AUDIT === '1'
        ? [
            `--audit-policy-file=${path.join(ROOT, 'hack/control-plane/audit-policy.yaml')}`,
            `--audit-log-path=${path.join(PLANE_DIR, 'logs', 'kube-apiserver-audit.log')}`,
            '--audit-log-format=json',
            // batch: a background goroutine writes each event; blocking would write it in the request's path.
            '--audit-log-mode=batch',
            // 100 MB files, 5 kept: a 500-Cluster burst's phases fit, and the disk holds at most 600 MB.
            '--audit-log-maxsize=100',
            '--audit-log-maxbackup=5',
          ]
        : []),
    ],
    probe: { url: `https://${hostPort(PORTS.apiserver)}/readyz`, tls: true },
    readySeconds: 90,
  };
}

export function kubeControllerManager(pki: Pki, node = false): Component {
  return {
    name: 'kube-controller-manager',
    binary: binaryPath(PINS.kubernetes, 'kube-controller-manager'),
    args: [
      `--kubeconfig=${KUBECONFIG}`,
      // Garbage collection is part of what we promise (claims go with their Cluster); namespace
      // deletion lets test suites clean up after themselves.
      `--controllers=${['garbage-collector-controller', 'namespace-controller', ...(node ? controllerManagerNodeControllers : [])].join(',')}`,
      ...(node ? [`--root-ca-file=${pki.ca.cert}`] : []),
      `--secure-port=${PORTS.controllerManager}`,
      `--bind-address=${HOST}`,
      `--tls-cert-file=${pki.controllerManager.cert}`,
      `--tls-private-key-file=${pki.controllerManager.key}`,
      '--leader-elect=false',
    ],
    probe: { url: `https://${hostPort(PORTS.controllerManager)}/healthz`, tls: true },
    readySeconds: 60,
  };
}

/** The CAPI manager's flags that shape its behaviour (the bench states its topology workers). */
export const capiManagerArgs = (): string[] => [
  '--feature-gates=ClusterTopology=true,RuntimeSDK=true',
  '--leader-elect=false',
];

export function capiManager(pki: Pki, capi: CapiRelease): Component {
  return {
    name: 'capi-manager',
    binary: binaryPath(capi.pin, 'capi-manager'),
    args: [
      `--kubeconfig=${KUBECONFIG}`,
      ...capiManagerArgs(),
      `--webhook-port=${PORTS.capiWebhook}`,
      `--webhook-cert-dir=${pki.capiWebhook.dir}`,
      `--health-addr=${hostPort(PORTS.capiHealth)}`,
      `--diagnostics-address=${hostPort(PORTS.capiDiagnostics)}`,
      '--insecure-diagnostics',
    ],
    probe: { url: `http://${hostPort(PORTS.capiHealth)}/readyz` },
    readySeconds: 120,
  };
}

/**
 * CAPI's KubeadmControlPlane provider, for the webhooks that validate KubeadmControlPlanes (file
 * paths, commands, immutable fields). Its controller finds no infrastructure ready and waits.
 */
export function kcpManager(pki: Pki, capi: CapiRelease): Component {
  return {
    name: 'kcp-manager',
    binary: binaryPath(capi.pin, 'kcp-manager'),
    args: [
      `--kubeconfig=${KUBECONFIG}`,
      // Its template webhook refuses KubeadmControlPlaneTemplates without it.
      '--feature-gates=ClusterTopology=true',
      `--webhook-port=${PORTS.kcpWebhook}`,
      // The serving certificate is for 127.0.0.1, whichever webhook server presents it.
      `--webhook-cert-dir=${pki.capiWebhook.dir}`,
      `--health-addr=${hostPort(PORTS.kcpHealth)}`,
      `--diagnostics-address=${hostPort(PORTS.kcpDiagnostics)}`,
      '--insecure-diagnostics',
      '--leader-elect=false',
    ],
    probe: { url: `http://${hostPort(PORTS.kcpHealth)}/readyz` },
    readySeconds: 120,
  };
}

export function ipamManager(): Component {
  return {
    name: 'ipam-manager',
    binary: binaryPath(PINS.ipam, 'ipam-manager'),
    args: [
      `--kubeconfig=${KUBECONFIG}`,
      // Its webhooks are optional; CAPI's validate the claims it binds.
      '--webhook-port=0',
      `--health-probe-bind-address=${hostPort(PORTS.ipamHealth)}`,
      `--diagnostics-address=${hostPort(PORTS.ipamMetrics)}`,
      '--insecure-diagnostics',
      '--leader-elect=false',
    ],
    probe: { url: `http://${hostPort(PORTS.ipamHealth)}/readyz` },
    readySeconds: 120,
  };
}

export const EXTENSION_NAME = 'capi-vip-allocator';

/**
 * The literal environment of the Deployment in manifests/base (NODE_OPTIONS, MALLOC_ARENA_MAX): the
 * plane and the bench run our process with the same heap caps and allocator.
 */
export function deploymentEnv(): Record<string, string> {
  const file = path.join(ROOT, 'manifests/base/namespaced/deployment.yaml');
  const docs = loadAllYaml(readFileSync(file, 'utf8')) as (V1Deployment & { kind?: string })[];
  return literalEnv(docs.find((d) => d.kind === 'Deployment')?.spec?.template.spec?.containers[0]?.env);
}

/** A container's variables that have a literal value (not `valueFrom`). */
export const literalEnv = (env: readonly { name: string; value?: string }[] = []): Record<string, string> =>
  Object.fromEntries(env.flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]])));

/**
 * What every process of ours against the plane runs with (the plane's, `npm run dev`'s, the tests'
 * extra replicas): a deleted Cluster's VIP is held 15 s, not 5 min, so its whole life fits in a test
 * or a demo; a pool annotated for a reserve of pre-bound claims gets one (test/e2e/reserve); and
 * probes reach only the announcer lab's own networks (test/alive), never an address of the host's.
 */
export const PLANE_EXTENSION_FLAGS = [
  '--reuse-grace=15s',
  '--claim-reserve',
  '--probe-addresses=198.18.0.0/24,fd00:198:18::/64',
];

/** Our own process as `npm start` runs it (the bundle, with source maps), pointed at the plane, with the plane's flags. */
export function extension(pki: Pki): Component {
  return {
    name: EXTENSION_NAME,
    binary: process.execPath,
    env: deploymentEnv(),
    args: [
      '--enable-source-maps',
      BUNDLE,
      `--kubeconfig=${KUBECONFIG}`,
      `--cert-dir=${pki.extension.dir}`,
      `--runtime-extension-port=${PORTS.extension}`,
      `--health-probe-bind-address=${hostPort(PORTS.extensionProbes)}`,
      `--metrics-bind-address=${hostPort(PORTS.extensionMetrics)}`,
      ...PLANE_EXTENSION_FLAGS,
    ],
    // Ready with its caches: suites act on the reserve and the quarantine as soon as `up` returns.
    probe: { url: `http://${hostPort(PORTS.extensionProbes)}/readyz/informers` },
    readySeconds: 30,
  };
}
