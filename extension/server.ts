import express, { type NextFunction, type Request, type Response } from 'express';
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import { handlerName } from '../shared/protocol.js';
import { HOOKS_API_VERSION, type ResponseStatus } from '../shared/kube/types.js';
import { reason, statusCode } from '../shared/kube/errors.js';
import type { Logger } from '../shared/log.js';
import { listen } from './listen.js';
import { readKeyPair, watchKeyPair } from './tls.js';
import { discoveryRequest, RequestError } from './validate.js';
import { admissionRequest, reviewResponse, type AdmissionRequest, type Review } from './admission/review.js';

export type HookName =
  'BeforeClusterCreate' | 'BeforeClusterDelete' | 'GeneratePatches' | 'DiscoverVariables';

/** What a handler answers; apiVersion and kind are added by the server. */
export interface HookResponse {
  status: ResponseStatus;
  message?: string;
  [field: string]: unknown;
}

/** What a handler knows of the call it answers. */
export interface CallContext {
  /** Epoch ms after which CAPI no longer waits for the answer: the handler's timeoutSeconds from arrival. */
  readonly deadline: number;
  /** Aborted once CAPI has given up: the deadline passed, or it closed the connection. */
  readonly signal: AbortSignal;
  /** This call's logger: every line carries its hook, handler and what `describe` says (the Cluster). */
  readonly log: Logger;
}

/** One runtime-extension handler: its hook, its name suffix and its code (see ./hooks). */
export interface Handler<Req = unknown> {
  readonly hook: HookName;
  /** Discovery name: `<--runtime-extension-name>-<suffix>`. */
  readonly suffix: string;
  readonly timeoutSeconds: number;
  /** What CAPI does when a call fails (not when we answer Failure): default Fail. */
  readonly failurePolicy?: 'Fail' | 'Ignore';
  readonly parse: (body: unknown) => Req;
  readonly handle: (request: Req, call: CallContext) => Promise<HookResponse>;
  /** Log keys describing the request (e.g. the Cluster). */
  readonly describe?: (request: Req) => Record<string, unknown>;
  /** Level of the per-request log line; `debug` for hooks CAPI calls on every reconcile. */
  readonly logLevel?: 'info' | 'debug';
}

/** A handler with its request type erased, so handlers of different hooks share one registry. */
export interface RegisteredHandler {
  readonly hook: HookName;
  readonly suffix: string;
  readonly timeoutSeconds: number;
  readonly failurePolicy: 'Fail' | 'Ignore';
  readonly logLevel: 'info' | 'debug';
  /** Validates the body (throwing RequestError) and returns the call to make. */
  readonly accept: (body: unknown) => {
    keys: Record<string, unknown>;
    handle: (call: CallContext) => Promise<HookResponse>;
  };
}

export function register<Req>(handler: Handler<Req>): RegisteredHandler {
  return {
    hook: handler.hook,
    suffix: handler.suffix,
    timeoutSeconds: handler.timeoutSeconds,
    failurePolicy: handler.failurePolicy ?? 'Fail',
    logLevel: handler.logLevel ?? 'info',
    accept: (body) => {
      const request = handler.parse(body);
      return { keys: handler.describe?.(request) ?? {}, handle: (call) => handler.handle(request, call) };
    },
  };
}

export const HOOKS_PATH = `/${HOOKS_API_VERSION}`;
/**
 * CAPI's own runtime server (exp/runtime/server, maxExtensionRequestBodyBytes, v1.14) reads at
 * most 20 MiB so that a peer reaching the port cannot OOM-kill it with a body it buffers whole,
 * 20 MiB being "above any legitimate hook request". Ours is lower for the same reason: the
 * Deployment caps the old space at 128 MiB, and a parsed body takes several times its bytes.
 */
const BODY_LIMIT = '8mb';

export interface ServerObserver {
  /** Called once per answered hook request, for metrics. */
  hookAnswered(hook: string, outcome: string, seconds: number): void;
}

function send(res: Response, code: number, body: unknown): void {
  res.status(code).type('application/json').send(JSON.stringify(body));
}

function badRequest(res: Response, code: number, reason: string, message: string): void {
  send(res, code, { status: 'Failure', reason, message });
}

