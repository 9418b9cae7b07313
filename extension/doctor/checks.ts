/**
 * doctor's checks, in the order they run and print. Each is a function of what it needs of `Seen`
 * (read once, by doctor.ts) that returns its findings; the few that need more ask for it themselves
 * (the certificate, the Service, the pool search, the addresses, the move check).
 */
import { CoreV1Api, DiscoveryV1Api, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { Allocator } from '../../shared/allocator/allocator.js';
import { clusterNameOf, hasClusterOwner, isInUse, isOurs } from '../../shared/allocator/claims.js';
import {
  freeAddresses,
  saysFull,
  poolFamily,
  poolRanges,
  rangesOverlap,
  type Candidate,
} from '../../shared/allocator/pools.js';
import { isFreeReserve, samePool } from '../../shared/allocator/reserve.js';
import { answering, SILENT_AFTER_MS } from '../../shared/answering.js';
import { audit } from '../../shared/audit.js';
import { ref } from '../../shared/cluster.js';
import { boundAddresses } from '../../shared/fleet.js';
import { isNotFound, reason } from '../../shared/kube/errors.js';
import type { PoolKind } from '../../shared/kube/gvk.js';
import type { Store } from '../../shared/kube/store.js';
import type { Cluster, ClusterClass, IPAddressClaim, IPPool } from '../../shared/kube/types.js';
import { handlerName, HANDLER_SUFFIX } from '../../shared/protocol.js';
import { heldFor, isQuarantined, quarantinedUntil } from '../../shared/quarantine.js';
import { vipAllocatorSettings } from '../../shared/vip-allocator-variable.js';
import {
  ANNOTATION_ADDRESS_IN_USE,
  LABEL_ADDRESS_IN_USE,
  LABEL_CLUSTER_CLASS,
  LABEL_ROLE,
  SETTINGS_VARIABLE,
} from '../../shared/vip.js';
import { beforeMove } from './move-check.js';

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
  /** Also check what `clusterctl move` would lose or duplicate (move-check.ts). */
  readonly beforeMove?: boolean;
}

export interface ExtensionConfig extends KubernetesObject {
  spec?: {
    clientConfig?: { url?: string; caBundle?: string; service?: { name: string; namespace: string } };
  };
  status?: {
    handlers?: { name: string }[];
    conditions?: { type: string; status: string; message?: string }[];
  };
}

/** What the checks share, read once in `options.namespace` (every namespace when unset). */
export interface Seen {
  readonly kc: KubeConfig;
  /** Claims, pools, Clusters and classes go through the one store; the ExtensionConfig is doctor's alone. */
  readonly store: Store;
  readonly options: DoctorOptions;
  /** Our ExtensionConfig, or why it could not be read. */
  readonly extensionConfig: { readonly found: ExtensionConfig } | { readonly error: unknown };
  /** The ClusterClasses that list our GeneratePatches handler. */
  readonly classes: readonly ClusterClass[];
  readonly clusters: readonly Cluster[];
  /** Every claim, ours or not (the original's unlabelled ones too). */
  readonly claims: readonly IPAddressClaim[];
  /** Every pool of the configured kinds. */
  readonly pools: readonly { readonly kind: PoolKind; readonly pool: IPPool }[];
}

type Check = (seen: Seen) => Finding[] | Promise<Finding[]>;

const finding = (check: string, ok: boolean, subject: string, detail: string): Finding => ({
  check,
  ok,
  subject,
  detail,
});

const INJECT_CA = 'runtime.cluster.x-k8s.io/inject-ca-from-secret';
/** A held claim this long past its time was not released by any replica. */
const OVERDUE_MS = 60_000;

const found = ({ extensionConfig }: Seen): ExtensionConfig | undefined =>
  'found' in extensionConfig ? extensionConfig.found : undefined;

