/**
 * Service names on the host, for the plane's node: the CAPI manager runs on the host and calls an
 * ExtensionConfig's Service as `https://<name>.<namespace>.svc:<port>`, so that name must resolve
 * here as cluster DNS resolves it in a Pod. Every Service's ClusterIP is kept in one marked block of
 * /etc/hosts (Go's resolver reads it first), polled every second; the block goes when this stops.
 * Run by `up --node` as a plane component: `node --import tsx service-hosts.ts <kubeconfig> <port>`.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import http from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';

export const HOSTS_FILE = process.env.CONTROL_PLANE_HOSTS_FILE ?? '/etc/hosts';
const BEGIN = '# BEGIN capi-vip-allocator local plane Services';
const END = '# END capi-vip-allocator local plane Services';

/** `hosts` without our block, then the block with `lines` (none: no block at all). */
export function withBlock(hosts: string, lines: readonly string[]): string {
  const outside = hosts.replace(new RegExp(`\\n?${BEGIN}[\\s\\S]*?${END}\\n?`), '\n').replace(/\n+$/, '\n');
  return lines.length === 0 ? outside : `${outside}${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

/** Removes the block (plane `down`, and this process on SIGTERM). */
export async function clearHosts(): Promise<void> {
  const hosts = await readFile(HOSTS_FILE, 'utf8').catch(() => undefined);
  if (hosts?.includes(BEGIN)) await writeFile(HOSTS_FILE, withBlock(hosts, []));
}

async function main(kubeconfig: string, port: number): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  let synced = false;
  let last = '';
  const sync = async (): Promise<void> => {
    const { items } = await core.listServiceForAllNamespaces();
    const lines = items
      .filter((s) => s.spec?.clusterIP && s.spec.clusterIP !== 'None')
      .map((s) => {
        const fqdn = `${s.metadata?.name}.${s.metadata?.namespace}.svc`;
        return `${s.spec?.clusterIP} ${fqdn} ${fqdn}.cluster.local`;
      })
      .sort();
    const wanted = lines.join('\n');
    if (wanted !== last) {
      await writeFile(HOSTS_FILE, withBlock(await readFile(HOSTS_FILE, 'utf8'), lines));
      last = wanted;
    }
    synced = true;
  };
  const loop = async (): Promise<void> => {
    for (;;) {
      await sync().catch((err: unknown) =>
        process.stderr.write(`service-hosts: ${err instanceof Error ? err.message : String(err)}\n`),
      );
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  http
    .createServer((_req, res) => {
      res.statusCode = synced ? 200 : 503;
      res.end(synced ? 'ok' : 'not synced yet');
    })
    .listen(port, '127.0.0.1');
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void clearHosts().finally(() => process.exit(0)));
  }
  await loop();
}

if (process.argv[1]?.endsWith('service-hosts.ts')) {
  const [kubeconfig, port] = process.argv.slice(2);
  if (!kubeconfig || !port) {
    process.stderr.write('usage: service-hosts.ts <kubeconfig> <port>\n');
    process.exit(2);
  }
  void main(kubeconfig, Number(port));
}
