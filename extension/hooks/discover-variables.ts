/**
 * DiscoverVariables: publishes the `vipAllocator` variable (shared/vip-allocator-variable.ts). CAPI's
 * ClusterClass controller calls it for every class that lists it as
 * `external.discoverVariablesExtension`, writes the definition to the class's `status.variables`,
 * and validates Clusters' `spec.topology.variables` against it. One answer for every manager:
 * `required` is always present and the schema uses only what v1beta1 and v1beta2 both accept.
 */
import { HANDLER_SUFFIX, HOOK_TIMEOUT_SECONDS } from '../../shared/protocol.js';
import type { DiscoverVariablesRequest } from '../../shared/kube/types.js';
import { VARIABLE_DEFINITION } from '../../shared/vip-allocator-variable.js';
import type { Handler } from '../server.js';
import { discoverVariablesRequest } from '../validate.js';

export const discoverVariables: Handler<DiscoverVariablesRequest> = {
  hook: 'DiscoverVariables',
  suffix: HANDLER_SUFFIX.discoverVariables,
  timeoutSeconds: HOOK_TIMEOUT_SECONDS,
  parse: discoverVariablesRequest,
  // Called once per class reconcile: not worth an info line each time.
  logLevel: 'debug',
  handle: () => Promise.resolve({ status: 'Success', variables: [VARIABLE_DEFINITION] }),
};
