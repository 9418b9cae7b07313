/**
 * `capi-vip-allocator doctor`: the troubleshooting list as one command against a kubeconfig.
 * Is RuntimeSDK on and our ExtensionConfig discovered; is the serving certificate valid; which
 * pools serve each ClusterClass that uses our patch; which Clusters our hook blocks and why; whether
 * each VIP answers; which VIPs are held in quarantine; which pool addresses were found already in
 * use; which claims are orphans; which of our pools overlap; with --before-move, what clusterctl
 * move would lose. Exit 1 when something is wrong.
 */
import {
  CoreV1Api,
  DiscoveryV1Api,
  KubernetesObjectApi,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { handlerName, HANDLER_SUFFIX } from './protocol.js';
import { Allocator } from './allocator/allocator.js';
import { answering, SILENT_AFTER_MS } from './answering.js';
import { clusterNameOf, hasClusterOwner, isInUse, isOurs } from './allocator/claims.js';
import { isFreeReserve, samePool } from './reserve.js';
import { audit } from './audit.js';
import { boundAddresses } from './fleet.js';
import { beforeMove } from './move-check.js';
import { ref } from './cluster.js';
import { heldFor, isQuarantined, quarantinedUntil } from './quarantine.js';
import {
  ANNOTATION_ADDRESS_IN_USE,
  LABEL_ADDRESS_IN_USE,
  LABEL_CLUSTER_CLASS,
  LABEL_ROLE,
  SETTINGS_VARIABLE as VARIABLE,
} from './vip.js';
import {
  freeAddresses,
  poolFamily,
  poolRanges,
  rangesOverlap,
  type Candidate,
  type PoolKind,
} from './allocator/pools.js';
import { KubeStore } from './allocator/store.js';
import type { IPAddressClaim } from './kube/types.js';
import { isNotFound, reason } from './kube/errors.js';
import { EXTENSION_CONFIG, typeMeta } from './kube/gvk.js';

export interface Finding {
  readonly check: string;
  readonly ok: boolean;
  readonly subject: string;
  readonly detail: string;
}

export interface DoctorOptions {
  readonly extensionConfig: string;
  readonly handlerPrefix: string;
  readonly namespace?: string;
  readonly poolKinds: readonly PoolKind[];
  /** A certificate expiring sooner than this is a finding. */
  readonly certWarnDays: number;
  /** Control-plane template kinds with an announcer profile (`vipAllocator.announce`). */
  readonly announcerKinds: readonly string[];
  /** Also check what `clusterctl move` would lose or duplicate (shared/move-check.ts). */
  readonly beforeMove?: boolean;
}

interface ExtensionConfig extends KubernetesObject {
  spec?: {
    clientConfig?: { url?: string; caBundle?: string; service?: { name: string; namespace: string } };
  };
  status?: {
    handlers?: { name: string }[];
    conditions?: { type: string; status: string; message?: string }[];
  };
}

const INJECT_CA = 'runtime.cluster.x-k8s.io/inject-ca-from-secret';
/** A held claim this long past its time was not released by any replica. */
const OVERDUE_MS = 60_000;

function peerCertificate(url: string, ca?: string): Promise<X509Certificate> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      {
        host: u.hostname,
        port: Number(u.port || 443),
        ...(isIP(u.hostname) ? {} : { servername: u.hostname }),
        ca,
        rejectUnauthorized: false,
        timeout: 5000,
      },
      () => {
        const raw = socket.getPeerCertificate().raw;
        socket.end();
        resolve(new X509Certificate(raw));
      },
    );
    socket.on('error', reject);
    socket.on('timeout', () => socket.destroy(new Error(`no TLS answer from ${url} in 5s`)));
  });
}

function certFinding(cert: X509Certificate, where: string, warnDays: number): Finding {
  const left = (new Date(cert.validTo).getTime() - Date.now()) / 86_400_000;
  const ok = left > warnDays && new Date(cert.validFrom).getTime() <= Date.now();
  return {
    check: 'certificate',
    ok,
    subject: where,
    detail: `${cert.subject.replace(/\n/g, ', ')}; valid until ${new Date(cert.validTo).toISOString()} (${Math.floor(left)} days)${ok ? '' : left <= 0 ? ': EXPIRED' : `: expires within ${warnDays} days`}`,
  };
}

