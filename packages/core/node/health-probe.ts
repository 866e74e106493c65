/**
 * The network part of active health checks, for Node: a TCP connect, or one HTTP request with a
 * fresh connection (`Connection: close`, no agent), bounded by the check's timeout. Kept out of
 * `src/` so the core proper stays free of I/O; the adapters and custom gateways import it from
 * `@stickyroute/core/node`.
 */
import type { HealthIo, HealthProbeResult, HealthProbeTarget, Timers } from '../src/index.js'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect } from 'node:net'

/** The most of a body an `expect` function is shown. */
export const MAX_HEALTH_BODY = 64 * 1024

function errorText (err: unknown): string {
  const code = (err as { code?: unknown }).code
  /* c8 ignore next: net, http and tls errors all carry a string code; the rest is a safety net */
  return typeof code === 'string' ? code : err instanceof Error ? err.message : String(err)
}

/** Probes `target` once. Never rejects: every failure is a result with an `error`. */
export async function probe (target: HealthProbeTarget, signal: AbortSignal): Promise<HealthProbeResult> {
  const url = new URL(target.url)
  return await new Promise<HealthProbeResult>(resolve => {
    let settled = false
    let cleanup = (): void => {}
    const finish = (result: HealthProbeResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      cleanup()
      resolve(result)
    }
    const timer = setTimeout(() => finish({ error: `timeout after ${target.timeoutMs} ms` }), target.timeoutMs)
    const onAbort = (): void => finish({ error: 'aborted' })
    signal.addEventListener('abort', onAbort)
    if (signal.aborted) {
      onAbort()
      return
    }
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
    const host = url.hostname.replace(/^\[|\]$/g, '')

    if (target.method === 'TCP') {
      const socket = connect({ host, port })
      cleanup = () => socket.destroy()
      socket.once('connect', () => finish({ connected: true }))
      socket.once('error', err => finish({ error: errorText(err) }))
      return
    }

    const send = url.protocol === 'https:' ? httpsRequest : httpRequest
    const req = send({
      host,
      port,
      method: target.method,
      path: target.uri,
      agent: false,
      // Like the proxy's own default (reply-from's undici), the member's certificate is not verified.
      rejectUnauthorized: false,
      headers: { host: url.host, 'user-agent': 'stickyroute-health-check', connection: 'close', accept: '*/*' }
    }, (res: IncomingMessage) => {
      const status = res.statusCode as number // always set on a client response
      if (!target.readBody) {
        finish({ response: { status, headers: res.headers, body: '' } })
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        // At the cap, finish() destroys the request: no more data comes.
        chunks.push(chunk)
        size += chunk.length
        if (size >= MAX_HEALTH_BODY) finish({ response: { status, headers: res.headers, body: Buffer.concat(chunks).subarray(0, MAX_HEALTH_BODY).toString('utf8') } })
      })
      res.once('end', () => finish({ response: { status, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') } }))
      res.once('error', err => finish({ error: errorText(err) }))
    })
    cleanup = () => req.destroy()
    req.once('error', err => finish({ error: errorText(err) }))
    req.end()
  })
}

/** Node's timers, unref'd: a health check never keeps the process alive on its own. */
export const nodeTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: handle => clearTimeout(handle as ReturnType<typeof setTimeout>)
}

/** What `balancer.startHealthChecks()` needs, on Node. */
export const nodeHealthIo: HealthIo = Object.freeze({ probe, timers: nodeTimers })
