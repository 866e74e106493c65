/**
 * Small pieces of Node I/O the gateways share: a connect timeout for Node's HTTP client, and
 * reading a request body up to a bound (for replay after a failed attempt).
 */
import type { ClientRequest } from 'node:http'
import type { Socket } from 'node:net'
import type { Readable } from 'node:stream'

/**
 * Node's HTTP client has no connect timeout: a member whose host drops connection attempts would
 * hold the request for minutes. Gives up after `ms` with an `ETIMEDOUT` from `connect`, which the
 * core counts as a connect failure (failover, member in error). A kept-alive socket is left alone.
 */
export function watchConnect (outgoing: ClientRequest, socket: Socket, ms: number): void {
  if (!socket.connecting) return
  // No closures: this runs for every new connection to a member.
  const watched = socket as WatchedSocket
  watched[kConnectTimer] = setTimeout(connectTimedOut, ms, outgoing, ms)
  socket.on('connect', connectSettled)
  socket.on('close', connectSettled)
}

const kConnectTimer = Symbol('stickyroute.connectTimer')
interface WatchedSocket extends Socket {
  [kConnectTimer]?: NodeJS.Timeout | undefined
}

function connectTimedOut (outgoing: ClientRequest, ms: number): void {
  outgoing.destroy(Object.assign(new Error(`connect ETIMEDOUT: no connection within ${ms} ms`), { code: 'ETIMEDOUT', syscall: 'connect' }))
}

/** The socket connected or closed: the connect timer is over. `this` is the socket. */
function connectSettled (this: WatchedSocket): void {
  const timer = this[kConnectTimer]
  if (timer === undefined) return
  clearTimeout(timer)
  this[kConnectTimer] = undefined
}

/**
 * Reads `stream` to its end, unless it turns out longer than `limit`: what was read is then put
 * back (`unshift`) and the stream is left paused, to be streamed as it comes. Calls `done` once:
 * with the body, with `undefined` (too long), or with an error (the client went away).
 */
export function readBody (stream: Readable, limit: number, done: (body: Buffer | undefined, err?: Error) => void): void {
  const chunks: Buffer[] = []
  let size = 0
  const finish = (body: Buffer | undefined, err?: Error): void => {
    stream.off('data', onData)
    stream.off('end', onEnd)
    stream.off('error', onGone)
    stream.off('close', onGone)
    done(body, err)
  }
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk)
    size += chunk.length
    if (size <= limit) return
    stream.pause()
    finish(undefined)
    stream.unshift(Buffer.concat(chunks, size))
  }
  const onEnd = (): void => { finish(Buffer.concat(chunks, size)) }
  // An aborted upload ends in 'error' or in 'close' before 'end': either way the client is gone.
  const onGone = (): void => { finish(undefined, new Error('the client closed the connection before the end of its body')) }
  stream.on('data', onData)
  stream.once('end', onEnd)
  stream.once('error', onGone)
  stream.once('close', onGone)
}
