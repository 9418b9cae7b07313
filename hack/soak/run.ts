/**
 * The randomized fleet soak (issue 23): a seeded schedule of Cluster creates and deletes (names
 * re-used), pool edits, reserves turned on and off, replicas killed, the IPAM provider frozen, the
 * API server restarted and `--reuse-grace` rolled, on the real local plane with two replicas of our
 * process. After every operation the fleet is audited (shared/audit.ts): no address carried by two
 * Clusters, every VIP backed by its claim, no claim leaked. Once the faults stop, every Cluster must
 * carry its VIP, born into its InfrastructureCluster, within a bound; once every Cluster is deleted
 * and the grace is over, no claim of ours may be left.
 *
 * `npm run soak` runs it long (hack/soak.ts); `npm test` runs it short (test/soak/).
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { audit, ViolationTracker, type Violation } from '../../shared/audit.js';
import type { Cluster } from '../../shared/kube/types.js';
import {
  ANNOTATION_CONTROL_PLANE_VIP,
  ANNOTATION_QUARANTINED_UNTIL,
  LABEL_QUARANTINE,
  LABEL_RESERVE,
} from '../../shared/vip.js';
import { BUNDLE, CACHE_DIR, ROOT, type Log } from '../control-plane/paths.js';
import { restart } from '../control-plane/plane.js';
import { eventually } from '../fixtures/kube.js';
import { condition, createCluster, deleteCluster } from '../fixtures/vip.js';
import { pauseIpam, Replicas } from './faults.js';
import { CLASS, Fleet, HAND_SET, LEAK_GRACE_MS, poolName, rangeOf } from './fleet.js';
import { OP_TYPES, pick, schedule, type Op, type OpType } from './schedule.js';

export interface SoakOptions {
  readonly seed: number;
  readonly steps: number;
  /** Operation types left out (SOAK_SKIP), to look past a bug already found. */
  readonly skip?: readonly OpType[];
  readonly log: Log;
  /** How long, once faults stop, every Cluster has to carry its VIP (and, later, to be deleted). */
  readonly boundSeconds?: number;
  /** Aborted (Ctrl-C): the soak stops after the operation under way and cleans up. */
  readonly signal?: AbortSignal;
}

export interface SoakReport {
  readonly seed: number;
  readonly steps: number;
  readonly skip: readonly OpType[];
  readonly namespaces: readonly string[];
  /** What ran: the bundle's hash (the replicas run it) and the tree it was built in. */
  readonly product: { readonly bundle: string; readonly tree: string };
  readonly startedAt: string;
  seconds: number;
  /** Operations that ran, and that found nothing to do (a full namespace, no Cluster to delete), by type. */
  readonly operations: Record<OpType, { ran: number; skipped: number }>;
  readonly faults: Record<string, number>;
  /** Clusters created once the faults stopped, filling each namespace to its most. */
  lastWave: number;
  readonly checks: {
    /** Looks at the whole fleet through `audit` (each checks all three invariants). */
    audits: number;
    /** Clusters those looks covered, summed. */
    clustersAudited: number;
    /** Clusters that had to carry their VIP within the bound once the faults stopped. */
    vipWithinBound: number;
    /** InfrastructureClusters whose first version was seen, and carried the VIP. */
    bornWithVip: number;
    /** Whether every claim of ours was gone after every Cluster's deletion and the grace. */
    noClaimLeft: boolean;
  };
  /** `broken`: a check failed (the product's doing); otherwise an error stopped the soak. */
  failure?: { step: number; operation: string; broken: boolean; message: string };
}

export class SoakFailure extends Error {
  constructor(
    message: string,
    readonly report: SoakReport,
  ) {
    super(message);
  }
}

/** Clusters per namespace at most, and the names they take (re-used once their holder is gone). */
const NAMES = Array.from({ length: 8 }, (_, i) => `c${i}`);
/** A look that shows an unbacked VIP is confirmed by another this much later (see ViolationTracker). */
const CONFIRM_MS = 3_000;
const DEFAULT_BOUND_SECONDS = 180;
const quiet = (): void => undefined;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;
const carries = (c: Cluster): string | undefined => c.metadata.annotations?.[ANNOTATION_CONTROL_PLANE_VIP];
const name = (c: Cluster): string => `${c.metadata.namespace}/${c.metadata.name}`;
const said = (c: Cluster): string => {
  const reconciled = condition(c, 'TopologyReconciled');
  return reconciled ? `${reconciled.reason ?? ''}: ${reconciled.message ?? ''}` : 'no TopologyReconciled yet';
};

