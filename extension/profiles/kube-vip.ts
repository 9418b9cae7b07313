/**
 * kube-vip manifests in ARP/NDP control-plane mode, written for the VIP: a static pod for kubeadm
 * (it must run before the API server it fronts exists) and a DaemonSet with its RBAC for
 * distributions that apply a manifests folder once their API server is up (RKE2, CK8s).
 */
import { dumpYaml } from '@kubernetes/client-node';
import { addresses, hostBits, type AnnounceInput } from './profile.js';

/** Where kubelet reads static pods; kubeadm's admin kubeconfig, which the pod uses. */
export const STATIC_POD_PATH = '/etc/kubernetes/manifests/kube-vip.yaml';
export const ADMIN_CONF = '/etc/kubernetes/admin.conf';
export const SUPER_ADMIN_CONF = '/etc/kubernetes/super-admin.conf';

const NAMESPACE = 'kube-system';
const NAME = 'kube-vip';

/**
 * kube-vip's `vip_subnet` for the addresses it carries. kube-vip (0.9 to 1.1, `SelectSubnet` in
 * pkg/vip/address.go) gives every IPv4 address the first mask and every IPv6 address the second,
 * whatever the order of `address`: a pair is always `32,128`, and a single address has its own.
 * (`128,32` for an IPv6-first pair makes kube-vip exit at start: `invalid CIDR "…/128"`.)
 */
export function kubeVipSubnet(all: readonly string[]): string {
  const masks = new Set(all.map(hostBits));
  return masks.size === 2 ? '32,128' : [...masks].join(',');
}

function env(input: AnnounceInput): object[] {
  const all = addresses(input);
  const { leaseDurationSeconds, renewDeadlineSeconds, retryPeriodSeconds } = input.settings.leaderElection;
  const vars: Record<string, string | undefined> = {
    vip_arp: 'true',
    port: String(input.vip.port),
    vip_interface: input.settings.interface,
    // vip_cidr is gone since kube-vip 0.9.
    vip_subnet: kubeVipSubnet(all),
    cp_enable: 'true',
    cp_namespace: NAMESPACE,
    vip_leaderelection: 'true',
    vip_leasename: 'plndr-cp-lock',
    vip_leaseduration: String(leaseDurationSeconds),
    vip_renewdeadline: String(renewDeadlineSeconds),
    vip_retryperiod: String(retryPeriodSeconds),
    address: all.join(','),
  };
  return [
    // The lease holder's identity.
    { name: 'vip_nodename', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    ...Object.entries(vars).flatMap(([name, value]) => (value === undefined ? [] : [{ name, value }])),
  ];
}

function container(input: AnnounceInput, volumeMounts?: object[]): object {
  return {
    name: NAME,
    image: input.settings.kubeVipImage,
    imagePullPolicy: 'IfNotPresent',
    args: ['manager'],
    env: env(input),
    securityContext: { capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] } },
    ...(volumeMounts ? { volumeMounts } : {}),
  };
}

/** The kubeadm static pod. `hostPath.path` is the line the ≥ 1.29 super-admin switch rewrites. */
export function kubeVipStaticPod(input: AnnounceInput): string {
  return dumpYaml({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: NAME, namespace: NAMESPACE },
    spec: {
      hostNetwork: true,
      // kube-vip resolves `kubernetes` before the cluster DNS exists (kube-vip#692).
      hostAliases: [{ ip: '127.0.0.1', hostnames: ['kubernetes'] }],
      containers: [container(input, [{ name: 'kubeconfig', mountPath: ADMIN_CONF }])],
      volumes: [{ name: 'kubeconfig', hostPath: { path: ADMIN_CONF, type: 'FileOrCreate' } }],
    },
  });
}

/** ServiceAccount, RBAC and a DaemonSet on control-plane nodes, as one multi-document manifest. */
export function kubeVipDaemonSet(input: AnnounceInput): string {
  const labels = { 'app.kubernetes.io/name': NAME };
  const docs = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: NAME, namespace: NAMESPACE } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'system:kube-vip-role' },
      rules: [
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          verbs: ['get', 'list', 'watch', 'create', 'update'],
        },
        { apiGroups: [''], resources: ['nodes', 'services', 'endpoints'], verbs: ['get', 'list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'system:kube-vip-binding' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:kube-vip-role' },
      subjects: [{ kind: 'ServiceAccount', name: NAME, namespace: NAMESPACE }],
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: NAME, namespace: NAMESPACE, labels },
      spec: {
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: NAME,
            hostNetwork: true,
            // RKE2 labels control-plane nodes "true", CK8s "": Exists matches both.
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    {
                      matchExpressions: [
                        { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' },
                      ],
                    },
                  ],
                },
              },
            },
            tolerations: [{ operator: 'Exists' }],
            containers: [container(input)],
          },
        },
      },
    },
  ];
  return docs.map((d) => dumpYaml(d)).join('---\n');
}
