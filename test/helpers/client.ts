/**
 * One HTTP client for every adapter, so the conformance suite compares the same bytes: raw
 * `Set-Cookie` lines in order, status, body. Built on node:http with a fresh connection per
 * request (no pooling surprises between tests).
 */
import { request as httpRequest } from 'node:http'

export interface ClientRequest {
  method?: string
  path: string
  /** One `Cookie` header line, or several (sent as separate lines). */
  cookie?: string | string[]
  headers?: Record<string, string | string[]>
  body?: string | Buffer
  /** Send the body with `Transfer-Encoding: chunked` in two writes. */
  chunked?: boolean
  /** Give up after this many ms (a hang is a failure, never a wait). Defaults to 10 s. */
  timeout?: number
}

export interface ClientResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  /** The `Set-Cookie` lines, in the order received. */
  setCookie: string[]
  body: string
}

export async function send (origin: string, req: ClientRequest): Promise<ClientResponse> {
  const url = new URL(origin)
  const fields: Record<string, string | string[]> = { ...req.headers }
  if (req.body !== undefined && req.chunked !== true) fields['content-length'] = String(Buffer.byteLength(req.body))
  // Without a body, say so: with raw headers node:http would send POST/PUT/PATCH chunked.
  if (req.body === undefined && ['POST', 'PUT', 'PATCH'].includes(req.method ?? 'GET')) fields['content-length'] ??= '0'
  // A flat [name, value, name, value, ...] list, so several Cookie lines go out as several lines
  // (node:http would join an array value of `cookie` into one line).
  const headers: string[] = []
  if (!Object.keys(fields).some(k => k.toLowerCase() === 'host')) headers.push('host', url.host)
  for (const [name, value] of Object.entries(fields)) {
    for (const v of typeof value === 'string' ? [value] : value) headers.push(name, v)
  }
  for (const line of typeof req.cookie === 'string' ? [req.cookie] : req.cookie ?? []) headers.push('cookie', line)
  return await new Promise<ClientResponse>((resolve, reject) => {
    const r = httpRequest({
      host: url.hostname,
      port: url.port,
      method: req.method ?? 'GET',
      path: req.path,
      headers,
      agent: false,
      timeout: req.timeout ?? 10_000
    }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const setCookie = res.headers['set-cookie'] ?? []
        resolve({ status: res.statusCode ?? 0, headers: res.headers, setCookie, body: Buffer.concat(chunks).toString('utf8') })
      })
      res.on('error', reject)
    })
    r.on('timeout', () => r.destroy(new Error(`request ${req.method ?? 'GET'} ${req.path} got no answer within ${req.timeout ?? 10_000} ms`)))
    r.on('error', reject)
    if (req.body !== undefined && req.chunked === true) {
      const b = Buffer.from(req.body)
      const half = Math.floor(b.length / 2)
      r.write(b.subarray(0, half))
      setTimeout(() => r.end(b.subarray(half)), 20)
    } else {
      r.end(req.body)
    }
  })
}

/** The member that answered (upstreams echo their route in the body), or undefined for the gateway's own answers. */
export function memberOf (res: ClientResponse): string | undefined {
  const h = res.headers['x-member']
  return typeof h === 'string' ? h : undefined
}
