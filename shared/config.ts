import { HOOK_MARGIN_MS, HOOK_TIMEOUT_SECONDS } from './protocol.js';
import { isCidr, type ProbeScope } from './in-use-probe.js';
import { DEFAULT_POOL_KINDS, type PoolKind } from './kube/gvk.js';
import type { LogFormat, LogLevel } from './log.js';

export interface ListenAddress {
  readonly host: string | undefined;
  readonly port: number;
}

export interface Config {
  readonly enableRuntimeExtension: boolean;
  readonly enableReconciler: boolean;
  readonly reportVipAnswering: boolean;
  readonly runtimeExtensionPort: number;
  readonly runtimeExtensionName: string;
  readonly leaderElect: boolean;
  readonly defaultPort: number;
  readonly certDir: string;
  readonly certPollIntervalMs: number;
  readonly kubeconfig: string | undefined;
  /** Port 0 turns the listener off. */
  readonly metricsBindAddress: ListenAddress;
  readonly healthProbeBindAddress: ListenAddress;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly allocationWaitMs: number;
  readonly poolKinds: readonly PoolKind[];
  readonly orphanClaimGraceMs: number;
  readonly deleteOrphanClaims: boolean;
  /** How long a deleted Cluster's VIP is held before its pool may hand it out again; 0: not held. */
  readonly reuseGraceMs: number;
  /** `reuseGraceMs` above 0: deleted Clusters' VIPs are held, and BeforeClusterDelete is served. */
  readonly quarantine: boolean;
  /** How often the leader audits the fleet's invariants (operator/reconcilers/invariants.ts); 0: never. */
  readonly auditIntervalMs: number;
  /** Keep pools' reserves of pre-bound claims and adopt from them (shared/allocator/reserve.ts). */
  readonly claimReserve: boolean;
  /** The Cluster-endpoint admission webhook adopts from the reserve (only with claimReserve). */
  readonly endpointAtCreate: boolean;
  /** Which VIPs are probed before they are published (shared/in-use-probe.ts). */
  readonly probeAddresses: ProbeScope;
  readonly probeTimeoutMs: number;
  readonly leaderElectionNamespace: string;
  readonly leaderElectLeaseDurationMs: number;
  /** After SIGTERM: how long hooks are still answered while /readyz says draining. */
  readonly shutdownDrainMs: number;
  readonly help: boolean;
}

/** A bad command line; the message names the flag. */
export class FlagError extends Error {
  constructor(
    readonly flag: string,
    problem: string,
  ) {
    super(`--${flag}: ${problem}`);
    this.name = 'FlagError';
  }
}

type Parser<T> = (raw: string, flag: string) => T;

const bool: Parser<boolean> = (raw, flag) => {
  if (raw === 'true' || raw === '') return true;
  if (raw === 'false') return false;
  throw new FlagError(flag, `"${raw}" is not true or false`);
};

const int =
  (min: number, max: number): Parser<number> =>
  (raw, flag) => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max)
      throw new FlagError(flag, `"${raw}" is not an integer in ${min}..${max}`);
    return n;
  };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const dnsLabel: Parser<string> = (raw, flag) => {
  if (!DNS_LABEL.test(raw)) {
    throw new FlagError(
      flag,
      `"${raw}" is not a DNS-1123 label (lowercase letters, digits and "-", at most 63, no dots)`,
    );
  }
  return raw;
};

const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw, flag) => {
    if (!(values as string[]).includes(raw))
      throw new FlagError(flag, `"${raw}" is not one of ${values.join(', ')}`);
    return raw as T;
  };

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** Go-style durations: `500ms`, `5s`, `1m`, `1.5s`, and `0` as Go takes it. */
const duration: Parser<number> = (raw, flag) => {
  if (raw === '0') return 0;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(raw);
  if (!m) throw new FlagError(flag, `"${raw}" is not a duration such as 500ms, 5s or 1m`);
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1000));
};

const address: Parser<ListenAddress> = (raw, flag) => {
  if (raw === '0') return { host: undefined, port: 0 };
  const m = /^(.*):(\d+)$/.exec(raw);
  if (!m) throw new FlagError(flag, `"${raw}" is not [host]:port (or 0 to turn it off)`);
  return { host: m[1] || undefined, port: int(0, 65535)(m[2] ?? '', flag) };
};

