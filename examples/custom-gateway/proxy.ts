/**
 * The core on its own, inside a plain node:http reverse proxy: what a team that already runs a
 * gateway of its own (undici, http-proxy, another framework) writes to get Apache-style sticky
 * sessions. The balancer decides; this file only moves bytes. HTTP only (no WebSocket upgrades).
 * Health checks use the Node probe the adapters use (`@stickyroute/core/node`); they start when
 * the server listens and stop when it closes.
 *
 *   npm run --silent example:custom   (gateway.ts beside this file: the same STICKY_* variables as the other examples)
 */
import {
  Balancer,
  bodyPlan,
  forwardedHeaders,
  hasRequestBody,
  SERVICE_UNAVAILABLE,
  type BalancerResponse,
  type Decision,
  type StickyOptions,
  withSetCookie
} from '@stickyroute/core'
import { nodeHealthIo } from '@stickyroute/core/node'
import { createServer, request, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import { hostname } from 'node:os'
import { pipeline } from 'node:stream'
import type { TLSSocket } from 'node:tls'

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']

function answer (res: ServerResponse, r: BalancerResponse, close = false): void {
  res.writeHead(r.status, close ? { ...r.headers, connection: 'close' } : r.headers).end(r.body)
}

/** The path below `prefix`, or `undefined` when the request target is not under it (or not a path at all). */
function below (url: string, prefix: string): string | undefined {
  if (!url.startsWith('/')) return undefined // absolute-form or '*': never proxied
  if (prefix === '') return url
  if (!url.startsWith(prefix)) return undefined
  const rest = url.slice(prefix.length)
  if (rest === '' || rest.startsWith('?')) return `/${rest}`
  return rest.startsWith('/') ? rest : undefined
}

/** A sticky reverse proxy for `options.members`, serving the paths under `prefix` (stripped); `balancer` is its runtime control. */
export function createCustomGateway (options: StickyOptions & { prefix?: string }): Server & { balancer: Balancer } {
  const { prefix = '', ...sticky } = options
  const balancer = new Balancer(sticky)
  const server = hostname()

  const gateway = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/'
    const path = below(url, prefix)
    if (path === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found\n')
      return
    }
    const secure = (req.socket as TLSSocket).encrypted === true
    // Bytes on this connection so far: what this request adds is counted for `bytraffic`.
    const readBefore = req.socket.bytesRead
    const writtenBefore = req.socket.bytesWritten
    // Apache `ProxyAddHeaders Off`: none added, the client's own pass unchanged.
    const forwarded = balancer.options.addForwardedHeaders
      ? forwardedHeaders({
        host: req.headers.host,
        remoteAddress: req.socket.remoteAddress,
        secure,
        forwardedFor: req.headers['x-forwarded-for'],
        forwardedHost: req.headers['x-forwarded-host'],
        forwardedProto: req.headers['x-forwarded-proto'],
        server,
        forwardedServer: req.headers['x-forwarded-server']
      })
      : undefined

    /** The body, when it was read whole (up to `retryBodyLimit`) to be replayed on another member. */
    let body: Buffer | undefined

    const attempt = (decision: Decision): void => {
      if (!decision.ok) return answer(res, SERVICE_UNAVAILABLE)
      const member = new URL(decision.member.url)
      const headers: OutgoingHttpHeaders = { ...req.headers, ...forwarded }
      for (const h of HOP_BY_HOP) delete headers[h]
      if (!balancer.options.preserveHost) headers.host = member.host

      const timeout = balancer.timeoutOf(decision)
      let status: number | undefined
      const upstream = request({ host: member.hostname, port: member.port, method: req.method, path, headers, timeout }, upRes => {
        status = upRes.statusCode
        const out: OutgoingHttpHeaders = { ...upRes.headers }
        for (const h of HOP_BY_HOP) delete out[h]
        // The balancer cookie goes after the member's own cookies.
        if (decision.setCookie !== undefined) out['set-cookie'] = withSetCookie(upRes.headers['set-cookie'], decision.setCookie)
        res.writeHead(upRes.statusCode ?? 502, out)
        // pipeline, not pipe: if the member dies mid-answer, the client's response is cut too.
        pipeline(upRes, res, () => {})
      })
      // node:http has no connect timeout: give up on a member that does not answer the connect.
      const connectTimer = setTimeout(() => {
        if (upstream.socket?.connecting !== false) upstream.destroy(Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT', syscall: 'connect' }))
      }, balancer.options.connectTimeoutMs)
      upstream.once('close', () => clearTimeout(connectTimer))
      // The member stayed silent for `timeout`: a 504 (and, with failOnTimeout, the member in error).
      upstream.once('timeout', () => upstream.destroy(Object.assign(new Error('the member did not answer in time'), { code: 'ESOCKETTIMEDOUT' })))
      upstream.on('error', err => {
        if (res.headersSent) return // pipeline cuts the client's response
        // The balancer decides: another member (nothing reached this one, and there is no body
        // to replay), or its own 502/503/504.
        const outcome = balancer.upstreamError(decision, err, { canRetry: body !== undefined || !hasRequestBody(req.headers), method: req.method })
        if (outcome.action === 'retry') attempt(outcome.decision)
        else answer(res, outcome.response, outcome.close)
      })
      // The outcome counts: failOnStatus, and the bytes for bytraffic.
      res.once('close', () => balancer.finished(decision, { status, bytesSent: req.socket.bytesRead - readBefore, bytesReceived: req.socket.bytesWritten - writtenBefore }))
      if (body !== undefined) upstream.end(body)
      else if (hasRequestBody(req.headers)) req.pipe(upstream)
      else upstream.end()
    }

    const route = (): void => { attempt(balancer.select({ cookie: req.headers.cookie, url, secure })) }
    // A body of up to retryBodyLimit bytes is read before a member is chosen, so that a refused
    // connection can be replayed; a longer one is put back and streamed.
    const limit = balancer.options.retryBodyLimit
    if (bodyPlan(req.headers, limit) !== 'buffer') return route()
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk)
      size += chunk.length
      if (size <= limit) return
      req.off('data', onData).off('end', onEnd).pause()
      req.unshift(Buffer.concat(chunks, size))
      route()
    }
    const onEnd = (): void => {
      body = Buffer.concat(chunks, size)
      route()
    }
    req.on('data', onData).once('end', onEnd)
  })
  gateway.once('listening', () => balancer.startHealthChecks(nodeHealthIo))
  // close() resolves once the checks under way are aborted; it never rejects.
  gateway.once('close', () => { balancer.close().catch(() => {}) })
  return Object.assign(gateway, { balancer })
}
