/** Section 1 of the bench: time to VIP for one Cluster at a time, through the real CAPI manager. */
import { sleep } from './common.js';
import { INGRESS_VIP, stage, VIP } from './stage.js';

export const SINGLE_RUNS = 20;

export interface Single {
  vip: number[];
  infra: number[];
  /** With an ingress pool: when the ingress VIP was on the Cluster. */
  ingress: number[];
}

/**
 * 1. One Cluster at a time: applied → VIP on the Cluster → InfrastructureCluster born with it;
 * with `ingress`, the class has an ingress pool too.
 */
export async function single(ingress: boolean): Promise<Single> {
  const { born, create, seen, stop } = ingress
    ? await stage('vip-bench-single-ingress', { cidr: '10.98.0.0/26', ingressCidr: '10.97.0.0/26' })
    : await stage('vip-bench-single', { cidr: '10.99.0.0/26' });
  const result: Single = { vip: [], infra: [], ingress: [] };
  for (let i = 0; i < SINGLE_RUNS; i++) {
    const name = `one-${i}`;
    const t0 = await create(name);
    while (!seen(name, VIP)) await sleep(10);
    result.vip.push((seen(name, VIP)?.at ?? 0) - t0);
    while (!born(name)) await sleep(10);
    result.infra.push((born(name)?.at ?? 0) - t0);
    if (ingress) {
      while (!seen(name, INGRESS_VIP)) await sleep(10);
      result.ingress.push((seen(name, INGRESS_VIP)?.at ?? 0) - t0);
    }
  }
  stop();
  return result;
}