const text: Parser<string> = (raw) => raw;

/** `all`, `none`, or CIDRs such as `10.0.0.0/8,fd00::/64`. */
const probeScope: Parser<ProbeScope> = (raw, flag) => {
  if (raw === 'all' || raw === 'none') return raw;
  const cidrs = raw.split(',').map((c) => c.trim());
  const bad = cidrs.find((c) => !isCidr(c));
  if (bad !== undefined)
    throw new FlagError(flag, `"${bad}" is not a CIDR such as 10.0.0.0/24 (or use all, none)`);
  return cidrs;
};

/** `Kind.version.group`, comma-separated, in search order: e.g. `InClusterIPPool.v1alpha2.ipam.cluster.x-k8s.io`. */
const poolKinds: Parser<PoolKind[]> = (raw, flag) =>
  raw.split(',').map((entry) => {
    const m = /^([A-Z][A-Za-z0-9]*)\.(v\d+(?:(?:alpha|beta)\d+)?)\.([a-z0-9.-]+)$/.exec(entry.trim());
    if (!m)
      throw new FlagError(
        flag,
        `"${entry}" is not Kind.version.group (e.g. InClusterIPPool.v1alpha2.ipam.cluster.x-k8s.io)`,
      );
    return { kind: m[1] ?? '', apiVersion: `${m[3] ?? ''}/${m[2] ?? ''}` };
  });

interface FlagSpec<T> {
  readonly parse: Parser<T>;
  readonly default: string;
  readonly help: string;
}

const flag = <T>(parse: Parser<T>, dflt: string, help: string): FlagSpec<T> => ({
  parse,
  default: dflt,
  help,
});

type FlagTable = Record<string, FlagSpec<unknown>>;

/** `--${name}` of every flag of a table, with its help and default. */
function usageOf(table: FlagTable, title: string, short: Record<string, string> = {}): string {
  const alias = Object.fromEntries(Object.entries(short).map(([s, long]) => [long, s]));
  const lines = Object.entries(table).map(([name, spec]) => {
    const names = `${alias[name] ? `-${alias[name]}, ` : ''}--${name}`;
    return `  ${names.padEnd(30)} ${spec.help} (default ${JSON.stringify(spec.default)})`;
  });
  return [title, '', 'Flags:', ...lines, ''].join('\n');
}

/**
 * The one flag parser (server and doctor): `--flag=value`, `--flag value`, bare boolean `--flag`
 * and the table's short aliases; throws FlagError naming the flag. Returns a typed reader.
 */
