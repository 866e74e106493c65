/**
 * The middleware's member connections: kept alive and reused, as Apache's mod_proxy reuses its
 * backend connections, where http-proxy without an agent opens (and closes) one per request.
 */
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

/**
 * How long a member connection may wait idle for its next request: undici's default (the
 * Fastify plugin's connections), 1 s below the 5 s after which Node's and Apache's servers close
 * an idle connection. A shorter timeout the member announces (`Keep-Alive: timeout=N`) wins.
 */
export const IDLE_MS = 4000
/** Node's margin below a member's announced timeout, to close first. */
const HINT_MARGIN_MS = 1000

const kIdleMs = Symbol('stickyroute.idleMs')
/** A member connection, with the idle time its last answer allowed. */
export interface MemberSocket extends Socket {
  [kIdleMs]?: number
}

// Members announce the same Keep-Alive value on every answer: parse it once.
let lastHint = ''
let lastHintMs = IDLE_MS

/**
 * The idle time allowed after an answer with this `Keep-Alive` header: `IDLE_MS`, or less when
 * the member announces a shorter timeout; 0 when it leaves no time to reuse the connection.
 */
export function idleMsOf (hint: string | undefined): number {
  if (hint === undefined) return IDLE_MS
  if (hint === lastHint) return lastHintMs
  const seconds = /(?:^|[\s,])timeout\s*=\s*(\d{1,9})(?![^\s,])/i.exec(hint)?.[1]
  const ms = seconds === undefined ? IDLE_MS : Math.max(0, Math.min(IDLE_MS, Number(seconds) * 1000 - HINT_MARGIN_MS))
  lastHint = hint
  lastHintMs = ms
  return ms
}

/** Records the idle time the member's answer allows on its connection (read when the connection goes back to the pool). */
export function noteKeepAlive (socket: Socket | null, hint: string | undefined): void {
  if (socket !== null) (socket as MemberSocket)[kIdleMs] = idleMsOf(hint)
}

/**
 * A connection goes back to the pool: what Node's Agent does by default (TCP keep-alive, and the
 * pooled socket does not hold the process open), and an idle timeout (Node sets none unless its
 * Agent has a `timeout`, which would also fire on requests in flight). When it fires on a pooled
 * connection, the Agent destroys it. The member's `Keep-Alive` hint that Node's own version
 * reads is gone by then: the middleware removes that hop-by-hop header from the answer, after
 * `noteKeepAlive` read it.
 */
function keepSocketAlive (this: HttpAgent, socket: Duplex): boolean {
  /* c8 ignore next: set by noteKeepAlive from every answer on the connection */
  const ms = (socket as MemberSocket)[kIdleMs] ?? IDLE_MS
  if (ms === 0) return false
  const s = socket as Socket
  s.setKeepAlive(true, (this as HttpAgent & { keepAliveMsecs: number }).keepAliveMsecs)
  s.unref()
  // The timer stays armed while the connection serves its next request (Node refreshes it on
  // activity; a member timeout replaces it): re-armed only when it changed.
  if (s.timeout !== ms) s.setTimeout(ms)
  return true
}

/** A keep-alive agent for one member (`https:` or not), with stickyroute's idle timeout. */
export function memberAgent (https: boolean): HttpAgent {
  const agent = https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true })
  agent.keepSocketAlive = keepSocketAlive as unknown as HttpAgent['keepSocketAlive']
  return agent
}

/** Closes the pooled connections that wait idle; one in use goes back to the pool after its request, and closes after its idle time. */
export function closeIdle (agents: Iterable<HttpAgent>): void {
  for (const agent of agents) {
    // Node deletes a host's list when it empties.
    for (const sockets of Object.values(agent.freeSockets) as Socket[][]) {
      for (const socket of sockets) socket.destroy()
    }
  }
}
