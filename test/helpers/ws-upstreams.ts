/**
 * WebSocket members and clients for the upgrade tests. A member echoes `<route>:<message>`, and
 * obeys two commands: `close:<code>` closes the WebSocket with that code, `reset` drops the TCP
 * connection without a close frame. It can listen over TLS, and it records the path and headers
 * of every upgrade it accepted.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'

export interface WsMember {
  route: string
  url: string
  /** The request paths of the upgrades it accepted, in order. */
  paths: string[]
  /** The request headers of the upgrades it accepted, in order. */
  headers: IncomingHttpHeaders[]
  /** WebSockets open on it now. */
  readonly open: number
  /** Stops it and drops every open WebSocket (without a close frame, as a crash does): further connects are refused. */
  close: () => Promise<void>
}

export async function startWsMember (route: string, tls?: { key: string, cert: string }): Promise<WsMember> {
  const server: Server = tls === undefined
    ? createServer((_req, res) => { res.end(route) })
    : createHttpsServer(tls, (_req, res) => { res.end(route) })
  const wss = new WebSocketServer({ server })
  const paths: string[] = []
  const headers: IncomingHttpHeaders[] = []
  wss.on('connection', (socket, req) => {
    paths.push(req.url ?? '')
    headers.push(req.headers)
    socket.on('message', data => {
      const text = String(data)
      if (text.startsWith('close:')) socket.close(Number(text.slice(6)), 'bye')
      else if (text === 'reset') (req.socket as Socket).resetAndDestroy()
      else socket.send(`${route}:${text}`)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  return {
    route,
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    paths,
    headers,
    get open () { return wss.clients.size },
    close: async () => {
      for (const c of wss.clients) c.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

/** A client WebSocket through the gateway, with what the gateway answered to its handshake. */
export interface WsClient {
  ws: WebSocket
  /** The handshake answer's headers (the 101). */
  response: IncomingMessage
  /** Its `Set-Cookie` lines. */
  setCookie: string[]
  /** Sends `message` and resolves with the next message received (within 5 s). */
  echo: (message: string) => Promise<string>
  /** Resolves with the close code when the connection closes (within `ms`, default 5 s). */
  closed: (ms?: number) => Promise<number>
}

/** What the gateway answered when it did not switch protocols. */
export class UnexpectedResponse extends Error {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string

  constructor (status: number, headers: IncomingHttpHeaders, body: string) {
    super(`Unexpected server response: ${status}`)
    this.status = status
    this.headers = headers
    this.body = body
  }
}

/** Opens a WebSocket through `origin` (an http:// or https:// origin) at `path`, with an optional `Cookie` header. */
export async function openWs (origin: string, path: string, cookie?: string, headers: Record<string, string> = {}): Promise<WsClient> {
  const ws = new WebSocket(origin.replace(/^http/, 'ws') + path, {
    headers: cookie === undefined ? headers : { ...headers, cookie },
    rejectUnauthorized: false
  })
  // ws emits 'open' right after 'upgrade', in the same tick: listen for both from the start.
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const timer = setTimeout(() => { ws.terminate(); reject(new Error('no WebSocket handshake within 5 s')) }, 5000)
    let upgrade: IncomingMessage | undefined
    ws.once('upgrade', res => { upgrade = res })
    ws.once('open', () => { clearTimeout(timer); resolve(upgrade as IncomingMessage) })
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { clearTimeout(timer); reject(new UnexpectedResponse(res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString('utf8'))) })
      res.on('error', err => { clearTimeout(timer); reject(err) })
    })
    ws.once('error', err => { clearTimeout(timer); reject(err) })
  })
  const closedAt = new Promise<number>(resolve => ws.once('close', code => resolve(code)))
  // Errors after the handshake (a dropped connection) show up as the close code 1006.
  ws.on('error', () => {})
  return {
    ws,
    response,
    setCookie: response.headers['set-cookie'] ?? [],
    echo: async message => await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no WebSocket echo within 5 s')), 5000)
      ws.once('message', data => { clearTimeout(timer); resolve(String(data)) })
      ws.send(message)
    }),
    closed: async (ms = 5000) => await Promise.race([
      closedAt,
      new Promise<number>((_resolve, reject) => setTimeout(() => reject(new Error(`the WebSocket did not close within ${ms} ms`)), ms).unref())
    ])
  }
}

/** Opens a WebSocket through `origin` with `cookie`, sends one message and returns the echo. */
export async function wsEcho (origin: string, path: string, cookie: string | undefined, message: string): Promise<string> {
  const client = await openWs(origin, path, cookie)
  try {
    return await client.echo(message)
  } finally {
    client.ws.terminate()
  }
}