function parseTable<T extends FlagTable>(
  table: T,
  argv: readonly string[],
  short: Record<string, string> = {},
): <K extends keyof T & string>(name: K) => ReturnType<T[K]['parse']> {
  const raw = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const m = /^--?([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new FlagError(arg.replace(/^-+/, ''), `unexpected argument "${arg}"`);
    const name = short[m[1] ?? ''] ?? m[1] ?? '';
    const spec = table[name];
    if (!spec) throw new FlagError(name, 'unknown flag (see --help)');
    let value = m[2];
    if (value === undefined) {
      // Booleans may stand bare (`--leader-elect`).
      if ((spec.parse as unknown) === bool) value = '';
      else if (i + 1 < argv.length) value = argv[++i] ?? '';
      else throw new FlagError(name, 'needs a value');
    }
    raw.set(name, value);
  }
  return (name) => {
    const spec = table[name] as T[typeof name];
    return spec.parse(raw.get(name) ?? spec.default, name) as ReturnType<T[typeof name]['parse']>;
  };
}

const FLAGS = {
  'enable-runtime-extension': flag(bool, 'true', 'Serve the runtime-extension hooks over HTTPS'),
  'enable-reconciler': flag(
    bool,
    'false',
    'The legacy reconciler: also watch Clusters and backfill claim ownerReferences',
  ),
  'report-vip-answering': flag(
    bool,
    'true',
    "Watch Clusters' RemoteConnectionProbe and say when each VIP answers, or stays dark after its control plane is up",
  ),
  'runtime-extension-port': flag(int(1, 65535), '9443', 'HTTPS port of the hook server'),
  'runtime-extension-name': flag(
    dnsLabel,
    'vip-allocator',
    'Prefix of the handler names in discovery (a DNS-1123 label)',
  ),
  'leader-elect': flag(bool, 'false', 'Only the Lease holder reconciles; every replica serves hooks'),
  'default-port': flag(int(1, 65535), '6443', 'Control-plane port written when the Cluster has none'),
  'cert-dir': flag(
    text,
    '/tmp/k8s-webhook-server/serving-certs',
    'Folder with tls.crt and tls.key (reloaded on change)',
  ),
  'cert-poll-interval': flag(duration, '10s', 'How often --cert-dir is checked for a new pair'),
  kubeconfig: flag(text, '', 'Kubeconfig file (default: in-cluster, then KUBECONFIG)'),
  'metrics-bind-address': flag(address, ':8080', 'Address of /metrics ([host]:port, 0 turns it off)'),
  'health-probe-bind-address': flag(
    address,
    ':8081',
    'Address of /healthz and /readyz ([host]:port, 0 turns it off)',
  ),
  'log-level': flag(oneOf<LogLevel>('error', 'warn', 'info', 'debug'), 'info', 'error, warn, info or debug'),
  'log-format': flag(oneOf<LogFormat>('json', 'text'), 'json', 'json or text'),
  'allocation-wait': flag(
    duration,
    '1s',
    `Longest one BeforeClusterCreate call waits for IPAM (under the ${HOOK_TIMEOUT_SECONDS}s hook timeout); a claim still binding then is watched and its VIP written when it binds`,
  ),
  'pool-kinds': flag(
    poolKinds,
    DEFAULT_POOL_KINDS.map((k) => `${k.kind}.${k.apiVersion.split('/').reverse().join('.')}`).join(','),
    'Pool kinds to search, Kind.version.group, comma-separated (namespaced ones first whatever the order)',
  ),
  'orphan-claim-grace': flag(
    duration,
    '10m',
    'How long a claim of ours may wait for its Cluster before it is reported (legacy reconciler)',
  ),
  'delete-orphan-claims': flag(
    bool,
    'false',
    'Delete claims whose Cluster did not appear within the grace period (legacy reconciler)',
  ),
  'reuse-grace': flag(
    duration,
    '5m',
    "How long a deleted Cluster's VIP is held after the Cluster is gone before its pool may hand it out again (0: at once)",
  ),
  'audit-interval': flag(
    duration,
    '1m',
    'How often the leader checks that no address is carried twice and every VIP is backed by its claim (0: never)',
  ),
  'claim-reserve': flag(
    bool,
    'false',
    'Keep a reserve of pre-bound claims for each pool annotated vip.capi.gorizond.io/reserve=N, and adopt from it at once',
  ),
  'endpoint-at-create': flag(
    bool,
    'true',
    "With --claim-reserve: a new Cluster whose class's pool keeps a reserve is created with its endpoint (the mutating webhook at /mutate-cluster-endpoint); off, every Cluster gets it from BeforeClusterCreate",
  ),
  'probe-addresses': flag(
    probeScope,
    'all',
    'VIPs probed before they are published (TCP to the endpoint port, then the ARP/NDP table): all, none, or comma-separated CIDRs',
  ),
  'probe-timeout': flag(duration, '300ms', 'How long the probe of one address waits for an answer'),
  'leader-election-namespace': flag(
    text,
    '',
    'Namespace of the leader-election Lease (default: $POD_NAMESPACE, else default)',
  ),
  'leader-elect-lease-duration': flag(duration, '15s', 'Lease duration; a new leader takes over within it'),
  'shutdown-drain': flag(
    duration,
    '5s',
    `After SIGTERM, how long /readyz answers 503 draining while hooks are still answered; the process exits within this plus ${HOOK_TIMEOUT_SECONDS}s (keep that under terminationGracePeriodSeconds)`,
  ),
  help: flag(bool, 'false', 'Print this help'),
} as const;

export function usage(): string {
  return usageOf(FLAGS, 'Usage: capi-vip-allocator [flags]');
}

export function parseFlags(argv: readonly string[]): Config {
  const get = parseTable(FLAGS, argv);

  const allocationWaitMs = get('allocation-wait');
  if (allocationWaitMs > HOOK_TIMEOUT_SECONDS * 1000 - HOOK_MARGIN_MS) {
    throw new FlagError(
      'allocation-wait',
      `${allocationWaitMs}ms leaves no margin under the ${HOOK_TIMEOUT_SECONDS}s hook timeout; ` +
        `use at most ${HOOK_TIMEOUT_SECONDS * 1000 - HOOK_MARGIN_MS}ms`,
    );
  }
  const kubeconfig = get('kubeconfig');
  const reuseGraceMs = get('reuse-grace');
  return {
    enableRuntimeExtension: get('enable-runtime-extension'),
    enableReconciler: get('enable-reconciler'),
    reportVipAnswering: get('report-vip-answering'),
    runtimeExtensionPort: get('runtime-extension-port'),
    runtimeExtensionName: get('runtime-extension-name'),
    leaderElect: get('leader-elect'),
    defaultPort: get('default-port'),
    certDir: get('cert-dir'),
    certPollIntervalMs: get('cert-poll-interval'),
    kubeconfig: kubeconfig || undefined,
    metricsBindAddress: get('metrics-bind-address'),
    healthProbeBindAddress: get('health-probe-bind-address'),
    logLevel: get('log-level'),
    logFormat: get('log-format'),
    allocationWaitMs,
    poolKinds: get('pool-kinds'),
    orphanClaimGraceMs: get('orphan-claim-grace'),
    deleteOrphanClaims: get('delete-orphan-claims'),
    reuseGraceMs,
    quarantine: reuseGraceMs > 0,
    auditIntervalMs: get('audit-interval'),
    claimReserve: get('claim-reserve'),
    endpointAtCreate: get('endpoint-at-create'),
    probeAddresses: get('probe-addresses'),
    probeTimeoutMs: get('probe-timeout'),
    leaderElectionNamespace: get('leader-election-namespace') || process.env.POD_NAMESPACE || 'default',
    leaderElectLeaseDurationMs: get('leader-elect-lease-duration'),
    shutdownDrainMs: get('shutdown-drain'),
    help: get('help'),
  };
}

/** `capi-vip-allocator doctor`'s flags: the same parser, its own table. */
const DOCTOR_FLAGS = {
  output: flag(oneOf('table', 'json'), 'table', 'table or json'),
  kubeconfig: FLAGS.kubeconfig,
  namespace: flag(text, '', 'Only ClusterClasses, Clusters and claims in this namespace (empty: all)'),
  'extension-config': flag(text, 'vip-allocator', 'Our ExtensionConfig'),
  'runtime-extension-name': FLAGS['runtime-extension-name'],
  'pool-kinds': FLAGS['pool-kinds'],
  'cert-warn-days': flag(int(0, 3650), '14', 'A certificate expiring sooner is a problem'),
  'before-move': flag(
    bool,
    'false',
    'Also check what clusterctl move would lose or duplicate: paused Clusters, unbound or held claims, pools that do not move',
  ),
  help: FLAGS.help,
} as const;
const DOCTOR_SHORT = { o: 'output' };

export interface DoctorConfig {
  readonly output: 'table' | 'json';
  readonly kubeconfig: string | undefined;
  readonly namespace: string | undefined;
  readonly extensionConfig: string;
  readonly handlerPrefix: string;
  readonly poolKinds: readonly PoolKind[];
  readonly certWarnDays: number;
  readonly beforeMove: boolean;
  readonly help: boolean;
}

export function doctorUsage(): string {
  return usageOf(
    DOCTOR_FLAGS,
    'Usage: capi-vip-allocator doctor [flags]\n\nChecks the management cluster of the current kubeconfig and exits 1 when something is wrong.',
    DOCTOR_SHORT,
  );
}

export function parseDoctorFlags(argv: readonly string[]): DoctorConfig {
  const get = parseTable(DOCTOR_FLAGS, argv, DOCTOR_SHORT);
  return {
    output: get('output'),
    kubeconfig: get('kubeconfig') || undefined,
    namespace: get('namespace') || undefined,
    extensionConfig: get('extension-config'),
    handlerPrefix: get('runtime-extension-name'),
    poolKinds: get('pool-kinds'),
    certWarnDays: get('cert-warn-days'),
    beforeMove: get('before-move'),
    help: get('help'),
  };
}