/** RuntimeSDK is on and CAPI discovered our ExtensionConfig. */
function extensionConfigDiscovered(seen: Seen): Finding[] {
  const subject = `ExtensionConfig ${seen.options.extensionConfig}`;
  if ('error' in seen.extensionConfig) {
    const err = seen.extensionConfig.error;
    const missingCrd = !isNotFound(err) || /Unrecognized API version/.test(String(err));
    return [
      finding(
        'extensionconfig',
        false,
        subject,
        missingCrd
          ? `ExtensionConfig is not served (${reason(err)}): is CAPI installed with RuntimeSDK=true?`
          : 'not found: apply the release manifests (it registers the hooks with CAPI)',
      ),
    ];
  }
  const discovered = seen.extensionConfig.found.status?.conditions?.find((c) => c.type === 'Discovered');
  return [
    finding(
      'extensionconfig',
      discovered?.status === 'True',
      subject,
      discovered?.status === 'True'
        ? 'discovered by CAPI'
        : `not discovered: ${discovered?.message ?? 'no Discovered condition (is the CAPI manager running with RuntimeSDK=true?)'}`,
    ),
  ];
}

/** Each of our handlers is registered. */
function handlersRegistered(seen: Seen): Finding[] {
  const ec = found(seen);
  if (!ec) return [];
  const { extensionConfig, handlerPrefix } = seen.options;
  const names = (ec.status?.handlers ?? []).map((h) => h.name);
  return Object.values(HANDLER_SUFFIX).map((suffix) => {
    const want = `${handlerName(handlerPrefix, suffix)}.${extensionConfig}`;
    // BeforeClusterDelete is registered only while --reuse-grace is above 0.
    const optional = suffix === HANDLER_SUFFIX.beforeClusterDelete;
    return finding(
      'handlers',
      names.includes(want) || optional,
      want,
      names.includes(want)
        ? 'registered'
        : optional
          ? "not registered (--reuse-grace=0): a deleted Cluster's VIP goes straight back to its pool"
          : `not registered; CAPI lists: ${names.join(', ') || 'none'}`,
    );
  });
}

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
  return finding(
    'certificate',
    ok,
    where,
    `${cert.subject.replace(/\n/g, ', ')}; valid until ${new Date(cert.validTo).toISOString()} (${Math.floor(left)} days)${ok ? '' : left <= 0 ? ': EXPIRED' : `: expires within ${warnDays} days`}`,
  );
}

/** The serving certificate is valid for a while yet: from the injected Secret, else from the URL itself. */
async function servingCertificate(seen: Seen): Promise<Finding[]> {
  const ec = found(seen);
  if (!ec) return [];
  const { kc, options } = seen;
  try {
    const secretRef = ec.metadata?.annotations?.[INJECT_CA];
    if (secretRef) {
      const [ns, name] = secretRef.split('/');
      const secret = await kc
        .makeApiClient(CoreV1Api)
        .readNamespacedSecret({ namespace: ns ?? '', name: name ?? '' });
      const pem = Buffer.from(secret.data?.['tls.crt'] ?? '', 'base64');
      return [certFinding(new X509Certificate(pem), `Secret ${secretRef}`, options.certWarnDays)];
    }
    const url = ec.spec?.clientConfig?.url;
    if (!url) return [];
    const caBundle = ec.spec?.clientConfig?.caBundle;
    const ca = caBundle ? Buffer.from(caBundle, 'base64').toString() : undefined;
    return [certFinding(await peerCertificate(url, ca), url, options.certWarnDays)];
  } catch (err) {
    return [
      finding(
        'certificate',
        false,
        `ExtensionConfig ${options.extensionConfig}`,
        `could not read the serving certificate: ${reason(err)}`,
      ),
    ];
  }
}

/**
 * The Service CAPI calls, when the ExtensionConfig names one: it exists, and a replica is ready
 * behind it (CAPI's "connection refused" names neither).
 */
async function serviceReady(seen: Seen): Promise<Finding[]> {
  const service = found(seen)?.spec?.clientConfig?.service;
  if (!service) return [];
  const { kc } = seen;
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
    return [
      finding(
        'service',
        ready > 0,
        subject,
        ready > 0
          ? `${ready} ready endpoint(s)`
          : `no ready endpoint: no replica answers CAPI (kubectl get pods -n ${service.namespace})`,
      ),
    ];
  } catch (err) {
    return [
      finding(
        'service',
        false,
        subject,
        isNotFound(err)
          ? `the ExtensionConfig calls this Service, which does not exist: apply the release manifests or fix spec.clientConfig.service`
          : `could not read it: ${reason(err)}`,
      ),
    ];
  }
}

