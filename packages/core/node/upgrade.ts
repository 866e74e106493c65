/**
 * The WebSocket upgrade forwarder, shared by both adapters (and any custom gateway): Node I/O,
 * so it lives here in `@stickyroute/core/node`, beside the health probe, not in the pure core.
 *
 * Why not the frameworks' own WebSocket proxies: @fastify/http-proxy accepts the client's
 * WebSocket before it connects to the member, and http-proxy ends the client's connection after a
 * failed attempt. Here nothing is written to the client until a member has answered, so:
 *
 * - a member that cannot be connected to is put in error and the upgrade goes to another member
 *   (`balancer.upstreamError`, as for a GET); no member left: the balancer's own 503;
 * - the member's `101 Switching Protocols` is passed on with the balancer cookie appended when the
 *   route changed; a member that declines the upgrade (400, 404, ...) has its answer passed on,
 *   with the cookie too, and the connection is then closed;
 * - the open tunnel counts as a request in flight: `balancer.finished` is called exactly once,
 *   when the client's connection ends;
 * - either side going away closes the other at once, after flushing what it sent last.
 *
 * No timeout of ours applies once the member is connected: WebSockets and Socket.IO keep
 * connections open, and idle, as long as they like (their pings are their own business).
 */
import type { Balancer, BalancerResponse, Decision, Routed } from '../src/index.js'
import { request as httpRequest, STATUS_CODES, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { ConnectionOptions } from 'node:tls'
import { watchConnect } from './streams.js'

/** One upgrade to forward: what the adapter knows, and hooks for what it wants to observe (all required, so each adapter says what it does with them). */
export interface UpgradeForwarding {
  readonly balancer: Balancer
  /** The client's upgrade request, its connection and the bytes that followed its head (the server's `upgrade` event). */
  readonly req: IncomingMessage
  readonly socket: Duplex
  readonly head: Buffer
  /** The balancer's choice for the first attempt. */
  readonly decision: Routed
  /** Path and query to ask the member for (prefix or mount path already rewritten). */
  readonly path: string
  /** The request headers for an attempt at `decision.member` (Host, X-Forwarded-*, ...). */
  readonly headers: (decision: Routed) => OutgoingHttpHeaders
  /** Give up connecting to a member after this many ms: a connect failure, failed over. */
  readonly connectTimeoutMs: number
  /** TLS options for `https:` members. */
  readonly tls: ConnectionOptions
  /** A failover replaced the decision (an `Unavailable` one when no member is left). */
  readonly onDecision: (decision: Decision) => void
  /** The request to the member was created; its headers can still change (http-proxy's `proxyReqWs`). */
  readonly onRequest: (outgoing: ClientRequest) => void
  /** The tunnel is open (http-proxy's `open`). */
  readonly onOpen: (memberSocket: Socket) => void
  /** The member's side of the tunnel closed (http-proxy's `close`). */
  readonly onClose: (response: IncomingMessage, memberSocket: Socket) => void
}

/** Hop-by-hop headers of a member's non-101 answer, which goes out on a connection that then closes. */
const NOT_RELAYED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade'])

/** The status line and header lines of an HTTP/1.1 response head. */
function responseHead (status: number, message: string | undefined, lines: readonly string[]): string {
  return `HTTP/1.1 ${status} ${message ?? (STATUS_CODES[status] as string)}\r\n${lines.map(line => `${line}\r\n`).join('')}\r\n`
}

/** The member's header lines as it sent them (names and order kept), minus `skip`. */
function headerLines (raw: readonly string[], skip: ReadonlySet<string>): string[] {
  const lines: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (!skip.has(name.toLowerCase())) lines.push(`${name}: ${raw[i + 1] as string}`)
  }
  return lines
}

const KEEP_ALL: ReadonlySet<string> = new Set()

/** Writes one of the balancer's own answers on an upgrade connection, and closes it. */
export function writeBalancerResponse (socket: Duplex, response: BalancerResponse): void {
  const lines = Object.entries(response.headers).map(([name, value]) => `${name}: ${value}`)
  lines.push('connection: close', `content-length: ${Buffer.byteLength(response.body)}`)
  closeAfterFlush(socket, responseHead(response.status, undefined, lines) + response.body)
}

/**
 * Ends `socket` (after writing `last`) and destroys it once everything is flushed, so a closing
 * frame or an answer stays intact. `end`'s callback also runs when the socket is already ended
 * or destroyed.
 */
export function closeAfterFlush (socket: Duplex, last?: string): void {
  socket.end(last, () => { socket.destroy() })
}

/** Socket options of a long-lived tunnel: no idle timeout, no Nagle delay, TCP keep-alive. */
function tune (socket: Socket): void {
  socket.setTimeout(0)
  socket.setNoDelay(true)
  socket.setKeepAlive(true, 0)
}