/**
 * A handler's answer to a body, with the log keys of its request. CAPI shows a Failure's message on
 * the Cluster and retries with backoff, but treats any other HTTP code as a failed call: for a
 * handler whose failure policy is Fail, the Cluster would then say "non 200 response code" instead
 * of naming the field. So a body that fails validation is a 200 Failure there; for an Ignore
 * handler the RequestError goes on to a 400, and CAPI carries on without it, as its policy says.
 */
async function answerOf(
  h: RegisteredHandler,
  body: unknown,
  log: Logger,
  context: Omit<CallContext, 'log'>,
): Promise<{ answer: HookResponse; keys: Record<string, unknown> }> {
  let call: ReturnType<RegisteredHandler['accept']>;
  try {
    call = h.accept(body);
  } catch (err) {
    if (!(err instanceof RequestError) || h.failurePolicy !== 'Fail') throw err;
    return { answer: { status: 'Failure', message: `Invalid request: ${err.message}` }, keys: {} };
  }
  try {
    return {
      answer: await call.handle({ ...context, log: log.child({ hook: h.hook, ...call.keys }) }),
      keys: call.keys,
    };
  } catch (err) {
    // One line: a client-node error's own message spans the whole HTTP response.
    const code = statusCode(err);
    const message = code ? `Kubernetes API answered ${code}: ${reason(err)}` : reason(err);
    log.error('Hook handler failed', { hook: h.hook, error: message, ...call.keys });
    return { answer: { status: 'Failure', message }, keys: call.keys };
  }
}

/**
 * The runtime-extension app: discovery generated from the handler registry (so it cannot drift
 * from the routes), one route per handler, strict request validation, JSON errors only.
 */
export function createHookApp(
  extensionName: string,
  handlers: readonly RegisteredHandler[],
  log: Logger,
  observer?: ServerObserver,
  admission: readonly AdmissionWebhook[] = [],
): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const routes = new Map<string, RegisteredHandler>(
    handlers.map((h) => [`${HOOKS_PATH}/${h.hook.toLowerCase()}/${handlerName(extensionName, h.suffix)}`, h]),
  );
  const discovery = {
    apiVersion: HOOKS_API_VERSION,
    kind: 'DiscoveryResponse',
    status: 'Success',
    handlers: handlers.map((h) => ({
      name: handlerName(extensionName, h.suffix),
      requestHook: { apiVersion: HOOKS_API_VERSION, hook: h.hook },
      timeoutSeconds: h.timeoutSeconds,
      failurePolicy: h.failurePolicy,
    })),
  };

  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'POST') {
      badRequest(
        res,
        req.path.startsWith(HOOKS_PATH) ? 400 : 404,
        'BadRequest',
        `${req.method} ${req.path}: hooks take POST`,
      );
      return;
    }
    // CAPI's runtime client (internal/runtime/client/client.go) POSTs JSON with no Content-Type
    // at all, so only a stated non-JSON type is refused.
    if (req.get('content-type') !== undefined && !req.is('application/json')) {
      badRequest(
        res,
        400,
        'BadRequest',
        `Content-Type must be application/json, got ${JSON.stringify(req.get('content-type') ?? '')}`,
      );
      return;
    }
    next();
  });
  app.use(express.json({ limit: BODY_LIMIT, strict: false, type: () => true }));

  app.post(`${HOOKS_PATH}/discovery`, (req: Request, res: Response) => {
    discoveryRequest(req.body);
    send(res, 200, discovery);
  });

  for (const webhook of admission) {
    app.post(webhook.path, async (req: Request, res: Response) => {
      const started = process.hrtime.bigint();
      const request = admissionRequest(req.body);
      let review: Review;
      try {
        review = await webhook.review(request);
      } catch (err) {
        // Never a refusal: the create goes on as asked, and the hook gives the VIP.
        review = { outcome: 'unchanged', why: `failed: ${reason(err)}`, keys: {} };
        log.error('Admission webhook failed', { webhook: webhook.name, error: reason(err) });
      }
      send(res, 200, reviewResponse(request.uid, review.patch ? { patch: review.patch } : {}));
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      observer?.hookAnswered(webhook.name, review.outcome, seconds);
      log.log(review.patch ? 'info' : 'debug', 'Admission request', {
        uid: request.uid,
        webhook: webhook.name,
        operation: request.operation,
        ...(request.dryRun ? { dryRun: true } : {}),
        outcome: review.outcome,
        why: review.why,
        durationMs: Math.round(seconds * 1000),
        ...review.keys,
      });
    });
  }

  app.post(`${HOOKS_PATH}/:hook/:handler`, async (req: Request, res: Response) => {
    const handler = routes.get(req.path);
    if (!handler) {
      badRequest(res, 404, 'NotFound', `No handler at ${req.path}`);
      return;
    }
    const started = process.hrtime.bigint();
    const h = handler;
    // CAPI stops waiting after the handler's timeout, or when it closes the connection.
    const deadline = Date.now() + h.timeoutSeconds * 1000;
    const giveUp = new AbortController();
    const timer = setTimeout(() => giveUp.abort(), h.timeoutSeconds * 1000);
    res.on('close', () => giveUp.abort());
    const { answer, keys } = await answerOf(h, req.body, log, { deadline, signal: giveUp.signal }).finally(
      () => clearTimeout(timer),
    );
    send(res, 200, { apiVersion: HOOKS_API_VERSION, kind: `${h.hook}Response`, ...answer });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    observer?.hookAnswered(h.hook, answer.status, seconds);
    // Failures always at info: they are what an operator looks for.
    log.log(answer.status === 'Success' ? h.logLevel : 'info', 'Hook request', {
      uid: randomUUID(),
      hook: h.hook,
      handler: handlerName(extensionName, h.suffix),
      outcome: answer.status,
      durationMs: Math.round(seconds * 1000),
      // Why a Cluster waits (retryAfterSeconds) or failed: the same text CAPI puts on the Cluster.
      // (`message` itself would be folded into `msg` by winston.)
      ...(answer.message ? { responseMessage: answer.message } : {}),
      ...keys,
    });
  });

  app.use((req: Request, res: Response) => badRequest(res, 404, 'NotFound', `No handler at ${req.path}`));

  // Express 5 routes rejected promises here too: every failure is JSON, never a stack trace.
  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const type = (err as { type?: string }).type;
    if (err instanceof RequestError) {
      badRequest(res, 400, 'BadRequest', `Invalid request: ${err.message}`);
      return;
    }
    if (type === 'entity.parse.failed') {
      badRequest(res, 400, 'BadRequest', 'Request body is not valid JSON');
      return;
    }
    if (type === 'entity.too.large') {
      badRequest(res, 413, 'RequestEntityTooLarge', `Request body is over ${BODY_LIMIT}`);
      return;
    }
    if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
      badRequest(res, 415, 'UnsupportedMediaType', (err as Error).message);
      return;
    }
    log.error('Hook server error', {
      path: req.path,
      error: err instanceof Error ? err.message : String(err),
    });
    badRequest(res, 500, 'InternalError', 'Internal error; see the extension log');
  });
  return app;
}

