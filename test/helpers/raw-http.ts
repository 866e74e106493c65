/**
 * HTTP/1.1 over a raw TCP socket, for hostile-input tests: the request is written byte for byte
 * (no client library normalises or refuses it), and the response is parsed here, strictly, so a
 * malformed answer (bad status line, bad header line, body not matching its framing, nothing at
 * all) is reported instead of being smoothed over.
 */
import { connect } from 'node:net'

export interface RawRequest {
  method?: string
  /** The request target, written as is (latin1: one byte per character). */
  target: string
  /** Header lines in order, written as is (latin1); a `Host` line is added first unless present. */
  headers?: ReadonlyArray<readonly [string, string]>
  body?: string
}

/** A response, parsed strictly. */
export interface RawResponse {
  status: number
  reason: string
  /** Header lines in order, names lower-cased, values without surrounding white space. */
  headers: Array<[string, string]>
  body: Buffer
  /** The server closed the connection (seen within `closeWaitMs` after the response when it was asked to close). */
  closed: boolean
}

export type RawOutcome =
  | { ok: true, response: RawResponse }
  /** No well-formed response: what was wrong, and the bytes received. */
  | { ok: false, problem: string, received: Buffer }

export interface ExchangeOptions {
  /** Give up after this many ms: a hang is a failure. Defaults to 5000. */
  timeoutMs?: number
  /** After a complete response, wait this long for the server to close the connection. Defaults to 0 (do not wait). */
  closeWaitMs?: number
}

/** The bytes of a request: `METHOD target HTTP/1.1`, the header lines, and the body. latin1, so every character is one byte. */
export function requestBytes (origin: string, req: RawRequest): Buffer {
  const headers = [...(req.headers ?? [])]
  if (!headers.some(([name]) => name.toLowerCase() === 'host')) headers.unshift(['Host', new URL(origin).host])
  if (req.body !== undefined && !headers.some(([name]) => name.toLowerCase() === 'content-length')) {
    headers.push(['Content-Length', String(Buffer.byteLength(req.body, 'latin1'))])
  }
  const head = `${req.method ?? 'GET'} ${req.target} HTTP/1.1\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`
  return Buffer.from(head + (req.body ?? ''), 'latin1')
}

/** Sends one request on a fresh connection and reads one response. */
export async function exchange (origin: string, req: RawRequest | Buffer, options: ExchangeOptions = {}): Promise<RawOutcome> {
  const { timeoutMs = 5000, closeWaitMs = 0 } = options
  const url = new URL(origin)
  const bytes = Buffer.isBuffer(req) ? req : requestBytes(origin, req)
  const isHead = (Buffer.isBuffer(req) ? bytes.toString('latin1', 0, 5) : `${req.method ?? 'GET'} `).startsWith('HEAD ')
  return await new Promise<RawOutcome>(resolve => {
    const socket = connect(Number(url.port), url.hostname)
    let received = Buffer.alloc(0)
    let ended = false
    let parsed: RawResponse | undefined
    let settled = false
    const finish = (outcome: RawOutcome): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(outcome)
    }
    const timer = setTimeout(() => {
      if (parsed !== undefined) finish({ ok: true, response: parsed })
      else finish({ ok: false, problem: `no complete response within ${timeoutMs} ms`, received })
    }, timeoutMs)
    let closeTimer: NodeJS.Timeout | undefined
    const check = (): void => {
      if (parsed !== undefined) return
      const r = parseResponse(received, ended, isHead)
      if (r === 'incomplete') {
        if (ended) finish({ ok: false, problem: received.length === 0 ? 'connection closed without a response' : 'connection closed in the middle of the response', received })
        return
      }
      if (typeof r === 'string') {
        finish({ ok: false, problem: r, received })
        return
      }
      parsed = { ...r, closed: ended }
      if (ended || closeWaitMs === 0) {
        finish({ ok: true, response: parsed })
        return
      }
      closeTimer = setTimeout(() => { if (parsed !== undefined) finish({ ok: true, response: parsed }) }, closeWaitMs)
    }
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      check()
    })
    socket.on('end', () => {
      ended = true
      if (parsed !== undefined) {
        parsed.closed = true
        clearTimeout(closeTimer)
        finish({ ok: true, response: parsed })
        return
      }
      check()
    })
    socket.on('error', (err: Error) => {
      // A reset after a complete response (the server closed with unread request bytes) is fine.
      if (parsed !== undefined) finish({ ok: true, response: { ...parsed, closed: true } })
      else finish({ ok: false, problem: `socket error: ${err.message}`, received })
    })
    socket.write(bytes)
  })
}