/** Where the soak writes its report (and, on failure, each replica's output). */
export const SOAK_DIR = path.join(CACHE_DIR, 'soak');

/** The report as lines: operations by type, faults, checks. */
function summary(report: SoakReport): string[] {
  const ops = OP_TYPES.filter((t) => report.operations[t].ran + report.operations[t].skipped > 0).map(
    (t) =>
      `${t} ${report.operations[t].ran}${report.operations[t].skipped ? ` (+${report.operations[t].skipped} skipped)` : ''}`,
  );
  const faults = Object.entries(report.faults).map(([what, n]) => `${what} ${n}`);
  const c = report.checks;
  return [
    `soak seed ${report.seed}: ${report.failure ? 'FAILED' : 'passed'} in ${report.seconds}s (bundle ${report.product.bundle}, tree ${report.product.tree})`,
    `  operations: ${ops.join(', ') || 'none'}; then a last wave of ${report.lastWave} Clusters`,
    `  faults: ${faults.join(', ') || 'none'}`,
    `  checks: ${c.audits} audits of the fleet (${c.clustersAudited} Cluster looks); ${c.vipWithinBound} Clusters with their VIP ` +
      `within the bound, ${c.bornWithVip} born into their InfrastructureCluster; no claim left: ${c.noClaimLeft ? 'yes' : 'not reached'}`,
  ];
}

/** The product under test, so a report is never read against another build. */
async function product(): Promise<SoakReport['product']> {
  const bundle = createHash('sha256')
    .update(await readFile(BUNDLE))
    .digest('hex')
    .slice(0, 12);
  const described = await execa('git', ['describe', '--always', '--dirty'], { cwd: ROOT, reject: false });
  return { bundle, tree: described.stdout || 'not a git checkout' };
}

/** The plane changed under the soak (another session's doing): the run proves nothing either way. */
class Interfered extends Error {}

/** A check that failed: the product broke its promise (anything else thrown is the harness's or the plane's). */
class Broken extends Error {}

