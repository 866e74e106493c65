/**
 * Three Socket.IO 4 servers for the example, each with a tiny page at `/`. Socket.IO keeps each
 * session in the memory of the server that took its handshake: every long-poll and the
 * WebSocket upgrade must reach that server, which is what the gateway's cookie does.
 */
import { createServer, type Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Server as IoServer } from 'socket.io'

export interface SocketIoMembers {
  members: Array<{ route: string, url: string }>
  close: () => Promise<void>
}

/** What a server answers to `whoami`: its route, and the transport this client is on. */
export interface WhoAmI { member: string, transport: string }

/**
 * The page: connects through the gateway (same origin, so the balancer cookie rides along on
 * every polling request and on the upgrade), then asks who answers, every second.
 */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>stickyroute + Socket.IO</title>
<style>body { font: 14px/1.4 system-ui, sans-serif; margin: 2em } li { font-family: ui-monospace, monospace }</style>
<h1>stickyroute + Socket.IO</h1>
<p>Each line is an acknowledgement: the server that answered, and the transport. Open a few tabs (or private
windows: a new cookie jar is a new client) and watch each stay on its server, from long-polling to WebSocket.</p>
<ol id="log"></ol>
<script src="socket.io/socket.io.js"></script>
<script>
  const log = document.getElementById('log')
  const line = text => { const li = document.createElement('li'); li.textContent = new Date().toLocaleTimeString() + '  ' + text; log.prepend(li) }
  const socket = io({ path: location.pathname.replace(/[^/]*$/, '') + 'socket.io/' })
  socket.on('connect', () => line('connected over ' + socket.io.engine.transport.name))
  socket.on('connect_error', err => line('connect_error: ' + err.message))
  socket.on('disconnect', reason => line('disconnected: ' + reason))
  socket.io.engine.on('upgrade', transport => line('upgraded to ' + transport.name))
  setInterval(async () => {
    if (!socket.connected) return
    const { member, transport } = await socket.emitWithAck('whoami')
    line(member + ' over ' + transport)
  }, 1000)
</script>
`

function socketIoMember (route: string): { server: HttpServer, io: IoServer } {
  const server = createServer((_req, res) => {
    // Socket.IO answers its own path (/socket.io/...); everything else gets the page.
    res.setHeader('content-type', 'text/html; charset=utf-8')
    res.setHeader('x-member', route)
    res.end(PAGE)
  })
  const io = new IoServer(server)
  io.on('connection', socket => {
    socket.on('whoami', (ack: (answer: WhoAmI) => void) => { ack({ member: route, transport: socket.conn.transport.name }) })
  })
  return { server, io }
}

/** Starts one Socket.IO server per route on 127.0.0.1, each on a port of its own. */
export async function startSocketIoMembers (routes: readonly string[] = ['node1', 'node2', 'node3']): Promise<SocketIoMembers> {
  const started = await Promise.all(routes.map(async route => {
    const member = socketIoMember(route)
    await new Promise<void>((resolve, reject) => {
      member.server.once('error', reject)
      member.server.listen(0, '127.0.0.1', resolve)
    })
    return member
  }))
  return {
    members: started.map(({ server }, i) => ({ route: routes[i] ?? '', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })),
    async close () {
      await Promise.all(started.map(async ({ io }) => {
        io.disconnectSockets(true)
        await new Promise<void>(resolve => { io.close(() => resolve()) })
      }))
    }
  }
}
