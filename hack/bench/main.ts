/**
 * `npm run bench`: the numbers users care about, on the local control plane, written to
 * BENCHMARKS.md. Loopback only; every loop is bounded in count.
 *  1. Time to VIP for one Cluster (20 runs), through the real CAPI manager.
 *  2. Bursts of 10 to 500 Clusters, each beside the IPAM-only and CAPI-only floors of its size.
 *     The CAPI floor and ours are each measured from the first create to two end points: every
 *     InfrastructureCluster exists ("topology"), and the API server has used less than 0.15 core
 *     for 6 s ("quiet"). Up to quiet, every request is attributed to its component from the API
 *     server's audit log (hack/audit.ts) and every CPU second to its process (/proc/<pid>/stat);
 *     the largest burst is CPU-profiled.
 *  3. The hook server at concurrency 1, 8, 64 (GeneratePatches; BeforeClusterCreate's fast path).
 *  4. Resident memory: the floor, a legacy-reconciler replica with 10,000 Clusters and claims, the
 *     hook server.
 *  5. The image and the Pod (hack/bench-pod.ts); 6. idle: each controller with nothing to do,
 *     measured first, before any Cluster (idle.ts).
 *
 * Each section is a file of hack/bench/ (time-to-vip.ts, bursts.ts, hook-load.ts, memory.ts);
 * plane-sampling.ts measures the plane around them, report.ts writes BENCHMARKS.md, and this file
 * runs them in order.
 *
 * `BENCH_BURSTS=10,50 npm run bench`: section 2 only, for those sizes, printed (BENCHMARKS.md is not
 * written). `CONTROL_PLANE_NAME=bench` runs it all on a plane of its own (hack/control-plane/paths.ts:
 * its own directory, every port 100 up), beside the one the tests use.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { clockTicks, Profiler, summarize, type ProfileSummary } from '../bench-probes.js';
import { podSection } from '../bench-pod.js';
import { EXTENSION_NAME } from '../control-plane/components.js';
import { upExtension } from '../control-plane/extension.js';
import { BUNDLE, ROOT } from '../control-plane/paths.js';
import { readState, up } from '../control-plane/plane.js';
import { ipamFloor, capiFloor, burst } from './bursts.js';
import { log, s, sleep } from './common.js';
import { hookLoad } from './hook-load.js';
import { idleSection, measureIdle } from './idle.js';
import { memory, rssMiB } from './memory.js';
import { auditLogPath, plane, quiet } from './plane-sampling.js';
import {
  benchReport,
  burstSection,
  perCluster,
  planeCpu,
  quietCell,
  ratio,
  type BurstRow,
} from './report.js';
import { BENCH_RUNS, BURSTS, IDLE_MS, ONLY, PROFILED } from './settings.js';
import { BENCH_KUBECONFIG, writeBenchKubeconfig } from './stage.js';
import { single, SINGLE_RUNS } from './time-to-vip.js';

async function main(): Promise<void> {
  // The plane's kube-apiserver writes its audit log only for the bench (components.ts).
  process.env.CONTROL_PLANE_AUDIT = '1';
  await up(log);
  plane.auditLog = await auditLogPath();
  await writeBenchKubeconfig();
  process.env.KUBECONFIG = BENCH_KUBECONFIG; // hack/fixtures' clients read it
  await upExtension(log);
  const state = await readState();
  plane.procs = (state?.components ?? []).map(({ name, pid }) => ({ name, pid }));
  plane.ticks = await clockTicks();
  const pid = plane.procs.find((c) => c.name === EXTENSION_NAME)?.pid ?? 0;
  await sleep(5_000);
  const hookIdle = rssMiB(pid);
  let hookPeak = 0;
  const sampler = setInterval(() => (hookPeak = Math.max(hookPeak, rssMiB(pid))), 250);

  // Before any Cluster: what each controller costs with nothing to do.
  let idle = '';
  if (!ONLY) {
    log('Idle: each controller with nothing to do');
    await quiet();
    idle = idleSection(await measureIdle(IDLE_MS, plane.auditLog, log));
  }
  log(`1/4 Time to VIP, ${SINGLE_RUNS} Clusters one at a time, without and with an ingress pool`);
  await quiet();
  const one = ONLY ? { vip: [], infra: [], ingress: [] } : await single(false);
  const withIngress = ONLY ? one : await single(true);
  log(`2/4 Bursts of ${BURSTS.join(', ')}: the IPAM-only floor, the CAPI-only floor, then through our hook`);
  const rows: BurstRow[] = [];
  let profile: ProfileSummary | undefined;
  const profiled = Math.min(PROFILED, Math.max(...BURSTS));
  for (const n of BURSTS) {
    await quiet();
    const ipam = await ipamFloor(n);
    log(`  ${n} claims (IPAM alone): all bound after ${s(ipam.all)}`);
    for (let run = 1; run <= BENCH_RUNS; run++) {
      const of = BENCH_RUNS > 1 ? ` (run ${run} of ${BENCH_RUNS})` : '';
      await quiet();
      const capi = await capiFloor(n);
      log(
        `  ${n} Clusters (CAPI alone)${of}: all InfrastructureClusters after ${s(capi.all)}, quiet after ${quietCell(capi)}, ` +
          `plane CPU ${planeCpu(capi).toFixed(1)} s, ${perCluster(capi).toFixed(1)} requests/Cluster`,
      );
      await quiet();
      const profiler = n === profiled && run === 1 ? await Profiler.attach(pid) : undefined;
      const ours = await burst(n, profiler);
      if (profiler) {
        if (ours.cpuProfile) profile = summarize(ours.cpuProfile, `${BUNDLE}.map`);
        await profiler.detach();
      }
      log(
        `  ${n} Clusters (through our hook)${of}: all VIPs after ${s(ours.allVip)}, all InfrastructureClusters after ${s(ours.all)} ` +
          `(${ratio(ours.all, capi.all)} the CAPI floor), quiet after ${quietCell(ours)} (${ratio(ours.quiet, capi.quiet)}), ` +
          `plane CPU ${planeCpu(ours).toFixed(1)} s (${ratio(planeCpu(ours), planeCpu(capi))}), ${perCluster(ours).toFixed(1)} requests/Cluster`,
      );
      rows.push({ ipam, capi, ours, run });
    }
  }
  if (ONLY) {
    process.stdout.write(burstSection(rows, profile, profiled));
    return;
  }
  log('3/4 Hook server under load (the load generator runs in its own process)');
  await quiet();
  const { generatePatches: gpLoad, beforeClusterCreate: bccLoad } = await hookLoad();
  clearInterval(sampler);
  // After the whole bench: what the heap keeps once the young generation has been collected.
  await sleep(10_000);
  const hookAfter = rssMiB(pid);
  const loadEnded = Date.now();
  log('4/4 Memory');
  await quiet();
  const mem = await memory();
  // The hook server took no call in section 4: V8 gives back the young generation it grew after
  // about a minute or two of idle, not within the 10 s above.
  const hookEnd = rssMiB(pid);
  const idleFor = Date.now() - loadEnded;
  const report = benchReport({
    one,
    withIngress,
    rows,
    profile,
    profiled,
    gpLoad,
    bccLoad,
    mem,
    hookIdle,
    hookPeak,
    hookAfter,
    hookEnd,
    idleFor,
  });
  // Last: it runs the image as Pods in place of the host's process, and brings that back after.
  const pod = await podSection(log);
  await writeFile(path.join(ROOT, 'BENCHMARKS.md'), `${report}\n${pod}\n${idle}`);
  process.stdout.write(`${report}\n${pod}\n${idle}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
