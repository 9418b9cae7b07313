/**
 * Every version the local control plane is built from, in one place.
 * Each entry with `binaries` becomes its own wrapper Go module under .cache/build/<name>-<version>;
 * entries without are fetched from the Go module proxy only for the CRDs they carry.
 * The Go module proxy reachable here serves selected versions only: bump with care.
 */
export interface GoModulePin {
  /** Short name: cache key prefix and progress label. */
  readonly name: string;
  readonly module: string;
  readonly version: string;
  /** Main packages to build, by output binary name. */
  readonly binaries?: Readonly<Record<string, string>>;
  /** Extra `-X` linker settings, `importpath.name=value`. */
  readonly ldflagsX?: readonly string[];
  /** Replace every `./staging/...` replace of the pinned module's go.mod with this version (k8s.io/kubernetes). */
  readonly stagingVersion?: string;
  /** Extra replaces `module => module@version`. */
  readonly replace?: Readonly<Record<string, string>>;
  /**
   * A `main` of our own (this repository's folder, e.g. hack/control-plane/cert-manager) built as
   * the wrapper module itself: for a provider whose own binary modules the proxy does not serve.
   */
  readonly sources?: string;
}

export const KUBERNETES_VERSION = 'v1.36.5';
export const CAPI_VERSION = 'v1.14.2';

const kubeVersionX = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) => [
  `${pkg}.gitVersion=${KUBERNETES_VERSION}`,
  `${pkg}.gitMajor=1`,
  `${pkg}.gitMinor=36`,
  `${pkg}.gitTreeState=clean`,
]);

export const PINS = {
  kubernetes: {
    name: 'kubernetes',
    module: 'k8s.io/kubernetes',
    version: KUBERNETES_VERSION,
    stagingVersion: 'v0.36.5',
    binaries: {
      'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
      'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
    },
    // Without these the servers report v0.0.0 and CAPI refuses the management cluster.
    ldflagsX: kubeVersionX,
  },
  // The plane's node (`up --node`): built from the same module, in a wrapper of its own so the
  // plane's binaries are not rebuilt; the Go build cache shares every package they have in common.
  kubernetesNode: {
    name: 'kubernetes-node',
    module: 'k8s.io/kubernetes',
    version: KUBERNETES_VERSION,
    stagingVersion: 'v0.36.5',
    binaries: {
      kubelet: 'k8s.io/kubernetes/cmd/kubelet',
      'kube-proxy': 'k8s.io/kubernetes/cmd/kube-proxy',
      'kube-scheduler': 'k8s.io/kubernetes/cmd/kube-scheduler',
      // The install suites apply the release YAML as users do.
      kubectl: 'k8s.io/kubernetes/cmd/kubectl',
    },
    ldflagsX: kubeVersionX,
  },
  etcd: {
    name: 'etcd',
    module: 'go.etcd.io/etcd/server/v3',
    version: 'v3.6.16',
    binaries: { etcd: 'go.etcd.io/etcd/server/v3' },
  },
  ipam: {
    name: 'ipam',
    module: 'sigs.k8s.io/cluster-api-ipam-provider-in-cluster',
    version: 'v1.1.0',
    binaries: { 'ipam-manager': 'sigs.k8s.io/cluster-api-ipam-provider-in-cluster' },
  },
  // The VIP announcer the kubeadm, RKE2 and CK8s profiles run, for test/alive. The profiles'
  // default image is v1.1.1, which the Go module proxy does not serve; v1.0.0 is the newest it does.
  kubeVip: {
    name: 'kube-vip',
    module: 'github.com/kube-vip/kube-vip',
    version: 'v1.0.0',
    binaries: { 'kube-vip': 'github.com/kube-vip/kube-vip' },
    // What kube-vip's Makefile sets, so `kube-vip version` and its start-up log name the release.
    ldflagsX: ['main.Version=v1.0.0', 'main.Build=d8877072d4a1dcb2fde2ccd22b97dbf65a1c2a73'],
  },
  // Tools for rendering and checking the install manifests (manifests/).
  kustomize: {
    name: 'kustomize',
    module: 'sigs.k8s.io/kustomize/kustomize/v5',
    version: 'v5.7.1',
    binaries: { kustomize: 'sigs.k8s.io/kustomize/kustomize/v5' },
  },
  helm: {
    name: 'helm',
    module: 'helm.sh/helm/v3',
    version: 'v3.19.0',
    binaries: { helm: 'helm.sh/helm/v3/cmd/helm' },
  },
  // cert-manager's controller for the node (the Certificate the install manifests ask for). The
  // proxy serves cert-manager's main module but not its binaries' modules: the main is our own
  // (hack/control-plane/cert-manager/main.go), wiring the served module's public controllers.
  certManagerController: {
    name: 'cert-manager-controller',
    module: 'github.com/cert-manager/cert-manager',
    version: 'v1.21.2',
    sources: 'hack/control-plane/cert-manager',
    binaries: { 'cert-manager-controller': 'capi-vip-allocator.local/build/cert-manager-controller' },
  },
  // Lints the release workflow (.github/workflows), which cannot run here.
  actionlint: {
    name: 'actionlint',
    module: 'github.com/rhysd/actionlint',
    version: 'v1.7.12',
    binaries: { actionlint: 'github.com/rhysd/actionlint/cmd/actionlint' },
    ldflagsX: ['github.com/rhysd/actionlint.version=v1.7.12'],
  },
  capiTest: { name: 'capi-test', module: 'sigs.k8s.io/cluster-api/test', version: CAPI_VERSION },
  proxmox: {
    name: 'proxmox',
    module: 'github.com/ionos-cloud/cluster-api-provider-proxmox',
    version: 'v0.9.0',
  },
  rke2: { name: 'rke2', module: 'github.com/rancher/cluster-api-provider-rke2', version: 'v0.21.0' },
  certManager: { name: 'cert-manager', module: 'github.com/cert-manager/cert-manager', version: 'v1.21.2' },
  prometheusOperator: {
    name: 'prometheus-operator',
    module: 'github.com/prometheus-operator/prometheus-operator',
    version: 'v0.85.0',
  },
} as const satisfies Record<string, GoModulePin>;

