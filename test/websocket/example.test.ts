/**
 * examples/socketio as a user runs it: `npm run --silent example:socketio`, with each adapter
 * (STICKY_ADAPTER), three Socket.IO servers of its own, clients that stay on their server from
 * long-polling to WebSocket, its page, and a clean exit on SIGTERM with clients connected.
 */
import t from 'tap'
import { send } from '../helpers/client.js'
import { freePort, ScriptProcess } from '../helpers/script-process.js'
import { ADAPTERS } from './harness.js'
import { connectIo } from './socketio-members.js'

const LISTENING = /^stickyroute socketio gateway \((\w+)\) listening on (http:\/\/\S+) /m

t.jobs = ADAPTERS.length
for (const adapter of ADAPTERS) {
  t.test(`STICKY_ADAPTER=${adapter}`, async t => {
    const port = await freePort()
    const proc = new ScriptProcess('example:socketio', { PORT: String(port), HOST: '127.0.0.1', ...(adapter === 'fastify' ? {} : { STICKY_ADAPTER: adapter }) })
    t.teardown(() => proc.killAll())
    await proc.waitFor(LISTENING, 20_000)
    const [, shown, origin = ''] = LISTENING.exec(proc.stdout) ?? []
    t.equal(shown, adapter, 'fastify unless STICKY_ADAPTER says otherwise')
    t.equal(origin, `http://127.0.0.1:${port}`)
    const page = await send(origin, { path: '/' })
    t.match(page.body, /socket\.io\/socket\.io\.js/, 'the page is served through the gateway')
    const clients = await Promise.all([1, 2, 3].map(async () => await connectIo(origin)))
    const seen = new Set<string>()
    for (const client of clients) {
      const first = await client.whoami()
      await client.upgraded()
      const later = await client.whoami()
      t.same([client.connectedOver, later.transport], ['polling', 'websocket'], 'connected over long-polling, then WebSocket')
      t.equal(later.member, first.member, `${first.member} from long-polling to WebSocket`)
      seen.add(first.member)
    }
    t.equal(seen.size, 3, 'three clients, three servers')
    proc.kill('SIGTERM')
    t.same(await proc.waitExit(5000), { code: 0, signal: null }, 'SIGTERM with clients connected: exit code 0 within 5 s', { output: proc.output })
    for (const c of clients) c.socket.disconnect()
  })
}

t.test('a bad STICKY_ADAPTER stops the example with exit code 1 and says why', async t => {
  const proc = new ScriptProcess('example:socketio', { PORT: String(await freePort()), STICKY_ADAPTER: 'koa' })
  t.teardown(() => proc.killAll())
  t.same(await proc.waitExit(20_000), { code: 1, signal: null })
  t.match(proc.stderr, /STICKY_ADAPTER must be fastify or express, got "koa"/)
})
