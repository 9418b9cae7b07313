import type { ClusterClass } from './kube/types.js';
import { carriesLabel } from './allocator/duplicates.js';
import { clusterPatch } from './publish.js';

const legacyClass = {
  apiVersion: 'cluster.x-k8s.io/v1beta2',
  kind: 'ClusterClass',
  metadata: { name: 'cc', namespace: 'ns' },
  spec: { variables: [{ name: 'clusterVip' }, { name: 'ingressVip' }] },
} as ClusterClass;

describe('clusterPatch', () => {
  test('endpoint, annotations and the original variables the class declares', () => {
    expect(
      clusterPatch(
        {
          endpoint: { host: '10.0.0.1', port: 6443, prefix: 24, secondary: 'fd00::1', secondaryPrefix: 64 },
          ingress: '10.0.1.1',
        },
        legacyClass,
      ),
    ).toEqual({
      endpoint: { host: '10.0.0.1', port: 6443 },
      annotations: {
        'vip.capi.gorizond.io/control-plane-vip': '10.0.0.1',
        'vip.capi.gorizond.io/control-plane-port': '6443',
        'vip.capi.gorizond.io/control-plane-prefix': '24',
        'vip.capi.gorizond.io/control-plane-vip-secondary': 'fd00::1',
        'vip.capi.gorizond.io/control-plane-prefix-secondary': '64',
        'vip.capi.gorizond.io/ingress-vip': '10.0.1.1',
      },
      labels: {
        'vip.capi.gorizond.io/ingress-vip': '10.0.1.1',
        // One per address carried, found by label by the next allocation (the key of each address).
        [carriesLabel('10.0.0.1')]: '',
        [carriesLabel('fd00::1')]: '',
        [carriesLabel('10.0.1.1')]: '',
      },
      variables: [
        { name: 'clusterVip', value: '10.0.0.1' },
        { name: 'ingressVip', value: '10.0.1.1' },
      ],
    });
  });
  test('an IPv6 ingress VIP is no label value: annotation only (and its key); no class, no variables', () => {
    expect(clusterPatch({ ingress: 'fd00::2' })).toEqual({
      annotations: { 'vip.capi.gorizond.io/ingress-vip': 'fd00::2' },
      labels: { [carriesLabel('FD00:0::2')]: '' },
    });
  });
});
