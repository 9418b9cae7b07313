import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PKI_DIR } from './paths.js';

/** A certificate and key pair on disk. */
export interface KeyPair {
  readonly dir: string;
  readonly cert: string;
  readonly key: string;
}

export interface CertRequest {
  readonly commonName: string;
  readonly organization?: string;
  readonly usage: 'ca' | 'server' | 'client';
  readonly sans?: readonly string[];
}

const LOOPBACK_SANS = ['IP:127.0.0.1', 'DNS:localhost'];

function opensslConfig(req: CertRequest): string {
  const ext =
    req.usage === 'ca'
      ? ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign,digitalSignature']
      : [
          'basicConstraints = critical,CA:FALSE',
          'keyUsage = critical,digitalSignature,keyEncipherment',
          `extendedKeyUsage = ${req.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
          ...(req.sans?.length ? [`subjectAltName = ${req.sans.join(',')}`] : []),
        ];
  // An explicit config, so the system openssl.cnf cannot add CA:TRUE to a leaf.
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    `CN = ${req.commonName}`,
    ...(req.organization ? [`O = ${req.organization}`] : []),
    '[ext]',
    ...ext,
    '',
  ].join('\n');
}

/** A certificate in `<root>/<name>/tls.{crt,key}`, signed by `ca` (self-signed without); kept when present. */
export async function issue(name: string, req: CertRequest, ca?: KeyPair, root = PKI_DIR): Promise<KeyPair> {
  // tls.crt/tls.key per folder: the layout controller-runtime's --webhook-cert-dir and our --cert-dir read.
  const dir = path.join(root, name);
  const pair = { dir, cert: path.join(dir, 'tls.crt'), key: path.join(dir, 'tls.key') };
  if (existsSync(pair.cert) && existsSync(pair.key)) return pair;
  await mkdir(dir, { recursive: true });
  const cnf = path.join(dir, 'openssl.cnf');
  await writeFile(cnf, opensslConfig(req));
  await execa('openssl', [
    'req',
    '-x509',
    '-config',
    cnf,
    '-extensions',
    'ext',
    '-days',
    '3650',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    pair.key,
    '-out',
    pair.cert,
    ...(ca ? ['-CA', ca.cert, '-CAkey', ca.key] : []),
  ]);
  return pair;
}

export interface Pki {
  readonly ca: KeyPair;
  readonly apiserver: KeyPair;
  readonly admin: KeyPair;
  readonly controllerManager: KeyPair;
  readonly capiWebhook: KeyPair;
  readonly extension: KeyPair;
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
}

/** One local CA and the certificates the plane needs; reused when already on disk. */
export async function ensurePki(): Promise<Pki> {
  await mkdir(PKI_DIR, { recursive: true });
  await execa('openssl', ['version']).catch((err: unknown) => {
    throw new Error('openssl is needed to generate the local PKI (apt-get install openssl)', { cause: err });
  });
  const ca = await issue('ca', { commonName: 'capi-vip-allocator-local-ca', usage: 'ca' });
  const serving = (commonName: string, extra: readonly string[] = []): CertRequest => ({
    commonName,
    usage: 'server',
    sans: [...LOOPBACK_SANS, ...extra],
  });
  const apiserver = await issue(
    'apiserver',
    serving('kube-apiserver', [
      'IP:10.0.0.1',
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
    ]),
    ca,
  );
  const admin = await issue(
    'admin',
    { commonName: 'admin', organization: 'system:masters', usage: 'client' },
    ca,
  );
  const controllerManager = await issue('controller-manager', serving('kube-controller-manager'), ca);
  const capiWebhook = await issue('capi-webhook', serving('capi-webhook'), ca);
  const extension = await issue('extension', serving('capi-vip-allocator'), ca);

  const { key: serviceAccountKey, pub: serviceAccountPub } = await ensureServiceAccountKey(PKI_DIR);
  return {
    ca,
    apiserver,
    admin,
    controllerManager,
    capiWebhook,
    extension,
    serviceAccountKey,
    serviceAccountPub,
  };
}

/** The key pair the kube-apiserver signs and checks service-account tokens with, in `dir`. */
export async function ensureServiceAccountKey(dir: string): Promise<{ key: string; pub: string }> {
  const key = path.join(dir, 'sa.key');
  const pub = path.join(dir, 'sa.pub');
  if (!existsSync(pub)) {
    await execa('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
    await execa('openssl', ['ec', '-in', key, '-pubout', '-out', pub]);
  }
  return { key, pub };
}

/** A kubeconfig (JSON, which every client reads as YAML) for `user` at `server`, trusting `ca`. */
export async function kubeconfig(name: string, server: string, ca: KeyPair, user: KeyPair): Promise<string> {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, 'certificate-authority-data': await base64(ca.cert) } }],
    users: [
      {
        name: 'admin',
        user: {
          'client-certificate-data': await base64(user.cert),
          'client-key-data': await base64(user.key),
        },
      },
    ],
    contexts: [{ name, context: { cluster: name, user: 'admin' } }],
    'current-context': name,
  };
  return JSON.stringify(config, null, 2);
}

export async function base64(file: string): Promise<string> {
  return (await readFile(file)).toString('base64');
}
