/**
 * CK8sControlPlaneTemplate (Canonical Kubernetes, controlplane.cluster.x-k8s.io v1beta2; note the
 * double `spec`): kube-vip as a DaemonSet in `/capi/manifests/`, which its bootstrap script
 * applies once the cluster is up. The endpoint host is already an extra SAN; the dual-stack
 * pair's second address is added to `controlPlane.extraSANs`.
 */
import { kubeVipDaemonSet } from './kube-vip.js';
import { addFile, appendMissing, listAt, objectAt, type Profile } from './profile.js';

export const CK8S_MANIFEST_PATH = '/capi/manifests/kube-vip.yaml';

export const ck8s: Profile = {
  announcer: `kube-vip DaemonSet (${CK8S_MANIFEST_PATH})`,
  announce(template, input) {
    const spec = objectAt(template, 'spec', 'template', 'spec', 'spec');
    addFile(
      listAt<{ path: string }>(spec, 'files'),
      { path: CK8S_MANIFEST_PATH, permissions: '0600', content: kubeVipDaemonSet(input) },
      input,
    );
    if (input.vip.secondary)
      appendMissing(listAt(objectAt(spec, 'controlPlane'), 'extraSANs'), [input.vip.secondary]);
  },
};