/** Runs the soak; resolves with its report, or rejects with a SoakFailure naming the step and the seed. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const { seed, steps, log } = options;
  const skip = options.skip ?? [];
  const boundMs = (options.boundSeconds ?? DEFAULT_BOUND_SECONDS) * 1000;
  const replay = `SOAK_SEED=${seed}${skip.length ? ` SOAK_SKIP=${skip.join(',')}` : ''}`;
  const ops = schedule(seed, steps, skip);
  const build = await product();
  log(
    `soak: seed ${seed} (replay with ${replay}), ${steps} operations, bundle ${build.bundle} of tree ${build.tree}`,
  );
  const started = Date.now();
  const fleet = await Fleet.create(seed.toString(36));
  const report: SoakReport = {
    seed,
    steps,
    skip,
    namespaces: fleet.namespaces,
    product: build,
    startedAt: new Date(started).toISOString(),
    seconds: 0,
    operations: Object.fromEntries(
      OP_TYPES.map((t) => [t, { ran: 0, skipped: 0 }]),
    ) as SoakReport['operations'],
    faults: {},
    lastWave: 0,
    checks: { audits: 0, clustersAudited: 0, vipWithinBound: 0, bornWithVip: 0, noClaimLeft: false },
  };
  const fault = (what: string): void => void (report.faults[what] = (report.faults[what] ?? 0) + 1);

  const tracker = new ViolationTracker({ duplicate: 0, unbacked: CONFIRM_MS, leaked: LEAK_GRACE_MS });
  // Faults that end later (a replica's restart, the provider's thaw) run beside the next operations.
  const background = new Set<Promise<void>>();
  const backgroundErrors: string[] = [];
  const later = (what: string, work: Promise<void>): void => {
    const p = work.catch((err: unknown) => void backgroundErrors.push(`${what}: ${String(err)}`));
    background.add(p);
    void p.finally(() => background.delete(p));
  };
  let ipamPaused = false;
  let step = 0;
  let current = 'setting up';
  const line = (text: string): void =>
    log(`[soak ${step}/${steps} +${seconds(Date.now() - started)}] ${text}`);

  let replicas: Replicas | undefined;

  /** Audits the fleet; an unbacked VIP is looked at again to tell it from a change caught half made. */
  async function check(): Promise<string> {
    for (;;) {
      const input = await eventually('a look at the fleet', () => fleet.look(), 120_000);
      report.checks.audits++;
      report.checks.clustersAudited += input.clusters.length;
      const { standing, pending } = tracker.update(audit(input), Date.now());
      if (standing.length) throw new Broken(describe(standing));
      if (!pending.some((v) => v.kind === 'unbacked')) {
        return `${input.clusters.length} Clusters, ${input.claims.length} claims: invariants hold`;
      }
      await sleep(CONFIRM_MS);
    }
  }

  const describe = (violations: readonly Violation[]): string =>
    violations.map((v) => `${v.kind}: ${v.detail}`).join('; ');

  async function perform(op: Op): Promise<string | { skipped: string }> {
    const [d0 = 0, d1 = 0, d2 = 0, d3 = 0] = op.draws;
    const [a, b] = fleet.namespaces;
    switch (op.type) {
      case 'create': {
        const ns = pick(d0, fleet.namespaces) ?? a;
        const all = await fleet.clusters();
        const here = all.filter((c) => c.metadata.namespace === ns);
        const free = NAMES.filter((n) => !here.some((c) => c.metadata.name === n));
        const cluster = pick(d1, free);
        if (!cluster) return { skipped: `${ns} holds ${here.length} Clusters, its most` };
        // Not one another Cluster was given: its annotation comes only once the hook has run.
        const taken = new Set(all.flatMap((c) => [carries(c), c.spec?.controlPlaneEndpoint?.host]));
        const host = d2 < 0.15 ? HAND_SET.find((h) => !taken.has(h)) : undefined;
        await createCluster(ns, cluster, CLASS, host ? { host, port: 6443 } : undefined);
        return `Cluster ${ns}/${cluster}${host ? ` with a hand-set endpoint ${host}` : ''}`;
      }
      case 'delete': {
        const ns = pick(d0, fleet.namespaces) ?? a;
        const live = (await fleet.clusters(ns)).filter((c) => !c.metadata.deletionTimestamp);
        const cluster = pick(d1, live);
        if (!cluster) return { skipped: `no Cluster to delete in ${ns}` };
        await deleteCluster(ns, cluster.metadata.name);
        return `deleted Cluster ${name(cluster)}${carries(cluster) ? ` (VIP ${carries(cluster) ?? ''})` : ' (no VIP yet)'}`;
      }
      case 'pool-shrink':
      case 'pool-grow': {
        const plan = pick(
          d0,
          ['a', 'b', 'global'].map((l) => fleet.pool(l)),
        );
        if (!plan || !(await fleet.readPool(plan))) return { skipped: 'the pool is deleted' };
        const size =
          op.type === 'pool-shrink'
            ? Math.max(1, Math.floor(plan.size * (0.2 + 0.6 * d1)))
            : Math.min(plan.max, plan.size + 1 + Math.floor(d1 * (plan.max - plan.size)));
        if (size === plan.size) return { skipped: `${poolName(plan)} is already ${size} addresses` };
        const was = rangeOf(plan);
        plan.size = size;
        await fleet.patchPool(plan);
        return `${poolName(plan)} ${was} → ${rangeOf(plan)}`;
      }
      case 'pool-overlap': {
        const plan = fleet.pool('overlap');
        const live = await fleet.readPool(plan);
        if (!live) {
          await fleet.createPool(plan);
          return `created ${poolName(plan)} over ${rangeOf(plan)}, ${poolName(fleet.pool('a'))}'s part`;
        }
        if (live.metadata.deletionTimestamp) return { skipped: `${poolName(plan)} is still being deleted` };
        await fleet.deletePool(plan);
        return `deleted ${poolName(plan)}`;
      }
      case 'pool-recreate': {
        const plan = pick(d0, [fleet.pool('a'), fleet.pool('b')]) ?? fleet.pool('a');
        const live = await fleet.readPool(plan);
        if (live && !live.metadata.deletionTimestamp) await fleet.deletePool(plan);
        // The provider keeps a pool while any of its addresses is in use; half the time an admin
        // takes its finalizer off, and it goes with its addresses still held.
        let forced = false;
        if (!(await fleet.gone(plan, 10_000))) {
          if (d1 < 0.5)
            return `deleted ${poolName(plan)}; the provider keeps it while its addresses are in use`;
          await fleet.dropFinalizers(plan);
          forced = true;
          if (!(await fleet.gone(plan, 15_000))) return { skipped: `${poolName(plan)} did not go` };
        }
        await fleet.createPool(plan);
        return `deleted${forced ? ' (its finalizer taken off by hand, its addresses in use)' : ''} and re-created ${poolName(plan)} (${rangeOf(plan)})`;
      }
      case 'reserve': {
        const plan =
          pick(
            d0,
            ['a', 'b', 'global'].map((l) => fleet.pool(l)),
          ) ?? fleet.pool('a');
        if (!(await fleet.readPool(plan))) return { skipped: `${poolName(plan)} is deleted` };
        plan.reserve =
          d1 < 0.65
            ? {
                size: 1 + Math.floor(d2 * 6),
                ...(plan.namespace ? {} : { namespaces: pick(d3, [[a], [b], [a, b]]) ?? [a] }),
              }
            : undefined;
        await fleet.patchPool(plan);
        return plan.reserve
          ? `${poolName(plan)} keeps a reserve of ${plan.reserve.size}${plan.reserve.namespaces ? ` in ${plan.reserve.namespaces.join(', ')}` : ''}`
          : `${poolName(plan)} keeps no reserve`;
      }
      case 'replica-kill': {
        const index = pick(d0, replicas?.live ?? []);
        if (!replicas || index === undefined) return { skipped: 'no replica is running' };
        const signal = d1 < 0.7 ? 'SIGKILL' : 'SIGTERM';
        const downMs = 1_000 + Math.floor(d2 * 14_000);
        await replicas.kill(index, signal);
        fault(`replica ${signal}`);
        const r = replicas;
        later(
          `replica ${index}'s restart`,
          sleep(downMs).then(() => r.restart(index)),
        );
        return `${signal} replica ${index}; it starts again in ${seconds(downMs)}`;
      }
      case 'ipam-pause': {
        if (ipamPaused) return { skipped: 'the IPAM provider is already frozen' };
        const ms = 3_000 + Math.floor(d0 * 17_000);
        ipamPaused = true;
        fault('IPAM provider frozen');
        later(
          'the IPAM provider pause',
          pauseIpam(ms).finally(() => (ipamPaused = false)),
        );
        return `froze the IPAM provider (SIGSTOP) for ${seconds(ms)}`;
      }
      case 'apiserver-restart': {
        const downtimeMs = 1_000 + Math.floor(d0 * 4_000);
        await restart('kube-apiserver', quiet, { downtimeMs });
        fault('kube-apiserver restart');
        return `restarted the kube-apiserver (down ${seconds(downtimeMs)})`;
      }
      case 'grace-roll': {
        if (!replicas) return { skipped: 'no replicas' };
        const grace = replicas.grace === '15s' ? '0s' : '15s';
        await replicas.roll(grace);
        fault(`rolled to --reuse-grace=${grace}`);
        return `rolled both replicas to --reuse-grace=${grace}, discovered again`;
      }
    }
  }

  /**
   * Once faults stop, a last wave: each namespace filled to its most with new Clusters, so the
   * pools, reserves and quarantine the schedule left are put to use.
   */
  async function lastWave(): Promise<string> {
    const made: string[] = [];
    for (const ns of fleet.namespaces) {
      const here = await fleet.clusters(ns);
      for (const n of NAMES.filter((n) => !here.some((c) => c.metadata.name === n))) {
        await createCluster(ns, n, CLASS);
        made.push(n);
      }
    }
    report.lastWave = made.length;
    return `a last wave of ${made.length} Clusters`;
  }

  /**
   * Room for every Cluster, and no more: the Clusters without a VIP must fit in the addresses that
   * serve them (a free reserve claim's and a held one's counting as free, as the product promises),
   * or the bound proves nothing. When they do not, a namespace's own pool, then the global one, is
   * made again or grown by what is missing, so a Cluster left waiting on a reserve or a quarantine
   * that should give way is still found.
   */
  async function makeRoom(): Promise<string> {
    const grown: string[] = [];
    for (;;) {
      const { waiting, free } = await fleet.room();
      const [a = '', b = ''] = fleet.namespaces;
      const need = (ns: string): number => waiting.get(ns)?.length ?? 0;
      const has = (ns: string): number => free.get(ns)?.size ?? 0;
      const both = new Set([...(free.get(a) ?? []), ...(free.get(b) ?? [])]).size;
      // Hall's condition for two namespaces: each fits, and both fit together.
      const short = fleet.namespaces.find((ns) => need(ns) > has(ns));
      const missing = short ? need(short) - has(short) : need(a) + need(b) - both;
      // Named, so that a Cluster left waiting can be told from the arithmetic that let it in.
      const who = [...waiting].flatMap(([ns, names]) => names.map((n) => `${ns}/${n}`)).join(', ');
      const which = [...new Set([...(free.get(a) ?? []), ...(free.get(b) ?? [])])].join(', ');
      const fit = `${need(a) + need(b)} Clusters without a VIP (${who}), ${both} addresses free to them (${which})`;
      if (missing <= 0) return grown.length ? `${fit} once ${grown.join(', ')}` : fit;
      const own = short === a ? fleet.pool('a') : short === b ? fleet.pool('b') : undefined;
      let grew = false;
      for (const plan of [own, fleet.pool('global')]) {
        if (!plan) continue;
        if (await fleet.readPool(plan)) {
          if (plan.size >= plan.max) continue;
          plan.size = Math.min(plan.max, plan.size + missing);
          await fleet.patchPool(plan);
        } else {
          await fleet.createPool(plan);
        }
        grown.push(`${poolName(plan)} is ${rangeOf(plan)}`);
        grew = true;
        break;
      }
      if (!grew) return `${fit}, and no pool left to grow: some may wait`;
    }
  }

  /** Every live Cluster carries its VIP and has its InfrastructureCluster, born with that VIP. */
  async function everyClusterServed(): Promise<string> {
    const since = Date.now();
    let told = since;
    for (;;) {
      await check();
      const waiting = (await fleet.clusters()).filter((c) => !carries(c) || !c.spec?.infrastructureRef?.name);
      if (waiting.length === 0) break;
      const what = waiting.map((c) => `Cluster ${name(c)} (${said(c)})`).join('; ');
      if (Date.now() - since > boundMs) {
        throw new Broken(`no Cluster waits forever: after ${seconds(boundMs)}, ${what}`);
      }
      // What the stragglers say, now and then: a slow end is told apart from a stuck one.
      if (Date.now() - told >= 30_000) {
        told = Date.now();
        line(`waiting ${seconds(told - since)} for ${waiting.length}: ${what}`);
      }
      await sleep(2_000);
    }
    line(`every Cluster carries its VIP ${seconds(Date.now() - since)} after the faults stopped`);
    const clusters = await fleet.clusters();
    report.checks.vipWithinBound = clusters.length;
    let unseen = 0;
    for (const c of clusters) {
      const infra = c.spec?.infrastructureRef?.name ?? '';
      const firsts = fleet.firsts(c.metadata.namespace);
      // A first version the watch missed (an API server restart as it was made) proves nothing either way.
      if (!firsts?.first.has(infra)) {
        unseen++;
        continue;
      }
      const born = firsts.endpointOf(infra) as { host?: string } | undefined;
      if (born?.host !== carries(c)) {
        throw new Broken(
          `DockerCluster ${c.metadata.namespace}/${infra} was born with endpoint ${JSON.stringify(born)}, not Cluster ${name(c)}'s VIP ${carries(c) ?? ''}`,
        );
      }
      report.checks.bornWithVip++;
    }
    return `${clusters.length} Clusters carry their VIP, ${report.checks.bornWithVip} InfrastructureClusters seen born with it${unseen ? ` (${unseen} first versions unseen)` : ''}`;
  }

  /** Deletes every Cluster and every reserve; then no Cluster may linger and no claim of ours be left. */
  async function nothingLeft(): Promise<string> {
    for (const plan of fleet.pools) {
      plan.reserve = undefined;
      if (await fleet.readPool(plan)) await fleet.patchPool(plan);
    }
    const clusters = await fleet.clusters();
    for (const c of clusters)
      await deleteCluster(c.metadata.namespace, c.metadata.name).catch(() => undefined);
    let lingering: Cluster[] = [];
    await eventually(
      'every Cluster to be deleted',
      async () => ((lingering = await fleet.clusters()).length === 0 ? true : undefined),
      boundMs,
    ).catch(() => {
      throw new Broken(
        `no Cluster waits forever: after ${seconds(boundMs)}, still being deleted: ${lingering.map((c) => `Cluster ${name(c)} (${said(c)})`).join('; ')}`,
      );
    });
    let left: Awaited<ReturnType<Fleet['claims']>> = [];
    // The quarantine counts from each Cluster's end, and the leader looks every few seconds.
    await eventually(
      'every claim of ours to be gone',
      async () => ((left = await fleet.claims()).length === 0 ? true : undefined),
      boundMs,
    ).catch(() => {
      const why = left.map((c) => {
        const labels = c.metadata.labels ?? {};
        const state = labels[LABEL_QUARANTINE]
          ? `held in quarantine ${c.metadata.annotations?.[ANNOTATION_QUARANTINED_UNTIL] ?? '(no until yet)'}`
          : labels[LABEL_RESERVE]
            ? `reserve ${labels[LABEL_RESERVE]}`
            : `owners ${JSON.stringify((c.metadata.ownerReferences ?? []).map((o) => `${o.kind}/${o.name}`))}`;
        return `IPAddressClaim ${c.metadata.namespace}/${c.metadata.name} (${state})`;
      });
      throw new Broken(
        `no address is ever lost: ${seconds(boundMs)} after every Cluster was deleted, ${why.join('; ')}`,
      );
    });
    report.checks.noClaimLeft = true;
    return `${clusters.length} Clusters deleted, no claim of ours left`;
  }

  try {
    replicas = await Replicas.start(log);
    line(
      `fleet ${fleet.namespaces.join(', ')}; pools ${fleet.pools
        .filter((p) => p.label !== 'overlap')
        .map((p) => `${poolName(p)} ${rangeOf(p)}`)
        .join(', ')}; two replicas behind the plane's hook port`,
    );
    for (const op of ops) {
      options.signal?.throwIfAborted();
      step++;
      current = op.type;
      const done = await perform(op);
      if (backgroundErrors.length) throw new Error(backgroundErrors.join('; '));
      const changed = await replicas.planeChanged();
      if (changed)
        throw new Interfered(`${changed} by another process: run the soak again on a plane no one else uses`);
      report.operations[op.type][typeof done === 'string' ? 'ran' : 'skipped']++;
      current = `${op.type}: ${typeof done === 'string' ? done : `skipped, ${done.skipped}`}`;
      line(`${current} · ${await check()}`);
      await sleep(op.pauseMs);
    }
    step = steps;
    current = 'faults stopped';
    await Promise.all(background);
    if (backgroundErrors.length) throw new Error(backgroundErrors.join('; '));
    for (const i of [0, 1]) await replicas.restart(i);
    line(`faults stopped; both replicas run (--reuse-grace=${replicas.grace}); ${await lastWave()}`);
    line(await makeRoom());
    current = 'every Cluster carries its VIP';
    line(await everyClusterServed());
    current = 'every Cluster deleted, no claim left';
    line(await nothingLeft());
    line(
      `passed: ${report.checks.audits} audits of ${report.checks.clustersAudited} Clusters, faults ${JSON.stringify(report.faults)}`,
    );
    return report;
  } catch (err) {
    const interfered = err instanceof Interfered;
    const changed = interfered ? undefined : await replicas?.planeChanged();
    const broken = err instanceof Broken;
    const message =
      `Soak failed at step ${step}/${steps} (${current}): ` +
      `${broken || interfered ? '' : 'not a check but an error (of the harness or the plane): '}${err instanceof Error ? err.message : String(err)}` +
      `${changed ? ` (meanwhile ${changed} by another process: the failure may be its doing)` : ''} — replay with ${replay}`;
    report.failure = { step, operation: current, broken, message };
    log(message);
    throw new SoakFailure(message, report);
  } finally {
    await Promise.all(background);
    await mkdir(SOAK_DIR, { recursive: true });
    if (report.failure && replicas) {
      for (const [i, out] of replicas.output().entries()) {
        await writeFile(path.join(SOAK_DIR, `seed-${seed}-replica-${i}.log`), out);
      }
    }
    await replicas
      ?.stop()
      .catch((err: unknown) => log(`could not put the plane's extension back: ${String(err)}`));
    await fleet.remove();
    report.seconds = Math.round((Date.now() - started) / 1000);
    summary(report).forEach(log);
    const json = JSON.stringify(report, null, 2);
    await writeFile(path.join(SOAK_DIR, `seed-${seed}.json`), json);
    await writeFile(path.join(SOAK_DIR, 'latest.json'), json);
    log(`soak report: ${path.join(SOAK_DIR, `seed-${seed}.json`)}`);
  }
}