/** An admission webhook served beside the hooks (extension/admission/). */
export interface AdmissionWebhook {
  /** Its name in logs and in the hook metrics' `hook` label. */
  readonly name: string;
  /** Where the API server posts its AdmissionReview. */
  readonly path: string;
  readonly review: (request: AdmissionRequest) => Promise<Review>;
}

/** Aligned with the API server's webhook client, which reuses connections. */
const KEEP_ALIVE_MS = 65_000;

export interface HookServerOptions {
  readonly port: number;
  /** tls.crt and tls.key, polled every `certPollIntervalMs` and reloaded when they change. */
  readonly certDir: string;
  readonly certPollIntervalMs: number;
}

/** The hook app over HTTPS, listening once it resolves; its certificate is reloaded in place. */
export async function serveHooks(
  app: express.Express,
  options: HookServerOptions,
  log: Logger,
): Promise<https.Server> {
  const pair = readKeyPair(options.certDir);
  const server = https.createServer({ ...pair, minVersion: 'TLSv1.2' }, app);
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = KEEP_ALIVE_MS + 1_000;
  const stopWatching = watchKeyPair(
    options.certDir,
    pair,
    (next) => {
      server.setSecureContext({ ...next, minVersion: 'TLSv1.2' });
      log.info('Reloaded the serving certificate', { certDir: options.certDir });
    },
    (err) =>
      log.error('Serving certificate not reloaded; keeping the current one', {
        certDir: options.certDir,
        error: reason(err),
      }),
    options.certPollIntervalMs,
  );
  server.on('close', stopWatching);
  await listen(server, { host: undefined, port: options.port });
  return server;
}
