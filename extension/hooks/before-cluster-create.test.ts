import type { Cluster } from '../../shared/kube/types.js';
import { requestedFamilies } from './before-cluster-create.js';

const cluster = (variables?: unknown, annotations?: Record<string, string>): Cluster => ({
  apiVersion: 'cluster.x-k8s.io/v1beta2',
  kind: 'Cluster',
  metadata: { name: 'c1', namespace: 'ns', ...(annotations ? { annotations } : {}) },
  spec: {
    topology: {
      classRef: { name: 'cc' },
      ...(variables ? { variables: [{ name: 'vipAllocator', value: variables }] } : {}),
    },
  },
});

describe('requestedFamilies', () => {
  test('none asked: one address of any family', () => {
    expect(requestedFamilies(cluster())).toEqual([]);
  });
  test('from the variable, else from the annotation', () => {
    expect(requestedFamilies(cluster({ ipFamilies: ['IPv6', 'IPv4'] }))).toEqual(['IPv6', 'IPv4']);
    expect(
      requestedFamilies(cluster(undefined, { 'vip.capi.gorizond.io/ip-families': 'IPv4, IPv6' })),
    ).toEqual(['IPv4', 'IPv6']);
  });
  test.each([[['IPv4', 'IPv4']], [['IPv5']], [['IPv4', 'IPv6', 'IPv4']]])(
    '%j is refused naming the Cluster and the field',
    (families) => {
      expect(() => requestedFamilies(cluster({ ipFamilies: families }))).toThrow(
        'Cluster ns/c1: variable vipAllocator.ipFamilies',
      );
    },
  );
});
