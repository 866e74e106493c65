/**
 * Socket.IO clients from a terminal, through the gateway: each keeps its cookies
 * (`withCredentials: true` turns on socket.io-client's cookie jar in Node, as a browser keeps
 * them), starts on long-polling, upgrades to WebSocket, and asks who answers.
 *
 *   node --import tsx examples/socketio/client.ts [origin] [clients]
 *   node --import tsx examples/socketio/client.ts http://127.0.0.1:8080 5
 *
 * Prints one line per client, e.g. `client 2: node2 (polling), node2 (websocket), node2 (websocket)`,
 * and exits 1 if a client saw two servers or an error.
 */
import { io } from 'socket.io-client'

interface WhoAmI { member: string, transport: string }

const origin = process.argv[2] ?? 'http://127.0.0.1:8080'
const count = Number(process.argv[3] ?? 3)

async function runClient (n: number): Promise<boolean> {
  const socket = io(origin, { forceNew: true, reconnection: false, withCredentials: true })
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('connect_error', reject)
    })
    const answers: WhoAmI[] = [await socket.timeout(5000).emitWithAck('whoami') as WhoAmI]
    if (socket.io.engine.transport.name !== 'websocket') {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no upgrade to WebSocket within 10 s')), 10_000)
        socket.io.engine.once('upgrade', () => { clearTimeout(timer); resolve() })
      })
    }
    for (let i = 0; i < 2; i++) answers.push(await socket.timeout(5000).emitWithAck('whoami') as WhoAmI)
    const servers = new Set(answers.map(a => a.member))
    process.stdout.write(`client ${n}: ${answers.map(a => `${a.member} (${a.transport})`).join(', ')}${servers.size === 1 ? '' : '  <- NOT sticky'}\n`)
    return servers.size === 1
  } catch (error) {
    process.stdout.write(`client ${n}: ${error instanceof Error ? error.message : String(error)}\n`)
    return false
  } finally {
    socket.disconnect()
  }
}

const results = await Promise.all(Array.from({ length: count }, async (_, i) => await runClient(i + 1)))
process.exit(results.every(Boolean) ? 0 : 1)
