/**
 * The one table that maps a control-plane template kind to its profile: adding a provider is a
 * file beside this one and a line here. TalosControlPlane has no template kind released yet
 * (siderolabs/cluster-api-control-plane-provider-talos#245): the README shows its machine-config
 * patch (Layer2VIPConfig) until it does.
 */
import { ck8s } from './ck8s.js';
import { k0s } from './k0s.js';
import { kubeadm } from './kubeadm.js';
import type { Profile } from './profile.js';
import { rke2 } from './rke2.js';

export const PROFILES_BY_KIND: Readonly<Record<string, Profile>> = {
  KubeadmControlPlaneTemplate: kubeadm,
  RKE2ControlPlaneTemplate: rke2,
  K0sControlPlaneTemplate: k0s,
  CK8sControlPlaneTemplate: ck8s,
};

export const SUPPORTED_KINDS = Object.keys(PROFILES_BY_KIND);

export function profileFor(kind: string): Profile | undefined {
  return Object.hasOwn(PROFILES_BY_KIND, kind) ? PROFILES_BY_KIND[kind] : undefined;
}
