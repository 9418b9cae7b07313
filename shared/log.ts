import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'json' | 'text';

/** JSON lines like CAPI's controllers: `ts`, `level`, `msg`, then structured keys. */
export function createLogger(level: LogLevel = 'info', format: LogFormat = 'json'): winston.Logger {
  const base = winston.format.combine(
    winston.format.timestamp({ alias: 'ts' }),
    winston.format((info) => {
      info.msg = info.message;
      delete info.message;
      delete info.timestamp;
      return info;
    })(),
  );
  const render =
    format === 'json'
      ? winston.format.json()
      : winston.format.printf(({ ts, level: l, msg, ...rest }) => {
          const fields = Object.entries(rest)
            .filter(([k]) => typeof k === 'string')
            .map(
              ([k, v]) =>
                `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v as string | number | boolean | undefined)}`,
            );
          return [ts, l.toUpperCase(), msg, ...fields].join(' ');
        });
  return winston.createLogger({
    level,
    format: winston.format.combine(base, render),
    transports: [new winston.transports.Console({ stderrLevels: [] })],
  });
}

export type Logger = winston.Logger;

/** The keys CAPI puts on every line about a Cluster. */
export function clusterKeys(cluster: {
  metadata: { name: string; namespace?: string };
}): Record<string, unknown> {
  const { name, namespace } = cluster.metadata;
  return { Cluster: { name, namespace }, namespace };
}
