import type { GeneratePatchesRequest } from '../../shared/kube/types.js';
import { clusterVip, generatePatches, withoutVip } from './generate-patches.js';

function request(
  annotations: Record<string, string> | undefined,
  items: GeneratePatchesRequest['items'],
): GeneratePatchesRequest {
  return {
    apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
    kind: 'GeneratePatchesRequest',
    variables: [
      { name: 'builtin', value: { cluster: { name: 'c1', namespace: 'ns', metadata: { annotations } } } },
    ],
    items,
  };
}

const infraItem = (kind: string, spec: Record<string, unknown> = {}) => ({
  uid: 'infra',
  holderReference: {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    namespace: 'ns',
    name: 'c1',
    fieldPath: 'spec.infrastructureRef',
  },
  object: { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta2', kind, spec: { template: { spec } } },
});
const cpItem = {
  uid: 'cp',
  holderReference: {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    namespace: 'ns',
    name: 'c1',
    fieldPath: 'spec.controlPlaneRef',
  },
  object: {
    apiVersion: 'controlplane.cluster.x-k8s.io/v1beta2',
    kind: 'KubeadmControlPlaneTemplate',
    spec: {},
  },
};
const decode = (patch: string): unknown => JSON.parse(Buffer.from(patch, 'base64').toString());
const vip = {
  'vip.capi.gorizond.io/control-plane-vip': '10.0.0.10',
  'vip.capi.gorizond.io/control-plane-port': '7443',
};

describe('generatePatches', () => {
  test('sets host and port on the InfrastructureClusterTemplate only', () => {
    const items = generatePatches(
      request(vip, [infraItem('ProxmoxClusterTemplate', { dnsServers: ['1.1.1.1'] }), cpItem]),
      6443,
    );
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ uid: 'infra', patchType: 'JSONMergePatch' });
    expect(decode(items[0]?.patch ?? '')).toEqual({
      spec: { template: { spec: { controlPlaneEndpoint: { host: '10.0.0.10', port: 7443 } } } },
    });
  });
  test('leaves every item untouched while the Cluster has no VIP', () => {
    expect(generatePatches(request(undefined, [infraItem('DockerClusterTemplate')]), 6443)).toEqual([]);
  });
  test('uses the default port when the Cluster has no port annotation', () => {
    const [item] = generatePatches(
      request({ 'vip.capi.gorizond.io/control-plane-vip': 'fd00::10' }, [infraItem('DockerClusterTemplate')]),
      6443,
    );
    expect(decode(item?.patch ?? '')).toMatchObject({
      spec: { template: { spec: { controlPlaneEndpoint: { host: 'fd00::10', port: 6443 } } } },
    });
  });
  test('no patch when the template already carries the endpoint', () => {
    const done = infraItem('DockerClusterTemplate', {
      controlPlaneEndpoint: { host: '10.0.0.10', port: 7443 },
    });
    expect(generatePatches(request(vip, [done]), 6443)).toEqual([]);
  });
  test('OpenStack also gets apiServerFixedIP when its load balancer is enabled', () => {
    const [withLb] = generatePatches(
      request(vip, [infraItem('OpenStackClusterTemplate', { apiServerLoadBalancer: { enabled: true } })]),
      6443,
    );
    expect(decode(withLb?.patch ?? '')).toEqual({
      spec: {
        template: {
          spec: { controlPlaneEndpoint: { host: '10.0.0.10', port: 7443 }, apiServerFixedIP: '10.0.0.10' },
        },
      },
    });
    const [withoutLb] = generatePatches(request(vip, [infraItem('OpenStackClusterTemplate')]), 6443);
    expect(decode(withoutLb?.patch ?? '')).not.toHaveProperty('spec.template.spec.apiServerFixedIP');
  });
  test('a VIP annotation that is neither an IP nor a DNS name is an error naming the Cluster', () => {
    expect(() =>
      generatePatches(request({ 'vip.capi.gorizond.io/control-plane-vip': 'no pe!' }, []), 6443),
    ).toThrow('Cluster ns/c1');
  });
  test('each address of a dual-stack pair brings its own pool prefix; a bad one names the annotation', () => {
    const pair = {
      ...vip,
      'vip.capi.gorizond.io/control-plane-prefix': '24',
      'vip.capi.gorizond.io/control-plane-vip-secondary': 'fd00::10',
      'vip.capi.gorizond.io/control-plane-prefix-secondary': '64',
    };
    expect(clusterVip(request(pair, []), 6443)).toMatchObject({ vip: { prefix: 24, secondaryPrefix: 64 } });
    expect(() =>
      clusterVip(
        request({ ...pair, 'vip.capi.gorizond.io/control-plane-prefix-secondary': '129' }, []),
        6443,
      ),
    ).toThrow(
      'Annotation vip.capi.gorizond.io/control-plane-prefix-secondary on Cluster ns/c1 is not a prefix length for fd00::10: "129"',
    );
  });
  test('a hand-set DNS endpoint reaches the InfrastructureClusterTemplate', () => {
    const [item] = generatePatches(
      request({ 'vip.capi.gorizond.io/control-plane-vip': 'api.example.com' }, [
        infraItem('DockerClusterTemplate'),
      ]),
      6443,
    );
    expect(decode(item?.patch ?? '')).toMatchObject({
      spec: { template: { spec: { controlPlaneEndpoint: { host: 'api.example.com', port: 6443 } } } },
    });
  });
});

