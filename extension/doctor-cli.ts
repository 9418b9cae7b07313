/** `capi-vip-allocator doctor [flags]`: the troubleshooting list (doctor/doctor.ts) as a command. */
import { diagnose, renderTable } from './doctor/doctor.js';
import { doctorUsage, FlagError, parseDoctorFlags, type DoctorConfig } from '../shared/config.js';
import { loadKubeConfig } from '../shared/kube/kubeconfig.js';
import { SUPPORTED_KINDS } from './profiles/profiles.js';

/** The exit code: 0 all well, 1 a problem found, 2 a bad command line. */
export async function doctorCommand(argv: readonly string[]): Promise<number> {
  let config: DoctorConfig;
  try {
    config = parseDoctorFlags(argv);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    process.stderr.write(`capi-vip-allocator doctor: ${err.message}\n\n${doctorUsage()}`);
    return 2;
  }
  if (config.help) {
    process.stdout.write(doctorUsage());
    return 0;
  }
  const findings = await diagnose(loadKubeConfig(config.kubeconfig), {
    extensionConfig: config.extensionConfig,
    handlerPrefix: config.handlerPrefix,
    namespace: config.namespace,
    poolKinds: config.poolKinds,
    certWarnDays: config.certWarnDays,
    announcerKinds: SUPPORTED_KINDS,
    beforeMove: config.beforeMove,
  });
  process.stdout.write(
    config.output === 'json' ? `${JSON.stringify({ findings }, null, 2)}\n` : renderTable(findings),
  );
  return findings.every((f) => f.ok) ? 0 : 1;
}
