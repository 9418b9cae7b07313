/**
 * RKE2ControlPlaneTemplate (controlplane.cluster.x-k8s.io v1beta1/v1beta2): kube-vip as a
 * DaemonSet with its RBAC, in the folder RKE2 applies once its API server runs. The endpoint host
 * is already a TLS SAN (RKE2 adds it), so only the dual-stack pair's second address goes to
 * `serverConfig.tlsSan`. `registrationMethod` is never written: it is immutable once set, and
 * unset it means `control-plane-endpoint`, which is the VIP.
 */
import { kubeVipDaemonSet } from './kube-vip.js';
import { addFile, appendMissing, listAt, objectAt, type Profile } from './profile.js';

export const RKE2_MANIFEST_PATH = '/var/lib/rancher/rke2/server/manifests/kube-vip.yaml';

export const rke2: Profile = {
  announcer: `kube-vip DaemonSet (${RKE2_MANIFEST_PATH})`,
  announce(template, input) {
    const spec = objectAt(template, 'spec', 'template', 'spec');
    addFile(
      listAt<{ path: string }>(spec, 'files'),
      { path: RKE2_MANIFEST_PATH, owner: 'root:root', permissions: '0600', content: kubeVipDaemonSet(input) },
      input,
    );
    if (input.vip.secondary)
      appendMissing(listAt(objectAt(spec, 'serverConfig'), 'tlsSan'), [input.vip.secondary]);
  },
};
