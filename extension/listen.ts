import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ListenAddress } from '../shared/config.js';

/** Starts listening; a port in use rejects instead of crashing the process later. */
export function listen(server: http.Server, at: ListenAddress): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => resolve(server.address() as AddressInfo));
  });
}
