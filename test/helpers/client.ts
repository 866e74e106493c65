/**
 * One HTTP client for every adapter, so the conformance suite compares the same bytes: raw
 * `Set-Cookie` lines in order, status, body. Built on node:http with a fresh connection per
 * request (no pooling surprises between tests).
 */
import { request as httpRequest } from 'node:http'

export interface ClientRequest {
  method?: string
  path: string
  /** One `Cookie` header value, or several header lines. */
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
  const headers: Record<string, string | string[]> = { ...req.headers }
  if (req.cookie !== undefined) headers['cookie'] = req.cookie
  if (req.body !== undefined && req.chunked !== true) headers['content-length'] = String(Buffer.byteLength(req.body))
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