export async function diagnose(kc: KubeConfig, options: DoctorOptions): Promise<Finding[]> {
  // Claims, pools, Clusters and classes through the one store; the ExtensionConfig and its CA
  // Secret are doctor's alone.
  const store = new KubeStore(kc);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const findings: Finding[] = [];
  const add = (check: string, ok: boolean, subject: string, detail: string): void =>
    void findings.push({ check, ok, subject, detail });

  // 1. RuntimeSDK and our ExtensionConfig.
  let ec: ExtensionConfig | undefined;
  try {
    ec = await objects.read<ExtensionConfig>({
      ...typeMeta(EXTENSION_CONFIG),
      metadata: { name: options.extensionConfig },
    });
  } catch (err) {
    const missingCrd = !isNotFound(err) || /Unrecognized API version/.test(String(err));
    add(
      'extensionconfig',
      false,
      `ExtensionConfig ${options.extensionConfig}`,
      missingCrd
        ? `ExtensionConfig is not served (${reason(err)}): is CAPI installed with RuntimeSDK=true?`
        : 'not found: apply the release manifests (it registers the hooks with CAPI)',
    );
  }
  if (ec) {
    const discovered = ec.status?.conditions?.find((c) => c.type === 'Discovered');
    add(
      'extensionconfig',
      discovered?.status === 'True',
      `ExtensionConfig ${options.extensionConfig}`,
      discovered?.status === 'True'
        ? 'discovered by CAPI'
        : `not discovered: ${discovered?.message ?? 'no Discovered condition (is the CAPI manager running with RuntimeSDK=true?)'}`,
    );
    const names = (ec.status?.handlers ?? []).map((h) => h.name);
    for (const suffix of Object.values(HANDLER_SUFFIX)) {
      const want = `${handlerName(options.handlerPrefix, suffix)}.${options.extensionConfig}`;
      // BeforeClusterDelete is registered only while --reuse-grace is above 0.
      const optional = suffix === HANDLER_SUFFIX.beforeClusterDelete;
      add(
        'handlers',
        names.includes(want) || optional,
        want,
        names.includes(want)
          ? 'registered'
          : optional
            ? "not registered (--reuse-grace=0): a deleted Cluster's VIP goes straight back to its pool"
            : `not registered; CAPI lists: ${names.join(', ') || 'none'}`,
      );
    }

    // 2. The serving certificate: from the injected Secret, else from the URL itself.
    try {
      const secretRef = ec.metadata?.annotations?.[INJECT_CA];
      if (secretRef) {
        const [ns, name] = secretRef.split('/');
        const secret = await kc
          .makeApiClient(CoreV1Api)
          .readNamespacedSecret({ namespace: ns ?? '', name: name ?? '' });
        const pem = Buffer.from(secret.data?.['tls.crt'] ?? '', 'base64');
        findings.push(certFinding(new X509Certificate(pem), `Secret ${secretRef}`, options.certWarnDays));
      } else if (ec.spec?.clientConfig?.url) {
        const ca = ec.spec.clientConfig.caBundle
          ? Buffer.from(ec.spec.clientConfig.caBundle, 'base64').toString()
          : undefined;
        findings.push(
          certFinding(
            await peerCertificate(ec.spec.clientConfig.url, ca),
            ec.spec.clientConfig.url,
            options.certWarnDays,
          ),
        );
      }
    } catch (err) {
      add(
        'certificate',
        false,
        `ExtensionConfig ${options.extensionConfig}`,
        `could not read the serving certificate: ${reason(err)}`,
      );
    }
  }

  // 2b. The Service CAPI calls, when the ExtensionConfig names one: it exists, and a replica is
  // ready behind it (CAPI's "connection refused" names neither).
  const service = ec?.spec?.clientConfig?.service;
  if (service) {
    const subject = `Service ${service.namespace}/${service.name}`;
    try {
      await kc.makeApiClient(CoreV1Api).readNamespacedService(service);
      const slices = await kc.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({
        namespace: service.namespace,
        labelSelector: `kubernetes.io/service-name=${service.name}`,
      });
      const ready = slices.items
        .flatMap((s) => s.endpoints ?? [])
        .filter((e) => e.conditions?.ready !== false && e.conditions?.terminating !== true).length;
      add(
        'service',
        ready > 0,
        subject,
        ready > 0
          ? `${ready} ready endpoint(s)`
          : `no ready endpoint: no replica answers CAPI (kubectl get pods -n ${service.namespace})`,
      );
    } catch (err) {
      add(
        'service',
        false,
        subject,
        isNotFound(err)
          ? `the ExtensionConfig calls this Service, which does not exist: apply the release manifests or fix spec.clientConfig.service`
          : `could not read it: ${reason(err)}`,
      );
    }
  }

  // 3. Pools for every ClusterClass that lists our GeneratePatches handler.
  const allocator = new Allocator(store, { poolKinds: options.poolKinds });
  const classes = await store.listClusterClasses(options.namespace);
  const ours = classes.filter((cc) =>
    cc.spec?.patches?.some((p) =>
      p.external?.generatePatchesExtension?.startsWith(
        `${handlerName(options.handlerPrefix, HANDLER_SUFFIX.generatePatches)}.`,
      ),
    ),
  );
  const describe = (ranked: Candidate[]): string =>
    ranked
      .map(
        (c) =>
          `${c.kind.kind} ${c.pool.metadata.name} (${poolFamily(c.pool) ?? '?'}): ` +
          `${freeAddresses(c.pool) ?? '?'} free of ${c.pool.status?.ipAddresses?.total ?? '?'}`,
      )
      .join('; ');
  for (const cc of ours) {
    const subject = `ClusterClass ${cc.metadata.namespace}/${cc.metadata.name}`;
    const [cp, ingress] = await Promise.all(
      (['control-plane', 'ingress'] as const).map((role) =>
        allocator.search(cc.metadata.namespace, cc.metadata.name, role),
      ),
    );
    const free = (cp?.ranked ?? []).reduce((n, c) => n + (freeAddresses(c.pool) ?? 0), 0);
    add(
      'pools',
      (cp?.ranked.length ?? 0) > 0 && free > 0,
      subject,
      cp?.ranked.length
        ? describe(cp.ranked)
        : allocator.noPoolMessage(cp?.searched ?? '', cc.metadata.name, 'control-plane'),
    );
    // The ingress VIP is optional: no pool is not a problem, only worth knowing.
    add(
      'ingress-pools',
      true,
      subject,
      ingress?.ranked.length ? describe(ingress.ranked) : 'none: Clusters of this class get no ingress VIP',
    );
  }

  const clusters = await store.listClusters(options.namespace);

  // 4. Classes whose Clusters ask for an announcer their control-plane kind has no profile for.
  for (const cc of ours) {
    const kind = cc.spec?.controlPlane?.templateRef?.kind ?? cc.spec?.controlPlane?.ref?.kind ?? '';
    if (options.announcerKinds.includes(kind)) continue;
    const asking = clusters.filter(
      (c) =>
        c.metadata.namespace === cc.metadata.namespace &&
        c.spec?.topology?.classRef?.name === cc.metadata.name &&
        (
          c.spec.topology.variables?.find((v) => v.name === VARIABLE)?.value as
            { announce?: unknown } | undefined
        )?.announce === true,
    );
    if (asking.length === 0) continue;
    add(
      'announcer',
      false,
      `ClusterClass ${cc.metadata.namespace}/${cc.metadata.name}`,
      `${kind} has no VIP announcer profile (supported: ${options.announcerKinds.join(', ')}), but ` +
        `${asking.map((c) => `Cluster ${c.metadata.name}`).join(', ')} set ${VARIABLE}.announce: true; ` +
        `their topology stops at GeneratePatches until it is false`,
    );
  }

  // 5. Clusters our hook blocks.
  for (const c of clusters) {
    const cond = c.status?.conditions?.find((x) => x.type === 'TopologyReconciled');
    if (cond?.status === 'False' && cond.message?.includes('BeforeClusterCreate')) {
      add('clusters', false, `Cluster ${c.metadata.namespace}/${c.metadata.name}`, cond.message);
    }
  }

  // 6. Whether each VIP answers (CAPI's RemoteConnectionProbe): silent ones are problems.
  for (const c of clusters) {
    const state = answering(c);
    if (state.state === 'none') continue;
    const subject = `Cluster ${c.metadata.namespace}/${c.metadata.name}`;
    if (state.state === 'silent')
      add('vip-answering', false, subject, `since ${state.since}: ${state.message}`);
    else
      add(
        'vip-answering',
        true,
        subject,
        state.state === 'answering'
          ? `${state.vip} answers since ${state.since}` +
              (state.seconds !== undefined ? ` (${Math.round(state.seconds)} s after creation)` : '')
          : `${state.vip}: not yet reached by CAPI (the control plane is not up, or came up less than ${SILENT_AFTER_MS / 60_000} min ago)`,
      );
  }

  // 7. Held VIPs (quarantine before reuse): worth knowing; one held well past its time is a problem.
  const claims = await store.listClaims({ namespace: options.namespace, labelled: false });
  for (const claim of claims.filter(isQuarantined)) {
    const until = quarantinedUntil(claim);
    const overdue = until !== undefined && Date.now() - until.getTime() > OVERDUE_MS;
    add(
      'quarantine',
      !overdue,
      `IPAddressClaim ${ref(claim)}`,
      overdue
        ? `held past ${until.toISOString()} and not released: is a replica running? (any replica releases held claims, whatever its --reuse-grace)`
        : `keeps its address out of ${claim.spec.poolRef.kind} ${claim.spec.poolRef.name} ${heldFor(claim)}; ` +
            `kubectl delete ipaddressclaim -n ${claim.metadata.namespace} ${claim.metadata.name} releases it now`,
    );
  }

  // 8. Addresses a pool hands out that something else answered on: someone must free or exclude them.
  for (const claim of claims.filter(isInUse)) {
    const seen = claim.metadata.annotations?.[ANNOTATION_ADDRESS_IN_USE] ?? '?';
    add(
      'address-in-use',
      false,
      `IPAddressClaim ${ref(claim)}`,
      claim.metadata.labels?.[LABEL_ADDRESS_IN_USE] === 'duplicate'
        ? `${claim.spec.poolRef.kind} ${claim.spec.poolRef.name} handed out an address another pool's ` +
            `IPAddress holds (${seen}): the pools overlap (see check overlap); this claim keeps it out of its ` +
            'pool: make the ranges disjoint, then delete the claim'
        : `${claim.spec.poolRef.kind} ${claim.spec.poolRef.name} handed out an address already answering ` +
            `(${seen}); this claim keeps it out of circulation: free the address or exclude it from the pool, ` +
            'then delete the claim',
    );
  }

  // 9. Orphan claims: ours, without a Cluster owner, whose Cluster does not exist (held ones are not).
  const clusterKeys = new Set(clusters.map((c) => `${c.metadata.namespace}/${c.metadata.name}`));
  for (const claim of claims) {
    if (!isOurs(claim) || hasClusterOwner(claim) || isQuarantined(claim) || isFreeReserve(claim)) continue;
    const clusterName = clusterNameOf(claim);
    if (!clusterKeys.has(`${claim.metadata.namespace}/${clusterName ?? ''}`)) {
      add(
        'claims',
        false,
        `IPAddressClaim ${claim.metadata.namespace}/${claim.metadata.name}`,
        `orphan: no owner, and Cluster ${clusterName ?? '?'} does not exist`,
      );
    }
  }
  // 10. Reserves of pre-bound claims (--claim-reserve): how many each pool has ready to adopt.
  const reserves = new Map<string, { ready: number; binding: number }>();
  for (const claim of claims.filter(isFreeReserve)) {
    const subject = `${claim.spec.poolRef.kind} ${claim.spec.poolRef.name} in namespace ${claim.metadata.namespace}`;
    const r = reserves.get(subject) ?? { ready: 0, binding: 0 };
    if (claim.status?.addressRef?.name) r.ready++;
    else r.binding++;
    reserves.set(subject, r);
  }
  for (const [subject, r] of reserves) {
    add(
      'reserve',
      true,
      subject,
      `${r.ready} reserve claim(s) bound and free to adopt${r.binding ? `, ${r.binding} binding` : ''}; ` +
        'kept only while a replica runs with --claim-reserve',
    );
  }
  // Every pool of the configured kinds ('' lists a namespaced kind in every namespace).
  const pools = (
    await Promise.all(
      options.poolKinds.map(async (kind) =>
        ((await store.listPools(kind, options.namespace ?? ''))?.pools ?? []).map((pool) => ({ kind, pool })),
      ),
    )
  ).flat();
  const poolOf = (claim: IPAddressClaim) =>
    pools.find(
      ({ kind, pool }) =>
        kind.kind === claim.spec.poolRef.kind &&
        pool.metadata.name === claim.spec.poolRef.name &&
        (!pool.metadata.namespace || pool.metadata.namespace === claim.metadata.namespace),
    );
  const waiting = claims.filter(
    (c) => isOurs(c) && !c.status?.addressRef?.name && !c.metadata.deletionTimestamp && !isFreeReserve(c),
  );
  // 11. Claims waiting on a pool that is gone: the provider never binds them; the Cluster's next
  // BeforeClusterCreate gives each back and claims from a pool that serves it now.
  for (const claim of waiting.filter((c) => !poolOf(c))) {
    add(
      'claim-pool',
      false,
      `IPAddressClaim ${ref(claim)}`,
      `waits on ${claim.spec.poolRef.kind} ${claim.spec.poolRef.name}, which is gone: its Cluster's next call gives ` +
        'it back and claims from a pool that serves it now (Event VIPPoolGone)',
    );
  }
  // 12. Clusters' claims waiting on a full pool whose reserve holds bound claims: the reserve gives
  // way (Event VIPReserveGaveWay on the pool) while a replica runs with --claim-reserve.
  for (const claim of waiting) {
    const found = poolOf(claim);
    if (!found || freeAddresses(found.pool) !== 0) continue;
    // A namespaced pool's reserve is in its own namespace; a global pool's in any.
    const held = claims.filter(
      (c) =>
        isFreeReserve(c) &&
        c.status?.addressRef?.name &&
        samePool(c.spec.poolRef, claim.spec.poolRef) &&
        (!found.pool.metadata.namespace || c.metadata.namespace === found.pool.metadata.namespace),
    ).length;
    if (held === 0) continue;
    add(
      'reserve',
      false,
      `IPAddressClaim ${ref(claim)}`,
      `waits on full ${claim.spec.poolRef.kind} ${claim.spec.poolRef.name} while its reserve holds ${held} bound ` +
        'claim(s): the leader gives them back to waiting Clusters; still here after a minute, is a replica running with --claim-reserve?',
    );
  }
  // 13. Pools of ours (labelled for a class or a role) whose addresses overlap: each pool hands out
  // its addresses on its own, so two Clusters could be given one VIP. Found before it happens.
  const labelled = pools
    .filter(({ pool }) =>
      [LABEL_CLUSTER_CLASS, LABEL_ROLE].some((key) => pool.metadata.labels?.[key] !== undefined),
    )
    .map(({ kind, pool }) => ({ name: `${kind.kind} ${ref(pool)}`, ranges: poolRanges(pool) }));
  let overlaps = 0;
  for (const [i, a] of labelled.entries()) {
    for (const b of labelled.slice(i + 1)) {
      const address = rangesOverlap(a.ranges, b.ranges);
      if (address === undefined) continue;
      overlaps++;
      add(
        'overlap',
        false,
        a.name,
        `overlaps ${b.name} from ${address}: both may hand out the same address, to two Clusters; ` +
          'narrow one, or list the shared addresses in excludedAddresses of one',
      );
    }
  }
  if (overlaps === 0) {
    add(
      'overlap',
      true,
      `${labelled.length} pool(s) labelled ${LABEL_CLUSTER_CLASS} or ${LABEL_ROLE}`,
      'no two pools of ours overlap',
    );
  }
  // 14. The fleet's invariants, as the leader's auditor checks them, on the lists read above (a
  // leaked claim is check claims' orphan).
  const ourClaims = claims.filter(isOurs);
  const violations = audit({
    clusters,
    claims: ourClaims,
    pools: pools.map(({ pool }) => pool),
    addresses: await boundAddresses(store, clusters, ourClaims, options.namespace),
    now: new Date(),
    leakGraceMs: Infinity,
  });
  for (const v of violations) add('invariants', false, v.subject, `${v.kind}: ${v.detail}`);
  if (violations.length === 0) {
    add(
      'invariants',
      true,
      `${clusters.length} Cluster(s)`,
      'no address carried twice; every VIP backed by its claim',
    );
  }
  // 15. Before clusterctl move: what it would lose or duplicate.
  if (options.beforeMove) {
    for (const f of await beforeMove(kc, store, options.poolKinds, options.namespace))
      add('before-move', f.ok, f.subject, f.detail);
  }
  return findings;
}

export function renderTable(findings: readonly Finding[]): string {
  const rows = findings.map((f) => [f.ok ? 'OK' : 'PROBLEM', f.check, f.subject, f.detail]);
  const widths = [7, 16, 48].map((w, i) => Math.max(w, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i < 3 ? c.padEnd(widths[i] ?? 0) : c)).join('  ');
  const problems = findings.filter((f) => !f.ok).length;
  return [
    line(['STATUS', 'CHECK', 'SUBJECT', 'DETAIL']),
    ...rows.map(line),
    '',
    problems ? `${problems} problem(s) found` : 'No problems found',
    '',
  ].join('\n');
}