const describePools = (ranked: Candidate[]): string =>
  ranked
    .map(
      (c) =>
        `${c.kind.kind} ${c.pool.metadata.name} (${poolFamily(c.pool) ?? '?'}): ` +
        `${freeAddresses(c.pool) ?? '?'} free of ${c.pool.status?.ipAddresses?.total ?? '?'}`,
    )
    .join('; ');

/** Pools, with free addresses, for every class of ours; the ingress VIP's pools, which are optional. */
async function classPools({ store, options, classes }: Seen): Promise<Finding[]> {
  const allocator = new Allocator(store, { poolKinds: options.poolKinds });
  const findings: Finding[] = [];
  for (const cc of classes) {
    const subject = `ClusterClass ${cc.metadata.namespace}/${cc.metadata.name}`;
    const [cp, ingress] = await Promise.all(
      (['control-plane', 'ingress'] as const).map((role) =>
        allocator.search(cc.metadata.namespace, cc.metadata.name, role),
      ),
    );
    const free = (cp?.ranked ?? []).reduce((n, c) => n + (freeAddresses(c.pool) ?? 0), 0);
    findings.push(
      finding(
        'pools',
        (cp?.ranked.length ?? 0) > 0 && free > 0,
        subject,
        cp?.ranked.length
          ? describePools(cp.ranked)
          : allocator.noPoolMessage(cp?.searched ?? '', cc.metadata.name, 'control-plane'),
      ),
      // No ingress pool is not a problem, only worth knowing.
      finding(
        'ingress-pools',
        true,
        subject,
        ingress?.ranked.length
          ? describePools(ingress.ranked)
          : 'none: Clusters of this class get no ingress VIP',
      ),
    );
  }
  return findings;
}

/** No class's Clusters ask for an announcer its control-plane kind has no profile for. */
function announcerProfiles({ options, classes, clusters }: Seen): Finding[] {
  return classes.flatMap((cc) => {
    const kind = cc.spec?.controlPlane?.templateRef?.kind ?? cc.spec?.controlPlane?.ref?.kind ?? '';
    if (options.announcerKinds.includes(kind)) return [];
    const asking = clusters.filter(
      (c) =>
        c.metadata.namespace === cc.metadata.namespace &&
        c.spec?.topology?.classRef?.name === cc.metadata.name &&
        vipAllocatorSettings(c)?.announce === true,
    );
    if (asking.length === 0) return [];
    return [
      finding(
        'announcer',
        false,
        `ClusterClass ${cc.metadata.namespace}/${cc.metadata.name}`,
        `${kind} has no VIP announcer profile (supported: ${options.announcerKinds.join(', ')}), but ` +
          `${asking.map((c) => `Cluster ${c.metadata.name}`).join(', ')} set ${SETTINGS_VARIABLE}.announce: true; ` +
          `their topology stops at GeneratePatches until it is false`,
      ),
    ];
  });
}

/** Clusters our hook blocks. */
function blockedClusters({ clusters }: Seen): Finding[] {
  return clusters.flatMap((c) => {
    const cond = c.status?.conditions?.find((x) => x.type === 'TopologyReconciled');
    return cond?.status === 'False' && cond.message?.includes('BeforeClusterCreate')
      ? [finding('clusters', false, `Cluster ${c.metadata.namespace}/${c.metadata.name}`, cond.message)]
      : [];
  });
}

/** Whether each VIP answers (CAPI's RemoteConnectionProbe): silent ones are problems. */
function vipsAnswering({ clusters }: Seen): Finding[] {
  return clusters.flatMap((c) => {
    const state = answering(c);
    if (state.state === 'none') return [];
    const subject = `Cluster ${c.metadata.namespace}/${c.metadata.name}`;
    if (state.state === 'silent')
      return [finding('vip-answering', false, subject, `since ${state.since}: ${state.message}`)];
    return [
      finding(
        'vip-answering',
        true,
        subject,
        state.state === 'answering'
          ? `${state.vip} answers since ${state.since}` +
              (state.seconds !== undefined ? ` (${Math.round(state.seconds)} s after creation)` : '')
          : `${state.vip}: not yet reached by CAPI (the control plane is not up, or came up less than ${SILENT_AFTER_MS / 60_000} min ago)`,
      ),
    ];
  });
}