/**
 * The CAPI releases the product is proven on (`npm run test:matrix`): the newest patch of each
 * minor the Go module proxy serves. The last is the default plane.
 */
export const CAPI_MATRIX = ['v1.11.8', 'v1.12.10', 'v1.13.6', CAPI_VERSION] as const;

/** A CAPI release as the plane runs it. v1.14 moved the core manager and its config under core/. */
export interface CapiRelease {
  readonly version: string;
  readonly pin: GoModulePin;
  readonly coreCrds: string;
  readonly coreWebhooks: string;
}

export function capiRelease(version: string = CAPI_VERSION): CapiRelease {
  if (!(CAPI_MATRIX as readonly string[]).includes(version)) {
    throw new Error(`CAPI ${version} is not in the matrix: ${CAPI_MATRIX.join(', ')}`);
  }
  const core = Number(/^v1\.(\d+)\./.exec(version)?.[1]) >= 14 ? 'core/' : '';
  return {
    version,
    pin: {
      name: 'capi',
      module: 'sigs.k8s.io/cluster-api',
      version,
      binaries: {
        'capi-manager': core ? 'sigs.k8s.io/cluster-api/core' : 'sigs.k8s.io/cluster-api',
        // Only for its webhooks: they are what accepts or rejects a patched KubeadmControlPlane.
        'kcp-manager': 'sigs.k8s.io/cluster-api/controlplane/kubeadm',
        // The current release's, for the clusterctl move suite (test/move).
        ...(version === CAPI_VERSION ? { clusterctl: 'sigs.k8s.io/cluster-api/cmd/clusterctl' } : {}),
      },
      // From v1.14 the API types are a module of their own.
      ...(core ? { replace: { 'sigs.k8s.io/cluster-api/api': version } } : {}),
    },
    coreCrds: `${core}config/crd/bases`,
    coreWebhooks: `${core}config/webhook/manifests.yaml`,
  };
}

/** Where each module keeps its CRDs, and the CAPI contract labels its releases add. */
export interface CrdSource {
  /** The module whose cache holds the CRDs; without it, `dirs` are folders of this repository. */
  readonly pin?: GoModulePin;
  readonly dirs: readonly string[];
  /** `cluster.x-k8s.io/<contract>: <versions>` labels; omitted for CAPI's own CRDs and cert-manager. */
  readonly contractLabels?: Readonly<Record<string, string>>;
  /** Whether CAPI's core manager converts these CRDs (its conversion webhook is wired to them). */
  readonly capiConversion?: boolean;
  /** Only these files of the folders. */
  readonly only?: readonly string[];
}

export const crdSources = (capi: CapiRelease): readonly CrdSource[] => [
  { pin: capi.pin, dirs: [capi.coreCrds], capiConversion: true },
  {
    pin: capi.pin,
    dirs: ['bootstrap/kubeadm/config/crd/bases', 'controlplane/kubeadm/config/crd/bases'],
    contractLabels: { 'cluster.x-k8s.io/v1beta1': 'v1beta1', 'cluster.x-k8s.io/v1beta2': 'v1beta2' },
  },
  {
    pin: PINS.capiTest,
    dirs: ['infrastructure/docker/config/crd/bases'],
    contractLabels: { 'cluster.x-k8s.io/v1beta1': 'v1beta1', 'cluster.x-k8s.io/v1beta2': 'v1beta2' },
  },
  { pin: PINS.ipam, dirs: ['config/crd/bases'] },
  { pin: PINS.certManager, dirs: ['deploy/crds'] },
  // For validating the optional ServiceMonitor (manifests/prometheus, the Helm chart).
  {
    pin: PINS.prometheusOperator,
    dirs: ['example/prometheus-operator-crd'],
    only: ['monitoring.coreos.com_servicemonitors.yaml'],
  },
  {
    pin: PINS.proxmox,
    dirs: ['config/crd/bases'],
    contractLabels: { 'cluster.x-k8s.io/v1beta1': 'v1alpha2', 'cluster.x-k8s.io/v1beta2': 'v1alpha2' },
  },
  {
    pin: PINS.rke2,
    dirs: ['bootstrap/config/crd/bases', 'controlplane/config/crd/bases'],
    // v0.21 predates the v1beta2 contract; its release labels only v1beta1.
    contractLabels: { 'cluster.x-k8s.io/v1beta1': 'v1alpha1_v1beta1' },
  },
  // The proxy refuses k0smotron's module: fixtures written from its v2.1.0 release (see the files).
  { dirs: ['hack/control-plane/crds/k0smotron'] },
];