/** Forwards the upgrade to `forwarding.decision.member`, failing over to other members as the balancer decides. */
export function forwardUpgrade (forwarding: UpgradeForwarding): void {
  const { balancer, socket, head } = forwarding
  /** The decision this connection holds (busy) until it ends; `undefined` once released. */
  let held: Routed | undefined = forwarding.decision
  const release = (): void => {
    if (held !== undefined) balancer.finished(held)
    held = undefined
  }
  if (socket.destroyed) {
    // The client left while the application or the adapter was still deciding.
    release()
    return
  }
  const sent: Buffer[] = [head]
  const early = (chunk: Buffer): void => { sent.push(chunk) }
  const gaveUp = (): void => { socket.destroy() }
  /** The member answered: stop watching the client's connection for it. */
  const stopWatching = (): void => {
    socket.off('data', early)
    socket.off('end', gaveUp)
  }
  let outgoing!: ClientRequest
  /** Set when the member answered (101 or not): its errors then only end the connection. */
  let answered = false
  /** Set when the tunnel is open: the member's socket then closes with the tunnel. */
  let upgraded = false
  /** Set when the client's connection closed. */
  let over = false

  const attempt = (decision: Routed): void => {
    const target = new URL(decision.member.url)
    const [request, tls] = target.protocol === 'https:' ? [httpsRequest, forwarding.tls] : [httpRequest, undefined]
    const out = request(target, {
      ...tls,
      method: forwarding.req.method,
      path: forwarding.path,
      headers: forwarding.headers(decision),
      // A connection of its own: an upgraded socket never goes back to a pool.
      agent: false
    })
    outgoing = out
    out.once('socket', socket => { watchConnect(out, socket as Socket, forwarding.connectTimeoutMs) })
    out.once('upgrade', (response, memberSocket, memberHead) => { answered = true; stopWatching(); open(decision, response, memberSocket as Socket, memberHead) })
    out.once('response', response => { answered = true; stopWatching(); relay(decision, response) })
    out.on('error', err => { failed(decision, err) })
    forwarding.onRequest(out)
    out.end()
  }

  const failed = (decision: Routed, err: Error): void => {
    // The member failed after it answered (its answer or its socket passes that on to the
    // client), or the client left first and its leaving aborted this attempt: nobody is waiting.
    if (answered || over) return
    // Nothing was written to the client yet: the upgrade can go to another member, like a GET.
    const outcome = balancer.upstreamError(decision, err, { canRetry: true })
    held = undefined // upstreamError released it
    forwarding.onDecision(outcome.decision)
    if (outcome.action === 'retry') {
      held = outcome.decision
      attempt(outcome.decision)
      return
    }
    writeBalancerResponse(socket, outcome.response)
  }

  const open = (decision: Routed, response: IncomingMessage, memberSocket: Socket, memberHead: Buffer): void => {
    upgraded = true
    tune(socket as Socket)
    tune(memberSocket)
    const lines = headerLines(response.rawHeaders, KEEP_ALL)
    if (decision.setCookie !== undefined) lines.push(`Set-Cookie: ${decision.setCookie}`)
    // The member's first frames may have come in with its 101: they follow it, in order.
    socket.write(Buffer.concat([Buffer.from(responseHead(101, response.statusMessage, lines), 'latin1'), memberHead]))
    memberSocket.write(Buffer.concat(sent))
    memberSocket.on('error', () => { memberSocket.destroy() })
    memberSocket.once('close', () => {
      forwarding.onClose(response, memberSocket)
      closeAfterFlush(socket)
    })
    socket.once('close', () => { closeAfterFlush(memberSocket) })
    memberSocket.pipe(socket)
    socket.pipe(memberSocket)
    forwarding.onOpen(memberSocket)
  }

  const relay = (decision: Routed, response: IncomingMessage): void => {
    // The member declined the upgrade (Socket.IO's 400 "Session ID unknown", a 404, ...): its
    // answer is the client's, with the balancer cookie when the route changed. The connection
    // cannot go back to the HTTP server, so closing it delimits the answer.
    const lines = headerLines(response.rawHeaders, NOT_RELAYED)
    if (decision.setCookie !== undefined) lines.push(`Set-Cookie: ${decision.setCookie}`)
    lines.push('Connection: close')
    socket.write(responseHead(response.statusCode as number, response.statusMessage, lines), 'latin1')
    // A member that dies in the middle of its answer: cut the client's off too, rather than end
    // it as if it were complete.
    response.on('error', () => { socket.destroy() })
    response.once('end', () => { closeAfterFlush(socket) })
    response.pipe(socket, { end: false })
  }

  // The client's connection is the connection: when it ends, everything ends.
  socket.once('close', () => {
    over = true
    release()
    if (!upgraded) outgoing.destroy()
  })
  // Client resets (ECONNRESET, EPIPE) are routine: they end the connection, nothing more.
  socket.on('error', () => { socket.destroy() })
  // Until the member answers, read what the client sends (kept for the member), so that a client
  // that gives up is noticed: the HTTP server hands over the connection paused, and keeps it
  // half-open when the client ends its side.
  socket.on('data', early)
  socket.once('end', gaveUp)
  attempt(forwarding.decision)
}
