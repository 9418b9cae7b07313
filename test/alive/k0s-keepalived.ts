/**
 * keepalived as k0s configures and runs it for control-plane load balancing, for the VRRP
 * instances a K0sControlPlane carries. k0s' module is not on the Go module proxy, so this renders
 * its template by hand, from k0sproject/k0s v1.36.3+k0s.2:
 * - pkg/component/controller/cplb/cplb_templates.go (KeepalivedVRRPConfigTemplate, VRRP-only mode:
 *   no virtualServers, so no notify scripts and no include; no unicast peers);
 * - pkg/apis/k0s/v1beta1/cplb.go validateVRRPInstances (defaults: the default route's interface,
 *   router id 51 + index, advertInterval 1; authPass required, 1-8 characters);
 * - pkg/component/controller/cplb/cplb_linux.go (the file in /run/k0s, and keepalived's arguments).
 * What is not reproduced: k0s itself (its config validation beyond the fields above, its
 * supervision). keepalived is Debian's (bookworm 2.2.7; k0s bundles 2.3.4, which reads these
 * instances the same way).
 */
import type { Files } from './lab.js';

export interface VrrpInstance {
  readonly virtualIPs: readonly string[];
  readonly authPass: string;
  readonly virtualRouterID?: number;
  readonly interface?: string;
  readonly advertIntervalSeconds?: number;
}

const CONFIG = '/run/k0s/keepalived.conf';

export function keepalivedConf(instances: readonly VrrpInstance[], defaultInterface: string): string {
  return instances
    .map((instance, i) => {
      if (!instance.authPass || instance.authPass.length > 8) {
        throw new Error(`k0s: vrrpInstances[${i}].authPass must be 1-8 characters`);
      }
      return [
        `vrrp_instance k0s-vip-${i} {`,
        '    state BACKUP',
        `    interface ${instance.interface ?? defaultInterface}`,
        `    virtual_router_id ${instance.virtualRouterID ?? 51 + i}`,
        '    priority 200',
        `    advert_int ${instance.advertIntervalSeconds ?? 1}`,
        '    authentication {',
        '        auth_type PASS',
        `        auth_pass ${instance.authPass}`,
        '    }',
        '    virtual_ipaddress {',
        ...instance.virtualIPs.map((ip) => `        ${ip}`),
        '    }',
        '}',
      ].join('\n');
    })
    .join('\n');
}

/** keepalived's command line and files as k0s starts it (root: its run directory is /run/k0s). */
export function keepalivedProcess(
  binary: string,
  instances: readonly VrrpInstance[],
  defaultInterface: string,
): { argv: string[]; files: Files } {
  return {
    argv: [binary, '--dont-fork', '--use-file', CONFIG, '--no-syslog', '--log-console'],
    files: { [CONFIG]: keepalivedConf(instances, defaultInterface) },
  };
}