/** Held VIPs (quarantine before reuse): worth knowing; one held well past its time is a problem. */
function heldClaims({ claims }: Seen): Finding[] {
  return claims.filter(isQuarantined).map((claim) => {
    const until = quarantinedUntil(claim);
    const overdue = until !== undefined && Date.now() - until.getTime() > OVERDUE_MS;
    return finding(
      'quarantine',
      !overdue,
      `IPAddressClaim ${ref(claim)}`,
      overdue
        ? `held past ${until.toISOString()} and not released: is a replica running? (any replica releases held claims, whatever its --reuse-grace)`
        : `keeps its address out of ${claim.spec.poolRef.kind} ${claim.spec.poolRef.name} ${heldFor(claim)}; ` +
            `kubectl delete ipaddressclaim -n ${claim.metadata.namespace} ${claim.metadata.name} releases it now`,
    );
  });
}

/** Addresses a pool hands out that something else answered on: someone must free or exclude them. */
function addressesInUse({ claims }: Seen): Finding[] {
  return claims.filter(isInUse).map((claim) => {
    const seen = claim.metadata.annotations?.[ANNOTATION_ADDRESS_IN_USE] ?? '?';
    return finding(
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
  });
}

/** Orphan claims: ours, without a Cluster owner, whose Cluster does not exist (held ones are not). */
function orphanClaims({ claims, clusters }: Seen): Finding[] {
  const clusterKeys = new Set(clusters.map((c) => `${c.metadata.namespace}/${c.metadata.name}`));
  return claims.flatMap((claim) => {
    if (!isOurs(claim) || hasClusterOwner(claim) || isQuarantined(claim) || isFreeReserve(claim)) return [];
    const clusterName = clusterNameOf(claim);
    if (clusterKeys.has(`${claim.metadata.namespace}/${clusterName ?? ''}`)) return [];
    return [
      finding(
        'claims',
        false,
        `IPAddressClaim ${claim.metadata.namespace}/${claim.metadata.name}`,
        `orphan: no owner, and Cluster ${clusterName ?? '?'} does not exist`,
      ),
    ];
  });
}

/** Reserves of pre-bound claims (--claim-reserve): how many each pool has ready to adopt. */
function reserveSizes({ claims }: Seen): Finding[] {
  const reserves = new Map<string, { ready: number; binding: number }>();
  for (const claim of claims.filter(isFreeReserve)) {
    const subject = `${claim.spec.poolRef.kind} ${claim.spec.poolRef.name} in namespace ${claim.metadata.namespace}`;
    const r = reserves.get(subject) ?? { ready: 0, binding: 0 };
    if (claim.status?.addressRef?.name) r.ready++;
    else r.binding++;
    reserves.set(subject, r);
  }
  return [...reserves].map(([subject, r]) =>
    finding(
      'reserve',
      true,
      subject,
      `${r.ready} reserve claim(s) bound and free to adopt${r.binding ? `, ${r.binding} binding` : ''}; ` +
        'kept only while a replica runs with --claim-reserve',
    ),
  );
}

/** Clusters' claims still waiting for an address. */
const waiting = (claims: readonly IPAddressClaim[]): IPAddressClaim[] =>
  claims.filter(
    (c) => isOurs(c) && !c.status?.addressRef?.name && !c.metadata.deletionTimestamp && !isFreeReserve(c),
  );

const poolOf = (pools: Seen['pools'], claim: IPAddressClaim) =>
  pools.find(
    ({ kind, pool }) =>
      kind.kind === claim.spec.poolRef.kind &&
      pool.metadata.name === claim.spec.poolRef.name &&
      (!pool.metadata.namespace || pool.metadata.namespace === claim.metadata.namespace),
  );

/**
 * Claims waiting on a pool that is gone: the provider never binds them; the Cluster's next
 * BeforeClusterCreate gives each back and claims from a pool that serves it now.
 */
function claimsOnGonePools({ claims, pools }: Seen): Finding[] {
  return waiting(claims)
    .filter((c) => !poolOf(pools, c))
    .map((claim) =>
      finding(
        'claim-pool',
        false,
        `IPAddressClaim ${ref(claim)}`,
        `waits on ${claim.spec.poolRef.kind} ${claim.spec.poolRef.name}, which is gone: its Cluster's next call gives ` +
          'it back and claims from a pool that serves it now (Event VIPPoolGone)',
      ),
    );
}

/**
 * Clusters' claims waiting on a full pool whose reserve holds bound claims: the reserve gives way
 * (Event VIPReserveGaveWay on the pool) while a replica runs with --claim-reserve.
 */
function reservesGivingWay({ claims, pools }: Seen): Finding[] {
  return waiting(claims).flatMap((claim) => {
    const at = poolOf(pools, claim);
    if (!at || !saysFull(at.pool)) return [];
    // A namespaced pool's reserve is in its own namespace; a global pool's in any.
    const held = claims.filter(
      (c) =>
        isFreeReserve(c) &&
        c.status?.addressRef?.name &&
        samePool(c.spec.poolRef, claim.spec.poolRef) &&
        (!at.pool.metadata.namespace || c.metadata.namespace === at.pool.metadata.namespace),
    ).length;
    if (held === 0) return [];
    return [
      finding(
        'reserve',
        false,
        `IPAddressClaim ${ref(claim)}`,
        `waits on full ${claim.spec.poolRef.kind} ${claim.spec.poolRef.name} while its reserve holds ${held} bound ` +
          'claim(s): the leader gives them back to waiting Clusters; still here after a minute, is a replica running with --claim-reserve?',
      ),
    ];
  });
}

/**
 * Pools of ours (labelled for a class or a role) whose addresses overlap: each pool hands out its
 * addresses on its own, so two Clusters could be given one VIP. Found before it happens.
 */
function overlappingPools({ pools }: Seen): Finding[] {
  const labelled = pools
    .filter(({ pool }) =>
      [LABEL_CLUSTER_CLASS, LABEL_ROLE].some((key) => pool.metadata.labels?.[key] !== undefined),
    )
    .map(({ kind, pool }) => ({ name: `${kind.kind} ${ref(pool)}`, ranges: poolRanges(pool) }));
  const findings: Finding[] = [];
  for (const [i, a] of labelled.entries()) {
    for (const b of labelled.slice(i + 1)) {
      const address = rangesOverlap(a.ranges, b.ranges);
      if (address === undefined) continue;
      findings.push(
        finding(
          'overlap',
          false,
          a.name,
          `overlaps ${b.name} from ${address}: both may hand out the same address, to two Clusters; ` +
            'narrow one, or list the shared addresses in excludedAddresses of one',
        ),
      );
    }
  }
  if (findings.length > 0) return findings;
  return [
    finding(
      'overlap',
      true,
      `${labelled.length} pool(s) labelled ${LABEL_CLUSTER_CLASS} or ${LABEL_ROLE}`,
      'no two pools of ours overlap',
    ),
  ];
}

/**
 * The fleet's invariants, as the leader's auditor checks them, on the lists read once (a leaked
 * claim is check claims' orphan).
 */
async function fleetInvariants({ store, options, clusters, claims, pools }: Seen): Promise<Finding[]> {
  const ours = claims.filter(isOurs);
  const violations = audit({
    clusters,
    claims: ours,
    pools: pools.map(({ pool }) => pool),
    addresses: await boundAddresses(store, clusters, ours, options.namespace),
    now: new Date(),
    leakGraceMs: Infinity,
  });
  if (violations.length > 0)
    return violations.map((v) => finding('invariants', false, v.subject, `${v.kind}: ${v.detail}`));
  return [
    finding(
      'invariants',
      true,
      `${clusters.length} Cluster(s)`,
      'no address carried twice; every VIP backed by its claim',
    ),
  ];
}

/** With --before-move: what clusterctl move would lose or duplicate. */
async function beforeClusterctlMove({ kc, store, options }: Seen): Promise<Finding[]> {
  if (!options.beforeMove) return [];
  return (await beforeMove(kc, store, options.poolKinds, options.namespace)).map((f) =>
    finding('before-move', f.ok, f.subject, f.detail),
  );
}

export const CHECKS: readonly Check[] = [
  extensionConfigDiscovered,
  handlersRegistered,
  servingCertificate,
  serviceReady,
  classPools,
  announcerProfiles,
  blockedClusters,
  vipsAnswering,
  heldClaims,
  addressesInUse,
  orphanClaims,
  reserveSizes,
  claimsOnGonePools,
  reservesGivingWay,
  overlappingPools,
  fleetInvariants,
  beforeClusterctlMove,
];