describe('withoutVip', () => {
  test('names the Cluster that has no VIP yet, unless it opted out', () => {
    expect(withoutVip(request(undefined, []))).toEqual({ namespace: 'ns', name: 'c1', uid: '' });
    expect(withoutVip(request({ 'vip.capi.gorizond.io/enabled': 'false' }, []))).toBeUndefined();
    expect(withoutVip(request(vip, []))).toBeUndefined();
  });
});

describe('generatePatches with vipAllocator.announce', () => {
  const withVariable = (value: unknown, items: GeneratePatchesRequest['items']): GeneratePatchesRequest => {
    const r = request(vip, items);
    return { ...r, variables: [...(r.variables ?? []), { name: 'vipAllocator', value }] };
  };
  const kcpItem = (kind = 'KubeadmControlPlaneTemplate') => ({
    ...cpItem,
    object: {
      ...cpItem.object,
      kind,
      metadata: { name: 'cc', namespace: 'ns' },
      spec: { template: { spec: {} } },
    },
  });

  test('patches the control-plane template with the profile of its kind', () => {
    const [item] = generatePatches(withVariable({ announce: true }, [kcpItem()]), 6443);
    expect(item?.uid).toBe('cp');
    const patch = decode(item?.patch ?? '') as {
      spec: { template: { spec: { kubeadmConfigSpec: { files: { path: string }[] } } } };
    };
    expect(patch.spec.template.spec.kubeadmConfigSpec.files[0]?.path).toBe(
      '/etc/kubernetes/manifests/kube-vip.yaml',
    );
  });
  test('announce false or unset: the control-plane template is left alone', () => {
    expect(generatePatches(withVariable({ announce: false }, [kcpItem()]), 6443)).toEqual([]);
    expect(generatePatches(request(vip, [kcpItem()]), 6443)).toEqual([]);
  });
  test('an unsupported kind with announce is an error naming the kind and the supported ones', () => {
    expect(() =>
      generatePatches(withVariable({ announce: true }, [kcpItem('TalosControlPlane')]), 6443),
    ).toThrow(
      /Cluster ns\/c1: TalosControlPlane ns\/cc has no VIP announcer profile.*KubeadmControlPlaneTemplate, RKE2ControlPlaneTemplate/,
    );
  });
  test('a bad value is an error naming the Cluster and the field', () => {
    expect(() =>
      generatePatches(withVariable({ announce: true, interface: 'eth 0' }, [kcpItem()]), 6443),
    ).toThrow('Cluster ns/c1: variable vipAllocator.interface "eth 0" is not a Linux interface name');
  });
  test('a hand-set DNS endpoint cannot be announced: an error naming it', () => {
    const r = withVariable({ announce: true }, [kcpItem()]);
    const builtin = r.variables?.find((v) => v.name === 'builtin')?.value as {
      cluster: { metadata: { annotations: Record<string, string> } };
    };
    builtin.cluster.metadata.annotations = { 'vip.capi.gorizond.io/control-plane-vip': 'api.example.com' };
    expect(() => generatePatches(r, 6443)).toThrow('cannot announce api.example.com');
  });
  test('a per-template value overrides the global one', () => {
    const item = { ...kcpItem(), variables: [{ name: 'vipAllocator', value: { announce: false } }] };
    expect(generatePatches(withVariable({ announce: true }, [item]), 6443)).toEqual([]);
  });
});
