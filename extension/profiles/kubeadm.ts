/**
 * KubeadmControlPlaneTemplate (controlplane.cluster.x-k8s.io v1beta1/v1beta2): kube-vip as a static
 * pod in `kubeadmConfigSpec.files`. kubeadm already puts the endpoint host in the API server's
 * certificate (CABPK copies it into `clusterConfiguration.controlPlaneEndpoint`), so only the
 * dual-stack pair's second address is added to `certSANs`. Every list here is atomic with
 * `minItems: 1`: it is created whole or appended to, never written empty.
 */
import { ADMIN_CONF, kubeVipStaticPod, STATIC_POD_PATH, SUPER_ADMIN_CONF } from './kube-vip.js';
import { addFile, appendMissing, listAt, objectAt, type AnnounceInput, type Profile } from './profile.js';

interface KubeadmFile {
  path: string;
  owner?: string;
  permissions?: string;
  content?: string;
}

/**
 * How a node knows it runs `kubeadm init`. CABPK's cloud-init writes this file on the first
 * control-plane machine only (joins get kubeadm-join-config.yaml); its Ignition (Flatcar) writes
 * `/etc/kubeadm.yml` for both and runs `/etc/kubeadm.sh`, whose command line starts with
 * `kubeadm init` or `kubeadm join` (bootstrap/kubeadm/pkg/ignition). The pre and post commands are
 * lines of that same script, so the pattern is anchored: it must not match its own line.
 */
const INIT_CONFIG = '/run/kubeadm/kubeadm.yaml';
const IGNITION_SCRIPT = '/etc/kubeadm.sh';
const IS_INIT = `[ -f ${INIT_CONFIG} ] || grep -qs '^kubeadm init ' ${IGNITION_SCRIPT}`;

/**
 * From Kubernetes 1.29, admin.conf has no rights until `kubeadm init` has bound them, and kube-vip
 * must serve the VIP before that (kube-vip#684): the first node's pod uses super-admin.conf while
 * kubeadm runs, and is switched back after.
 */
const swap = (from: string, to: string): string =>
  `if ${IS_INIT}; then sed -i 's#path: ${from}#path: ${to}#' ${STATIC_POD_PATH}; fi`;
export const USE_SUPER_ADMIN = swap(ADMIN_CONF, SUPER_ADMIN_CONF);
export const USE_ADMIN = swap(SUPER_ADMIN_CONF, ADMIN_CONF);

/** Whether `v1.29.0`-style versions need the super-admin switch; unknown versions are assumed new. */
export function needsSuperAdmin(version: string | undefined): boolean {
  const match = /^v?(\d+)\.(\d+)/.exec(version ?? '');
  if (!match) return true;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > 1 || minor >= 29;
}

export const kubeadm: Profile = {
  announcer: `kube-vip static pod (${STATIC_POD_PATH})`,
  announce(template, input: AnnounceInput) {
    const spec = objectAt(template, 'spec', 'template', 'spec', 'kubeadmConfigSpec');
    addFile(
      listAt<KubeadmFile>(spec, 'files'),
      { path: STATIC_POD_PATH, owner: 'root:root', permissions: '0644', content: kubeVipStaticPod(input) },
      input,
    );
    if (needsSuperAdmin(input.kubernetesVersion)) {
      listAt<string>(spec, 'preKubeadmCommands').push(USE_SUPER_ADMIN);
      listAt<string>(spec, 'postKubeadmCommands').push(USE_ADMIN);
    }
    if (input.vip.secondary) {
      const apiServer = objectAt(spec, 'clusterConfiguration', 'apiServer');
      appendMissing(listAt<string>(apiServer, 'certSANs'), [input.vip.secondary]);
    }
  },
};