const STATUS_LINE = /^HTTP\/1\.[01] ([1-9]\d\d) ([\t\x20-\x7e\x80-\xff]*)$/
const HEADER_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*$/

/**
 * Parses one response from `buf`: `'incomplete'` while more bytes are needed, a string naming the
 * problem when it is malformed, or the response. `ended`: the server closed the connection (a
 * response without a length ends there).
 */
export function parseResponse (buf: Buffer, ended: boolean, isHead = false): Omit<RawResponse, 'closed'> | 'incomplete' | string {
  const headEnd = buf.indexOf('\r\n\r\n')
  if (headEnd === -1) return buf.length > 65536 ? 'response head larger than 64 KiB' : 'incomplete'
  const lines = buf.toString('latin1', 0, headEnd).split('\r\n')
  const statusLine = lines.shift() ?? ''
  const m = STATUS_LINE.exec(statusLine)
  if (m === null) return `malformed status line ${JSON.stringify(statusLine)}`
  const status = Number(m[1])
  const headers: Array<[string, string]> = []
  for (const line of lines) {
    const h = HEADER_LINE.exec(line)
    if (h === null) return `malformed header line ${JSON.stringify(line)}`
    headers.push([(h[1] as string).toLowerCase(), h[2] as string])
  }
  const rest = buf.subarray(headEnd + 4)
  const values = (name: string): string[] => headers.filter(([n]) => n === name).map(([, v]) => v)
  const te = values('transfer-encoding')
  const cl = values('content-length')
  const response = { status, reason: m[2] as string, headers }
  if (isHead || status < 200 || status === 204 || status === 304) return { ...response, body: Buffer.alloc(0) }
  if (te.length > 0) {
    if (cl.length > 0) return 'both Transfer-Encoding and Content-Length'
    if (te.join(',').trim().toLowerCase() !== 'chunked') return `unexpected Transfer-Encoding ${JSON.stringify(te)}`
    return parseChunked(rest, response)
  }
  if (cl.length > 0) {
    if (!cl.every(v => /^\d+$/.test(v) && v === cl[0])) return `bad Content-Length ${JSON.stringify(cl)}`
    const length = Number(cl[0])
    if (rest.length < length) return 'incomplete'
    if (rest.length > length) return `${rest.length - length} bytes after the body announced by Content-Length`
    return { ...response, body: rest }
  }
  // No framing: the body runs to the end of the connection.
  return ended ? { ...response, body: rest } : 'incomplete'
}

function parseChunked (rest: Buffer, response: { status: number, reason: string, headers: Array<[string, string]> }): Omit<RawResponse, 'closed'> | 'incomplete' | string {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const lineEnd = rest.indexOf('\r\n', at)
    if (lineEnd === -1) return 'incomplete'
    const sizeLine = rest.toString('latin1', at, lineEnd)
    const sm = /^([0-9a-fA-F]+)(;[^\r\n]*)?$/.exec(sizeLine)
    if (sm === null) return `malformed chunk size line ${JSON.stringify(sizeLine)}`
    const size = parseInt(sm[1] as string, 16)
    at = lineEnd + 2
    if (size === 0) {
      // Trailers (none expected), then the final CRLF.
      const end = rest.indexOf('\r\n\r\n', at - 2)
      if (end === -1) return 'incomplete'
      if (end + 4 !== rest.length) return 'bytes after the last chunk'
      return { ...response, body: Buffer.concat(parts) }
    }
    if (rest.length < at + size + 2) return 'incomplete'
    parts.push(rest.subarray(at, at + size))
    if (rest.toString('latin1', at + size, at + size + 2) !== '\r\n') return 'chunk not followed by CRLF'
    at += size + 2
  }
}

/** The values of the header `name` (lower case), in order. */
export function headerValues (res: RawResponse, name: string): string[] {
  return res.headers.filter(([n]) => n === name).map(([, v]) => v)
}
