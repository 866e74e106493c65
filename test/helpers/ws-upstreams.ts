/**
 * WebSocket members for pass-through tests: each echoes `<route>:<message>`.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'

export interface WsMember {
  route: string
  url: string
  /** The request paths of the upgrades it accepted, in order. */
  paths: string[]
  close: () => Promise<void>
}

export async function startWsMember (route: string): Promise<WsMember> {
  const server: Server = createServer((_req, res) => { res.end(route) })
  const wss = new WebSocketServer({ server })
  const paths: string[] = []
  wss.on('connection', (socket, req) => {
    paths.push(req.url ?? '')
    socket.on('message', data => { socket.send(`${route}:${String(data)}`) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  return {
    route,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    paths,
    close: async () => {
      for (const c of wss.clients) c.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

/** Opens a WebSocket through `origin` with `cookie`, sends one message and returns the echo. */
export async function wsEcho (origin: string, path: string, cookie: string | undefined, message: string): Promise<string> {
  const socket = new WebSocket(origin.replace(/^http/, 'ws') + path, cookie === undefined ? {} : { headers: { cookie } })
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no WebSocket echo within 5 s')), 5000)
      socket.once('open', () => socket.send(message))
      socket.once('message', data => { clearTimeout(timer); resolve(String(data)) })
      socket.once('error', err => { clearTimeout(timer); reject(err) })
    })
  } finally {
    socket.terminate()
  }
}
