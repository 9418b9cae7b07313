import type { Cluster } from './kube/types.js';
import {
  DEFAULT_KUBE_VIP_IMAGE,
  DEFAULT_LEADER_ELECTION,
  readSettings,
  VARIABLE_DEFINITION,
  vipAllocatorSettings,
} from './vip-allocator-variable.js';

describe('readSettings', () => {
  test('an unset variable announces nothing', () => {
    expect(readSettings(undefined, 'ns/c1')).toEqual({
      announce: false,
      kubeVipImage: DEFAULT_KUBE_VIP_IMAGE,
      leaderElection: { leaseDurationSeconds: 5, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 },
      keepalived: {},
    });
  });
  test('takes what the Cluster set', () => {
    expect(
      readSettings(
        {
          announce: true,
          interface: 'ens192',
          kubeVipImage: 'registry.local:5000/kube-vip/kube-vip:v1.0.0',
          keepalived: { virtualRouterID: 7, authPass: 'secret' },
          leaderElection: { leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 },
        },
        'ns/c1',
      ),
    ).toEqual({
      announce: true,
      interface: 'ens192',
      kubeVipImage: 'registry.local:5000/kube-vip/kube-vip:v1.0.0',
      leaderElection: { leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 },
      keepalived: { virtualRouterID: 7, authPass: 'secret' },
    });
  });
  test('leader election: what is not set keeps its default', () => {
    expect(readSettings({ leaderElection: { leaseDurationSeconds: 8 } }, 'ns/c1').leaderElection).toEqual({
      ...DEFAULT_LEADER_ELECTION,
      leaseDurationSeconds: 8,
    });
  });
  test.each([
    [{ interface: 'eth 0' }, 'vipAllocator.interface "eth 0" is not a Linux interface name'],
    [{ interface: 'a-very-long-interface' }, 'vipAllocator.interface'],
    [{ interface: 'eth0/1' }, 'vipAllocator.interface'],
    [
      { kubeVipImage: 'kube vip:latest' },
      'vipAllocator.kubeVipImage "kube vip:latest" is not an image reference',
    ],
    [{ keepalived: { virtualRouterID: 300 } }, 'vipAllocator.keepalived.virtualRouterID 300 is not 1-255'],
    [{ keepalived: { authPass: 'longer-than-8' } }, 'vipAllocator.keepalived.authPass'],
    ['yes', 'vipAllocator must be an object'],
    [
      { leaderElection: { retryPeriodSeconds: 0 } },
      'vipAllocator.leaderElection.retryPeriodSeconds 0 is not 1-300 seconds',
    ],
    [
      { leaderElection: { leaseDurationSeconds: 3 } },
      'vipAllocator.leaderElection.renewDeadlineSeconds (3) must be less than leaseDurationSeconds (3)',
    ],
    [
      { leaderElection: { leaseDurationSeconds: 15, renewDeadlineSeconds: 6, retryPeriodSeconds: 5 } },
      'vipAllocator.leaderElection.renewDeadlineSeconds (6) must exceed 1.2 × retryPeriodSeconds (5)',
    ],
  ])('%j is refused naming the Cluster and the field', (value, message) => {
    expect(() => readSettings(value, 'ns/c1')).toThrow(`Cluster ns/c1: variable ${message}`);
  });
});

test('the definition has the shape both v1beta1 and v1beta2 managers accept', () => {
  expect(VARIABLE_DEFINITION).toMatchObject({
    name: 'vipAllocator',
    required: false,
    schema: { openAPIV3Schema: { type: 'object' } },
  });
  expect(Object.keys(VARIABLE_DEFINITION).sort()).toEqual(['name', 'required', 'schema']);
  const props = VARIABLE_DEFINITION.schema.openAPIV3Schema.properties ?? {};
  expect(props.announce).toMatchObject({ type: 'boolean', default: false });
  expect(props.kubeVipImage).toMatchObject({ type: 'string', default: DEFAULT_KUBE_VIP_IMAGE });
  expect(props.leaderElection?.properties?.leaseDurationSeconds).toMatchObject({
    type: 'integer',
    default: 5,
  });
});

test('vipAllocatorSettings: the value as the Cluster set it; undefined when it set none, or no object', () => {
  const cluster = (value?: unknown): Cluster => ({
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { name: 'c1', namespace: 'ns' },
    spec: { topology: { variables: value === undefined ? [] : [{ name: 'vipAllocator', value }] } },
  });
  expect(vipAllocatorSettings(cluster({ announce: true, interface: 'eth 0' }))).toEqual({
    announce: true,
    interface: 'eth 0',
  });
  expect(vipAllocatorSettings(cluster())).toBeUndefined();
  expect(vipAllocatorSettings(cluster('yes'))).toBeUndefined();
});
