/**
 * `capi-vip-allocator doctor`: the troubleshooting list as one command against a kubeconfig.
 * Is RuntimeSDK on and our ExtensionConfig discovered; is the serving certificate valid; which
 * pools serve each ClusterClass that uses our patch; which Clusters our hook blocks and why; whether
 * each VIP answers; which VIPs are held in quarantine; which pool addresses were found already in
 * use; which claims are orphans; which of our pools overlap; with --before-move, what clusterctl
 * move would lose. Exit 1 when something is wrong. The checks are in checks.ts.
 */
import { KubernetesObjectApi, type KubeConfig } from '@kubernetes/client-node';
import { KubeStore } from '../../shared/kube/store.js';
import { EXTENSION_CONFIG, typeMeta } from '../../shared/kube/gvk.js';
import { handlerName, HANDLER_SUFFIX } from '../../shared/protocol.js';
import { CHECKS, type DoctorOptions, type ExtensionConfig, type Finding, type Seen } from './checks.js';

/** What the checks share, read once: the ExtensionConfig, then classes, Clusters, claims and pools. */
async function look(kc: KubeConfig, options: DoctorOptions): Promise<Seen> {
  const store = new KubeStore(kc);
  let extensionConfig: Seen['extensionConfig'];
  try {
    extensionConfig = {
      found: await KubernetesObjectApi.makeApiClient(kc).read<ExtensionConfig>({
        ...typeMeta(EXTENSION_CONFIG),
        metadata: { name: options.extensionConfig },
      }),
    };
  } catch (error) {
    extensionConfig = { error };
  }
  const patch = `${handlerName(options.handlerPrefix, HANDLER_SUFFIX.generatePatches)}.`;
  const classes = (await store.listClusterClasses(options.namespace)).filter((cc) =>
    cc.spec?.patches?.some((p) => p.external?.generatePatchesExtension?.startsWith(patch)),
  );
  const clusters = await store.listClusters(options.namespace);
  const claims = await store.listClaims({ namespace: options.namespace, labelled: false });
  // A namespaced kind listed under no namespace ('') is every namespace's pools.
  const pools = (
    await Promise.all(
      options.poolKinds.map(async (kind) =>
        ((await store.listPools(kind, options.namespace ?? ''))?.pools ?? []).map((pool) => ({ kind, pool })),
      ),
    )
  ).flat();
  return { kc, store, options, extensionConfig, classes, clusters, claims, pools };
}

export async function diagnose(kc: KubeConfig, options: DoctorOptions): Promise<Finding[]> {
  const seen = await look(kc, options);
  const findings: Finding[] = [];
  for (const check of CHECKS) findings.push(...(await check(seen)));
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
