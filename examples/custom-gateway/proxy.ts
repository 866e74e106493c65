/**
 * The core on its own, inside a plain node:http reverse proxy: what a team that already runs a
 * gateway of its own (undici, http-proxy, another framework) writes to get Apache-style sticky
 * sessions. The balancer decides; this file only moves bytes.
 *
 *   npm run --silent example:custom   (gateway.ts beside this file: the same STICKY_* variables as the other examples)
 */
import {
  BAD_GATEWAY,
  Balancer,
  forwardedHeaders,
  hasRequestBody,
  isConnectFailure,
  SERVICE_UNAVAILABLE,
  type BalancerResponse,
  type Decision,
  type StickyOptions
} from '@stickyroute/core'
import { hostname } from 'node:os'
import { pipeline } from 'node:stream'
import { createServer, request, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http'

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']

function answer (res: ServerResponse, r: BalancerResponse): void {
  if (res.headersSent) res.destroy()
  else res.writeHead(r.status, r.headers).end(r.body)
}

/** A sticky reverse proxy for `options.members`, serving the paths under `prefix` (stripped). */
export function createCustomGateway (options: StickyOptions & { prefix?: string }): Server {
  const { prefix = '', ...sticky } = options
  const balancer = new Balancer(sticky)
  const server = hostname()

  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/'
    if (prefix !== '' && url !== prefix && !url.startsWith(`${prefix}/`) && !url.startsWith(`${prefix}?`)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found\n')
      return
    }
    const path = url.slice(prefix.length)
    const forwarded = forwardedHeaders({
      host: req.headers.host,
      remoteAddress: req.socket.remoteAddress,
      secure: false,
      forwardedFor: req.headers['x-forwarded-for'],
      forwardedHost: req.headers['x-forwarded-host'],
      forwardedProto: req.headers['x-forwarded-proto'],
      server,
      forwardedServer: req.headers['x-forwarded-server']
    })

    const attempt = (decision: Decision): void => {
      if (!decision.ok) return answer(res, SERVICE_UNAVAILABLE)
      const member = new URL(decision.member.url)
      const headers: OutgoingHttpHeaders = { ...req.headers, ...forwarded }
      for (const h of HOP_BY_HOP) delete headers[h]
      if (!balancer.options.preserveHost) headers.host = member.host

      const upstream = request({ host: member.hostname, port: member.port, method: req.method, path: path === '' ? '/' : path, headers }, upRes => {
        const out = { ...upRes.headers }
        for (const h of HOP_BY_HOP) delete out[h]
        // The balancer cookie goes after the member's own cookies.
        if (decision.setCookie !== undefined) out['set-cookie'] = [...(out['set-cookie'] ?? []), decision.setCookie]
        res.writeHead(upRes.statusCode ?? 502, out)
        // pipeline, not pipe: if the member dies mid-answer, the client's response is cut too.
        pipeline(upRes, res, () => {})
      })
      upstream.on('error', err => {
        if (isConnectFailure(err) && !res.headersSent) {
          // Nothing reached the member. Without a body, the same request can go elsewhere.
          if (!hasRequestBody(req.headers)) return attempt(balancer.failover(decision))
          balancer.markFailed(decision)
        }
        answer(res, BAD_GATEWAY)
      })
      res.once('close', () => balancer.finished(decision))
      if (hasRequestBody(req.headers)) req.pipe(upstream)
      else upstream.end()
    }

    attempt(balancer.select({ cookie: req.headers.cookie, url, secure: false }))
  })
}
