/**
 * Section 2 of the bench: bursts of Clusters through our hook, each beside the IPAM-only and
 * CAPI-only floors of its size.
 */
import { CoreV1Api, type KubernetesObject } from '@kubernetes/client-node';
import type { IPAddressClaim } from '../../shared/kube/types.js';
import { apiVersion, IP_ADDRESS_CLAIM } from '../../shared/kube/gvk.js';
import { LABEL_RESERVE } from '../../shared/vip.js';
import { RESERVE_FREE } from '../../shared/allocator/reserve.js';
import type { CpuProfile, Profiler } from '../bench-probes.js';
import { FirstVersions } from '../fixtures/vip.js';
import { log, s, sleep, until } from './common.js';
import { measured, type Phase, type Run } from './plane-sampling.js';
import { RESERVE } from './settings.js';
import { kc, stage, VIP } from './stage.js';

export interface Burst extends Phase {
  /** Of our process, over the phase, when it was profiled. */
  cpuProfile?: CpuProfile;
  allVip: number;
  perCluster: number[];
  duplicates: number;
  bornWithout: number;
}

/** 2. `count` Clusters applied at once through our hook; with `profile`, our process's CPU is profiled meanwhile. */
export async function burst(count: number, profile?: Profiler): Promise<Burst> {
  const ns = `vip-bench-burst-${count}`;
  const { born, firsts, create, seen, stop, objects } = await stage(ns, {
    cidr: '10.96.0.0/22',
    ...(RESERVE ? { reserve: count } : {}),
  });
  if (RESERVE) {
    const t = Date.now();
    await until(
      'reserve claims bound',
      async () => {
        await sleep(1_000);
        const list = await objects.list<IPAddressClaim & KubernetesObject>(
          apiVersion(IP_ADDRESS_CLAIM),
          IP_ADDRESS_CLAIM.kind,
          ns,
          undefined,
          undefined,
          undefined,
          undefined,
          `${LABEL_RESERVE}=${RESERVE_FREE}`,
        );
        return list.items.filter((c) => c.status?.addressRef?.name).length;
      },
      count,
    );
    log(`  ${count} reserve claims bound after ${s(Date.now() - t)} (before the burst, outside its phase)`);
  }
  const names = Array.from({ length: count }, (_, i) => `b-${i}`);
  let created = new Map<string, number>();
  let allVip = 0;
  const phase = await measured(count, async (t0) => {
    await profile?.start();
    created = new Map(await Promise.all(names.map(async (n) => [n, await create(n)] as const)));
    await until('VIPs written', () => names.filter((n) => seen(n, VIP)).length, count);
    allVip = Math.max(...names.map((n) => seen(n, VIP)?.at ?? 0)) - t0;
    await until('InfrastructureClusters born', () => firsts.first.size, count);
    // The watches end here: their events would load the API server while it goes quiet.
    stop();
    return Math.max(...names.map((n) => born(n)?.at ?? 0)) - t0;
  });
  // Over the phase, not the deletes after it.
  const cpuProfile = await profile?.stop();
  const vips = new Map(names.map((n) => [n, seen(n, VIP)?.value]));
  const perCluster = names.map((n) => (seen(n, VIP)?.at ?? 0) - (created.get(n) ?? 0));
  const bornWithout = names.filter((n) => born(n)?.host !== vips.get(n)).length;
  await kc().makeApiClient(CoreV1Api).deleteNamespace({ name: ns });
  return {
    ...phase,
    ...(cpuProfile ? { cpuProfile } : {}),
    allVip,
    perCluster,
    duplicates: count - new Set(vips.values()).size,
    bornWithout,
  };
}

/**
 * The CAPI-only floor: `count` Clusters of a class that does not use us, with hand-set endpoints,
 * until every InfrastructureCluster is born. Our hook is still called and answers at once.
 */
export async function capiFloor(count: number): Promise<Phase> {
  const ns = `vip-bench-capi-${count}`;
  const { firsts, create, stop } = await stage(ns, {});
  const phase = await measured(count, async (t0) => {
    await Promise.all(
      Array.from({ length: count }, (_, i) =>
        create(`f-${i}`, { host: `10.200.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 6443 }),
      ),
    );
    await until('InfrastructureClusters born', () => firsts.first.size, count);
    stop();
    return Math.max(...firsts.at.values()) - t0;
  });
  await kc().makeApiClient(CoreV1Api).deleteNamespace({ name: ns });
  return phase;
}

/** The IPAM-only floor: `count` bare claims created at once against a fresh pool, until all are bound. */
export async function ipamFloor(count: number): Promise<Run> {
  const ns = `vip-bench-ipam-${count}`;
  const { objects, stop } = await stage(ns, { cidr: '10.97.0.0/22' });
  stop();
  const bound = await FirstVersions.start(
    'capd',
    ns,
    { apiVersion: 'ipam.cluster.x-k8s.io/v1beta2', kind: 'IPAddressClaim', plural: 'ipaddressclaims' },
    (o) => Boolean((o as { status?: { addressRef?: { name?: string } } }).status?.addressRef?.name),
  );
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      objects.create({
        apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
        kind: 'IPAddressClaim',
        metadata: { name: `claim-${i}`, namespace: ns },
        spec: { poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'bench' } },
      }),
    ),
  );
  await until('claims bound', () => bound.first.size, count);
  const all = Math.max(...bound.at.values()) - t0;
  bound.stop();
  await kc().makeApiClient(CoreV1Api).deleteNamespace({ name: ns });
  return { count, all };
}
